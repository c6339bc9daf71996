"""The verify report: one self-contained HTML page with its plots embedded."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from edgemb.report.metrics import confusion_matrix
from edgemb.report.outcome import outcome_rows
from edgemb.report.plots import plot_confusion_matrix, plot_histogram, plot_op_times
from edgemb.report.timing import timing_rows


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _rows(pairs) -> str:
    return "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                     for k, v in pairs)


def write_plots(summary: dict, records: list[dict], out_dir: Path) -> list[Path]:
    labels = summary["labels"]
    plots = []
    if records and "board_accuracy" in summary:
        matrix = confusion_matrix(np.array([r["label"] for r in records]),
                                  np.array([r["board_class"] for r in records]), len(labels))
        path = out_dir / "board_confusion_matrix.png"
        plot_confusion_matrix(matrix, labels, path, "Confusion matrix on the board")
        plots.append(path)
    if records:
        path = out_dir / "latency_histogram.png"
        per_tick = summary.get("instructions_per_tick")
        if per_tick and "invoke_instructions" in summary:
            plot_histogram([r["ticks"] * per_tick / 1e6 for r in records], path,
                           "Instructions per inference on the emulated board", "millions")
        else:
            plot_histogram([r["invoke_us"] / 1000 for r in records], path,
                           "Inference time on the board", "ms")
        plots.append(path)
    for board in summary["boards"]:
        if board["op_times"]:
            path = out_dir / f"op_times_{len(plots)}.png"
            plot_op_times([t["op"] for t in board["op_times"]],
                          [t["ticks"] for t in board["op_times"]], path,
                          f"Time per operator on {board['port']}", "ticks")
            plots.append(path)
    return plots


def write_report(summary: dict, log, samples, out_dir: Path) -> Path:
    records = [log.done[i] for i in sorted(log.done)]
    plots = write_plots(summary, records, out_dir)
    overview = [
        *outcome_rows(summary),
        ("L2 relative error", f"{summary.get('l2_relative_error', 0):.6g}"),
        ("inputs", summary.get("inputs", "")),
        ("model input / outputs", f"{summary.get('model_inputs', '')} / "
                                  f"{', '.join(summary.get('model_outputs', []))}"),
        *timing_rows(summary),
        ("link bytes/s (nominal)", f"{summary['link']['bytes_per_second']:.0f} "
                                   f"({summary['link']['nominal_bytes_per_second']:.0f})"),
        ("model fingerprint", summary["model_fingerprint"]),
    ]
    versions = summary.get("runtime_versions") or {}
    if versions:
        overview.append(("reference on the host", versions["reference"]))
        overview += [(f"runtime on {port}", runtime) for port, runtime in versions["boards"].items()]
    notes = "".join(f"<p>{html.escape(note)}</p>" for note in summary.get("notes", []))
    boards = "".join(
        f"<h2>Board {html.escape(b['port'])}</h2><table>{_rows(b['info'].items())}"
        f"{_rows([('samples', b['samples']), ('on-board repeat', b['bench']), ('failure', b['failure'])])}"
        f"</table><ul>{''.join('<li>' + html.escape(r) + '</li>' for r in b['recoveries'])}</ul>"
        for b in summary["boards"])
    mismatched = [r for r in records if not r["exact"]][:50]
    mismatch_rows = "".join(
        f"<tr><td>{r['index']}</td><td>{html.escape(r['name'])}</td><td>{r['output']}</td>"
        f"<td>{r['reference']}</td></tr>" for r in mismatched)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>edgemb verify</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
th{{text-align:left;padding-right:2em}} img{{max-width:100%}}</style></head>
<body><h1>edgemb verify: board against TFLite Micro</h1>
<table>{_rows(overview)}</table>
{"<h2>Notes</h2>" + notes if notes else ""}
{boards}
<h2>Plots</h2>{''.join(_image(p) for p in plots)}
<h2>Mismatched samples (first 50)</h2>
<table><tr><th>#</th><th>image</th><th>board</th><th>reference</th></tr>{mismatch_rows}</table>
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path
