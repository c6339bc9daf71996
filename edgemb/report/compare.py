"""How far a board's int8 outputs are from the reference's, STM32Cube.AI style:
exact matches on the bytes, differences in quantization steps and argmax agreement,
then RMSE, MAE, L2 relative error and cosine similarity of the dequantized outputs."""

from __future__ import annotations

import numpy as np

from edgemb.tflite.io import ModelIO


def compare_outputs(io: ModelIO, board: list[bytes], reference: list[bytes],
                    tolerance: int = 0) -> dict:
    """board, reference: each sample's output bytes (all outputs back to back).
    Differences are counted in quantization steps (a float output: in steps of the int8
    tensor it was dequantized from); the errors are in real units over every output."""
    if len(board) == 0:
        return {"samples": 0}
    steps = np.abs(np.stack([io.steps(x) for x in board]) -
                   np.stack([io.steps(x) for x in reference]))
    exact = np.array([x == y for x, y in zip(board, reference, strict=True)])
    within = np.all(steps <= tolerance, axis=1) & (exact | (tolerance > 0))
    b = np.stack([io.real(x) for x in board])
    r = np.stack([io.real(x) for x in reference])
    error = b - r
    norms = np.linalg.norm(b, axis=1) * np.linalg.norm(r, axis=1)
    cosine = np.where(norms > 0, np.sum(b * r, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    reference_norm = np.linalg.norm(r)
    first = io.outputs[0].size  # the classifier's scores, when the model is one
    largest = float(np.nanmax(steps)) if steps.size else 0.0
    return {
        "samples": int(len(board)),
        "exact_matches": int(np.sum(exact)),
        "within_tolerance": int(np.sum(within)),
        "mismatches": int(np.sum(~within)),
        "argmax_agreement": int(np.sum(np.argmax(b[:, :first], 1) == np.argmax(r[:, :first], 1))),
        "max_abs_diff": int(largest) if largest.is_integer() else round(largest, 3),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "l2_relative_error": float(np.linalg.norm(error) / reference_norm) if reference_norm else 0.0,
        "cosine_similarity": float(np.mean(cosine)),
    }


def latency_summary(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return {}
    return {"min": float(values.min()), "median": float(np.median(values)),
            "p95": float(np.percentile(values, 95)), "max": float(values.max()),
            "mean": float(values.mean())}
