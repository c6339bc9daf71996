"""A dataset in memory: every image with its label, as uint8."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    """Images (N, H, W, C) uint8 with integer labels; `names` identify each image."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    names: list[str]
    # Partition given by the dataset itself (Fashion-MNIST's official test set), if any.
    official_test: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ImageSet:
        return ImageSet(
            self.images[index],
            self.labels[index],
            self.class_names,
            [self.names[i] for i in index],
        )
