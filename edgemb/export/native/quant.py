"""TFLite's quantization arithmetic, reproduced in Python exactly as TFLite Micro
computes it at Prepare time: requantization multipliers and shifts, activation
ranges, padding, and the fast kernels' per-channel parameters."""

from __future__ import annotations

import math

import numpy as np

from edgemb.export.native.errors import _unsupported
from edgemb.tflite.reader import Tensor


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
