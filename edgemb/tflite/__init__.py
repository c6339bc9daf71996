"""Reading .tflite files: operators, tensors, quantization, MACs."""

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

__all__ = [
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
