"""The cost arithmetic of depthwise separable convolutions, block by block.

A standard Dk x Dk convolution from M to N channels over an Df x Df output costs
Dk² · M · N · Df² multiply-accumulates. MobileNet V1 splits it into a depthwise
Dk x Dk convolution (Dk² · M · Df²) and a pointwise 1x1 one (M · N · Df²), which
together cost 1/N + 1/Dk² of it. MobileNet V2's inverted residual block widens the
M channels by a 1x1 expansion first, filters them depthwise and projects them to N.

This module finds those blocks in a TFLite graph (batch normalization is folded into
the convolutions by then) and puts the measured costs beside the closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgemb.tflite.reader import Model, Operator, op_macs


@dataclass(frozen=True)
class BlockCost:
    kind: str  # "separable" (depthwise + pointwise) or "inverted residual" (+ expansion)
    depthwise_index: int  # the DEPTHWISE_CONV_2D operator's index
    kernel: int  # Dk
    in_channels: int  # M: the block's input
    out_channels: int  # N: the block's output
    out_size: tuple[int, int]  # Df: the depthwise output's height and width
    expand_macs: int
    expand_params: int
    depthwise_macs: int
    depthwise_params: int
    pointwise_macs: int
    pointwise_params: int

    @property
    def macs(self) -> int:
        return self.expand_macs + self.depthwise_macs + self.pointwise_macs

    @property
    def params(self) -> int:
        return self.expand_params + self.depthwise_params + self.pointwise_params

    @property
    def standard_macs(self) -> int:
        """A standard Dk x Dk convolution from M to N channels, same output size."""
        height, width = self.out_size
        return self.kernel ** 2 * self.in_channels * self.out_channels * height * width

    @property
    def standard_params(self) -> int:
        return self.kernel ** 2 * self.in_channels * self.out_channels + self.out_channels

    @property
    def ratio(self) -> float:
        return self.macs / self.standard_macs

    @property
    def closed_form(self) -> float | None:
        """1/N + 1/Dk², for a depthwise + pointwise pair on the block's own channels."""
        if self.kind != "separable":
            return None
        return 1 / self.out_channels + 1 / self.kernel ** 2


def _params(model: Model, op: Operator) -> int:
    """Weights and bias elements of a convolution."""
    return sum(model.tensors[i].size for i in op.inputs[1:] if i >= 0)


def _consumers(model: Model, tensor: int) -> list[Operator]:
    return [op for op in model.operators if tensor in op.inputs]


def _producer(model: Model, tensor: int) -> Operator | None:
    return next((op for op in model.operators if tensor in op.outputs), None)


def _is_pointwise(model: Model, op: Operator | None) -> bool:
    if op is None or op.name != "CONV_2D":
        return False
    w = model.tensors[op.inputs[1]].shape  # [N, kh, kw, M]
    return w[1] == 1 and w[2] == 1 and op.options.get("stride_h", 1) == 1 \
        and op.options.get("stride_w", 1) == 1


def separable_blocks(model: Model) -> list[BlockCost]:
    """Every depthwise convolution followed by a pointwise one, with the pointwise
    expansion before it when there is one (MobileNet V2)."""
    blocks = []
    for dw in (op for op in model.operators if op.name == "DEPTHWISE_CONV_2D"):
        after = _consumers(model, dw.outputs[0])
        if len(after) != 1 or not _is_pointwise(model, after[0]):
            continue
        pw = after[0]
        # V2's projection is linear (the "linear bottleneck"), and only then is the 1x1
        # convolution before the depthwise its expansion; in V1 that one (with its
        # activation) is the previous block's pointwise part.
        linear = pw.options.get("fused_activation_function", "NONE") in ("NONE", None)
        before = _producer(model, dw.inputs[0])
        expand = before if linear and _is_pointwise(model, before) and \
            len(_consumers(model, before.outputs[0])) == 1 else None
        kh = model.tensors[dw.inputs[1]].shape[1]
        out = model.tensors[dw.outputs[0]].shape
        source = expand.inputs[0] if expand is not None else dw.inputs[0]
        blocks.append(BlockCost(
            kind="inverted residual" if expand is not None else "separable",
            depthwise_index=dw.index, kernel=kh,
            in_channels=model.tensors[source].shape[-1],
            out_channels=model.tensors[pw.outputs[0]].shape[-1],
            out_size=(out[1], out[2]),
            expand_macs=op_macs(model, expand) if expand is not None else 0,
            expand_params=_params(model, expand) if expand is not None else 0,
            depthwise_macs=op_macs(model, dw), depthwise_params=_params(model, dw),
            pointwise_macs=op_macs(model, pw), pointwise_params=_params(model, pw)))
    return blocks
