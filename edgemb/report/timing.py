"""How a verify run's inference times are named, for the terminal and the HTML report.

A board's own clock times its inferences. Under QEMU -icount that clock is
QEMU's virtual one, which advances a nanosecond per guest instruction: its
microseconds belong to no chip, so instruction counts come first and the
microseconds are called virtual.
"""

from __future__ import annotations

STATS = ("min", "median", "p95", "max")


def _spread(values: dict, keys=STATS) -> str:
    return " / ".join(f"{values.get(k, 0):,.0f}" for k in keys)


def timing_rows(summary: dict) -> list[tuple[str, str]]:
    """(label, value) rows of the inference time per sample and of each board's
    on-board repeat."""
    latency = summary.get("invoke_us") or {}
    per_tick = summary.get("instructions_per_tick")
    if "invoke_instructions" in summary:
        rows = [("emulator instructions per inference min / median / p95 / max",
                 _spread(summary["invoke_instructions"])),
                ("virtual µs (QEMU -icount clock) min / median / p95 / max", _spread(latency))]
    else:
        rows = [("inference µs min / median / p95 / max", _spread(latency))]
    for board in summary["boards"]:
        bench = board.get("bench")
        if not bench:
            continue
        label = f"on-board repeat ×{bench['count']} ({board['port']})"
        if per_tick and "invoke_instructions" in summary:
            rows.append((f"{label} instructions min / mean / max", " / ".join(
                f"{bench[k] * per_tick:,.0f}" for k in ("min_ticks", "mean_ticks", "max_ticks"))))
        else:
            rows.append((f"{label} µs min / mean / max",
                         f"{bench['min_us']:,} / {bench['mean_us']:,} / {bench['max_us']:,}"))
    return rows
