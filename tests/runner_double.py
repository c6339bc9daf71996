"""Python twin of the firmware test double (tests/fixtures/firmware/
runner_test_double.c and model_settings_test_double.c): what a board built
with it must answer, computed independently of the board."""

from __future__ import annotations

import hashlib

INPUT_DIMS = (1, 96, 96, 3)
INPUT_BYTES = 96 * 96 * 3
OUTPUT_DIMS = (1, 10)
OUTPUT_BYTES = 10
INPUT_SCALE, INPUT_ZERO_POINT = 1 / 128, 0
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 1 / 256, -128
NUM_LABELS = 10
FINGERPRINT = hashlib.sha256(b"edgemb test double").digest()
RUNTIME, RUNTIME_VERSION, ARENA_BYTES = "test-double", "1.0", 4096
OP_CODES = (3, 4, 25)  # CONV_2D, DEPTHWISE_CONV_2D, SOFTMAX
OP_TICKS = (1000, 2000, 3000)
FAILING_INPUT_PREFIX, FAIL_CODE = b"FAIL", -7


def expected_output(data: bytes, output_bytes: int = OUTPUT_BYTES) -> bytes:
    """output[i] = low byte of i + sum over k of (k + 1) * data[i + k * n]."""
    out = bytearray()
    for i in range(output_bytes):
        strided = data[i::output_bytes]
        acc = i + sum((k + 1) * byte for k, byte in enumerate(strided))
        out.append(acc & 0xFF)
    return bytes(out)
