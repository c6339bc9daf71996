"""The arena planner's overlap rules, replayed byte by byte.

A kernel may write its output over its input only where every input byte is read
before a write lands on it. The replays below follow the order of reads and writes of
the kernels (pairs of pixels for 1x1 convolutions, rows through the three-row ring for
the fast 3x3 depthwise convolution) on a model of memory in which each input byte
remembers its index until an output byte overwrites it: every read must still find
its own byte. Whole models through the real kernels are in test_native_models.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgemb.export import planner
from edgemb.export.native import NO_LIMIT, compute_padding, dw_ring_max_shift, pointwise_max_shift


class Memory:
    """Input bytes at [0, in_bytes) holding their index; output at [shift, ...)."""

    def __init__(self, in_bytes: int, out_bytes: int, shift: int):
        self.base = min(0, shift)
        self.mem = np.full(max(in_bytes, shift + out_bytes) - self.base, -1, dtype=np.int64)
        self.mem[-self.base:-self.base + in_bytes] = np.arange(in_bytes)
        self.shift = shift
        self.clobbered = False

    def read(self, start: int, n: int) -> None:
        got = self.mem[start - self.base:start - self.base + n]
        if not np.array_equal(got, np.arange(start, start + n)):
            self.clobbered = True

    def write(self, start: int, n: int) -> None:
        a = self.shift + start - self.base
        self.mem[a:a + n] = -2


def replay_pointwise(pixels: int, in_c: int, out_c: int, shift: int) -> bool:
    """em_conv_s8 / em_conv_fast_s8 on a 1x1 stride-1 layer: both pixels of a pair
    are read into the column before either pixel's outputs are written; a lone last
    pixel is read, then written. True if no read found its byte overwritten."""
    m = Memory(pixels * in_c, pixels * out_c, shift)
    for pix in range(0, pixels, 2):
        two = min(2, pixels - pix)
        for s in range(two):
            m.read((pix + s) * in_c, in_c)
        m.write(pix * out_c, two * out_c)
    return not m.clobbered


def replay_dw_ring(in_h: int, in_w: int, c: int, stride: int, shift: int) -> bool:
    """em_dwconv3x3_fast_s8 (batch 1, SAME padding): per output row, the three kernel
    rows enter the ring unless a slot already holds them, then the row is written."""
    out_h, out_w = -(-in_h // stride), -(-in_w // stride)
    pad = compute_padding(stride, in_h, 3, out_h)
    in_row, out_row = in_w * c, out_w * c
    m = Memory(in_h * in_row, out_h * out_row, shift)
    held = [None, None, None]
    for oy in range(out_h):
        for k in range(3):
            y = oy * stride - pad + k
            slot = (y + 3 + pad) % 3
            if held[slot] != y:
                if 0 <= y < in_h:
                    m.read(y * in_row, in_row)
                held[slot] = y
        m.write(oy * out_row, out_row)
    return not m.clobbered


def dw_shift(in_h: int, in_w: int, c: int, stride: int) -> int:
    out_h, out_w = -(-in_h // stride), -(-in_w // stride)
    return dw_ring_max_shift(in_h, in_w * c, out_h, out_w * c, stride,
                             compute_padding(stride, in_h, 3, out_h))


def pointwise_cases():
    rng = np.random.default_rng(1)
    cases = [(1, 3, 5), (2, 8, 4), (3, 4, 8), (5, 8, 48), (7, 48, 8), (9, 16, 16), (2304, 8, 48)]
    cases += [tuple(int(v) for v in rng.integers(1, [60, 20, 20])) for _ in range(200)]
    return cases


@pytest.mark.parametrize("pixels,in_c,out_c", pointwise_cases())
def test_pointwise_rule_is_safe_and_tight(pixels, in_c, out_c):
    s = pointwise_max_shift(pixels, in_c, out_c)
    if s == NO_LIMIT:  # one pair at most: every read comes before every write
        assert pixels <= 2
        assert replay_pointwise(pixels, in_c, out_c, -pixels * out_c + 1)
        assert replay_pointwise(pixels, in_c, out_c, pixels * in_c - 1)
        return
    assert replay_pointwise(pixels, in_c, out_c, s)
    assert replay_pointwise(pixels, in_c, out_c, s - 1 - pixels % 3)
    assert not replay_pointwise(pixels, in_c, out_c, s + 1)
    # the brief's two placements: start-aligned when narrowing, end-aligned when widening
    if out_c <= in_c:
        assert s >= 0
    else:
        assert s >= pixels * (in_c - out_c)


def dw_cases():
    rng = np.random.default_rng(2)
    cases = [(48, 48, 8, 1), (48, 48, 48, 2), (3, 3, 1, 1), (1, 1, 2, 2), (2, 5, 3, 2),
             (7, 4, 5, 2), (5, 5, 3, 1)]
    cases += [(int(rng.integers(1, 14)), int(rng.integers(1, 14)), int(rng.integers(1, 9)),
               int(rng.integers(1, 3))) for _ in range(200)]
    return cases


@pytest.mark.parametrize("in_h,in_w,c,stride", dw_cases())
def test_dw_ring_rule_is_safe_and_tight(in_h, in_w, c, stride):
    s = dw_shift(in_h, in_w, c, stride)
    if s == NO_LIMIT:
        return
    assert s >= 0  # the output may always start where the input starts
    assert replay_dw_ring(in_h, in_w, c, stride, s)
    assert replay_dw_ring(in_h, in_w, c, stride, 0)
    assert not replay_dw_ring(in_h, in_w, c, stride, s + 1)


def test_dw_without_ring_cannot_overlap():
    """Why the rule needs the ring: a kernel reading the input in place for each
    output row (em_depthwise_conv_s8) would clobber row oy - 1 ... at shift 0 the
    first output row lands on input row 0, still needed by output row 1."""
    in_h, in_w, c = 6, 6, 4
    m = Memory(in_h * in_w * c, in_h * in_w * c, 0)
    for oy in range(in_h):
        for y in range(max(oy - 1, 0), min(oy + 2, in_h)):
            m.read(y * in_w * c, in_w * c)
        m.write(oy * in_w * c, in_w * c)
    assert m.clobbered


# ---------------------------------------------------------------------------
# The planner with overlap rules


def chain(rng):
    """A random chain of 1x1 / depthwise layers: buffers, rules, and each step's layer."""
    h = w = int(rng.integers(1, 12))
    c = int(rng.integers(1, 10))
    bufs = [planner.Buffer("t0", h * w * c, 0, 1)]
    rules, layers = [], []
    for k in range(1, int(rng.integers(2, 9))):
        if rng.random() < 0.5:
            oc = int(rng.integers(1, 24))
            layer = ("pw", h * w, c, oc)
            shift = pointwise_max_shift(h * w, c, oc)
            c_out, h_out, w_out = oc, h, w
        else:
            st = int(rng.integers(1, 3))
            layer = ("dw", h, w, c, st)
            shift = dw_shift(h, w, c, st)
            c_out, h_out, w_out = c, -(-h // st), -(-w // st)
        h, w, c = h_out, w_out, c_out
        bufs.append(planner.Buffer(f"t{k}", h * w * c, k, k + 1))
        bufs.append(planner.Buffer(f"s{k}", int(rng.integers(0, 300)), k, k))
        rules.append(planner.Overlap(f"t{k}", f"t{k - 1}", shift))
        layers.append(layer)
    return bufs, rules, layers


def test_planner_overlaps_random_chains():
    """Planned offsets satisfy every rule, and replaying each step's kernel at the
    planned offsets never reads an overwritten byte."""
    rng = np.random.default_rng(3)
    overlapped = 0
    for _ in range(300):
        bufs, rules, layers = chain(rng)
        p = planner.plan(bufs, 16, rules)
        planner.check(bufs, p, rules)
        size = {b.name: b.size for b in bufs}
        for k, layer in enumerate(layers, start=1):
            d = p.offsets[f"t{k}"] - p.offsets[f"t{k - 1}"]
            overlapped += d < size[f"t{k - 1}"] and -d < size[f"t{k}"]
            if layer[0] == "pw":
                assert replay_pointwise(*layer[1:], d)
            else:
                assert replay_dw_ring(*layer[1:], d)
    assert overlapped > 300


def test_planner_rejects_bad_rules_and_overlaps():
    a = planner.Buffer("a", 100, 0, 1)
    b = planner.Buffer("b", 100, 1, 2)
    c = planner.Buffer("c", 100, 2, 3)
    with pytest.raises(ValueError):  # the input outlives the output's first step
        planner.plan([a, b, c], 16, [planner.Overlap("c", "a", 0)])
    p = planner.plan([a, b], 16, [planner.Overlap("b", "a", 0)])
    assert p.offsets == {"a": 0, "b": 0} and p.arena_bytes == 112
    with pytest.raises(AssertionError):
        planner.check([a, b], p)  # without the rule the overlap is an error
    with pytest.raises(AssertionError):
        planner.check([a, b], planner.Plan({"a": 0, "b": 32}, 144, 16),
                      [planner.Overlap("b", "a", 16)])  # further than the rule allows
    # an output that must end where its input ends: placed below it
    wide = planner.Buffer("w", 300, 1, 2)
    p = planner.plan([a, wide], 16, [planner.Overlap("w", "a", -200)])
    assert p.offsets == {"w": 0, "a": 208} and p.arena_bytes == 320  # a aligned up


# ---------------------------------------------------------------------------
# The plans of the benchmark's MobileNets


@pytest.mark.slow
@pytest.mark.parametrize("name", ["v1", "v1_grey", "v2"])
def test_mobilenet_plans_replay(name):
    """Every overlapped step of the generated plans, replayed at its planned offsets."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
    import models

    from edgemb.export.native import generate_native
    from edgemb.tflite import read_tflite

    recipe = {"v1": models.V1_RECIPE, "v1_grey": models.V1_GREY_RECIPE,
              "v2": models.V2_RECIPE}[name]
    b = models.tflite_model(recipe)
    m = read_tflite(b)
    ops = generate_native(b).summary["ops"]
    where = {p["output_tensor"]: p["arena_offset"] for p in ops}
    replayed = 0
    for p in ops:
        if not p["overlapped"]:
            continue
        op = m.operators[p["tflite_index"]]
        inp = m.tensors[op.inputs[0]]
        shift = p["arena_offset"] - where[op.inputs[0]]
        _, h, w, c = inp.shape
        if op.name == "CONV_2D":
            assert replay_pointwise(h * w, c, p["output_shape"][-1], shift), p
        else:
            assert op.name == "DEPTHWISE_CONV_2D" and p["fast"], p
            assert replay_dw_ring(h, w, c, op.options["stride_h"], shift), p
        replayed += 1
    assert replayed >= 10
