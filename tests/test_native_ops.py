"""Every native kernel against the TFLite Micro interpreter, bit for bit.

Hypothesis draws tiny Keras models (one layer of interest, random shapes, strides,
paddings, activations and input ranges, hence random quantization parameters),
the converter quantizes them fully to int8, and the generated C code (portable
path, -Wall -Wextra -Werror) must give exactly TFLM's outputs on random inputs.
Examples are derandomized so the converted models are cached between runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edgemb.tflite import read_tflite

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import harness  # noqa: E402
import models  # noqa: E402

pytestmark = pytest.mark.skipif(not harness.have_cc(), reason="needs a C compiler (cc)")

INPUTS_PER_MODEL = 40
RANGES = [(-1.0, 1.0), (0.0, 1.0), (-3.0, 0.5), (-0.25, 4.0), (-0.01, 0.02)]
ACTS = [None, "relu", "relu6"]


def settings_for(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    return harness.kernel_objects(tmp_path_factory.mktemp("kernels"))


COUNTS: dict[str, int] = {}


def check(recipe: dict, workdir: Path, objs, seed: int = 0) -> None:
    b = models.tflite_model(recipe)
    m = read_tflite(b)
    for op in m.operators:
        COUNTS[op.name] = COUNTS.get(op.name, 0) + 1
    exe = harness.build_host(b, workdir / models._key(recipe), objects=objs)
    x = typed_inputs(m.input_tensors[0], INPUTS_PER_MODEL, seed)
    got = harness.run_host(exe, x)
    ref = harness.run_tflm(b, x)
    bad = np.nonzero((got != ref).any(axis=1))[0]
    assert len(bad) == 0, (
        f"{len(bad)} of {len(x)} outputs differ for {recipe}\nops {[o.name for o in m.operators]}"
        f"\nfirst: got {got[bad[0]][:16]} want {ref[bad[0]][:16]}")


def typed_inputs(tensor, n: int, seed: int) -> np.ndarray:
    """Random inputs of the tensor's type: int8 or uint8 over their whole range, float32
    a little beyond what the graph's QUANTIZE represents (so it saturates too)."""
    shape = tensor.shape[1:]
    if tensor.dtype == "float32":
        return np.random.default_rng(seed).uniform(-1.2, 1.2, (n, *shape)).astype(np.float32)
    if tensor.dtype == "uint8":
        return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
    return harness.random_inputs(shape, n, seed)


def image(draw, max_hw=12, max_c=9):
    return [draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw)),
            draw(st.integers(1, max_c))]


@st.composite
def conv_recipes(draw):
    shape = image(draw)
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid":
        assume(kh <= shape[0] and kw <= shape[1])
    layer = {"type": "conv", "filters": draw(st.integers(1, 12)), "kernel": [kh, kw],
             "strides": draw(st.integers(1, 3)), "padding": padding,
             "activation": draw(st.sampled_from(ACTS)), "bias": draw(st.booleans())}
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)), "layers": [layer]}


@st.composite
def dw_recipes(draw):
    shape = image(draw)
    k = draw(st.integers(1, 5))
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid":
        assume(k <= shape[0] and k <= shape[1])
    layer = {"type": "dwconv", "kernel": k, "strides": draw(st.integers(1, 3)),
             "padding": padding, "depth_multiplier": draw(st.sampled_from([1, 1, 2, 3])),
             "activation": draw(st.sampled_from(ACTS))}
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)), "layers": [layer]}


@st.composite
def dense_recipes(draw):
    shape = image(draw, max_hw=6, max_c=6)
    layers = [{"type": "flatten"},
              {"type": "dense", "units": draw(st.integers(1, 20)),
               "activation": draw(st.sampled_from(ACTS)), "bias": draw(st.booleans())}]
    if draw(st.booleans()):
        layers.append({"type": "softmax"})
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)), "layers": layers}


@st.composite
def pool_recipes(draw):
    shape = image(draw)
    p = draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid":
        assume(p <= shape[0] and p <= shape[1])
    layer = {"type": draw(st.sampled_from(["avgpool", "maxpool"])), "pool": p,
             "strides": draw(st.integers(1, 3)), "padding": padding}
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)), "layers": [layer]}


@st.composite
def mean_recipes(draw):
    shape = image(draw)
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)),
            "layers": [{"type": "conv", "filters": draw(st.integers(1, 8)), "kernel": 1},
                       {"type": "gap", "keepdims": draw(st.booleans())}]}


@st.composite
def softmax_recipes(draw):
    shape = [draw(st.integers(1, 4)), draw(st.integers(1, 40))]
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES + [(-20.0, 20.0), (-60.0, 5.0)])),
            "layers": [{"type": "softmax"}]}


@st.composite
def eltwise_recipes(draw):
    shape = image(draw, max_hw=8, max_c=8)
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)),
            "layers": [{"type": "add_branch", "op": draw(st.sampled_from(["add", "mul"]))}]}


@st.composite
def pad_recipes(draw):
    shape = image(draw, max_hw=8, max_c=6)
    pad = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(2)]
    assume(sum(map(sum, pad)) > 0)
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)),
            "layers": [{"type": "pad", "pad": pad},
                       {"type": "conv", "filters": 3, "kernel": 1}]}


@st.composite
def logistic_recipes(draw):
    shape = image(draw, max_hw=8, max_c=6)
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES + [(-8.0, 8.0), (-30.0, 2.0)])),
            "layers": [{"type": "conv", "filters": draw(st.integers(1, 6)), "kernel": 1},
                       {"type": "sigmoid"}]}


@st.composite
def concat_recipes(draw):
    shape = image(draw, max_hw=8, max_c=6)
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)),
            "layers": [{"type": "concat_branch", "filters": draw(st.integers(1, 5))}]}


@st.composite
def edge_recipes(draw):
    """uint8 / float32 graph inputs and outputs around int8 layers."""
    shape = image(draw, max_hw=8, max_c=4)
    return {"input": shape, "seed": draw(st.integers(0, 99)),
            "io": [draw(st.sampled_from(["uint8", "float32"])),
                   draw(st.sampled_from(["uint8", "float32"]))],
            "layers": [{"type": "conv", "filters": draw(st.integers(1, 6)),
                        "kernel": draw(st.integers(1, 3)), "activation": "relu"}]}


@st.composite
def dilated_recipes(draw):
    """CONV_2D and DEPTHWISE_CONV_2D with dilation factors (Keras Input with batch 1)."""
    shape = [draw(st.integers(5, 12)), draw(st.integers(5, 12)), draw(st.integers(1, 5))]
    kind = draw(st.sampled_from(["conv", "dwconv"]))
    layer = {"type": kind, "kernel": draw(st.integers(2, 3)),
             "dilation": draw(st.integers(2, 3)), "padding": draw(st.sampled_from(["same", "valid"])),
             "activation": draw(st.sampled_from(ACTS))}
    if layer["padding"] == "valid":
        assume((layer["kernel"] - 1) * layer["dilation"] + 1 <= min(shape[:2]))
    if kind == "conv":
        layer["filters"] = draw(st.integers(1, 6))
    else:
        layer["depth_multiplier"] = draw(st.sampled_from([1, 2]))
    return {"input": shape, "batch": 1, "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)), "layers": [layer]}


@given(dilated_recipes())
@settings_for(8)
def test_dilated_convolutions(tmp_path_factory, objs, recipe):
    ops = read_tflite(models.tflite_model(recipe)).operators
    assert [op.name for op in ops] == [{"conv": "CONV_2D", "dwconv": "DEPTHWISE_CONV_2D"}[
        recipe["layers"][0]["type"]]]
    assert ops[0].options["dilation_h_factor"] == recipe["layers"][0]["dilation"]
    check(recipe, tmp_path_factory.getbasetemp() / "dilated", objs)


@given(logistic_recipes())
@settings_for(6)
def test_logistic(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "logistic", objs)


@given(concat_recipes())
@settings_for(5)
def test_concatenation(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "concat", objs)


@given(edge_recipes())
@settings_for(6)
def test_uint8_and_float32_edges(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "edges", objs)


def test_new_kernels_under_sanitizers(tmp_path):
    """LOGISTIC, CONCATENATION, uint8 and float32 edges under ASan and UBSan."""
    recipe = {"input": [5, 5, 3], "seed": 9, "range": [-6.0, 6.0], "io": ["float32", "uint8"],
              "layers": [{"type": "concat_branch", "filters": 2}, {"type": "sigmoid"}]}
    b = models.tflite_model(recipe)
    m = read_tflite(b)
    assert {"CONCATENATION", "LOGISTIC", "QUANTIZE"} <= {op.name for op in m.operators}
    exe = harness.build_host(b, tmp_path, sanitize=True)
    x = typed_inputs(m.input_tensors[0], 20, 4)
    assert np.array_equal(harness.run_host(exe, x), harness.run_tflm(b, x))


@given(conv_recipes())
@settings_for(14)
def test_conv2d(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "conv", objs)


@st.composite
def first_layer_recipes(draw):
    """3x3 stride 2 over 3 channels: em_conv3x3s2c3_fast_s8's portable path."""
    layer = {"type": "conv", "filters": draw(st.integers(1, 9)), "kernel": 3, "strides": 2,
             "padding": draw(st.sampled_from(["same", "valid"])),
             "activation": draw(st.sampled_from(ACTS)), "bias": draw(st.booleans())}
    return {"input": [draw(st.integers(3, 12)), draw(st.integers(3, 12)), 3],
            "seed": draw(st.integers(0, 99)), "range": draw(st.sampled_from(RANGES)),
            "layers": [layer]}


@st.composite
def overlap_chain_recipes(draw):
    """Layers that run with their output over their input (planner overlap rules):
    depthwise at stride 1 and 2, widening and narrowing 1x1 convolutions, odd pixel
    counts and channel counts included."""
    act = draw(st.sampled_from(ACTS))
    return {"input": image(draw, max_hw=11, max_c=6), "seed": draw(st.integers(0, 99)),
            "range": draw(st.sampled_from(RANGES)),
            "layers": [{"type": "conv", "filters": draw(st.integers(2, 9)), "kernel": 1},
                       {"type": "dwconv", "kernel": 3, "activation": act},
                       {"type": "conv", "filters": draw(st.integers(8, 20)), "kernel": 1,
                        "activation": act},
                       {"type": "dwconv", "kernel": 3, "strides": 2, "activation": act},
                       {"type": "conv", "filters": draw(st.integers(1, 7)), "kernel": 1}]}


@given(overlap_chain_recipes())
@settings_for(8)
def test_overlapped_chains(tmp_path_factory, objs, recipe):
    from edgemb.export.native import native_summary

    ops = native_summary(models.tflite_model(recipe))["ops"]
    assert sum(p["overlapped"] for p in ops) >= 2, [(p["op"], p["overlapped"]) for p in ops]
    check(recipe, tmp_path_factory.getbasetemp() / "chain", objs)


@given(first_layer_recipes())
@settings_for(8)
def test_conv2d_first_layer(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "conv_c3", objs)


@given(dw_recipes())
@settings_for(14)
def test_depthwise_conv2d(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "dw", objs)


@given(dense_recipes())
@settings_for(8)
def test_fully_connected_and_softmax(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "fc", objs)


@given(pool_recipes())
@settings_for(10)
def test_pooling(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "pool", objs)


@given(mean_recipes())
@settings_for(6)
def test_mean(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "mean", objs)


@given(softmax_recipes())
@settings_for(8)
def test_softmax(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "softmax", objs)


@given(eltwise_recipes())
@settings_for(8)
def test_add_mul(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "eltwise", objs)


@given(pad_recipes())
@settings_for(5)
def test_pad(tmp_path_factory, objs, recipe):
    check(recipe, tmp_path_factory.getbasetemp() / "pad", objs)


def test_report_counts():
    """Prints how many converted models exercised each operator (run with -s)."""
    print("native op test models:", dict(sorted(COUNTS.items())))


@given(st.one_of(conv_recipes(), dw_recipes()))
@settings_for(6)
def test_general_conv_kernels(tmp_path_factory, objs, recipe):
    """The general CONV_2D / DEPTHWISE_CONV_2D kernels (generate_native(fast=False)),
    which the generator falls back to when a layer's bounds rule the fast ones out."""
    b = models.tflite_model(recipe)
    shape = read_tflite(b).input_tensors[0].shape[1:]
    exe = harness.build_host(b, tmp_path_factory.getbasetemp() / "general" / models._key(recipe),
                             objects=objs, fast=False)
    x = harness.random_inputs(shape, INPUTS_PER_MODEL, 1)
    assert np.array_equal(harness.run_host(exe, x), harness.run_tflm(b, x)), recipe


def test_fast_channels_bounds():
    """The generator refuses the fast path when its exactness conditions fail."""
    from edgemb.export.native import EM_FAST_CLAMP, EM_FAST_SIGNFIX, fast_channels

    rows, flags = fast_channels([100, -7], [50, 3], [1 << 30, 1234567890], [-3, 0], -128,
                                -128, 127)
    assert flags == 0 and rows[0] == (200, 1 << 30, 4 - 128 * 8, 3) and rows[1][3] == 0
    assert fast_channels([0], [1], [1 << 30], [-1], 5, -128, 127)[1] == EM_FAST_SIGNFIX
    assert fast_channels([0], [1], [1 << 30], [-1], -128, -100, 127)[1] == EM_FAST_CLAMP
    assert fast_channels([0], [1], [1 << 30], [1], 0, -128, 127) is None  # left shift
    assert fast_channels([0], [1], [1 << 30], [0], 0, -128, 127) is None  # e = 0, tie fix
    assert fast_channels([1 << 30], [0], [1 << 30], [-1], 0, 0, 127) is None  # |acc| bound
    assert fast_channels([0], [1 << 24], [1 << 30], [-1], 0, 0, 127) is None
