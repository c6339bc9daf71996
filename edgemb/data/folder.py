"""Folder datasets: DIR/<label>/*.png|jpg|jpeg|bmp, one sub-folder per class.

The layout of Keras' image_dataset_from_directory and of MLPerf Tiny's vw_coco2014_96.
Every image is decoded with Pillow, converted to RGB and resized to the model's
resolution, so folders of mixed sizes and modes become one uint8 array.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgemb.data.imageset import ImageSet
from edgemb.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def scan_folder(root: str | Path) -> tuple[list[str], list[tuple[Path, int]], int]:
    """Class names (sorted sub-folders), (file, class index) pairs, and ignored files."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"data folder {root} does not exist; pass --data DIR with one "
                           "sub-folder of images per class, or --data fashion-mnist")
    if not root.is_dir():
        raise DatasetError(f"--data {root} is a file; it must be a folder with one "
                           "sub-folder of images per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"data folder {root} has no class sub-folders; put each class's "
                           f"images in {root}/<label>/")
    if len(class_dirs) < 2:
        raise DatasetError(f"data folder {root} has only one class ({class_dirs[0].name}); "
                           "a classifier needs at least two sub-folders")
    files: list[tuple[Path, int]] = []
    ignored = 0
    for index, class_dir in enumerate(class_dirs):
        count = 0
        for path in sorted(class_dir.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append((path, index))
                count += 1
            else:
                ignored += 1
        if count == 0:
            raise DatasetError(f"class folder {class_dir} has no images "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))}); add some or remove it")
    return [d.name for d in class_dirs], files, ignored


def load_image(path: Path, size: int) -> np.ndarray:
    """One image as (size, size, 3) uint8: any mode converted to RGB, resized bilinearly."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def load_folder(root: str | Path, size: int, skip_bad: bool = False) -> ImageSet:
    root = Path(root)
    class_names, files, ignored = scan_folder(root)
    images = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    good = np.ones(len(files), dtype=bool)
    bad: list[tuple[Path, str]] = []

    def decode(i: int) -> None:
        try:
            images[i] = load_image(files[i][0], size)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            good[i] = False
            bad.append((files[i][0], str(exc) or type(exc).__name__))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(decode, range(len(files))))
    if bad and not skip_bad:
        bad.sort()
        first, reason = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DatasetError(f"{first}: cannot be read as an image: {reason}{more}; "
                           "fix or remove it, or pass --skip-bad to leave such files out")
    keep = np.flatnonzero(good)
    labels = np.array([files[i][1] for i in keep], dtype=np.int32)
    for index, name in enumerate(class_names):
        if not np.any(labels == index):
            raise DatasetError(f"class folder {root / name} has no readable images")
    notes = []
    if ignored:
        notes.append(f"ignored {ignored} non-image file(s)")
    if bad:
        notes.append(f"skipped {len(bad)} unreadable image(s)")
    names = [files[i][0].relative_to(root).as_posix() for i in keep]
    return ImageSet(images[keep], labels, class_names, names, notes=notes)
