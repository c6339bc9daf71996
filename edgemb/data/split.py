"""Deterministic train / validation / test splits, written into the run folder.

A split is a list of image names per part, so a later step (quantize, verify)
finds the very images the model never trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgemb.data.imageset import ImageSet
from edgemb.data.source import load_source

if TYPE_CHECKING:  # the run folder imports nothing of the data package
    from edgemb.run import RunFolder, RunSettings

VALIDATION_FRACTION = 0.1
TEST_FRACTION = 0.1


@dataclass
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]


def make_split(data: ImageSet, seed: int, limit: int | None = None) -> Split:
    """Indices into `data`. Uses the dataset's official test set where it has one.

    `limit` caps the training part at `limit` images and validation and test at a
    fifth of it each: quick runs on a small, still random and stratified subset.
    """
    rng = np.random.default_rng(seed)
    if data.official_test is not None:
        test = rng.permutation(data.official_test)
        rest = np.setdiff1d(np.arange(len(data)), data.official_test)
        train, validation = _stratified(data.labels, rest, [VALIDATION_FRACTION], rng)
    else:
        everything = np.arange(len(data))
        train, validation, test = _stratified(
            data.labels, everything, [VALIDATION_FRACTION, TEST_FRACTION], rng)
    if limit:
        held_out = max(limit // 5, 1)
        train, validation, test = train[:limit], validation[:held_out], test[:held_out]
    return Split(train, validation, test)


def _stratified(labels, index, fractions, rng):
    """Shuffles `index` and cuts each class by `fractions`; returns the remainder first."""
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels[index]):
        members = rng.permutation(index[labels[index] == cls])
        start = 0
        for k, fraction in enumerate(fractions):
            count = int(round(len(members) * fraction))
            if len(members) > len(fractions):
                count = max(count, 1)  # every class appears in every held-out part
            parts[k + 1].extend(members[start:start + count])
            start += count
        parts[0].extend(members[start:])
    return [rng.permutation(np.array(p, dtype=np.int64)) for p in parts]


def save_split(split: Split, data: ImageSet, path: Path) -> None:
    doc = {name: [data.names[i] for i in split.part(name)]
           for name in ("train", "validation", "test")}
    path.write_text(json.dumps(doc))


def load_split(data: ImageSet, path: Path) -> Split:
    """Reads a saved split back as indices into `data` (by image name, so it survives
    files being added to the folder later)."""
    doc = json.loads(path.read_text())
    position = {name: i for i, name in enumerate(data.names)}
    missing = [n for part in doc.values() for n in part if n not in position]
    if missing:
        from edgemb.errors import DatasetError

        raise DatasetError(f"{len(missing)} image(s) of the run's split are no longer in the "
                           f"dataset (first: {missing[0]}); restore them or train a fresh run")
    return Split(*(np.array([position[n] for n in doc[name]], dtype=np.int64)
                   for name in ("train", "validation", "test")))


def load_run_data(run: RunFolder, settings: RunSettings, skip_bad: bool = False
                  ) -> tuple[ImageSet, Split]:
    """The run's dataset and its recorded split (the same images training saw)."""
    data = load_source(settings.dataset, settings.size, skip_bad=skip_bad)
    return data, load_split(data, run.require(run.split_file, "edgemb train"))
