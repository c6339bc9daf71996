"""The table of depthwise separable blocks (edgemb.tflite.separable), as inspect and
train print it."""

from __future__ import annotations

from edgemb import ui


def separable_table(blocks):
    """The cost of each depthwise separable block against a standard convolution."""
    if not blocks:
        return None
    rows = []
    for b in blocks:
        closed = f"{b.closed_form:.4f}" if b.closed_form is not None else "—"
        rows.append([
            b.depthwise_index, b.kind, f"{b.kernel}x{b.kernel}",
            f"{b.in_channels}→{b.out_channels}", f"{b.out_size[0]}x{b.out_size[1]}",
            f"{b.expand_macs:,}" if b.expand_macs else "", f"{b.depthwise_macs:,}",
            f"{b.pointwise_macs:,}", f"{b.standard_macs:,}", f"{b.ratio:.4f}", closed,
            f"{b.params:,} / {b.standard_params:,}"])
    macs, standard = sum(b.macs for b in blocks), sum(b.standard_macs for b in blocks)
    rows.append(["all", f"{len(blocks)} blocks", "", "", "",
                 f"{expand:,}" if (expand := sum(b.expand_macs for b in blocks)) else "",
                 f"{sum(b.depthwise_macs for b in blocks):,}",
                 f"{sum(b.pointwise_macs for b in blocks):,}", f"{standard:,}",
                 f"{macs / standard:.4f}", "",
                 f"{sum(b.params for b in blocks):,} / {sum(b.standard_params for b in blocks):,}"])
    return ui.table(
        "Depthwise separable blocks: MACs against a standard convolution (same kernel, "
        "input and output channels)",
        ["op", "block", "Dk", "M→N", "Df", "expand", "depthwise", "pointwise", "standard",
         "ratio", "1/N + 1/Dk²", "params / standard"], rows)
