"""Fashion-MNIST: 70,000 28x28 grey photos of clothes in 10 classes (MIT licence).

Read from Debian's dataset-fashion-mnist package; the Keras download is the fallback.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from edgemb.data.imageset import ImageSet
from edgemb.errors import DatasetError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle-boot",
]
IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049


def read_idx_images(path: Path) -> np.ndarray:
    """Reads an idx3-ubyte(.gz) file: 16-byte header (magic, count, rows, cols)."""
    data = _read_maybe_gz(path)
    magic, count, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != IMAGE_MAGIC or len(data) != 16 + count * rows * cols:
        raise DatasetError(f"{path}: not an idx image file (magic {magic}, {len(data)} bytes)")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols, 1)


def read_idx_labels(path: Path) -> np.ndarray:
    """Reads an idx1-ubyte(.gz) file: 8-byte header (magic, count)."""
    data = _read_maybe_gz(path)
    magic, count = np.frombuffer(data[:8], dtype=">u4")
    if magic != LABEL_MAGIC or len(data) != 8 + count:
        raise DatasetError(f"{path}: not an idx label file (magic {magic}, {len(data)} bytes)")
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int32)


def _read_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def load_fashion_mnist(directory: Path = DEBIAN_DIR) -> ImageSet:
    """The 60,000 training and 10,000 test images; the test ones are marked official_test."""
    try:
        train_x, train_y, test_x, test_y = _load_debian(directory)
    except FileNotFoundError:
        train_x, train_y, test_x, test_y = _load_keras(directory)
    images = np.concatenate([train_x, test_x])
    labels = np.concatenate([train_y, test_y])
    names = [f"train/{i}" for i in range(len(train_y))] + [f"t10k/{i}" for i in range(len(test_y))]
    official_test = np.arange(len(train_y), len(labels))
    return ImageSet(images, labels, list(CLASS_NAMES), names, official_test)


def _load_debian(directory: Path):
    parts = []
    for split in ("train", "t10k"):
        parts.append(read_idx_images(directory / f"{split}-images-idx3-ubyte.gz"))
        parts.append(read_idx_labels(directory / f"{split}-labels-idx1-ubyte.gz"))
    return parts


def _load_keras(directory: Path):
    try:
        import keras

        (train_x, train_y), (test_x, test_y) = keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # no network, proxy refused, partial download...
        raise DatasetError(
            f"Fashion-MNIST is not in {directory} and the Keras download failed ({exc}). "
            "Install it with `sudo apt-get install dataset-fashion-mnist` (Debian), "
            "or run tools/setup, or pass --data DIR with one sub-folder per class."
        ) from exc
    return train_x[..., None], train_y.astype(np.int32), test_x[..., None], test_y.astype(np.int32)
