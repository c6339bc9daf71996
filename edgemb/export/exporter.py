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


def check_int8(model: Model, source: str) -> None:
    for role, tensor in (("input", model.input_tensors[0]), ("output", model.output_tensors[0])):
        if tensor.dtype != "int8":
            raise ExportError(f"{source}: the model's {role} is {tensor.dtype}, not int8; the "
                              "firmware runs fully quantized models: run `edgemb quantize` "
                              "(or convert with int8 input and output)")


def check_runtime(model: Model, runtime: str, source: str) -> None:
    missing = unsupported_operators([op.name for op in model.operators], runtime)
    if missing:
        advice = ("use --runtime tflm" if runtime == "native" and
                  not unsupported_operators(missing, "tflm") else "change the model")
        raise ExportError(f"{source}: the {runtime} runtime does not support operator(s) "
                          f"{', '.join(missing)}; {advice}")


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
    labels = labels or [f"class{i}" for i in range(model.output_tensors[0].size)]
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
                       "output_bytes": model.output_tensors[0].nbytes,
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
