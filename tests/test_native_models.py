"""Whole MobileNets through the native runtime on the host, bit-exact with TFLM.

V1 (alpha 0.25, 96x96x3 and 96x96x1) and V2 (alpha 0.35, 96x96x3) with random
weights and random batch-norm statistics. Every intermediate tensor is compared on a
few inputs, the final output on EDGEMB_NATIVE_INPUTS inputs (default 200; set 1000
for the full check, as tools/bench_native.py --verify does), half of them i.i.d.
noise and half smooth images with varied brightness.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemb.export import planner
from edgemb.export.native import native_summary
from edgemb.tflite import read_tflite

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import harness  # noqa: E402
import models  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not harness.have_cc(), reason="needs a C compiler (cc)")]

N_INPUTS = int(os.environ.get("EDGEMB_NATIVE_INPUTS", "200"))
RECIPES = {"v1": models.V1_RECIPE, "v1_grey": models.V1_GREY_RECIPE, "v2": models.V2_RECIPE}


@pytest.fixture(scope="module", params=sorted(RECIPES))
def model(request):
    return request.param, models.tflite_model(RECIPES[request.param])


def inputs_for(b: bytes, n: int, seed: int) -> np.ndarray:
    shape = read_tflite(b).input_tensors[0].shape[1:]
    half = n // 2
    return np.concatenate([harness.random_inputs(shape, half, seed),
                           harness.structured_inputs(shape, n - half, seed + 1)])


def test_outputs_bit_exact(model, tmp_path):
    name, b = model
    exe = harness.build_host(b, tmp_path)
    x = inputs_for(b, N_INPUTS, 11)
    got, want = harness.run_host(exe, x), harness.run_tflm(b, x)
    bad = np.nonzero((got != want).any(axis=1))[0]
    assert len(bad) == 0, f"{name}: {len(bad)} of {len(x)} outputs differ"
    assert len({tuple(r) for r in want}) > 1, "the test inputs should not all give one output"


def test_every_step_bit_exact(model, tmp_path):
    name, b = model
    exe = harness.build_host(b, tmp_path, dump=True)
    problems = harness.compare_steps(b, exe, inputs_for(b, 4, 5))
    assert problems == [], f"{name}: " + "\n".join(problems[:10])


def test_sanitizers(model, tmp_path):
    name, b = model
    exe = harness.build_host(b, tmp_path, sanitize=True)
    x = inputs_for(b, 6, 3)
    assert np.array_equal(harness.run_host(exe, x), harness.run_tflm(b, x)), name


def test_arena_smaller_than_tflm(model):
    name, b = model
    s = native_summary(b)
    tflm = harness.tflm_min_arena(b)
    # overlapping outputs with their inputs keeps every MobileNet under 60 % of TFLM
    assert s["arena_bytes"] <= 0.6 * tflm, (name, s["arena_bytes"], tflm)
    m = read_tflite(b)

    def need(p):  # an overlapped step holds at least its larger tensor, others both
        i = m.tensors[m.operators[p["tflite_index"]].inputs[0]].nbytes
        return max(i, p["output_bytes"]) if p["overlapped"] else i + p["output_bytes"]

    # no plan can beat the largest single step's input plus output (or their union)
    biggest = max(need(p) for p in s["ops"] if not p["aliased"]
                  and m.operators[p["tflite_index"]].inputs[0] not in m.inputs)
    assert s["arena_bytes"] >= biggest
    assert any(p["overlapped"] for p in s["ops"])


def test_planner_random():
    rng = np.random.default_rng(0)
    for _ in range(200):
        bufs = []
        for i in range(int(rng.integers(1, 30))):
            a = int(rng.integers(0, 20))
            bufs.append(planner.Buffer(f"b{i}", int(rng.integers(0, 5000)), a,
                                       a + int(rng.integers(0, 6))))
        p = planner.plan(bufs, 16)
        planner.check(bufs, p)
        peak = max(sum(b.size for b in bufs if b.first <= t <= b.last) for t in range(30))
        assert p.arena_bytes >= peak
