"""The rows that say how a verify went, shared by the terminal table and the HTML page."""

from __future__ import annotations


def outcome_rows(summary: dict) -> list[tuple[str, object]]:
    """Samples, exactness, differences, then accuracy where the classes are known and
    the errors in real units where the outputs are not class scores."""
    rows: list[tuple[str, object]] = [
        ("samples", f"{summary['samples']} of {summary['samples_requested']}"),
        ("exact matches (every output byte)", summary.get("exact_matches", 0)),
        ("mismatches", summary.get("mismatches", 0)),
    ]
    if "argmax_agreement" in summary:
        rows.append(("argmax agreement", summary["argmax_agreement"]))
    rows.append(("max |difference| (quantization steps)", summary.get("max_abs_diff", 0)))
    if summary.get("samples"):
        rows.append(("RMSE / MAE (real units)",
                     f"{summary.get('rmse', 0):.6g} / {summary.get('mae', 0):.6g}"))
        rows.append(("cosine similarity", f"{summary.get('cosine_similarity', 0):.6f}"))
    if "board_accuracy" in summary:
        rows.append(("accuracy on the board", f"{summary['board_accuracy']:.4f}"))
        rows.append(("accuracy of TFLite Micro on the host",
                     f"{summary['reference_accuracy']:.4f}"))
    return rows
