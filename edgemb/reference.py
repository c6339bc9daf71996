"""TFLite Micro on the host: the reference every board is compared with.

The tflite-micro package runs TFLite Micro's own C++ interpreter with its
reference kernels. tf.lite's default XNNPACK delegate computes differently (up to
89 apart on one int8 output), so it is never used as a reference; tf.lite with the
BUILTIN_REF resolver is bit-exact with TFLite Micro and serves as a cross-check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager

import numpy as np
from tflite_micro.python.tflite_micro import runtime

# 64-bit host pointers make some persistent structures larger than on a 32-bit
# target, but optimized kernels (CMSIS-NN, ESP-NN) ask for scratch buffers the
# reference kernels do not: keep a margin on top of the host's minimum.
ARENA_MARGIN_FRACTION = 0.10
ARENA_MARGIN_MIN_BYTES = 8 * 1024
ARENA_SEARCH_CEILING = 64 * 1024 * 1024


class TflmReference:
    """One TFLite Micro interpreter for a model, fed int8 tensors."""

    def __init__(self, model_bytes: bytes, arena_size: int | None = None):
        self.model_bytes = bytes(model_bytes)
        self.arena_size = arena_size or recommended_arena(minimum_arena(self.model_bytes))
        self.interpreter = runtime.Interpreter.from_bytes(self.model_bytes,
                                                          arena_size=self.arena_size)

    def invoke(self, input_tensor: np.ndarray) -> np.ndarray:
        """Output tensor for one input tensor (without a batch axis: it is added)."""
        self.interpreter.set_input(input_tensor[None, ...], 0)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_output(0))[0]

    def invoke_bytes(self, input_tensor: np.ndarray) -> bytes:
        """Every output's bytes, back to back in the model's order, as a board answers."""
        self.interpreter.set_input(np.ascontiguousarray(input_tensor)[None, ...], 0)
        self.interpreter.invoke()
        return b"".join(np.ascontiguousarray(self.interpreter.get_output(i)).tobytes()
                        for i in range(self.output_count))

    @property
    def output_count(self) -> int:
        if not hasattr(self, "_output_count"):
            from edgemb.tflite import read_tflite

            self._output_count = len(read_tflite(self.model_bytes).outputs)
        return self._output_count

    def invoke_many(self, inputs: np.ndarray) -> np.ndarray:
        return np.stack([self.invoke(x) for x in inputs]) if len(inputs) else np.zeros((0,))


class TflmCrashed(RuntimeError):
    """TFLite Micro killed the probing process at every arena size tried."""


class _ArenaProber:
    """Asks a child process (edgemb.arena_probe) whether an arena size is enough.

    A probe that kills the child counts as too small; the next probe restarts it.
    """

    def __init__(self, model_bytes: bytes):
        self._file = tempfile.NamedTemporaryFile(suffix=".tflite")
        self._file.write(model_bytes)
        self._file.flush()
        self._child: subprocess.Popen | None = None
        self.crashes = 0

    def enough(self, arena_size: int) -> bool:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "edgemb.arena_probe", self._file.name],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self._child.stdin.write(f"{arena_size}\n")
            self._child.stdin.flush()
            answer = self._child.stdout.readline().strip()
        except BrokenPipeError:
            answer = ""
        if not answer:
            self._child.wait()
            self.crashes += 1
        return answer == "ok"

    def close(self) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.stdin.close()
            self._child.wait()
        self._file.close()


def minimum_arena(model_bytes: bytes) -> int:
    """The smallest arena TFLite Micro accepts for this model, by binary search.

    Allocation only ever succeeds more as the arena grows, so the predicate is
    monotonic; a too small arena makes the interpreter raise RuntimeError (or crash
    the probing child).
    """
    prober = _ArenaProber(model_bytes)
    try:
        low, high = 0, 16 * 1024
        while not prober.enough(high):
            low, high = high, high * 2
            if high > ARENA_SEARCH_CEILING:
                if prober.crashes:
                    raise TflmCrashed("TFLite Micro crashed while preparing this model at "
                                      "every arena size up to "
                                      f"{ARENA_SEARCH_CEILING >> 20} MiB")
                raise RuntimeError("TFLite Micro cannot allocate this model even with a "
                                   f"{ARENA_SEARCH_CEILING >> 20} MiB arena")
        while high - low > 16:  # TFLite Micro aligns allocations to 16 bytes
            middle = (low + high) // 2
            if prober.enough(middle):
                high = middle
            else:
                low = middle
        return high
    finally:
        prober.close()


def recommended_arena(minimum: int) -> int:
    """The minimum plus the margin for 32-bit targets and optimized kernels, 16-aligned."""
    margin = max(int(minimum * ARENA_MARGIN_FRACTION), ARENA_MARGIN_MIN_BYTES)
    return (minimum + margin + 15) // 16 * 16


@contextmanager
def _captured_fd2():
    """Collects what C++ code writes to file descriptor 2 (Python's sys.stderr can't)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        text: list[str] = []
        try:
            yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.append(sink.read().decode(errors="replace"))


def allocation_report(model_bytes: bytes, arena_size: int) -> tuple[str, int | None]:
    """TFLite Micro's own allocation report and the total bytes it states."""
    interpreter = runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_size)
    with _captured_fd2() as captured:
        interpreter.print_allocations()
    report = captured[0] if captured else ""
    match = re.search(r"total.*?(\d+)\s*bytes", report, re.IGNORECASE)
    return report, int(match.group(1)) if match else None
