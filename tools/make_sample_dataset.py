#!/usr/bin/env python3
"""Writes datasets/shapes/: the tiny folder dataset that the README's folder example
and the tests train on.

Two classes of 32x32 grey PNGs, 24 each: a bright disc and a bright square on
noise, different enough that one epoch learns them. Seeded, so the same command
always draws the same pixels; the images are generated here, not collected, and
are released under CC0 1.0 (see datasets/shapes/LICENSE).

    .venv/bin/python tools/make_sample_dataset.py [OUT_DIR]   # default datasets/shapes
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("circle", "square")


def draw(class_index: int, rng: np.random.Generator, size: int = 32,
         brightest: int = 255) -> np.ndarray:
    """One image of the class: the shape at 230 over noise in 0..39, clipped to
    0..brightest."""
    yy, xx = np.mgrid[:size, :size]
    noise = rng.integers(0, 40, (size, size), dtype=np.int16)
    if class_index == 0:
        shape = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    else:
        shape = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
    return np.clip(noise + 230 * shape, 0, brightest).astype(np.uint8)


def write_shapes(root: Path, classes=CLASSES, per_class: int = 24, size: int = 32,
                 seed: int = 0, brightest: int = 255) -> Path:
    """root/<class>/<k>.png for each class; returns root."""
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            Image.fromarray(draw(index, rng, size, brightest), "L").save(root / name / f"{k}.png")
    return root


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "datasets" / "shapes"
    print(write_shapes(out))
