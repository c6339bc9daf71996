"""Inputs for any model, shaped and typed as its input tensor takes them.

Three sources, for a model edgemb did not train: a folder of images (resized, made grey
or RGB as the input has 1 or 3 channels, mapped to a pixel range and quantized with the
input's own scale and zero point), a .npy / .npz file of tensors, or seeded random
tensors, which prove bit-exactness though not accuracy. Each says in words what it
did, for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgemb.data.folder import IMAGE_SUFFIXES, scan_folder
from edgemb.errors import DatasetError
from edgemb.tflite.io import TensorIO

# Real ranges that image models expect their pixels in; `auto` picks the one nearest
# to what the input tensor can represent.
PIXEL_RANGES = {"0..1": (0.0, 1.0), "-1..1": (-1.0, 1.0), "0..255": (0.0, 255.0),
                "-128..127": (-128.0, 127.0)}


@dataclass
class ModelInputs:
    """Tensors (N, *input shape without batch), labels (-1: unknown), one name each."""

    tensors: np.ndarray
    labels: np.ndarray
    names: list[str]
    class_names: list[str] | None
    preprocessing: str


def _unlabelled(tensors: np.ndarray, names: list[str], how: str) -> ModelInputs:
    return ModelInputs(tensors, np.full(len(tensors), -1, np.int32), names, None, how)


def pick_pixel_range(tensor: TensorIO, choice: str, where: str) -> tuple[str, tuple]:
    if choice != "auto":
        return choice, PIXEL_RANGES[choice]
    held = tensor.real_range
    if held is None:
        raise DatasetError(f"{where}: the model's input is float32 and nothing in the model "
                           "says which pixel range it expects; pass --pixels "
                           f"{'|'.join(PIXEL_RANGES)}")
    width = held[1] - held[0]

    def distance(item):
        lo, hi = item[1]
        return (abs(lo - held[0]) + abs(hi - held[1])) / width

    return min(PIXEL_RANGES.items(), key=distance)


def image_inputs(folder: str | Path, tensor: TensorIO, count: int,
                 class_names: list[str] | None, pixels: str = "auto") -> ModelInputs:
    """Images of a folder: DIR/<class>/* gives labels, a flat DIR gives outputs only."""
    folder = Path(folder)
    shape = tensor.shape[1:]
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise DatasetError(f"--data {folder}: the model's input is {tensor.describe()}, not "
                           "an image (height x width x 1 or 3 channels); give its inputs "
                           "with --inputs FILE.npy or --random N")
    if not folder.is_dir():
        raise DatasetError(f"--data {folder} is not a folder of images")
    flat = sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if flat:
        files, found = [(p, -1) for p in flat], None
    elif not any(p.is_dir() for p in folder.iterdir()):
        raise DatasetError(f"--data {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                           " and no class sub-folders")
    else:
        found, files, _ = scan_folder(folder)
    if found is not None and class_names is not None and found != class_names:
        raise DatasetError(f"--data {folder} has classes {found}; the model's labels are "
                           f"{class_names}: rename the sub-folders, or pass --labels")
    files = files[:count]
    height, width, channels = shape
    name, (lo, hi) = pick_pixel_range(tensor, pixels, f"--data {folder}")
    pixels_u8 = np.stack([_load(path, width, height, channels) for path, _ in files])
    real = lo + pixels_u8.astype(np.float64) * (hi - lo) / 255.0
    mode = "grey" if channels == 1 else "RGB"
    how = (f"{folder}: {len(files)} images resized bilinearly to {width}x{height}, {mode}, "
           f"pixels 0..255 mapped to {name}, then "
           + (f"quantized with the input's scale {tensor.scale:.6g} and zero point "
              f"{tensor.zero_point}" if tensor.quantized else "given as float32"))
    tensors = tensor.quantize(real)
    labels = np.array([label for _, label in files], np.int32)
    names = [p.relative_to(folder).as_posix() for p, _ in files]
    return ModelInputs(tensors, labels, names, found if found is not None else class_names, how)


def _load(path: Path, width: int, height: int, channels: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.BILINEAR)
            return np.asarray(img, np.uint8).reshape(height, width, channels)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot be read as an image: {exc}; fix or remove it") \
            from exc


def tensor_file_inputs(path: str | Path, tensor: TensorIO, count: int) -> ModelInputs:
    """A .npy of tensors, or a .npz with `inputs` (or its only array) and optional
    `labels`. Raw tensors of the input's type go as they are; float tensors for a
    quantized input are quantized with its parameters."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"--inputs {path}: not a readable .npy or .npz file: {exc}") from exc
    labels = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            key = "inputs" if "inputs" in keys else keys[0] if len(keys) == 1 else None
            if key is None:
                raise DatasetError(f"--inputs {path} holds arrays {keys or 'none'}; name the "
                                   "inputs `inputs` (and their classes `labels`)")
            try:
                data = loaded[key]
                labels = loaded["labels"] if "labels" in keys else None
            except (OSError, ValueError) as exc:
                raise DatasetError(f"--inputs {path}: array {key!r} cannot be read: {exc}") \
                    from exc
    else:
        data = loaded
    shape = tensor.shape[1:]
    if data.shape[1:] == tuple(tensor.shape) and tensor.shape[0] == 1:
        data = data.reshape((len(data), *shape))
    if data.ndim == 0 or data.shape[1:] != tuple(shape):
        raise DatasetError(f"--inputs {path} holds an array of shape {data.shape}; the model "
                           f"takes (N, {', '.join(map(str, shape))}) ({tensor.describe()})")
    if len(data) == 0:
        raise DatasetError(f"--inputs {path} holds no tensors")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise DatasetError(f"--inputs {path} holds NaN or infinite values; the model's "
                           "quantization gives them no defined int8 value")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape not in ((len(data),), (len(data), 1)) or labels.dtype.kind not in "iu":
            raise DatasetError(f"--inputs {path}: `labels` is {labels.dtype} of shape "
                               f"{labels.shape}; give one integer class per tensor, shape "
                               f"({len(data)},)")
    data = data[:count]
    if data.dtype == tensor.dtype:
        how = f"{path}: {len(data)} {data.dtype} tensors as given"
    elif data.dtype.kind == "f" and tensor.quantized:
        how = (f"{path}: {len(data)} float tensors quantized with the input's scale "
               f"{tensor.scale:.6g} and zero point {tensor.zero_point}")
        data = tensor.quantize(data)
    else:
        raise DatasetError(f"--inputs {path} holds {data.dtype} tensors; the model's input is "
                           f"{tensor.dtype.name}: give {tensor.dtype.name} tensors"
                           + (" or floats to quantize" if tensor.quantized else ""))
    names = [f"{path.name}[{i}]" for i in range(len(data))]
    if labels is None:
        return _unlabelled(np.ascontiguousarray(data), names, how)
    labels = labels.reshape(-1)[:len(data)].astype(np.int32)
    return ModelInputs(np.ascontiguousarray(data), labels, names, None, how)


def random_inputs(tensor: TensorIO, count: int, seed: int) -> ModelInputs:
    """Seeded tensors uniform over the input's whole integer range (a float input: over
    the range its QUANTIZE can represent)."""
    rng = np.random.default_rng(seed)
    shape = (count, *tensor.shape[1:])
    if tensor.quantized:
        info = np.iinfo(tensor.dtype)
        data = rng.integers(info.min, info.max + 1, size=shape, dtype=tensor.dtype)
        how = f"{count} random {tensor.dtype.name} tensors, uniform over {info.min}..{info.max}"
    else:
        lo, hi = tensor.real_range or (-1.0, 1.0)
        data = rng.uniform(lo, hi, size=shape).astype(tensor.dtype)
        how = f"{count} random float32 tensors, uniform over [{lo:.6g}, {hi:.6g})"
    return _unlabelled(data, [f"random[{i}]" for i in range(count)], f"{how}, seed {seed}")
