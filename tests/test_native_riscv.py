"""The native runtime's portable C path built for RV32IMC (the ESP32-C3's instruction
set) and run in QEMU riscv32 virt with semihosting, bit-exact with TFLM: the same
per-operator models as on the Cortex-M4 (tests/test_native_qemu.py), and whole
MobileNets over hundreds of inputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import harness  # noqa: E402
import models  # noqa: E402
from test_native_qemu import FAST, SMALL  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not harness.have_riscv(),
    reason="needs riscv64-unknown-elf-gcc, picolibc and qemu-system-riscv32 (apt-get install "
           "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc)")]


def _inputs(shape, n: int, seed: int) -> np.ndarray:
    return np.concatenate([harness.random_inputs(shape, n // 2, seed),
                           harness.structured_inputs(shape, n - n // 2, seed)])


@pytest.mark.parametrize("idx", range(len(SMALL)))
def test_small_models_rv32(tmp_path, idx):
    b = models.tflite_model(SMALL[idx])
    x = _inputs(SMALL[idx]["input"], 16, idx)
    res = harness.run_riscv(harness.build_riscv(b, tmp_path), x)
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x))


@pytest.mark.parametrize("idx", range(len(FAST)))
def test_fast_kernels_rv32(tmp_path, idx):
    recipe = FAST[idx]
    b = models.tflite_model(recipe)
    x = _inputs(recipe["input"], 12, idx)
    res = harness.run_riscv(harness.build_riscv(b, tmp_path), x)
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x)), recipe


def test_general_kernels_rv32(tmp_path):
    """fast=False: the general CONV_2D and DEPTHWISE_CONV_2D kernels."""
    b = models.tflite_model(SMALL[0])
    x = _inputs(SMALL[0]["input"], 16, 1)
    res = harness.run_riscv(harness.build_riscv(b, tmp_path, fast=False), x)
    assert np.array_equal(res["outputs"], harness.run_tflm(b, x))


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_mobilenet_rv32_200_inputs(tmp_path, name):
    b = models.tflite_model(models.V1_RECIPE if name == "v1" else models.V2_RECIPE)
    x = _inputs((96, 96, 3), 200, 11)
    res = harness.run_riscv(harness.build_riscv(b, tmp_path), x)
    want = harness.run_tflm(b, x)
    assert len(res["outputs"]) == 200
    differ = [i for i in range(200) if not np.array_equal(res["outputs"][i], want[i])]
    assert differ == [], f"inputs {differ} differ from TFLM"


def test_instruction_counts_are_exact_under_icount(tmp_path):
    """-icount shift=0: minstret counts guest instructions, so the same input costs the
    same every time, and the steps' counts add up to the whole invoke."""
    b = models.tflite_model(SMALL[3])
    x = harness.structured_inputs(SMALL[3]["input"], 1, 3)
    res = harness.run_riscv(harness.build_riscv(b, tmp_path), np.concatenate([x, x, x]),
                            icount=True)
    assert res["instructions"][0] == res["instructions"][1] == res["instructions"][2] > 0
    # invoke's count also holds the copy of the output and the calls around the steps
    assert sum(res["ops"]) < res["instructions"][0] < 1.01 * sum(res["ops"])
