"""The native runtime built for Cortex-M4 (DSP path: SXTB16/SMLAD) and run in QEMU
mps2-an386 with -icount shift=0 and semihosting, bit-exact with TFLM."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import harness  # noqa: E402
import models  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not harness.have_qemu(),
    reason="needs arm-none-eabi-gcc and qemu-system-arm (apt-get install gcc-arm-none-eabi "
           "libnewlib-arm-none-eabi qemu-system-arm)")]

# Odd shapes for the DSP path's tails: channel counts not multiples of 4, odd pixel
# counts, 1x1 convolutions read in place, depthwise borders and multipliers.
SMALL = [
    {"input": [9, 7, 5], "seed": 21, "range": (-0.25, 4.0),
     "layers": [{"type": "conv", "filters": 7, "kernel": 3, "strides": 2, "activation": "relu6"},
                {"type": "dwconv", "kernel": 3, "activation": "relu"},
                {"type": "conv", "filters": 5, "kernel": 1},
                {"type": "dwconv", "kernel": 3, "strides": 2, "depth_multiplier": 2},
                {"type": "gap"}, {"type": "dense", "units": 3}, {"type": "softmax"}]},
    {"input": [11, 11, 8], "seed": 22, "range": (0.0, 1.0),
     "layers": [{"type": "dwconv", "kernel": 3, "activation": "relu6"},
                {"type": "conv", "filters": 12, "kernel": 1, "activation": "relu6"},
                {"type": "dwconv", "kernel": 5, "padding": "valid"},
                {"type": "conv", "filters": 9, "kernel": 1, "strides": 2},
                {"type": "add_branch"},
                {"type": "avgpool", "pool": 2}, {"type": "flatten"},
                {"type": "dense", "units": 6, "activation": "relu"}]},
    {"input": [6, 6, 16], "seed": 23, "range": (-3.0, 0.5),
     "layers": [{"type": "pad", "pad": [[1, 0], [0, 2]]},
                {"type": "conv", "filters": 4, "kernel": 2, "padding": "valid"},
                {"type": "add_branch", "op": "mul"},
                {"type": "maxpool", "pool": 2, "padding": "same"}, {"type": "flatten"},
                {"type": "dense", "units": 10}, {"type": "softmax"}]},
    # every step after the first overlaps its input (63 pixels: a lone last pixel)
    {"input": [9, 7, 6], "seed": 24, "range": (-1.0, 1.0),
     "layers": [{"type": "conv", "filters": 8, "kernel": 1, "activation": "relu6"},
                {"type": "dwconv", "kernel": 3, "activation": "relu6"},
                {"type": "conv", "filters": 14, "kernel": 1},
                {"type": "dwconv", "kernel": 3, "strides": 2, "activation": "relu"},
                {"type": "conv", "filters": 5, "kernel": 1}]},
]


@pytest.mark.parametrize("idx", range(len(SMALL)))
def test_small_models_dsp(tmp_path, idx):
    b = models.tflite_model(SMALL[idx])
    shape = SMALL[idx]["input"]
    x = np.concatenate([harness.random_inputs(shape, 8, idx),
                        harness.structured_inputs(shape, 8, idx)])
    res = harness.run_qemu(harness.build_qemu(b, tmp_path, x))
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x))


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_mobilenet_dsp(tmp_path, name):
    b = models.tflite_model(models.V1_RECIPE if name == "v1" else models.V2_RECIPE)
    x = np.concatenate([harness.structured_inputs((96, 96, 3), 3, 7),
                        harness.random_inputs((96, 96, 3), 1, 7)])
    res = harness.run_qemu(harness.build_qemu(b, tmp_path, x))
    # 2,000,000 iterations of a two-instruction loop: 40 instructions per 25 MHz tick
    assert res["calib"] * harness.TICK_INSTRUCTIONS == 4_000_000
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x))
    assert len(res["ops"]) > 0 and sum(res["ops"]) <= max(res["ticks"]) + 50


# ---- the fast kernels (em_conv_fast_s8, em_dwconv3x3_fast_s8), DSP paths -------------

def _fast_recipes(n: int, seed: int) -> list[dict]:
    """Random single-block models: odd and even channel counts and widths, strides 1
    and 2, 'same' and 'valid' padding, every activation (hence every requantization
    mode: tie fix for negative values, narrow clamp) and input range."""
    rng = np.random.default_rng(seed)
    acts = [None, "relu", "relu6"]
    ranges = [(-1.0, 1.0), (0.0, 1.0), (-3.0, 0.5), (-0.25, 4.0)]
    out = []
    for i in range(n):
        h, w, c = (int(rng.integers(3, 12)), int(rng.integers(3, 12)), int(rng.integers(1, 11)))
        stride = int(rng.integers(1, 3))
        kernel = int(rng.choice([1, 1, 3, 2]))
        layers = [
            {"type": "dwconv", "kernel": 3, "strides": stride,
             "padding": str(rng.choice(["same", "valid"])),
             "activation": acts[int(rng.integers(0, 3))]},
            {"type": "conv", "filters": int(rng.integers(1, 14)), "kernel": kernel,
             "strides": int(rng.integers(1, 3)), "padding": str(rng.choice(["same", "valid"])),
             "activation": acts[int(rng.integers(0, 3))]},
        ]
        if i % 2:
            layers.reverse()
        out.append({"input": [h, w, c], "seed": 100 + i,
                    "range": ranges[int(rng.integers(0, len(ranges)))], "layers": layers})
    return out


FAST = _fast_recipes(8, 5)
# First layers of MobileNets (em_conv3x3s2c3_fast_s8): 3x3 stride 2 over 3 channels,
# odd and even sizes, both paddings, odd filter counts, every activation.
FAST += [
    {"input": [h, w, 3], "seed": 120 + i, "range": r,
     "layers": [{"type": "conv", "filters": f, "kernel": 3, "strides": 2, "padding": pad,
                 "activation": act}]}
    for i, (h, w, f, pad, act, r) in enumerate([
        (9, 11, 8, "same", "relu6", (0.0, 1.0)), (10, 7, 5, "valid", None, (-1.0, 1.0)),
        (7, 12, 3, "same", "relu", (-3.0, 0.5)), (12, 9, 1, "valid", "relu6", (-0.25, 4.0))])]
# Pointwise, 3x3 and 3x3 depthwise convolutions whose activation makes requantization
# mode 0 (the assembly loops), with odd channel counts and widths, strides 1 and 2.
FAST += [
    {"input": [5, 7, 12], "seed": 130, "range": (0.0, 1.0),
     "layers": [{"type": "conv", "filters": 7, "kernel": 1, "activation": "relu"},
                {"type": "conv", "filters": 10, "kernel": 3, "activation": "relu"},
                {"type": "conv", "filters": 1, "kernel": 1, "activation": "relu6"}]},
    {"input": [13, 15, 7], "seed": 131, "range": (0.0, 1.0),
     "layers": [{"type": "dwconv", "kernel": 3, "activation": "relu"},
                {"type": "dwconv", "kernel": 3, "strides": 2, "activation": "relu"},
                {"type": "conv", "filters": 6, "kernel": 1, "activation": "relu"},
                {"type": "dwconv", "kernel": 3, "strides": 2, "padding": "valid",
                 "activation": "relu6"},
                {"type": "dwconv", "kernel": 3, "padding": "valid", "activation": "relu6"}]},
]


@pytest.mark.parametrize("idx", range(len(FAST)))
def test_fast_kernels_dsp(tmp_path, idx):
    from edgemb.export.native import native_summary

    recipe = FAST[idx]
    b = models.tflite_model(recipe)
    ops = native_summary(b)["ops"]
    assert any(p["fast"] for p in ops), "the fast kernels should take these layers"
    x = np.concatenate([harness.random_inputs(recipe["input"], 6, idx),
                        harness.structured_inputs(recipe["input"], 6, idx)])
    res = harness.run_qemu(harness.build_qemu(b, tmp_path, x))
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x)), recipe


def test_general_kernels_dsp(tmp_path):
    """fast=False: the general CONV_2D and DEPTHWISE_CONV_2D kernels on the DSP path."""
    b = models.tflite_model(SMALL[0])
    x = np.concatenate([harness.random_inputs(SMALL[0]["input"], 8, 1),
                        harness.structured_inputs(SMALL[0]["input"], 8, 1)])
    res = harness.run_qemu(harness.build_qemu(b, tmp_path, x, fast=False))
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x))
