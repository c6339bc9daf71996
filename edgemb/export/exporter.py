"""`edgemb export`: a quantized model to the C sources of one firmware runtime."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgemb.errors import EdgembError
from edgemb.export import c_sources
from edgemb.reference import minimum_arena, recommended_arena
from edgemb.runtimes import RUNTIMES, unsupported_operators
from edgemb.tflite import Model, fingerprint, parse_tflite


class ExportError(EdgembError):
    """The model cannot run on the chosen firmware runtime."""


@dataclass
class ExportResult:
    out_dir: Path
    runtime: str
    fingerprint: str
    model_bytes: int
    tflm_arena_minimum: int
    tflm_arena_bytes: int
    files: list[str] = field(default_factory=list)
    native: dict | None = None
    settings: dict = field(default_factory=dict)  # input_bytes, output_bytes, op_count


# The operators that convert at a graph's edges, so a float or uint8 input or output
# may meet them while everything between computes in int8.
EDGE_CONVERSIONS = ("QUANTIZE", "DEQUANTIZE")


def check_int8(model: Model, source: str) -> None:
    """Refuses a model whose operators compute in floating point; float32 and uint8
    inputs and outputs converted by QUANTIZE / DEQUANTIZE are fine."""
    for op in model.operators:
        if op.name in EDGE_CONVERSIONS:
            continue
        for ti in list(op.inputs) + list(op.outputs):
            tensor = model.tensors[ti] if ti >= 0 else None
            if tensor is not None and tensor.dtype in ("float32", "float16"):
                raise ExportError(
                    f"{source}: operator {op.name} (#{op.index}) computes in {tensor.dtype} "
                    f"(tensor {tensor.name!r}): this is a float model, and the firmware runs "
                    "fully quantized int8 models: run `edgemb quantize`, or convert with a "
                    "representative dataset and TFLITE_BUILTINS_INT8")
            if tensor is not None and tensor.dtype == "uint8":
                raise ExportError(
                    f"{source}: operator {op.name} (#{op.index}) computes in uint8 (tensor "
                    f"{tensor.name!r}): this is a uint8-quantized model (TensorFlow 1's "
                    "scheme), which TFLite Micro no longer runs; convert it again to int8 "
                    "(TFLITE_BUILTINS_INT8; uint8 input and output are fine)")
    if len(model.inputs) != 1:
        raise ExportError(f"{source}: the model has {len(model.inputs)} inputs; the firmware "
                          "feeds one input tensor")


def operators_run(model: Model, runtime: str) -> list[str]:
    """The operators the runtime executes: TFLite Micro runs them all; the native runtime
    only those the outputs depend on (a RESHAPE's shape, computed by SHAPE,
    STRIDED_SLICE and PACK from a batch of None, is static and known already)."""
    if runtime != "native":
        return [op.name for op in model.operators]
    from edgemb.export.native.operators import OperatorEmitter

    return [op.name for op in OperatorEmitter(model).live_ops()]


def check_runtime(model: Model, runtime: str, source: str) -> None:
    missing = unsupported_operators(operators_run(model, runtime), runtime)
    if missing:
        advice = ("use --runtime tflm" if runtime == "native" and
                  not unsupported_operators(missing, "tflm") else "change the model")
        raise ExportError(f"{source}: the {runtime} runtime does not support operator(s) "
                          f"{', '.join(missing)}; {advice}")


def default_labels(model: Model) -> list[str]:
    """class 0 .. N-1 for the first output's N values."""
    return [f"class {i}" for i in range(model.output_tensors[0].size)]


def export(model_path: Path, out_dir: Path, labels: list[str] | None = None,
           runtime: str = "tflm") -> ExportResult:
    if runtime not in RUNTIMES:
        raise ExportError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    model_bytes = Path(model_path).read_bytes()
    source = str(model_path)
    model = parse_tflite(model_bytes, source=source)
    check_int8(model, source)
    check_runtime(model, runtime, source)
    digest = fingerprint(model_bytes)
    labels = labels or default_labels(model)
    minimum = minimum_arena(model_bytes)
    arena = recommended_arena(minimum)

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "model_data.h": c_sources.model_data_header(digest),
        "model_data.c": c_sources.model_data_source(model_bytes, digest),
        "model_settings.c": c_sources.model_settings_source(model, digest, labels, arena),
    }
    if runtime == "tflm":
        files["op_resolver.h"] = c_sources.op_resolver_header([op.name for op in model.operators])
    for name, text in files.items():
        (out_dir / name).write_text(text)
    result = ExportResult(out_dir, runtime, digest, len(model_bytes), minimum, arena, sorted(files))
    result.settings = {"input_bytes": model.input_tensors[0].nbytes,
                       "output_bytes": sum(t.nbytes for t in model.output_tensors),
                       "op_count": len(model.operators)}
    if runtime == "native":
        from edgemb.export.native import write_native

        result.native = write_native(model_bytes, out_dir)
        result.files = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".c", ".h"))
    (out_dir / "export.json").write_text(json.dumps({
        "runtime": runtime, "fingerprint": digest, "model_bytes": len(model_bytes),
        "tflm_arena_minimum": minimum, "tflm_arena_bytes": arena, "labels": labels,
        "files": result.files, "native": result.native,
        "settings": result.settings}, indent=1, default=str) + "\n")
    return result
