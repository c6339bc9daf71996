"""Code generator of the native runtime: C code for one int8 .tflite model.

    code = generate_native("model.tflite")
    code.write("build/")          # model_native.c, model_native.h
    code.summary["arena_bytes"]

The generated model_native.c holds the weights as `static const` arrays (re-laid
out for the kernels), biases with the input offset folded in, per-channel
requantization multipliers and shifts computed here exactly as TFLite Micro
computes them at Prepare time, one static activation arena whose offsets come from
a liveness-based planner, and one invoke entry point calling the kernels of
firmware/runtime/native (em_nn.h). The graph input is read in place from the
caller's buffer, so it takes no arena space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgemb.errors import EdgembError
from edgemb.export import planner
from edgemb.tflite.reader import Model, Operator, Tensor, op_macs, read_tflite

ALIGN = 16


class UnsupportedOperatorError(EdgembError):
    """The model uses an operator or tensor type the native runtime does not implement."""


def _unsupported(what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(
        f"{what}; the native runtime does not support it. Build with `--runtime tflm` instead."
    )


# ---------------------------------------------------------------------------
# TFLite's quantization arithmetic, reproduced in Python


def quantize_multiplier(d: float) -> tuple[int, int]:
    """tflite::QuantizeMultiplier: d = q * 2^shift with q a Q0.31 integer."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = _round_half_away(q * (1 << 31))
    assert q_fixed <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def _round_half_away(x: float) -> int:
    """std::round for doubles."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _f32(x) -> float:
    return float(np.float32(x))


def activation_range(act: str, out: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 output."""
    scale = np.float32(out.quantization.scale)
    zp = out.quantization.zero_point

    def q(v: float) -> int:
        return zp + _round_half_away(float(np.float32(v) / scale))

    if act in ("NONE", None):
        return -128, 127
    if act == "RELU":
        return max(-128, q(0.0)), 127
    if act == "RELU6":
        return max(-128, q(0.0)), min(127, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise _unsupported(f"fused activation {act}")


def compute_padding(stride: int, in_size: int, k: int, out_size: int) -> int:
    total = max((out_size - 1) * stride + k - in_size, 0)
    return total // 2


def _wrap32(a: np.ndarray) -> np.ndarray:
    return ((np.asarray(a, dtype=np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


EM_FAST_SIGNFIX = 1
EM_FAST_CLAMP = 2
_I32 = (1 << 31) - 1


def fast_channels(bias_eff, abs_weight_sums, mults, shifts, out_zp: int, lo: int, hi: int):
    """Per-channel (2 * bias, multiplier, rnd, right shift) rows and the flags of the
    fast kernels (em_chan_t in em_nn.h), or None when their exactness conditions do not
    hold for this layer. With inputs in [-128, 127], |acc| <= |bias_eff| + 128 * sum|w|;
    below 2^30 the doubled accumulator fits int32 and SMMULR(2 acc, m) equals
    SaturatingRoundingDoublingHighMul(acc, m); the rounding shift plus output offset is
    (t + [signfix: t >> 31] + rnd) >> e with no int32 overflow checked here."""
    signfix = lo < out_zp  # otherwise negative ties end clamped at act_min either way
    rows = []
    for b, wabs, m, sh in zip(bias_eff, abs_weight_sums, mults, shifts, strict=True):
        b, m, sh = int(b), int(m), int(sh)
        bound = abs(b) + 128 * int(wabs)
        if sh > 0 or m < 0 or 2 * bound > _I32:
            return None
        e = -sh
        if e == 0 and signfix or e > 31:
            return None
        t_max = (bound * m >> 31) + 1
        rnd = (1 << (e - 1) if e else 0) + out_zp * (1 << e)
        if abs(rnd) > _I32 or t_max + abs(rnd) + 1 > _I32:
            return None
        rows.append((2 * b, m, rnd, e))
    flags = (EM_FAST_SIGNFIX if signfix else 0) | (EM_FAST_CLAMP if lo > -128 or hi < 127 else 0)
    return rows, flags


# ---------------------------------------------------------------------------
# Overlap rules: how far an operator's output may run into its input's bytes
# (planner.Overlap: offset(out) - offset(in) <= max_shift). Each follows the exact
# order of reads and writes of the kernels the generator may pick for the layer;
# tests/test_native_planner.py replays those orders byte by byte.

NO_LIMIT = 1 << 40  # every input byte is read before the first output byte is written


def pointwise_max_shift(pixels: int, in_c: int, out_c: int) -> int:
    """A 1x1 stride-1 unpadded CONV_2D (em_conv_s8 and em_conv_fast_s8, C and assembly)
    takes output pixels in pairs: it copies both pixels' inputs (pixel i at bytes
    [i * in_c, (i + 1) * in_c), read directly or through the gather row) into the
    scratch column, and only then writes both pixels' out_c outputs; a lone last pixel
    is read, then written. So after the pair that ends at pixel n (n even, n < pixels)
    writes bytes up to shift + n * out_c, the bytes still to be read start at
    n * in_c: shift <= n * (in_c - out_c) for every such n. With out_c <= in_c that
    is shift <= 2 * (in_c - out_c) (the output may start where the input starts);
    with out_c > in_c the last such n binds, and an output that ends where the input
    ends (shift = pixels * (in_c - out_c)) always fits."""
    ends = range(2, pixels, 2)
    if not ends:
        return NO_LIMIT
    n = ends[0] if out_c <= in_c else ends[-1]
    return n * (in_c - out_c)


def dw_ring_max_shift(in_h: int, in_row: int, out_h: int, out_row: int, stride: int,
                      pad_h: int) -> int:
    """em_dwconv3x3_fast_s8 (batch 1) copies each input row once into its three-row
    ring of pair rows and writes output row oy (bytes [oy, oy + 1) * out_row) only
    after the ring holds all three of its kernel rows, oy * stride - pad_h + 0..2; rows
    already in the ring are never read again (stride 1 and 2 build each row once). So
    writing row oy must leave input rows from y = oy * stride - pad_h + 3 on intact:
    shift + (oy + 1) * out_row <= y * in_row whenever y < in_h. At stride 1 with
    padding 1 that is one input row of slack: the output may start where the input
    starts."""
    shifts = [(oy * stride - pad_h + 3) * in_row - (oy + 1) * out_row
              for oy in range(out_h) if oy * stride - pad_h + 3 < in_h]
    return min(shifts, default=NO_LIMIT)


def _chan_array(name: str, rows) -> str:
    body = ",\n  ".join("{" + ", ".join(str(int(v)) for v in r) + "}" for r in rows)
    return f"static const em_chan_t {name}[{len(rows)}] = {{\n  {body}\n}};\n"


# ---------------------------------------------------------------------------
# C emission helpers


def _c_array(ctype: str, name: str, values, per_line: int = 24, align: int = 4) -> str:
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    if not vals:
        vals = ["0"]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    body = ",\n  ".join(lines)
    return (f"static const {ctype} {name}[{len(vals)}] EM_ALIGN({align}) = {{\n  {body}\n}};\n")


def _dims(name: str, shape) -> str:
    n, h, w, c = shape
    return f"static const em_dims_t {name} = {{{n}, {h}, {w}, {c}}};\n"


def _struct(ctype: str, name: str, fields: dict[str, Any]) -> str:
    def fmt(v):
        if isinstance(v, (list, tuple)):
            return "{" + ", ".join(fmt(x) for x in v) + "}"
        return str(int(v)) if not isinstance(v, str) else v

    body = ", ".join(f".{k} = {fmt(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{{body}}};\n"


def _shape4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    s = tuple(int(d) for d in shape)
    if len(s) > 4:
        raise _unsupported(f"a tensor of rank {len(s)}")
    return (1,) * (4 - len(s)) + s  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# The generator


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


@dataclass
class NativeCode:
    c_source: str
    h_source: str
    summary: dict[str, Any]

    def write(self, out_dir: str | Path, stem: str = "model_native") -> tuple[Path, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        c, h = out / f"{stem}.c", out / f"{stem}.h"
        c.write_text(self.c_source)
        h.write_text(self.h_source)
        return c, h


class _Generator:
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
        if o.get("dilation_w_factor", 1) != 1 or o.get("dilation_h_factor", 1) != 1:
            raise _unsupported(f"CONV_2D (#{op.index}) with dilation")
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
        pad_h, pad_w = compute_padding(sh, ih, kh, oh), compute_padding(sw, iw, kw, ow)
        if kh == kw == 1 and sh == sw == 1 and pad_h == pad_w == 0:
            n.overlap = pointwise_max_shift(nb * oh * ow, ic, oc)
        if self.fast:
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
            "pad_h": pad_h, "pad_w": pad_w,
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
        if o.get("dilation_w_factor", 1) != 1 or o.get("dilation_h_factor", 1) != 1:
            raise _unsupported(f"DEPTHWISE_CONV_2D (#{op.index}) with dilation")
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
                and self._dw_fast(op, n, name, inp, w, out, bias + in_off * wsum, lo, hi)):
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
            "pad_h": compute_padding(sh, ih, kh, oh), "pad_w": compute_padding(sw, iw, kw, ow),
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

    def op_softmax(self, op: Operator, n: _Node, name: str):
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        if out.quantization.zero_point != -128 or out.quantization.scale != np.float32(1 / 256):
            raise _unsupported(f"SOFTMAX (#{op.index}) with output quantization other than 1/256, "
                               "-128")
        beta = _f32(op.options.get("beta", 1.0))
        real = min(beta * _f32(inp.quantization.scale) * (1 << (31 - 5)), float((1 << 31) - 1))
        mult, left_shift = quantize_multiplier(real)
        radius = math.floor(1.0 * ((1 << 5) - 1) * (1 << (31 - 5)) / (1 << left_shift))
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

    def op_quantize(self, op: Operator, n: _Node, name: str):
        inp = self.int8(op.inputs[0], "input", op)
        out = self.int8(op.outputs[0], "output", op)
        mult, shift = quantize_multiplier(_f32(inp.quantization.scale) /
                                          _f32(out.quantization.scale))
        n.decls.append(_struct("em_requantize_params_t", f"{name}_p", {
            "input_zero_point": inp.quantization.zero_point,
            "output_zero_point": out.quantization.zero_point,
            "multiplier": mult, "shift": shift}))
        n.call = f"em_requantize_s8(&{name}_p, {inp.size}, {{in0}}, {{out}});"
        n.reads, n.writes = [op.inputs[0]], [op.outputs[0]]
        n.in_place = True

    # -- whole model --------------------------------------------------------
    def generate(self, prefix: str = "em_native") -> NativeCode:
        m = self.m
        if len(m.subgraphs) != 1:
            raise _unsupported(f"a model with {len(m.subgraphs)} subgraphs")
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise _unsupported(
                f"a model with {len(m.inputs)} inputs and {len(m.outputs)} outputs")
        in_t, out_t = m.input_tensors[0], m.output_tensors[0]
        for t, role in ((in_t, "input"), (out_t, "output")):
            if t.dtype != "int8":
                raise _unsupported(f"a {t.dtype} graph {role} ({t.name!r}; the native runtime "
                                   "takes int8 in and out: quantize with int8 input and output")
        ops = self.live_ops()
        nodes = [self.node(op, k) for k, op in enumerate(ops)]
        nsteps = len(nodes)

        # storage roots: aliases and in-place outputs share their input's storage
        root: dict[int, int] = {}

        def find(ti: int) -> int:
            while root.get(ti, ti) != ti:
                ti = root[ti]
            return ti

        for nd in nodes:
            if nd.alias:
                root[nd.alias[0]] = find(nd.alias[1])
        # lifetimes per root
        first: dict[int, int] = {}
        last: dict[int, int] = {}

        def touch(ti: int, k: int):
            r = find(ti)
            first[r] = min(first.get(r, k), k)
            last[r] = max(last.get(r, k), k)

        input_root = find(m.inputs[0])
        for k, nd in enumerate(nodes):
            for ti in nd.reads + nd.writes:
                touch(ti, k)
        touch(m.outputs[0], nsteps)
        # in-place: an element-wise op may write over its first input when nothing else
        # reads that input later and it is not the caller's input buffer
        for k, nd in enumerate(nodes):
            if not nd.in_place:
                continue
            src, dst = find(nd.reads[0]), find(nd.writes[0])
            if (src != input_root and src != dst and last.get(src) == k
                    and all(find(r) != src for r in nd.reads[1:])
                    and self.t[nd.reads[0]].nbytes == self.t[nd.writes[0]].nbytes):
                root[dst] = src
                first[src] = min(first[src], first.pop(dst))
                last[src] = max(last[src], last.pop(dst))
        # overlaps: an output may run into its input's bytes as its kernel's rule allows
        # (only where the input dies at that step and is not the caller's buffer)
        overlaps: dict[int, planner.Overlap] = {}  # by step
        for k, nd in enumerate(nodes):
            if nd.overlap is None:
                continue
            src, dst = find(nd.reads[0]), find(nd.writes[0])
            if src != input_root and src != dst and last[src] == k and first[dst] == k:
                overlaps[k] = planner.Overlap(f"t{dst}", f"t{src}", nd.overlap)
        buffers = []
        for r in sorted(first):
            if r == input_root:
                continue
            buffers.append(planner.Buffer(f"t{r}", self.t[r].nbytes, first[r], last[r]))
        for k, nd in enumerate(nodes):
            if nd.scratch:
                buffers.append(planner.Buffer(f"s{k}", nd.scratch, k, k))
        plan = planner.plan(buffers, ALIGN, list(overlaps.values()))
        planner.check(buffers, plan, list(overlaps.values()))
        size = {b.name: b.size for b in buffers}
        overlapped = {k for k, o in overlaps.items()  # steps whose output shares input bytes
                      if plan.offsets[o.out] < plan.offsets[o.inp] + size[o.inp]
                      and plan.offsets[o.inp] < plan.offsets[o.out] + size[o.out]}

        def ptr(ti: int, const: bool) -> str:
            r = find(ti)
            if r == input_root:
                return "in" if const else "(int8_t *)in"
            return f"(arena + {plan.offsets[f't{r}']})"

        def arena_offset(ti: int) -> int:
            r = find(ti)
            return -1 if r == input_root else plan.offsets[f"t{r}"]

        decls, funcs, per_op = [], [], []
        weights = 0
        for k, nd in enumerate(nodes):
            decls.extend(nd.decls)
            weights += nd.weights_bytes
            fields = {"out": ptr(nd.writes[0], False),
                      "scratch": f"(arena + {plan.offsets.get(f's{k}', 0)})"}
            for j, ti in enumerate(nd.reads):
                fields[f"in{j}"] = ptr(ti, True)
            call = nd.call.format(**fields)
            funcs.append(f"static void op{k}(const int8_t *in) {{\n  (void)in;\n  {call}\n}}\n")
            out_tensor = self.t[nd.writes[0]]
            per_op.append({
                "index": k, "op": nd.op.name, "tflite_index": nd.op.index,
                "output_tensor": nd.writes[0], "arena_offset": arena_offset(nd.writes[0]),
                "macs": op_macs(m, nd.op), "output_shape": list(out_tensor.shape),
                "output_bytes": out_tensor.nbytes, "scratch_bytes": nd.scratch,
                "weights_bytes": nd.weights_bytes,
                "aliased": bool(nd.alias) or find(nd.writes[0]) == find(nd.reads[0]),
                "overlapped": k in overlapped,
                "fast": nd.fast,
            })
        out_ptr = ptr(m.outputs[0], True)
        codes = ", ".join(str(nd.code) for nd in nodes) or "0"
        arena = max(plan.arena_bytes, ALIGN)
        summary = {
            "arena_bytes": plan.arena_bytes,
            "weights_bytes": weights,
            "input_bytes": in_t.nbytes,
            "output_bytes": out_t.nbytes,
            "op_count": nsteps,
            "macs": sum(p["macs"] for p in per_op),
            "ops": per_op,
        }
        header = _HEADER.format(
            prefix=prefix, PREFIX=prefix.upper(), in_bytes=in_t.nbytes, out_bytes=out_t.nbytes,
            arena=plan.arena_bytes, ops=nsteps)
        source = _SOURCE.format(
            prefix=prefix, PREFIX=prefix.upper(), arena=arena, decls="".join(decls),
            funcs="".join(funcs), codes=codes, ops=max(nsteps, 1),
            table=", ".join(f"op{k}" for k in range(nsteps)) or "0",
            nsteps=nsteps, out_ptr=out_ptr, out_bytes=out_t.nbytes,
            step_offsets=", ".join(str(p["arena_offset"]) for p in per_op) or "0",
            step_bytes=", ".join(str(p["output_bytes"]) for p in per_op) or "0",
            summary_comment=_summary_comment(summary))
        return NativeCode(c_source=source, h_source=header, summary=summary)


class _FilterView:
    """A depthwise filter seen as [out_c, ...] for the multiplier computation."""

    def __init__(self, w: Tensor, oc: int):
        self.quantization = w.quantization
        self.shape = (oc,)


def _summary_comment(s: dict) -> str:
    lines = [f" * arena {s['arena_bytes']} bytes, weights and parameters {s['weights_bytes']} "
             f"bytes, {s['macs']} MACs"]
    for p in s["ops"]:
        lines.append(f" *   op{p['index']:<3} {p['op']:<20} out {p['output_shape']} "
                     f"macs {p['macs']}")
    return "\n".join(lines)


_HEADER = """\
/* Generated by edgemb (edgemb/export/native.py). Do not edit. */
#ifndef {PREFIX}_MODEL_H
#define {PREFIX}_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {PREFIX}_INPUT_BYTES {in_bytes}
#define {PREFIX}_OUTPUT_BYTES {out_bytes}
#define {PREFIX}_ARENA_BYTES {arena}
#define {PREFIX}_OP_COUNT {ops}

/* TFLite BuiltinOperator code of each step of invoke. */
extern const uint8_t {prefix}_op_codes[];

/* One inference from {in_bytes} int8 input bytes to {out_bytes} output bytes. 0 on success. */
int {prefix}_invoke(const int8_t *in, int8_t *out);

/* The same, storing now() differences around each step in op_ticks when both are given. */
int {prefix}_invoke_timed(const int8_t *in, int8_t *out, uint32_t *op_ticks,
                          uint32_t (*now)(void));

/* The same, calling after_step with each step's output tensor (for tests). */
int {prefix}_invoke_debug(const int8_t *in, int8_t *out,
                          void (*after_step)(int step, const int8_t *data, uint32_t bytes));

#ifdef __cplusplus
}}
#endif

#endif
"""

_SOURCE = """\
/* Generated by edgemb (edgemb/export/native.py). Do not edit.
{summary_comment}
 */
#include <string.h>

#include "em_nn.h"
#include "model_native.h"

#if defined(__GNUC__)
#define EM_ALIGN(n) __attribute__((aligned(n)))
#else
#define EM_ALIGN(n)
#endif

static int8_t arena[{arena}] EM_ALIGN(16);

{decls}
{funcs}
const uint8_t {prefix}_op_codes[{ops}] = {{{codes}}};

typedef void (*em_step_t)(const int8_t *in);
static const em_step_t steps[{ops}] = {{{table}}};

int {prefix}_invoke_timed(const int8_t *in, int8_t *out, uint32_t *op_ticks,
                          uint32_t (*now)(void)) {{
  const int timed = op_ticks != 0 && now != 0;
  uint32_t t0 = timed ? now() : 0u;
  for (int i = 0; i < {nsteps}; ++i) {{
    steps[i](in);
    if (timed) {{
      const uint32_t t1 = now();
      op_ticks[i] = t1 - t0;
      t0 = t1;
    }}
  }}
  memcpy(out, {out_ptr}, {out_bytes});
  return 0;
}}

int {prefix}_invoke(const int8_t *in, int8_t *out) {{
  return {prefix}_invoke_timed(in, out, 0, 0);
}}

/* Where each step leaves its output (-1: the caller's input buffer), for tests. */
static const int32_t step_offsets[{ops}] = {{{step_offsets}}};
static const uint32_t step_bytes[{ops}] = {{{step_bytes}}};

int {prefix}_invoke_debug(const int8_t *in, int8_t *out,
                          void (*after_step)(int step, const int8_t *data, uint32_t bytes)) {{
  for (int i = 0; i < {nsteps}; ++i) {{
    steps[i](in);
    after_step(i, step_offsets[i] < 0 ? in : arena + step_offsets[i], step_bytes[i]);
  }}
  memcpy(out, {out_ptr}, {out_bytes});
  return 0;
}}
"""


def generate_native(model: Model | str | Path | bytes, prefix: str = "em_native",
                    fast: bool = True) -> NativeCode:
    """C code for one model; raises UnsupportedOperatorError for what it cannot run.
    fast=False keeps every layer on the general kernels (for tests and comparisons)."""
    if not isinstance(model, Model):
        model = read_tflite(model)
    return _Generator(model, fast=fast).generate(prefix)


def native_summary(model: Model | str | Path | bytes) -> dict[str, Any]:
    """arena_bytes, weights_bytes and the per-operator list of the generated code."""
    return generate_native(model).summary


def write_native(model: Model | str | Path | bytes, out_dir: str | Path) -> dict[str, Any]:
    """Writes model_native.c and model_native.h into out_dir; returns the summary."""
    code = generate_native(model)
    code.write(out_dir)
    return code.summary
