"""Dataset loaders: Fashion-MNIST idx files and folder datasets, with every bad input."""

import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from edgemb.data import fashion_mnist
from edgemb.data.folder import load_folder
from edgemb.errors import DatasetError


def write_idx(directory, split, images, labels):
    header = struct.pack(">IIII", 2051, len(images), *images.shape[1:3])
    (directory / f"{split}-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header + images.tobytes()))
    (directory / f"{split}-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(struct.pack(">II", 2049, len(labels)) + labels.tobytes()))


def test_idx_files_are_read_exactly(tmp_path):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_idx(tmp_path, "train", train, np.array([0, 1, 2, 3, 9], np.uint8))
    write_idx(tmp_path, "t10k", test, np.array([4, 5, 6], np.uint8))
    data = fashion_mnist.load_fashion_mnist(tmp_path)
    assert data.images.shape == (8, 28, 28, 1)
    assert np.array_equal(data.images[:5, ..., 0], train)
    assert data.labels.tolist() == [0, 1, 2, 3, 9, 4, 5, 6]
    assert data.official_test.tolist() == [5, 6, 7]
    assert data.names[5] == "t10k/0"


def test_idx_with_wrong_magic_is_named(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", 1234, 1, 2, 2) + bytes(4)))
    with pytest.raises(DatasetError, match=r"x.gz: not an idx image file \(magic 1234"):
        fashion_mnist.read_idx_images(path)


def test_missing_fashion_mnist_without_network_says_how_to_get_it(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(DatasetError) as err:
        fashion_mnist.load_fashion_mnist(tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    assert "network unreachable" in str(err.value)


@pytest.mark.skipif(not fashion_mnist.DEBIAN_DIR.exists(), reason="dataset-fashion-mnist is not "
                    "installed (tools/setup installs it)")
def test_debian_fashion_mnist_has_70000_images():
    data = fashion_mnist.load_fashion_mnist()
    assert data.images.shape == (70000, 28, 28, 1)
    assert np.bincount(data.labels).tolist() == [7000] * 10
    assert data.labels[0] == 9  # the first training image is an ankle boot


def make_folder(root, classes=("cat", "dog"), per_class=3, size=(40, 30), mode="RGB"):
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            color = (index * 100 + k, 50, 200) if mode == "RGB" else index * 100 + k
            Image.new(mode, size, color).save(root / name / f"{k}.png")
    return root


def test_folder_loads_every_class_resized_to_rgb(tmp_path):
    root = make_folder(tmp_path / "d")
    data = load_folder(root, 32)
    assert data.class_names == ["cat", "dog"]
    assert data.images.shape == (6, 32, 32, 3)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.names[4] == "dog/1.png"
    assert data.images[4, 10, 10].tolist() == [101, 50, 200]


def test_folder_of_mixed_sizes_and_modes_is_converted(tmp_path):
    root = make_folder(tmp_path / "d", per_class=1)
    Image.new("L", (12, 50), 77).save(root / "cat" / "grey.png")
    Image.new("RGBA", (64, 64), (10, 20, 30, 128)).save(root / "dog" / "alpha.png")
    Image.new("P", (20, 20), 3).save(root / "dog" / "palette.bmp")
    Image.new("RGB", (96, 96), (1, 2, 3)).save(root / "dog" / "photo.jpg", quality=100)
    data = load_folder(root, 24)
    assert data.images.shape == (6, 24, 24, 3)
    assert data.images[data.names.index("cat/grey.png"), 5, 5].tolist() == [77, 77, 77]
    assert data.images[data.names.index("dog/alpha.png"), 0, 0].tolist() == [10, 20, 30]


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"data folder .*nope does not exist"):
        load_folder(tmp_path / "nope", 32)


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="has no class sub-folders"):
        load_folder(tmp_path, 32)


def test_single_class(tmp_path):
    make_folder(tmp_path, classes=("only",))
    with pytest.raises(DatasetError, match=r"has only one class \(only\); a classifier needs"):
        load_folder(tmp_path, 32)


def test_empty_class(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"class folder .*empty has no images"):
        load_folder(tmp_path, 32)


def test_corrupt_image_is_named_and_skip_bad_counts_it(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DatasetError, match=r"dog/broken.png: cannot be read as an image.*"
                                           r"--skip-bad"):
        load_folder(tmp_path, 32)
    data = load_folder(tmp_path, 32, skip_bad=True)
    assert len(data) == 6
    assert "skipped 1 unreadable image(s)" in data.notes


def test_non_image_files_are_ignored_with_a_count(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "cat" / "README.md").write_text("x")
    (tmp_path / "dog" / "labels.csv").write_text("x")
    data = load_folder(tmp_path, 32)
    assert len(data) == 6
    assert data.notes == ["ignored 2 non-image file(s)"]


def test_training_pipeline_augments_only_when_asked():
    """Without augmentation the training batches hold exactly the normalized pixels
    (shuffled); with it, the same images come out transformed."""
    from edgemb.data.pipeline import make_dataset

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(12) % 2

    def batches(augment):
        ds = make_dataset(images, labels, 32, 4, training=True, seed=1, augment=augment)
        return np.concatenate([x.numpy() for x, _ in ds])

    expected = sorted(((images.astype(np.float32) - 128) / 128).reshape(12, -1).tolist())
    assert sorted(batches(False).reshape(12, -1).tolist()) == expected
    assert sorted(batches(True).reshape(12, -1).tolist()) != expected


def test_the_shipped_sample_folder_is_what_its_generator_draws(tmp_path):
    """datasets/shapes is tools/make_sample_dataset.py's output, pixel for pixel."""
    from imagefolders import SHAPES
    from make_sample_dataset import write_shapes

    fresh = write_shapes(tmp_path / "shapes")
    shipped = sorted(p.relative_to(SHAPES) for p in SHAPES.rglob("*.png"))
    assert shipped == sorted(p.relative_to(fresh) for p in fresh.rglob("*.png"))
    assert len(shipped) == 48
    for name in shipped:
        assert np.array_equal(np.asarray(Image.open(SHAPES / name)),
                              np.asarray(Image.open(fresh / name))), name


def test_the_shipped_sample_folder_loads_as_two_classes():
    from imagefolders import SHAPES

    images = load_folder(SHAPES, 32)
    assert images.class_names == ["circle", "square"]
    assert images.images.shape == (48, 32, 32, 3)
    assert np.bincount(images.labels).tolist() == [24, 24]
