"""Small image folders that tests generate."""

import numpy as np
from PIL import Image


def write_pattern_folder(root, classes=("circle", "square"), per_class=24, size=32, seed=0,
                         brightest=255):
    """Two visually different classes, so a few steps of training learn something.
    Pixels span 0..brightest."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            noise = rng.integers(0, 40, (size, size), dtype=np.int16)
            if index == 0:
                shape = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
            else:
                shape = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
            pixels = np.clip(noise + 230 * shape, 0, brightest).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / name / f"{k}.png")
    return root
