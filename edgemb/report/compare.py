"""How far a board's int8 outputs are from the reference's, STM32Cube.AI style:
exact matches and argmax agreement on the bytes, then RMSE, MAE, L2 relative error
and cosine similarity of the dequantized outputs."""

from __future__ import annotations

import numpy as np


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (values.astype(np.float64) - zero_point) * scale


def compare_outputs(board: np.ndarray, reference: np.ndarray, scale: float, zero_point: int,
                    tolerance: int = 0) -> dict:
    """board, reference: (samples, outputs) int8."""
    if len(board) == 0:
        return {"samples": 0}
    diff = np.abs(board.astype(np.int32) - reference.astype(np.int32))
    b = dequantize(board, scale, zero_point)
    r = dequantize(reference, scale, zero_point)
    error = b - r
    norms = np.linalg.norm(b, axis=1) * np.linalg.norm(r, axis=1)
    cosine = np.where(norms > 0, np.sum(b * r, axis=1) / np.where(norms > 0, norms, 1), 1.0)
    reference_norm = np.linalg.norm(r)
    return {
        "samples": int(len(board)),
        "exact_matches": int(np.sum(np.all(diff == 0, axis=1))),
        "within_tolerance": int(np.sum(np.all(diff <= tolerance, axis=1))),
        "mismatches": int(np.sum(np.any(diff > tolerance, axis=1))),
        "argmax_agreement": int(np.sum(np.argmax(board, 1) == np.argmax(reference, 1))),
        "max_abs_diff": int(diff.max()),
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
