"""firmware/app/runner.h as implemented by the native runtime (em_runner_native.c)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemb.export.native import generate_native
from edgemb.tflite import read_tflite

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import harness  # noqa: E402
import models  # noqa: E402

pytestmark = pytest.mark.skipif(not harness.have_cc(), reason="needs a C compiler (cc)")

APP = harness.ROOT / "firmware" / "app"

RECIPE = {"input": [10, 10, 3], "seed": 7,
          "layers": [{"type": "conv", "filters": 8, "kernel": 3, "strides": 2,
                      "activation": "relu6"},
                     {"type": "dwconv", "kernel": 3, "activation": "relu6"},
                     {"type": "gap"}, {"type": "dense", "units": 4}, {"type": "softmax"}]}

MAIN = r"""
#include <stdio.h>
#include "runner.h"
#include "platform.h"
#include "model_native.h"
static uint32_t t;
uint32_t em_ticks(void) { return t += 7; }
int main(void) {
  em_runner_info_t info;
  static int8_t in[EM_NATIVE_INPUT_BYTES], out[EM_NATIVE_OUTPUT_BYTES];
  static uint32_t ticks[EM_NATIVE_OP_COUNT];
  if (em_runner_init(&info) != 0) return 1;
  if (fread(in, 1, sizeof in, stdin) != sizeof in) return 2;
  if (em_runner_invoke(in, out, ticks) != 0) return 3;
  printf("%s %s %u %u\n", info.name, info.version, (unsigned)info.arena_bytes, info.op_count);
  for (unsigned i = 0; i < info.op_count; ++i) printf("%u:%u ", em_runner_op_code(i), ticks[i]);
  printf("\n");
  for (unsigned i = 0; i < sizeof out; ++i) printf("%d ", out[i]);
  printf("\n");
  return em_runner_invoke(in, out, 0);
}
"""


def test_runner_interface(tmp_path):
    b = models.tflite_model(RECIPE)
    code = generate_native(b)
    code.write(tmp_path)
    (tmp_path / "main.c").write_text(MAIN)
    exe = tmp_path / "runner"
    subprocess.run([harness.cc(), *harness.CFLAGS, f"-I{harness.KERNELS}", f"-I{APP}",
                    f"-I{tmp_path}", str(tmp_path / "main.c"), str(tmp_path / "model_native.c"),
                    str(harness.KERNELS / "em_runner_native.c"),
                    *map(str, harness.kernel_sources()), "-o", str(exe)], check=True)
    x = harness.random_inputs((10, 10, 3), 1, 0)
    r = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True)
    head, ops, outs = r.stdout.decode().splitlines()
    name, version, arena, count = head.split()
    assert name == "native" and int(arena) == code.summary["arena_bytes"]
    assert int(count) == code.summary["op_count"]
    m = read_tflite(b)
    codes = [int(o.split(":")[0]) for o in ops.split()]
    assert codes == [m.operators[p["tflite_index"]].opcode for p in code.summary["ops"]]
    assert all(int(o.split(":")[1]) == 7 for o in ops.split())
    assert np.array_equal(np.array(outs.split(), dtype=int), harness.run_tflm(b, x)[0])


def test_refuses_unsupported_operator():
    from edgemb.export.native import UnsupportedOperatorError

    b = models.tflite_model({"input": [6, 6, 2], "seed": 1,
                             "layers": [{"type": "conv", "filters": 2, "kernel": 1,
                                         "activation": "tanh"}]})
    with pytest.raises(UnsupportedOperatorError, match=r"TANH.*--runtime tflm"):
        generate_native(b)
