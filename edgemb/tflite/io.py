"""A model's input and outputs as the board and the reference exchange them.

The board takes one input tensor's bytes and answers with all the outputs' bytes back
to back, in the model's order. This module says how to build the one and read the
other: each tensor's numpy type, its quantization, and for a float output the step of
the int8 tensor DEQUANTIZE made it from (so a difference can be counted in steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgemb.errors import EdgembError
from edgemb.tflite.reader import Model, Tensor

NUMPY_TYPES = {"int8": np.int8, "uint8": np.uint8, "float32": np.float32, "int16": np.int16}


class UnsupportedTensorType(EdgembError):
    """A model input or output of a type the board and the reference cannot exchange."""


@dataclass(frozen=True)
class TensorIO:
    name: str
    shape: tuple[int, ...]  # with the batch axis
    dtype: np.dtype
    scale: float  # 0 for a float tensor
    zero_point: int
    step: float  # one quantization step in real units (a float output: its DEQUANTIZE's)
    # The real values the model can tell apart: a quantized tensor's, or for a float
    # input those of the QUANTIZE that takes it (None when nothing says).
    real_range: tuple[float, float] | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def quantized(self) -> bool:
        return self.dtype.kind != "f"

    def real(self, values: np.ndarray) -> np.ndarray:
        """Values in real units: dequantized, or as they are for a float tensor."""
        values = np.asarray(values)
        if not self.quantized:
            return values.astype(np.float64)
        return (values.astype(np.float64) - self.zero_point) * self.scale

    def quantize(self, real: np.ndarray) -> np.ndarray:
        """Real values as this tensor takes them (rounded half away from zero, clamped)."""
        real = np.asarray(real, dtype=np.float64)
        if not self.quantized:
            return real.astype(self.dtype)
        info = np.iinfo(self.dtype)
        q = np.trunc(real / self.scale + np.copysign(0.5, real)) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def describe(self) -> str:
        dims = "x".join(map(str, self.shape[1:] or self.shape))
        if self.quantized:
            return f"{dims} {self.dtype.name} (scale {self.scale:.6g}, zero point {self.zero_point})"
        return f"{dims} {self.dtype.name}"


@dataclass(frozen=True)
class ModelIO:
    input: TensorIO
    outputs: tuple[TensorIO, ...]

    @property
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)

    def split(self, blob: bytes) -> list[np.ndarray]:
        """The board's answer as one flat typed array per output."""
        if len(blob) != self.output_bytes:
            raise ValueError(f"{len(blob)} output bytes, the model's outputs have "
                             f"{self.output_bytes}")
        arrays, pos = [], 0
        for t in self.outputs:
            arrays.append(np.frombuffer(blob, t.dtype, t.size, pos))
            pos += t.nbytes
        return arrays

    def real(self, blob: bytes) -> np.ndarray:
        """Every output value in real units, flattened and concatenated."""
        return np.concatenate([t.real(a).reshape(-1)
                               for t, a in zip(self.outputs, self.split(blob), strict=True)])

    def steps(self, blob: bytes) -> np.ndarray:
        """Every output value in quantization steps (for differences), concatenated."""
        return np.concatenate([
            # a float output's value in steps is whole up to float rounding: round it
            (a.astype(np.float64) if t.quantized else np.rint(a.astype(np.float64) / t.step))
            for t, a in zip(self.outputs, self.split(blob), strict=True)])


def _tensor_io(model: Model, tensor: Tensor) -> TensorIO:
    dtype = NUMPY_TYPES.get(tensor.dtype)
    if dtype is None:
        raise UnsupportedTensorType(
            f"the model's tensor {tensor.name!r} is {tensor.dtype}; inputs and outputs must be "
            f"one of {', '.join(NUMPY_TYPES)}")
    q = tensor.quantization
    scale = float(q.scale) if q is not None and len(q.scales) else 0.0
    zero_point = int(q.zero_point) if q is not None and len(q.zero_points) else 0
    step = scale
    if not scale:  # a float tensor: the step of the quantized tensor it comes from
        producer = next((op for op in model.operators if tensor.index in op.outputs), None)
        if producer is not None and producer.name == "DEQUANTIZE":
            source = model.tensors[producer.inputs[0]].quantization
            step = float(source.scale) if source is not None else 0.0
    quantized_as = (scale, zero_point, dtype) if scale else None
    if not scale:  # a float input: the range of the QUANTIZE that takes it
        consumer = next((op for op in model.operators if tensor.index in op.inputs), None)
        if consumer is not None and consumer.name == "QUANTIZE":
            target = model.tensors[consumer.outputs[0]]
            if target.quantization is not None and target.dtype in NUMPY_TYPES:
                quantized_as = (float(target.quantization.scale),
                                int(target.quantization.zero_point), NUMPY_TYPES[target.dtype])
    real_range = None
    if quantized_as is not None:
        s, z, t = quantized_as
        info = np.iinfo(t)
        real_range = ((info.min - z) * s, (info.max - z) * s)
    return TensorIO(tensor.name, tuple(tensor.shape), np.dtype(dtype), scale, zero_point,
                    step or 1.0, real_range)


def model_io(model: Model) -> ModelIO:
    return ModelIO(_tensor_io(model, model.input_tensors[0]),
                   tuple(_tensor_io(model, t) for t in model.output_tensors))
