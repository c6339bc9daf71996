"""Keeps the C++ chatter of TensorFlow and its converter off the terminal.

TensorFlow's start-up lines (absl's "All log messages before absl::InitializeLog()",
oneDNN's notes) and the converter's settings ("fully_quantize: 0, inference_type:
6 ...") are written by C++ straight to file descriptors 1 and 2: neither
TF_CPP_MIN_LOG_LEVEL nor Python's sys.stdout reaches them, only a redirect of the
descriptors does. With -v they are shown as they come.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

from edgemb import ui


@contextlib.contextmanager
def native_output_hidden() -> Iterator[None]:
    """Sends what the block writes to fds 1 and 2 to a scratch file. If the block
    raises, that output is printed after all: it may be what explains the error."""
    if ui.VERBOSE:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        _restore(saved)


def _restore(saved: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, copy in zip((1, 2), saved, strict=True):
        os.dup2(copy, fd)
        os.close(copy)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow (and so Keras and tflite-micro's dependencies) once, with
    its start-up lines hidden; later imports are free and silent."""
    if "tensorflow" in sys.modules:
        return
    with native_output_hidden():
        import tensorflow  # noqa: F401
