"""Classification metrics from labels and predictions."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(labels: np.ndarray, predictions: np.ndarray,
                           class_names: list[str]) -> dict:
    """Accuracy, and precision / recall / support per class, ready for JSON."""
    matrix = confusion_matrix(labels, predictions, len(class_names))
    per_class = {}
    for i, name in enumerate(class_names):
        predicted, actual = matrix[:, i].sum(), matrix[i, :].sum()
        per_class[name] = {
            "precision": float(matrix[i, i] / predicted) if predicted else 0.0,
            "recall": float(matrix[i, i] / actual) if actual else 0.0,
            "support": int(actual),
        }
    return {
        "samples": int(len(labels)),
        "accuracy": float(np.mean(labels == predictions)) if len(labels) else 0.0,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
