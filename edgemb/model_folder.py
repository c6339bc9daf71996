"""A model from elsewhere (`--model FILE.tflite`): the folder its exports, firmware and
verify reports go to, beside edgemb's own run folders.

Every command after quantize takes either `--run DIR` (a model edgemb trained) or
`--model FILE` (any int8 TFLite model). Both give the same attributes: tflite_file,
export_dir, firmware_dir, verify_dir and labels(). A model folder keeps a copy of the
model and the labels it was given, so `build --model m.tflite --labels l.txt` followed
by `verify --model m.tflite` finds the same labels and the same build.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from edgemb.errors import EdgembError
from edgemb.tflite import parse_tflite


class ModelFolderError(EdgembError):
    """The model or its labels cannot be used."""


def default_folder(model_file: Path) -> Path:
    return Path(f"edgemb-{model_file.stem}")


def read_labels_file(path: Path) -> list[str]:
    labels = [line.strip() for line in Path(path).read_text().splitlines()]
    labels = [label for label in labels if label]
    if not labels:
        raise ModelFolderError(f"--labels {path} holds no class names; write one per line")
    return labels


def metadata_labels(model_bytes: bytes) -> list[str] | None:
    """Labels packed into the model by TFLite's metadata writer: a zip archive appended to
    the flatbuffer, holding the label file (the first .txt, one label per line)."""
    archive = io.BytesIO(model_bytes)
    if not zipfile.is_zipfile(archive):
        return None
    try:
        with zipfile.ZipFile(archive) as z:
            names = sorted((n for n in z.namelist() if n.lower().endswith(".txt")),
                           key=lambda n: ("label" not in n.lower(), n))
            if not names:
                return None
            text = z.read(names[0]).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, OSError):
        return None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    return labels or None


class ModelFolder:
    def __init__(self, model_file: str | Path, folder: str | Path | None = None,
                 labels_file: str | Path | None = None):
        self.source = Path(model_file)
        self.path = Path(folder) if folder else default_folder(self.source)
        self.labels_file_given = Path(labels_file) if labels_file else None

    tflite_file = property(lambda self: self.path / "model.tflite")
    labels_file = property(lambda self: self.path / "labels.txt")
    export_dir = property(lambda self: self.path / "export")
    firmware_dir = property(lambda self: self.path / "firmware")
    verify_dir = property(lambda self: self.path / "verify")

    def prepare(self, runtime: str | None = None) -> ModelFolder:
        """Checks the model (TFLite, int8 inside, and runnable by `runtime` when given)
        before anything is written, then copies it and the labels into the folder; the
        copy is replaced when the model changed."""
        from edgemb.export.exporter import check_int8, check_runtime

        if (self.path / "settings.json").exists():
            raise ModelFolderError(f"{self.path} is a run folder of `edgemb train`; give the "
                                   "model a folder of its own with --out DIR")
        data = self.source.read_bytes()
        model = parse_tflite(data, source=str(self.source))
        check_int8(model, str(self.source))
        if runtime is not None:
            check_runtime(model, runtime, str(self.source))
        labels = read_labels_file(self.labels_file_given) if self.labels_file_given else None
        if labels is not None:
            check_labels(labels, model, str(self.labels_file_given))
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.tflite_file.exists() or self.tflite_file.read_bytes() != data:
            self.tflite_file.write_bytes(data)
            if labels is None and self.labels_file.exists():
                self.labels_file.unlink()  # another model's labels
        if labels is not None:
            self.labels_file.write_text("".join(f"{label}\n" for label in labels))
        return self

    def require(self, artifact: Path, made_by: str) -> Path:
        if not artifact.exists():
            raise ModelFolderError(f"{artifact} does not exist; run `{made_by} --model "
                                   f"{self.source}` first")
        return artifact

    def labels(self) -> list[str] | None:
        """The class names: --labels (kept in the folder), else the model's metadata,
        else None (the model's outputs have no names)."""
        if self.labels_file.exists():
            return read_labels_file(self.labels_file)
        return metadata_labels(self.tflite_file.read_bytes())

    def describe(self) -> str:
        return f"--model {self.source}"


def check_labels(labels: list[str], model, where: str) -> None:
    count = model.output_tensors[0].size
    if len(labels) != count:
        raise ModelFolderError(f"{where} names {len(labels)} classes, the model's first output "
                               f"has {count} values; give one label per output value")
