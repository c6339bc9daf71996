"""What the native runtime cannot run, said as such."""

from __future__ import annotations

from edgemb.errors import EdgembError


class UnsupportedOperatorError(EdgembError):
    """The model uses an operator or tensor type the native runtime does not implement."""


def _unsupported(what: str) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(
        f"{what}; the native runtime does not support it. Build with `--runtime tflm` instead."
    )
