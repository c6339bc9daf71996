"""Where a dataset's images come from: the default dataset by name, or a folder.

The loaders import only ImageSet (edgemb.data.imageset); this module imports the
loaders, so nothing imports back.
"""

from __future__ import annotations

from edgemb.data.fashion_mnist import load_fashion_mnist
from edgemb.data.folder import load_folder
from edgemb.data.imageset import ImageSet

DEFAULT_DATASET = "fashion-mnist"


def load_source(spec: str, size: int, skip_bad: bool = False) -> ImageSet:
    """Loads the dataset named by `spec`: "fashion-mnist" or a folder DIR/<label>/*.png."""
    if spec == DEFAULT_DATASET:
        return load_fashion_mnist()
    return load_folder(spec, size, skip_bad=skip_bad)
