"""The operators: one `op_<name>` method per TFLite builtin operator, which checks
what the native runtime supports and adds the operator's constant data (weights,
biases, requantization parameters) and its kernel call to a _Node.

To add an operator: write `op_<builtin name in lower case>(self, op, n, name)`
here, calling a kernel of firmware/runtime/native (em_nn.h) in `n.call`, with
{in0} {in1} {out} {scratch} where the runner puts the tensors' addresses; set
`n.reads`, `n.writes` and any scratch, alias, in-place or overlap for the memory
plan; and add the operator to NATIVE_OPERATORS in edgemb/runtimes.py."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgemb.export.native.c_text import _c_array, _chan_array, _dims, _shape4, _struct
from edgemb.export.native.errors import _unsupported
from edgemb.export.native.memory_plan import dw_ring_max_shift, pointwise_max_shift
from edgemb.export.native.quant import (
    _f32,
    _wrap32,
    activation_range,
    compute_padding,
    fast_channels,
    quantize_multiplier,
)
from edgemb.tflite.reader import Model, Operator, Tensor


@dataclass
class _Node:
    op: Operator
    code: int
    decls: list[str] = field(default_factory=list)
    call: str = ""  # C statements using {in0} {in1} {out} {scratch}
    reads: list[int] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)
    scratch: int = 0
    weights_bytes: int = 0
    alias: tuple[int, int] | None = None  # (output tensor, input tensor) sharing storage
    in_place: bool = False  # output may take the storage of reads[0]
    overlap: int | None = None  # output may overlap reads[0] up to this shift (planner.Overlap)
    fast: bool = False  # uses a fast kernel (em_conv_fast_s8, em_dwconv3x3_fast_s8)


class OperatorEmitter:
    """Checks and emits each operator; the runner (runner.py) adds the whole model."""

    def __init__(self, model: Model, fast: bool = True):
        self.m = model
        self.t = model.tensors
        self.fast = fast

    # -- checks -------------------------------------------------------------
    def int8(self, ti: int, role: str, op: Operator) -> Tensor:
        t = self.t[ti]
        if t.dtype != "int8":
            raise _unsupported(
                f"operator {op.name} (#{op.index}) has a {t.dtype} {role} tensor {t.name!r}; "
                "the native runtime needs int8 activations"
            )
        if t.quantization is None:
            raise _unsupported(f"tensor {t.name!r} of {op.name} (#{op.index}) is not quantized")
        return t

    def const(self, ti: int, op: Operator, role: str) -> Tensor:
        t = self.t[ti]
        if t.data is None:
            raise _unsupported(f"operator {op.name} (#{op.index}) with a non-constant {role}")
        return t

    # -- graph --------------------------------------------------------------
    def live_ops(self) -> list[Operator]:
        """Operators the outputs depend on; RESHAPE's shape input is not needed."""
        producer = {}
        for op in self.m.operators:
            for o in op.outputs:
                producer[o] = op
        needed: set[int] = set(self.m.outputs)
        keep: set[int] = set()
        stack = list(self.m.outputs)
        while stack:
            ti = stack.pop()
            op = producer.get(ti)
            if op is None or op.index in keep:
                continue
            keep.add(op.index)
            ins = op.inputs[:1] if op.name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS") else op.inputs
            for i in ins:
                if i >= 0 and i not in needed and self.t[i].data is None:
                    needed.add(i)
                    stack.append(i)
        return [op for op in self.m.operators if op.index in keep]

    # -- operators ----------------------------------------------------------
    def node(self, op: Operator, k: int) -> _Node:
        fn = getattr(self, "op_" + op.name.lower().replace(":", "_"), None)
        if fn is None:
            raise _unsupported(f"operator {op.name} (#{op.index})")
        n = _Node(op=op, code=op.opcode)
        fn(op, n, f"op{k}")
        return n

    def _conv_quant(self, op, n, name, inp, w, out, per_tensor_float_product: bool,
                    emit: bool = True):
        oc = w.shape[0]
        scales = w.quantization.scales
        if len(scales) not in (1, oc):
            raise _unsupported(f"{op.name} (#{op.index}) with {len(scales)} filter scales")
        if np.any(w.quantization.zero_points != 0):
            raise _unsupported(f"{op.name} (#{op.index}) with asymmetric filter quantization")
        mults, shifts = [], []
        for c in range(oc):
            fs = scales[c] if len(scales) > 1 else scales[0]
            if len(scales) == 1 and per_tensor_float_product:
                prod = float(np.float32(inp.quantization.scale) * np.float32(fs))
                d = prod / _f32(out.quantization.scale)
            else:
                d = _f32(inp.quantization.scale) * _f32(fs) / _f32(out.quantization.scale)
            qm, sh = quantize_multiplier(d)
            mults.append(qm)
            shifts.append(sh)
        if not emit:
            return mults, shifts
        n.decls.append(_c_array("int32_t", f"{name}_mult", mults))
        n.decls.append(_c_array("int32_t", f"{name}_shift", shifts))
        n.decls.append(
            f"static const em_quant_t {name}_q = {{{name}_mult, {name}_shift}};\n")
        n.weights_bytes += 8 * oc
        return mults, shifts

    def _bias(self, op, idx: int, count: int) -> np.ndarray:
        if len(op.inputs) <= idx or op.inputs[idx] < 0:
            return np.zeros(count, dtype=np.int64)
        b = self.const(op.inputs[idx], op, "bias")
        if b.dtype != "int32":
            raise _unsupported(f"{op.name} (#{op.index}) with a {b.dtype} bias")
        return b.data.astype(np.int64).reshape(-1)

    def op_conv_2d(self, op: Operator, n: _Node, name: str):
        o = op.options
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        w = self.const(op.inputs[1], op, "filter")
        if w.dtype != "int8":
            raise _unsupported(f"CONV_2D (#{op.index}) with {w.dtype} weights")
        dh, dw = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
        _, ih, iw, ic = _shape4(inp.shape)
        nb, oh, ow, oc = _shape4(out.shape)
        f_oc, kh, kw, f_ic = w.shape
        if f_ic != ic:
            raise _unsupported(f"grouped CONV_2D (#{op.index})")
        sh, sw = o["stride_h"], o["stride_w"]
        in_off = -inp.quantization.zero_point
        wk = w.data.reshape(oc, -1).astype(np.int64)
        k = wk.shape[1]
        k_pad = (k + 3) & ~3
        wpad = np.zeros((oc, k_pad), dtype=np.int8)
        wpad[:, :k] = w.data.reshape(oc, -1)
        bias_raw = self._bias(op, 2, oc) + in_off * wk.sum(axis=1)
        bias_eff = _wrap32(bias_raw)
        lo, hi = activation_range(o.get("fused_activation_function"), out)
        # a dilated window spans (k - 1) * d + 1 input pixels
        pad_h = compute_padding(sh, ih, (kh - 1) * dh + 1, oh)
        pad_w = compute_padding(sw, iw, (kw - 1) * dw + 1, ow)
        if kh == kw == 1 and sh == sw == 1 and pad_h == pad_w == 0:
            n.overlap = pointwise_max_shift(nb * oh * ow, ic, oc)
        if self.fast and dh == dw == 1:  # the fast kernels read contiguous windows
            mults, shifts = self._conv_quant(op, n, name, inp, w, out,
                                             per_tensor_float_product=False, emit=False)
            fc = fast_channels(bias_raw, np.abs(wk).sum(axis=1), mults, shifts,
                               out.quantization.zero_point, lo, hi)
            if fc is not None and kh == kw == 3 and ic == 3 and sh == sw == 2:
                self._conv3x3s2c3(op, n, name, inp, w, out, fc, (pad_h, pad_w), (lo, hi))
                return
            if fc is not None:
                rows, flags = fc
                oc2, k8 = oc + (oc & 1), (k + 7) & ~7
                wf = np.zeros((oc2, k8), dtype=np.int8)
                wf[:oc, :k] = w.data.reshape(oc, -1)
                wf = wf.reshape(oc2 // 2, 2, k8 // 4, 4).transpose(0, 2, 1, 3)
                rows = rows + [(0, 0, 0, 0)] * (oc2 - oc)
                n.decls.append(_c_array("int8_t", f"{name}_w", wf))
                n.decls.append(_chan_array(f"{name}_ch", rows))
                n.weights_bytes += wf.size + 16 * oc2
                n.decls.append(_struct("em_fast_params_t", f"{name}_p", {
                    "stride_h": sh, "stride_w": sw, "pad_h": pad_h, "pad_w": pad_w,
                    "input_zero_point": -in_off, "act_min": lo, "act_max": hi,
                    "flags": flags}))
                n.decls.append(_dims(f"{name}_din", _shape4(inp.shape)))
                n.decls.append(_dims(f"{name}_dw", (oc, kh, kw, ic)))
                n.decls.append(_dims(f"{name}_dout", (nb, oh, ow, oc)))
                n.call = (f"em_conv_fast_s8(&{name}_p, {name}_ch, &{name}_din, {{in0}}, "
                          f"&{name}_dw, {name}_w, &{name}_dout, {{out}}, {{scratch}});")
                n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
                n.scratch = 2 * 2 * k8 + k8
                n.fast = True
                return
        n.decls.append(_c_array("int8_t", f"{name}_w", wpad))
        n.decls.append(_c_array("int32_t", f"{name}_b", bias_eff))
        n.weights_bytes += wpad.size + 4 * oc
        self._conv_quant(op, n, name, inp, w, out, per_tensor_float_product=False)
        n.decls.append(_struct("em_conv_params_t", f"{name}_p", {
            "input_offset": in_off, "output_offset": out.quantization.zero_point,
            "stride_h": sh, "stride_w": sw,
            "pad_h": pad_h, "pad_w": pad_w, "dilation_h": dh, "dilation_w": dw,
            "act_min": lo, "act_max": hi}))
        n.decls.append(_dims(f"{name}_din", _shape4(inp.shape)))
        n.decls.append(_dims(f"{name}_dw", (oc, kh, kw, ic)))
        n.decls.append(_dims(f"{name}_dout", (nb, oh, ow, oc)))
        n.call = (f"em_conv_s8(&{name}_p, &{name}_q, &{name}_din, {{in0}}, &{name}_dw, {name}_w, "
                  f"{name}_b, &{name}_dout, {{out}}, {{scratch}});")
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.scratch = 2 * 2 * k_pad + k_pad

    def _conv3x3s2c3(self, op, n, name, inp, w, out, fc, pad, act):
        """em_conv3x3s2c3_fast_s8: per channel pair and kernel row, the row's nine
        (kx, ic) values doubled as int16 pairs, a zero tenth, channels interleaved."""
        rows, flags = fc
        nb, oh, ow, oc = _shape4(out.shape)
        oc2 = oc + (oc & 1)
        w10 = np.zeros((oc2, 3, 10), dtype=np.int64)
        w10[:oc, :, :9] = 2 * w.data.reshape(oc, 3, 9).astype(np.int64)
        wf = w10.reshape(oc2 // 2, 2, 3, 5, 2).transpose(0, 2, 3, 1, 4).astype(np.int16)
        rows = rows + [(0, 0, 0, 0)] * (oc2 - oc)
        n.decls.append(_c_array("int16_t", f"{name}_w", wf))
        n.decls.append(_chan_array(f"{name}_ch", rows))
        n.weights_bytes += 2 * wf.size + 16 * oc2
        n.decls.append(_struct("em_fast_params_t", f"{name}_p", {
            "stride_h": 2, "stride_w": 2, "pad_h": pad[0], "pad_w": pad[1],
            "input_zero_point": inp.quantization.zero_point, "act_min": act[0],
            "act_max": act[1], "flags": flags}))
        n.decls.append(_dims(f"{name}_din", _shape4(inp.shape)))
        n.decls.append(_dims(f"{name}_dout", (nb, oh, ow, oc)))
        n.call = (f"em_conv3x3s2c3_fast_s8(&{name}_p, {name}_ch, &{name}_din, {{in0}}, "
                  f"{name}_w, &{name}_dout, {{out}}, {{scratch}});")
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.scratch = 3 * (3 * ow + 6) * 4
        n.fast = True

    def op_depthwise_conv_2d(self, op: Operator, n: _Node, name: str):
        o = op.options
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        w = self.const(op.inputs[1], op, "filter")
        if w.dtype != "int8":
            raise _unsupported(f"DEPTHWISE_CONV_2D (#{op.index}) with {w.dtype} weights")
        dh, dw = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
        _, ih, iw, ic = _shape4(inp.shape)
        nb, oh, ow, oc = _shape4(out.shape)
        _, kh, kw, f_oc = w.shape
        if f_oc != oc or oc % ic:
            raise _unsupported(f"DEPTHWISE_CONV_2D (#{op.index}) with shapes {w.shape}")
        mult = oc // ic
        sh, sw = o["stride_h"], o["stride_w"]
        in_off = -inp.quantization.zero_point
        bias = self._bias(op, 2, oc)
        wsum = w.data.reshape(kh * kw, oc).astype(np.int64).sum(axis=0)
        lo, hi = activation_range(o.get("fused_activation_function"), out)
        if (self.fast and kh == 3 and kw == 3 and mult == 1 and sh == sw and sh in (1, 2)
                and dh == dw == 1 and self._dw_fast(op, n, name, inp, w, out, bias + in_off * wsum, lo, hi)):
            return
        n.decls.append(_c_array("int8_t", f"{name}_w", w.data.reshape(-1)))
        n.decls.append(_c_array("int32_t", f"{name}_b", _wrap32(bias)))
        n.decls.append(_c_array("int32_t", f"{name}_be", _wrap32(bias + in_off * wsum)))
        n.weights_bytes += w.data.size + 8 * oc
        self._conv_quant(op, n, name, inp, _FilterView(w, oc), out,
                         per_tensor_float_product=False)
        n.decls.append(_struct("em_dw_params_t", f"{name}_p", {
            "input_offset": in_off, "output_offset": out.quantization.zero_point,
            "stride_h": sh, "stride_w": sw,
            "pad_h": compute_padding(sh, ih, (kh - 1) * dh + 1, oh),
            "pad_w": compute_padding(sw, iw, (kw - 1) * dw + 1, ow),
            "dilation_h": dh, "dilation_w": dw,
            "depth_multiplier": mult, "act_min": lo, "act_max": hi}))
        n.decls.append(_dims(f"{name}_din", _shape4(inp.shape)))
        n.decls.append(_dims(f"{name}_dw", (1, kh, kw, oc)))
        n.decls.append(_dims(f"{name}_dout", (nb, oh, ow, oc)))
        n.call = (f"em_depthwise_conv_s8(&{name}_p, &{name}_q, &{name}_din, {{in0}}, &{name}_dw, "
                  f"{name}_w, {name}_b, {name}_be, &{name}_dout, {{out}});")
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]

    def _dw_fast(self, op, n, name, inp, w, out, bias_raw, lo, hi) -> bool:
        o = op.options
        _, ih, iw, ic = _shape4(inp.shape)
        nb, oh, ow, oc = _shape4(out.shape)
        wt = w.data.reshape(3, 3, oc).astype(np.int64)
        mults, shifts = self._conv_quant(op, n, name, inp, _FilterView(w, oc), out,
                                         per_tensor_float_product=False, emit=False)
        fc = fast_channels(bias_raw, np.abs(wt).sum(axis=(0, 1)), mults, shifts,
                           out.quantization.zero_point, lo, hi)
        if fc is None:
            return False
        rows, flags = fc
        oc2 = oc + (oc & 1)
        w2 = np.zeros((3, 3, oc2), dtype=np.int64)
        w2[:, :, :oc] = 2 * wt
        wf = np.zeros((oc2 // 2, 3, 4, 2), dtype=np.int16)
        for r in range(3):
            for j in range(2):  # channel 2 * cp + j
                wf[:, r, j, 0] = w2[r, 0, j::2]
                wf[:, r, j, 1] = w2[r, 1, j::2]
                wf[:, r, 2 + j, 0] = w2[r, 1, j::2]
                wf[:, r, 2 + j, 1] = w2[r, 2, j::2]
        rows = rows + [(0, 0, 0, 0)] * (oc2 - oc)
        sh = o["stride_h"]
        n.decls.append(_c_array("int16_t", f"{name}_w", wf))
        n.decls.append(_chan_array(f"{name}_ch", rows))
        n.weights_bytes += 2 * wf.size + 16 * oc2
        n.decls.append(_struct("em_fast_params_t", f"{name}_p", {
            "stride_h": sh, "stride_w": sh,
            "pad_h": compute_padding(sh, ih, 3, oh), "pad_w": compute_padding(sh, iw, 3, ow),
            "input_zero_point": inp.quantization.zero_point, "act_min": lo, "act_max": hi,
            "flags": flags}))
        n.decls.append(_dims(f"{name}_din", _shape4(inp.shape)))
        n.decls.append(_dims(f"{name}_dout", (nb, oh, ow, oc)))
        n.call = (f"em_dwconv3x3_fast_s8(&{name}_p, {name}_ch, &{name}_din, {{in0}}, {name}_w, "
                  f"&{name}_dout, {{out}}, {{scratch}});")
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.scratch = 3 * (oc2 // 2) * (ow + 2 if sh == 1 else ow + 1) * 8
        n.fast = True
        if nb == 1:
            n.overlap = dw_ring_max_shift(ih, iw * ic, oh, ow * oc, sh,
                                          compute_padding(sh, ih, 3, oh))
        return True

    def op_fully_connected(self, op: Operator, n: _Node, name: str):
        o = op.options
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        w = self.const(op.inputs[1], op, "filter")
        if w.dtype != "int8" or len(w.shape) != 2:
            raise _unsupported(f"FULLY_CONNECTED (#{op.index}) with {w.dtype} {w.shape} weights")
        if o.get("weights_format", 0) != 0:
            raise _unsupported(f"FULLY_CONNECTED (#{op.index}) with shuffled weights")
        oc, k = w.shape
        rows = inp.size // k
        if rows * k != inp.size or out.size != rows * oc:
            raise _unsupported(f"FULLY_CONNECTED (#{op.index}) with shapes {inp.shape} {w.shape}")
        in_off = -inp.quantization.zero_point
        k_pad = (k + 3) & ~3
        wpad = np.zeros((oc, k_pad), dtype=np.int8)
        wpad[:, :k] = w.data
        bias_eff = _wrap32(self._bias(op, 2, oc) + in_off * w.data.astype(np.int64).sum(axis=1))
        lo, hi = activation_range(o.get("fused_activation_function"), out)
        n.decls.append(_c_array("int8_t", f"{name}_w", wpad))
        n.decls.append(_c_array("int32_t", f"{name}_b", bias_eff))
        n.weights_bytes += wpad.size + 4 * oc
        self._conv_quant(op, n, name, inp, w, out, per_tensor_float_product=True)
        n.decls.append(_struct("em_conv_params_t", f"{name}_p", {
            "input_offset": in_off, "output_offset": out.quantization.zero_point,
            "stride_h": 1, "stride_w": 1, "pad_h": 0, "pad_w": 0,
            "act_min": lo, "act_max": hi}))
        n.call = (f"em_fully_connected_s8(&{name}_p, &{name}_q, {rows}, {k}, {{in0}}, {oc}, "
                  f"{name}_w, {name}_b, {{out}}, {{scratch}});")
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.scratch = 2 * 2 * k_pad + k_pad

    def _pool(self, op: Operator, n: _Node, name: str, fn: str):
        o = op.options
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        if (abs(inp.quantization.scale - out.quantization.scale) > 1e-6
                or inp.quantization.zero_point != out.quantization.zero_point):
            raise _unsupported(f"{op.name} (#{op.index}) changing the quantization")
        _, ih, iw, _ = _shape4(inp.shape)
        nb, oh, ow, oc = _shape4(out.shape)
        fh, fw = o["filter_height"], o["filter_width"]
        sh, sw = o["stride_h"], o["stride_w"]
        lo, hi = activation_range(o.get("fused_activation_function"), out)
        n.decls.append(_struct("em_pool_params_t", f"{name}_p", {
            "stride_h": sh, "stride_w": sw,
            "pad_h": compute_padding(sh, ih, fh, oh), "pad_w": compute_padding(sw, iw, fw, ow),
            "filter_h": fh, "filter_w": fw, "act_min": lo, "act_max": hi}))
        n.decls.append(_dims(f"{name}_din", _shape4(inp.shape)))
        n.decls.append(_dims(f"{name}_dout", (nb, oh, ow, oc)))
        n.call = f"{fn}(&{name}_p, &{name}_din, {{in0}}, &{name}_dout, {{out}});"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]

    def op_average_pool_2d(self, op, n, name):
        self._pool(op, n, name, "em_avg_pool_s8")

    def op_max_pool_2d(self, op, n, name):
        self._pool(op, n, name, "em_max_pool_s8")

    def op_mean(self, op: Operator, n: _Node, name: str):
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        axis = self.const(op.inputs[1], op, "axis")
        rank = len(inp.shape)
        axes = sorted({int(a) % rank for a in np.asarray(axis.data).ravel()})
        if rank != 4 or axes != [1, 2]:
            raise _unsupported(f"MEAN (#{op.index}) over axes {axes} of a rank-{rank} tensor")
        nb, ih, iw, c = inp.shape
        count = ih * iw
        mult, shift = quantize_multiplier(_f32(inp.quantization.scale) /
                                          _f32(out.quantization.scale))
        s = (count.bit_length() - 1) if count > 0 else 0
        s = min(s, 32, 31 + shift)
        mult = int((mult << s) // count)
        shift -= s
        n.decls.append(_struct("em_mean_params_t", f"{name}_p", {
            "input_zero_point": inp.quantization.zero_point,
            "output_zero_point": out.quantization.zero_point,
            "multiplier": mult, "shift": shift}))
        n.decls.append(_dims(f"{name}_din", (nb, ih, iw, c)))
        n.call = f"em_mean_hw_s8(&{name}_p, &{name}_din, {{in0}}, {{out}}, (int32_t *){{scratch}});"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.scratch = 4 * c

    def _probability_output(self, op: Operator) -> tuple[Tensor, Tensor]:
        """The int8 input and output of SOFTMAX or LOGISTIC, whose output TFLite Micro
        requires at scale 1/256, zero point -128."""
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        if out.quantization.zero_point != -128 or out.quantization.scale != np.float32(1 / 256):
            raise _unsupported(f"{op.name} (#{op.index}) with output quantization other than "
                               "1/256, -128")
        return inp, out

    @staticmethod
    def _input_radius(integer_bits: int, left_shift: int) -> int:
        """TFLite's CalculateInputRadius: the largest input difference that, rescaled to
        integer_bits integer bits, stays representable (kept within int32)."""
        radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits))
                            / 2.0 ** left_shift)
        return min(radius, (1 << 31) - 1)

    def op_softmax(self, op: Operator, n: _Node, name: str):
        inp, _ = self._probability_output(op)
        beta = _f32(op.options.get("beta", 1.0))
        real = min(beta * _f32(inp.quantization.scale) * (1 << (31 - 5)), float((1 << 31) - 1))
        mult, left_shift = quantize_multiplier(real)
        radius = self._input_radius(5, left_shift)
        depth = inp.shape[-1]
        rows = inp.size // depth
        n.decls.append(_struct("em_softmax_params_t", f"{name}_p", {
            "input_multiplier": mult, "input_left_shift": left_shift, "diff_min": -radius}))
        n.call = f"em_softmax_s8(&{name}_p, {rows}, {depth}, {{in0}}, {{out}});"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]

    def _alias(self, op: Operator, n: _Node, name: str):
        inp, out = self.t[op.inputs[0]], self.t[op.outputs[0]]
        if inp.nbytes != out.nbytes:
            raise _unsupported(f"{op.name} (#{op.index}) changing the number of elements")
        if inp.dtype != out.dtype:
            raise _unsupported(f"{op.name} (#{op.index}) changing the type")
        n.call = f"/* {op.name}: output shares the input's memory */"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.alias = (op.outputs[0], op.inputs[0])

    def op_reshape(self, op, n, name):
        self._alias(op, n, name)

    def op_squeeze(self, op, n, name):
        self._alias(op, n, name)

    def op_expand_dims(self, op, n, name):
        self._alias(op, n, name)

    def _broadcast(self, op: Operator, name: str) -> str:
        out = self.t[op.outputs[0]]
        od = _shape4(out.shape)
        strides = []
        for ti in op.inputs[:2]:
            d = _shape4(self.t[ti].shape)
            natural = [int(np.prod(d[i + 1:])) for i in range(4)]
            st = []
            for i in range(4):
                if d[i] == od[i]:
                    st.append(natural[i])
                elif d[i] == 1:
                    st.append(0)
                else:
                    raise _unsupported(f"{op.name} (#{op.index}) with shapes that do not broadcast")
            strides.append(st)
        return _struct("em_broadcast_t", f"{name}_bc", {
            "out_dims": list(od), "stride1": strides[0], "stride2": strides[1]})

    def op_add(self, op: Operator, n: _Node, name: str):
        a = self.int8(op.inputs[0], "input", op)
        b = self.int8(op.inputs[1], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        left_shift = 20
        twice_max = 2 * float(max(np.float32(a.quantization.scale),
                                  np.float32(b.quantization.scale)))
        m1, s1 = quantize_multiplier(_f32(a.quantization.scale) / twice_max)
        m2, s2 = quantize_multiplier(_f32(b.quantization.scale) / twice_max)
        mo, so = quantize_multiplier(twice_max / ((1 << left_shift) *
                                                  _f32(out.quantization.scale)))
        lo, hi = activation_range(op.options.get("fused_activation_function"), out)
        n.decls.append(_struct("em_add_params_t", f"{name}_p", {
            "input1_offset": -a.quantization.zero_point,
            "input2_offset": -b.quantization.zero_point,
            "output_offset": out.quantization.zero_point, "left_shift": left_shift,
            "input1_multiplier": m1, "input1_shift": s1,
            "input2_multiplier": m2, "input2_shift": s2,
            "output_multiplier": mo, "output_shift": so, "act_min": lo, "act_max": hi}))
        n.decls.append(self._broadcast(op, name))
        n.call = f"em_add_s8(&{name}_p, &{name}_bc, {{in0}}, {{in1}}, {{out}});"
        n.reads, n.writes = list(op.inputs[:2]), [op.outputs[0]]
        n.in_place = a.shape == out.shape

    def op_mul(self, op: Operator, n: _Node, name: str):
        a = self.int8(op.inputs[0], "input", op)
        b = self.int8(op.inputs[1], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        mo, so = quantize_multiplier(_f32(a.quantization.scale) * _f32(b.quantization.scale) /
                                     _f32(out.quantization.scale))
        lo, hi = activation_range(op.options.get("fused_activation_function"), out)
        n.decls.append(_struct("em_mul_params_t", f"{name}_p", {
            "input1_offset": -a.quantization.zero_point,
            "input2_offset": -b.quantization.zero_point,
            "output_offset": out.quantization.zero_point,
            "output_multiplier": mo, "output_shift": so, "act_min": lo, "act_max": hi}))
        n.decls.append(self._broadcast(op, name))
        n.call = f"em_mul_s8(&{name}_p, &{name}_bc, {{in0}}, {{in1}}, {{out}});"
        n.reads = [i for i in op.inputs[:2]]
        n.writes = [op.outputs[0]]
        n.in_place = a.shape == out.shape

    def op_pad(self, op: Operator, n: _Node, name: str):
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        pads = np.asarray(self.const(op.inputs[1], op, "paddings").data).reshape(-1, 2)
        rank = len(inp.shape)
        if rank > 4:
            raise _unsupported(f"{op.name} (#{op.index}) of a rank-{rank} tensor")
        before = [0] * (4 - rank) + [int(p) for p in pads[:, 0]]
        after = [0] * (4 - rank) + [int(p) for p in pads[:, 1]]
        value = out.quantization.zero_point
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            value = int(np.asarray(self.const(op.inputs[2], op, "constant value").data).ravel()[0])
        n.decls.append(_struct("em_pad_params_t", f"{name}_p", {
            "before": before, "after": after, "value": value}))
        n.decls.append(f"static const int32_t {name}_din[4] = "
                       f"{{{', '.join(str(d) for d in _shape4(inp.shape))}}};\n")
        n.call = f"em_pad_s8(&{name}_p, {name}_din, {{in0}}, {{out}});"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]

    op_padv2 = op_pad

    def quantized(self, ti: int, role: str, op: Operator, dtypes=("int8",)) -> Tensor:
        """A quantized tensor of one of dtypes (the graph's edges may be uint8)."""
        t = self.t[ti]
        if t.dtype not in dtypes or t.quantization is None:
            raise _unsupported(f"operator {op.name} (#{op.index}) with a {t.dtype} {role} "
                               f"tensor {t.name!r}")
        return t

    def op_quantize(self, op: Operator, n: _Node, name: str):
        """int8 -> int8 inside a graph; uint8 <-> int8 and float32 -> int8 at its edges."""
        src = self.t[op.inputs[0]]
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        if src.dtype == "float32":
            out = self.int8(op.outputs[0], "output", op)
            q = out.quantization
            n.call = (f"em_quantize_f32_s8({_c_float(q.scale)}, {q.zero_point}, {src.size}, "
                      "{in0}, {out});")
            return
        inp = self.quantized(op.inputs[0], "input", op, ("int8", "uint8"))
        out = self.quantized(op.outputs[0], "output", op, ("int8", "uint8"))
        mult, shift = quantize_multiplier(_f32(inp.quantization.scale) /
                                          _f32(out.quantization.scale))
        n.decls.append(_struct("em_requantize_params_t", f"{name}_p", {
            "input_zero_point": inp.quantization.zero_point,
            "output_zero_point": out.quantization.zero_point,
            "multiplier": mult, "shift": shift}))
        kernel = {("int8", "int8"): "em_requantize_s8", ("uint8", "int8"): "em_requantize_u8_s8",
                  ("int8", "uint8"): "em_requantize_s8_u8"}.get((inp.dtype, out.dtype))
        if kernel is None:
            raise _unsupported(f"QUANTIZE (#{op.index}) from {inp.dtype} to {out.dtype}")
        in_cast = "(const uint8_t *)" if inp.dtype == "uint8" else ""
        out_cast = "(uint8_t *)" if out.dtype == "uint8" else ""
        n.call = f"{kernel}(&{name}_p, {inp.size}, {in_cast}{{in0}}, {out_cast}{{out}});"
        n.in_place = True

    def op_dequantize(self, op: Operator, n: _Node, name: str):
        """int8 -> float32, at a graph's output."""
        inp = self.int8(op.inputs[0], "input", op)
        if self.t[op.outputs[0]].dtype != "float32":
            raise _unsupported(f"DEQUANTIZE (#{op.index}) to {self.t[op.outputs[0]].dtype}")
        q = inp.quantization
        n.call = (f"em_dequantize_s8_f32({_c_float(q.scale)}, {q.zero_point}, {inp.size}, "
                  "{in0}, {out});")
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]

    def op_logistic(self, op: Operator, n: _Node, name: str):
        inp, _ = self._probability_output(op)
        integer_bits = 4  # TFLite Micro's kInputIntegerBits for int8
        mult, left_shift = quantize_multiplier(_f32(inp.quantization.scale) *
                                               (1 << (31 - integer_bits)))
        radius = self._input_radius(integer_bits, left_shift)
        n.decls.append(_struct("em_logistic_params_t", f"{name}_p", {
            "input_zero_point": inp.quantization.zero_point, "input_range_radius": radius,
            "input_multiplier": mult, "input_left_shift": left_shift}))
        n.call = f"em_logistic_s8(&{name}_p, {inp.size}, {{in0}}, {{out}});"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.in_place = True

    def op_concatenation(self, op: Operator, n: _Node, name: str):
        out = self.int8(op.outputs[0], "output", op)
        if op.options.get("fused_activation_function", "NONE") not in ("NONE", None):
            raise _unsupported(f"CONCATENATION (#{op.index}) with a fused activation")
        axis = op.options.get("axis", 0) % len(out.shape)
        outer = int(np.prod(out.shape[:axis], dtype=np.int64))
        chunks = []
        for ti in op.inputs:
            t = self.int8(ti, "input", op)
            if (_f32(t.quantization.scale) != _f32(out.quantization.scale)
                    or t.quantization.zero_point != out.quantization.zero_point):
                raise _unsupported(f"CONCATENATION (#{op.index}) of inputs quantized unlike its "
                                   "output")
            if t.data is not None:
                raise _unsupported(f"CONCATENATION (#{op.index}) with a constant input")
            chunks.append(t.size // outer)
        k = len(op.inputs)
        n.decls.append(f"static const int32_t {name}_chunk[{k}] = "
                       f"{{{', '.join(map(str, chunks))}}};\n")
        ins = ", ".join(f"{{in{j}}}" for j in range(k))
        # doubled braces: the runner fills {in0} {out} ... with str.format
        n.call = (f"{{{{ const int8_t *const ins[{k}] = {{{{{ins}}}}}; "
                  f"em_concat_s8({outer}, {k}, {name}_chunk, ins, {{out}}); }}}}")
        n.reads, n.writes = list(op.inputs), [op.outputs[0]]


def _c_float(x) -> str:
    """A float32 as an exact C99 hexadecimal literal."""
    return f"{float(np.float32(x)).hex()}f"


class _FilterView:
    """A depthwise filter seen as [out_c, ...] for the multiplier computation."""

    def __init__(self, w: Tensor, oc: int):
        self.quantization = w.quantization
        self.shape = (oc,)
