"""The run folder: one training configuration, its settings and its artifacts.

Every later command (quantize, export, build, verify) finds what it needs from
`--run DIR` alone through this class.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgemb.errors import RunFolderError

DEFAULT_RUN_DIR = Path("edgemb-run")

# Settings that define what the model is; a run folder refuses to mix them.
IDENTITY_KEYS = ("dataset", "arch", "alpha", "size", "labels", "seed", "limit")


@dataclass
class RunSettings:
    dataset: str
    arch: str
    alpha: float
    size: int
    labels: list[str]
    seed: int = 0
    limit: int | None = None
    epochs: int = 0
    batch_size: int = 64
    augment: bool = True
    learning_rate: float = 2e-3
    extra: dict = field(default_factory=dict)


class RunFolder:
    def __init__(self, path: str | Path = DEFAULT_RUN_DIR):
        self.path = Path(path)

    # Artifacts, one place each.
    settings_file = property(lambda self: self.path / "settings.json")
    split_file = property(lambda self: self.path / "split.json")
    labels_file = property(lambda self: self.path / "labels.txt")
    model_file = property(lambda self: self.path / "model.keras")
    checkpoint_dir = property(lambda self: self.path / "checkpoint")
    checkpoint_file = property(lambda self: self.path / "checkpoint" / "last.keras")
    checkpoint_state = property(lambda self: self.path / "checkpoint" / "state.json")
    history_file = property(lambda self: self.path / "history.json")
    metrics_file = property(lambda self: self.path / "metrics.json")
    curves_plot = property(lambda self: self.path / "training_curves.png")
    confusion_plot = property(lambda self: self.path / "confusion_matrix.png")
    tflite_file = property(lambda self: self.path / "model_int8.tflite")
    quantize_report = property(lambda self: self.path / "quantize.json")
    export_dir = property(lambda self: self.path / "export")
    firmware_dir = property(lambda self: self.path / "firmware")
    verify_dir = property(lambda self: self.path / "verify")

    def exists(self) -> bool:
        return self.settings_file.exists()

    def read_settings(self) -> RunSettings:
        if not self.settings_file.exists():
            raise RunFolderError(f"{self.path} is not a run folder (no settings.json); "
                                 "train one with `edgemb train --run DIR` or pass --run")
        return RunSettings(**json.loads(self.settings_file.read_text()))

    def write_settings(self, settings: RunSettings) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps(asdict(settings), indent=2) + "\n")
        self.labels_file.write_text("".join(f"{label}\n" for label in settings.labels))

    def check_compatible(self, wanted: RunSettings) -> None:
        """Refuses to continue a run folder trained for something else."""
        if not self.exists():
            return
        have = self.read_settings()
        for key in IDENTITY_KEYS:
            old, new = getattr(have, key), getattr(wanted, key)
            if old != new:
                raise RunFolderError(
                    f"run folder {self.path} was trained with {key}={_show(old)}, not "
                    f"{_show(new)}; pass --run with another folder, or --fresh to discard it")

    def labels(self) -> list[str]:
        return self.read_settings().labels

    def describe(self) -> str:
        return f"--run {self.path}"

    def clear(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)

    def require(self, artifact: Path, made_by: str) -> Path:
        if not artifact.exists():
            raise RunFolderError(f"{artifact} does not exist; run `{made_by} --run {self.path}` "
                                 "first")
        return artifact


def _show(value) -> str:
    if isinstance(value, list) and len(value) > 4:
        return "[" + ", ".join(map(str, value[:4])) + f", … ({len(value)} labels)]"
    return str(value)
