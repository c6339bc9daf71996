"""Reading .tflite files: operators, tensors, quantization, MACs, and a model's
fingerprint."""

import hashlib

from edgemb.tflite.reader import (
    BUILTIN_OP_CODES,
    BUILTIN_OP_NAMES,
    Model,
    Operator,
    Quantization,
    Subgraph,
    Tensor,
    TFLiteFormatError,
    constant_bytes,
    macs_per_op,
    op_macs,
    param_count,
    parse_tflite,
    read_tflite,
    total_macs,
)


def fingerprint(model_bytes: bytes) -> str:
    """SHA-256 of the flatbuffer: the identity a board reports back."""
    return hashlib.sha256(model_bytes).hexdigest()


__all__ = [
    "fingerprint",
    "BUILTIN_OP_CODES",
    "BUILTIN_OP_NAMES",
    "Model",
    "Operator",
    "Quantization",
    "Subgraph",
    "Tensor",
    "TFLiteFormatError",
    "constant_bytes",
    "macs_per_op",
    "op_macs",
    "param_count",
    "parse_tflite",
    "read_tflite",
    "total_macs",
]
