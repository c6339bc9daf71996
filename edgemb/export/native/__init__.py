"""Code generator of the native runtime: C code for one int8 .tflite model.

    code = generate_native("model.tflite")
    code.write("build/")          # model_native.c, model_native.h
    code.summary["arena_bytes"]

The generated model_native.c holds the weights as `static const` arrays (re-laid
out for the kernels), biases with the input offset folded in, per-channel
requantization multipliers and shifts computed here exactly as TFLite Micro
computes them at Prepare time, one static activation arena whose offsets come from
a liveness-based planner, and one invoke entry point calling the kernels of
firmware/runtime/native (em_nn.h). The graph input is read in place from the
caller's buffer, so it takes no arena space.

The package, by what each module writes: quant.py (the arithmetic), c_text.py
(constant arrays), operators.py (one emitter per operator: where a new one goes),
memory_plan.py (overlap limits for the planner), runner.py (the whole model and
the entry points)."""

from edgemb.export.native.errors import UnsupportedOperatorError
from edgemb.export.native.memory_plan import NO_LIMIT, dw_ring_max_shift, pointwise_max_shift
from edgemb.export.native.quant import (
    EM_FAST_CLAMP,
    EM_FAST_SIGNFIX,
    activation_range,
    compute_padding,
    fast_channels,
    quantize_multiplier,
)
from edgemb.export.native.runner import NativeCode, generate_native, native_summary, write_native

__all__ = [
    "EM_FAST_CLAMP", "EM_FAST_SIGNFIX", "NO_LIMIT", "NativeCode", "UnsupportedOperatorError",
    "activation_range", "compute_padding", "dw_ring_max_shift", "fast_channels",
    "generate_native", "native_summary", "pointwise_max_shift", "quantize_multiplier",
    "write_native",
]
