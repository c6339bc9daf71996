"""Which operators each firmware runtime can run, and how TFLite Micro registers them."""

from __future__ import annotations

# TFLite builtin operator -> MicroMutableOpResolver method registering its kernel.
TFLM_REGISTRATIONS = {
    "ADD": "AddAdd",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "EXPAND_DIMS": "AddExpandDims",
    "FULLY_CONNECTED": "AddFullyConnected",
    "HARD_SWISH": "AddHardSwish",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MUL": "AddMul",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "SHAPE": "AddShape",
    "SOFTMAX": "AddSoftmax",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "TRANSPOSE": "AddTranspose",
}

# Operators edgemb's ahead-of-time runtime generates code for.
NATIVE_OPERATORS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "EXPAND_DIMS", "FULLY_CONNECTED", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "PADV2",
    "QUANTIZE", "RESHAPE", "SOFTMAX", "SQUEEZE",
})

RUNTIMES = {"tflm": frozenset(TFLM_REGISTRATIONS), "native": NATIVE_OPERATORS}


def unsupported_operators(op_names, runtime: str) -> list[str]:
    """The model's operators (sorted, once each) the runtime cannot run."""
    return sorted(set(op_names) - RUNTIMES[runtime])
