"""Deterministic, stratified, recorded splits."""

import numpy as np
import pytest

from edgemb.data.imageset import ImageSet
from edgemb.data.split import load_split, make_split, save_split
from edgemb.errors import DatasetError


def image_set(n=200, classes=4, official_test=None):
    labels = np.arange(n) % classes
    return ImageSet(np.zeros((n, 2, 2, 1), np.uint8), labels.astype(np.int32),
                    [f"c{i}" for i in range(classes)], [f"img{i}" for i in range(n)],
                    official_test)


def test_same_seed_same_split_other_seed_other_split():
    data = image_set()
    a, b, c = make_split(data, 7), make_split(data, 7), make_split(data, 8)
    for part in ("train", "validation", "test"):
        assert np.array_equal(a.part(part), b.part(part))
    assert not np.array_equal(a.train, c.train)


def test_parts_are_disjoint_complete_and_stratified():
    data = image_set()
    split = make_split(data, 0)
    parts = [set(split.part(p).tolist()) for p in ("train", "validation", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(parts[0] | parts[1] | parts[2]) == 200
    assert np.bincount(data.labels[split.test]).tolist() == [5, 5, 5, 5]


def test_official_test_set_is_kept_as_test():
    data = image_set(official_test=np.arange(150, 200))
    split = make_split(data, 0)
    assert sorted(split.test.tolist()) == list(range(150, 200))
    assert split.train.max() < 150 and split.validation.max() < 150


def test_limit_caps_each_part():
    split = make_split(image_set(), 0, limit=50)
    assert (len(split.train), len(split.validation), len(split.test)) == (50, 10, 10)


def test_saved_split_reads_back_by_name(tmp_path):
    data = image_set()
    split = make_split(data, 3)
    save_split(split, data, tmp_path / "split.json")
    again = load_split(data, tmp_path / "split.json")
    assert np.array_equal(again.test, split.test)


def test_split_with_vanished_images_is_refused(tmp_path):
    data = image_set()
    save_split(make_split(data, 3), data, tmp_path / "split.json")
    with pytest.raises(DatasetError, match=r"image\(s\) of the run's split are no longer"):
        load_split(image_set(n=100), tmp_path / "split.json")
