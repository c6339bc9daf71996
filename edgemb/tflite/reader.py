"""Reads .tflite flatbuffers into plain dataclasses.

The parsing itself is done by the flatbuffers-generated schema module that ships
with TFLite Micro (``tflite_micro``'s copy of ``schema_py_generated``), or with
TensorFlow as a fallback; this module turns its object tree into small frozen
dataclasses with numpy arrays for constant data and readable option names.

    model = read_tflite("model.tflite")
    for op in model.operators:
        print(op.name, [model.tensors[i].shape for i in op.inputs], op.options)
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgemb.errors import EdgembError

FILE_IDENTIFIER = b"TFL3"


class TFLiteFormatError(EdgembError):
    """The file is not a readable, static-shaped TFLite flatbuffer."""


def _schema():
    for name in (
        "tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
        "tensorflow.lite.python.schema_py_generated",
    ):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(
        "no TFLite flatbuffer schema module found: install tflite-micro (pip install tflite-micro)"
    )


_S = _schema()


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


BUILTIN_OP_NAMES: dict[int, str] = _enum_names(_S.BuiltinOperator)
BUILTIN_OP_CODES: dict[str, int] = {v: k for k, v in BUILTIN_OP_NAMES.items()}
TENSOR_TYPE_NAMES: dict[int, str] = {k: v.lower() for k, v in _enum_names(_S.TensorType).items()}
_PADDING_NAMES = _enum_names(_S.Padding)
_ACTIVATION_NAMES = _enum_names(_S.ActivationFunctionType)

# TensorType -> numpy dtype for types whose buffers are plain little-endian arrays.
_NUMPY_DTYPES: dict[str, str] = {
    "float32": "<f4", "float16": "<f2", "float64": "<f8", "int32": "<i4", "uint8": "u1",
    "int64": "<i8", "bool": "?", "int16": "<i2", "int8": "i1", "uint64": "<u8",
    "uint32": "<u4", "uint16": "<u2", "complex64": "<c8", "complex128": "<c16",
}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel."""

    scales: np.ndarray  # float32, one per tensor or one per channel
    zero_points: np.ndarray  # int64, same length as scales
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one of a per-channel tensor)."""
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0])


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str  # "int8", "float32", ... (TensorType name in lower case)
    type_code: int  # TensorType value
    buffer: int
    quantization: Quantization | None = None
    data: np.ndarray | None = field(default=None, repr=False)  # constant data, shaped
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        dt = _NUMPY_DTYPES.get(self.dtype)
        if dt is None:
            return self.size if self.data is None else int(self.data.nbytes)
        return self.size * np.dtype(dt).itemsize


@dataclass(frozen=True)
class Operator:
    index: int
    name: str  # builtin operator name, e.g. "CONV_2D"; "CUSTOM:<code>" for custom ops
    opcode: int  # BuiltinOperator value
    version: int
    inputs: tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subgraph:
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Model:
    version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    size_bytes: int

    # The main subgraph, which is what every edgemb model uses.
    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return self.main.tensors

    @property
    def operators(self) -> tuple[Operator, ...]:
        return self.main.operators

    @property
    def inputs(self) -> tuple[int, ...]:
        return self.main.inputs

    @property
    def outputs(self) -> tuple[int, ...]:
        return self.main.outputs

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    @property
    def op_names(self) -> list[str]:
        """Distinct operator names in order of first use."""
        seen: dict[str, None] = {}
        for sg in self.subgraphs:
            for op in sg.operators:
                seen.setdefault(op.name, None)
        return list(seen)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _decode_options(obj) -> dict[str, Any]:
    if obj is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in vars(obj).items():
        k = _snake(key)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if k == "padding" and isinstance(value, int):
            value = _PADDING_NAMES.get(value, value)
        elif k == "fused_activation_function" and isinstance(value, int):
            value = _ACTIVATION_NAMES.get(value, value)
        elif hasattr(value, "__dict__"):
            value = _decode_options(value)
        out[k] = value
    return out


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _ints(value) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(int(v) for v in value)


def parse_tflite(data: bytes | bytearray | memoryview, *, source: str = "model") -> Model:
    """Parses .tflite bytes. Raises TFLiteFormatError with a readable reason."""
    buf = bytes(data)
    if len(buf) < 8:
        raise TFLiteFormatError(f"{source}: {len(buf)} bytes is too short to be a TFLite model")
    if buf[4:8] != FILE_IDENTIFIER:
        raise TFLiteFormatError(
            f"{source}: not a TFLite flatbuffer (file identifier {buf[4:8]!r}, expected "
            f"{FILE_IDENTIFIER!r}); pass the .tflite file written by `edgemb quantize`"
        )
    root = int.from_bytes(buf[0:4], "little")
    if root >= len(buf):
        raise TFLiteFormatError(f"{source}: truncated TFLite file (root table beyond the end)")
    try:
        mt = _S.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as exc:  # flatbuffers raises struct/Index/ValueError on short data
        raise TFLiteFormatError(
            f"{source}: truncated or corrupt TFLite file ({len(buf)} bytes; the flatbuffer "
            f"refers to data past its end): {exc}"
        ) from None

    codes = []
    for oc in mt.operatorCodes or []:
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = BUILTIN_OP_NAMES.get(code, f"OP_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM:{_text(oc.customCode)}"
        codes.append((code, name, int(oc.version)))

    buffers = mt.buffers or []

    def buffer_bytes(index: int, tname: str) -> bytes | None:
        if index <= 0 or index >= len(buffers):
            return None
        b = buffers[index]
        if b.offset and b.offset > 1:
            end = int(b.offset) + int(b.size)
            if end > len(buf):
                raise TFLiteFormatError(
                    f"{source}: truncated TFLite file: data of tensor {tname!r} ends at byte "
                    f"{end}, the file has {len(buf)}"
                )
            return buf[int(b.offset):end]
        if b.data is None or isinstance(b.data, int):
            return None
        raw = bytes(bytearray(b.data)) if not isinstance(b.data, np.ndarray) else b.data.tobytes()
        return raw if raw else None

    subgraphs = []
    for sgi, sg in enumerate(mt.subgraphs or []):
        tensors = []
        for ti, t in enumerate(sg.tensors or []):
            tname = _text(t.name)
            dtype = TENSOR_TYPE_NAMES.get(int(t.type), f"type{t.type}")
            shape = _ints(t.shape)
            sig = _ints(t.shapeSignature) or shape
            if any(d < 0 for d in sig[1:]) or (len(sig) == 1 and sig[0] < 0):
                raise TFLiteFormatError(
                    f"{source}: tensor {tname!r} has a dynamic shape {list(sig)}; microcontroller "
                    "runtimes need static shapes (only the batch dimension may be -1): "
                    "export the model with fixed input dimensions"
                )
            q = None
            qt = t.quantization
            if qt is not None and qt.scale is not None and len(qt.scale) > 0:
                scales = np.asarray(qt.scale, dtype=np.float32)
                zps = np.asarray(qt.zeroPoint if qt.zeroPoint is not None else [0] * len(scales),
                                 dtype=np.int64)
                q = Quantization(scales, zps, int(qt.quantizedDimension))
            raw = buffer_bytes(int(t.buffer), tname)
            arr = None
            if raw is not None:
                npdt = _NUMPY_DTYPES.get(dtype)
                if npdt is None:  # int4 and friends: keep the packed bytes
                    arr = np.frombuffer(raw, dtype=np.uint8)
                else:
                    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                    need = count * np.dtype(npdt).itemsize
                    if len(raw) < need:
                        raise TFLiteFormatError(
                            f"{source}: truncated TFLite file: tensor {tname!r} needs {need} "
                            f"bytes of data, the buffer holds {len(raw)}"
                        )
                    arr = np.frombuffer(raw[:need], dtype=npdt).reshape(shape)
            tensors.append(Tensor(
                index=ti, name=tname, shape=shape, shape_signature=sig, dtype=dtype,
                type_code=int(t.type), buffer=int(t.buffer), quantization=q, data=arr,
                is_variable=bool(t.isVariable),
            ))
        ops = []
        for oi, o in enumerate(sg.operators or []):
            if o.opcodeIndex >= len(codes):
                raise TFLiteFormatError(f"{source}: operator {oi} uses unknown opcode index")
            code, name, version = codes[o.opcodeIndex]
            opts = _decode_options(o.builtinOptions)
            if o.builtinOptions2 is not None:
                opts.update(_decode_options(o.builtinOptions2))
            ops.append(Operator(
                index=oi, name=name, opcode=code, version=version,
                inputs=_ints(o.inputs), outputs=_ints(o.outputs), options=opts,
            ))
        for ti in list(_ints(sg.inputs)) + list(_ints(sg.outputs)):
            if not 0 <= ti < len(tensors):
                raise TFLiteFormatError(f"{source}: graph input/output index {ti} out of range")
        subgraphs.append(Subgraph(
            name=_text(sg.name) or f"subgraph{sgi}", tensors=tuple(tensors),
            operators=tuple(ops), inputs=_ints(sg.inputs), outputs=_ints(sg.outputs),
        ))
    if not subgraphs:
        raise TFLiteFormatError(f"{source}: the model has no subgraph")
    return Model(version=int(mt.version), description=_text(mt.description),
                 subgraphs=tuple(subgraphs), size_bytes=len(buf))


def read_tflite(path_or_bytes: str | Path | bytes | bytearray) -> Model:
    """Reads a .tflite file (a path) or parses .tflite bytes."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return parse_tflite(path_or_bytes)
    path = Path(path_or_bytes)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TFLiteFormatError(f"{path}: no such file") from None
    return parse_tflite(data, source=str(path))


# ---------------------------------------------------------------------------
# Counting


def op_macs(model: Model, op: Operator) -> int:
    """Multiply-accumulates of one operator (0 for operators without weights)."""
    t = model.tensors
    if op.name == "CONV_2D":
        out, w = t[op.outputs[0]].shape, t[op.inputs[1]].shape
        return _prod(out[:-1]) * out[-1] * w[1] * w[2] * w[3]
    if op.name == "DEPTHWISE_CONV_2D":
        out, w = t[op.outputs[0]].shape, t[op.inputs[1]].shape
        return _prod(out[:-1]) * out[-1] * w[1] * w[2]
    if op.name == "FULLY_CONNECTED":
        w = t[op.inputs[1]].shape
        rows = t[op.outputs[0]].size // w[0]
        return rows * w[0] * w[1]
    return 0


def macs_per_op(model: Model) -> list[tuple[Operator, int]]:
    return [(op, op_macs(model, op)) for op in model.operators]


def total_macs(model: Model) -> int:
    return sum(op_macs(model, op) for op in model.operators)


_WEIGHTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def param_count(model: Model) -> int:
    """Elements of the constant weights and biases of weighted operators.

    Batch normalization is folded into the convolutions by the converter, so this is
    smaller than Keras' count_params() for a model with BatchNormalization layers.
    """
    seen: set[int] = set()
    n = 0
    for op in model.operators:
        if op.name not in _WEIGHTED_OPS:
            continue
        for i in op.inputs[1:]:
            if i >= 0 and i not in seen and model.tensors[i].is_constant:
                seen.add(i)
                n += model.tensors[i].size
    return n


def constant_bytes(model: Model) -> int:
    """Bytes of every constant tensor's data."""
    return sum(int(t.data.nbytes) for t in model.tensors if t.data is not None)


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n
