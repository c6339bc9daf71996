"""`edgemb inspect`: what an int8 TFLite model is and what running it costs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgemb.export.exporter import operators_run
from edgemb.reference import minimum_arena, recommended_arena
from edgemb.runtimes import RUNTIMES, unsupported_operators
from edgemb.tflite import Model, fingerprint, parse_tflite, total_macs
from edgemb.tflite.reader import param_count
from edgemb.tflite.separable import BlockCost, separable_blocks


@dataclass
class ModelSummary:
    path: str
    fingerprint: str
    size_bytes: int
    operators: dict[str, int]
    parameters: int
    macs: int
    tensors: list[dict]
    inputs: list[dict]
    outputs: list[dict]
    arena_minimum: int | None
    arena_recommended: int | None
    unsupported: dict[str, list[str]] = field(default_factory=dict)
    blocks: list[BlockCost] = field(default_factory=list)  # depthwise separable blocks
    # Operators a runtime need not run: the native one folds a RESHAPE's shape arithmetic.
    folded: dict[str, list[str]] = field(default_factory=dict)


def tensor_row(tensor) -> dict:
    quant = tensor.quantization
    row = {"index": tensor.index, "name": tensor.name, "shape": list(tensor.shape),
           "dtype": tensor.dtype, "constant": tensor.is_constant}
    if quant is not None and len(quant.scales):
        row["scale"] = (float(quant.scales[0]) if len(quant.scales) == 1
                        else f"per-channel ({len(quant.scales)})")
        row["zero_point"] = (int(quant.zero_points[0]) if len(quant.zero_points) == 1
                             else "per-channel")
    return row


def summarize(path: str | Path, measure_arena: bool = True) -> ModelSummary:
    data = Path(path).read_bytes()
    model: Model = parse_tflite(data, source=str(path))
    names = [op.name for op in model.operators]
    arena = minimum_arena(data) if measure_arena else None
    return ModelSummary(
        path=str(path), fingerprint=fingerprint(data), size_bytes=len(data),
        operators=dict(sorted(Counter(names).items())), parameters=param_count(model),
        macs=total_macs(model), tensors=[tensor_row(t) for t in model.tensors],
        inputs=[tensor_row(t) for t in model.input_tensors],
        outputs=[tensor_row(t) for t in model.output_tensors],
        arena_minimum=arena, arena_recommended=recommended_arena(arena) if arena else None,
        unsupported={runtime: unsupported_operators(operators_run(model, runtime), runtime)
                     for runtime in RUNTIMES},
        blocks=separable_blocks(model),
        folded={runtime: sorted(set(names) - set(operators_run(model, runtime)))
                for runtime in RUNTIMES},
    )
