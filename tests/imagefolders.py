"""Small image folders that tests generate, with the generator of datasets/shapes."""

from pathlib import Path

from make_sample_dataset import write_shapes

SHAPES = Path(__file__).resolve().parents[1] / "datasets" / "shapes"


def write_pattern_folder(root, classes=("circle", "square"), per_class=24, size=32, seed=0,
                         brightest=255):
    """Two visually different classes, so a few steps of training learn something.
    Pixels span 0..brightest. With the defaults: the pixels of datasets/shapes."""
    return write_shapes(root, classes, per_class, size, seed, brightest)
