"""`edgemb train` end to end on small data: artifacts, resume, refusals."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgemb.cli import main
from edgemb.commands.train import TrainOptions, train
from edgemb.model import training
from edgemb.run import RunFolder

pytestmark = pytest.mark.slow


def small_options(data, **overrides):
    options = dict(data=str(data), size=32, epochs=2, batch_size=16)
    options.update(overrides)
    return TrainOptions(**options)


def test_short_training_writes_every_artifact(pattern_folder, tmp_path):
    run = RunFolder(tmp_path / "run")
    metrics = train(small_options(pattern_folder, learning_rate=1e-3, augment=False), run)
    for artifact in (run.settings_file, run.split_file, run.labels_file, run.model_file,
                     run.history_file, run.metrics_file, run.curves_plot, run.confusion_plot,
                     run.checkpoint_file):
        assert artifact.exists(), artifact
    assert run.labels_file.read_text() == "circle\nsquare\n"
    history = json.loads(run.history_file.read_text())
    assert len(history["loss"]) == 2 and "val_accuracy" in history
    saved = json.loads(run.metrics_file.read_text())
    assert saved["test"]["samples"] == metrics["test"]["samples"] == 4
    assert set(saved["test"]["per_class"]) == {"circle", "square"}
    assert np.array(saved["test"]["confusion_matrix"]).sum() == 4
    assert run.curves_plot.read_bytes()[:4] == b"\x89PNG"
    split = json.loads(run.split_file.read_text())
    assert not set(split["train"]) & set(split["test"])
    settings = run.read_settings()
    assert (settings.learning_rate, settings.augment) == (1e-3, False)
    optimizer = training.keras.models.load_model(run.checkpoint_file).optimizer.get_config()
    assert optimizer["learning_rate"]["config"]["initial_learning_rate"] == 1e-3


class Interrupt(training.keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if self.params and getattr(self, "epoch", 0) == 1:
            raise KeyboardInterrupt

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


def test_interrupted_training_resumes_from_the_last_epoch(pattern_folder, tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "run")
    real_fit = training.fit

    def fit_then_interrupt(factory, train_ds, val_ds, plan, strategy, callbacks):
        return real_fit(factory, train_ds, val_ds, plan, strategy, [*callbacks, Interrupt()])

    monkeypatch.setattr(training, "fit", fit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(small_options(pattern_folder, epochs=3), run)
    assert json.loads(run.checkpoint_state.read_text())["epoch"] == 1
    assert not run.model_file.exists()

    monkeypatch.setattr(training, "fit", real_fit)
    metrics = train(small_options(pattern_folder, epochs=3), run)
    assert metrics["timing"]["resumed_from_epoch"] == 1
    assert metrics["timing"]["epochs_run"] == 2
    assert len(json.loads(run.history_file.read_text())["loss"]) == 3


def test_run_folder_of_another_architecture_is_refused(pattern_folder, tmp_path):
    run = RunFolder(tmp_path / "run")
    train(small_options(pattern_folder, epochs=1), run)
    result = CliRunner().invoke(main, ["train", "--data", str(pattern_folder), "--size", "32",
                                       "--arch", "mobilenet_v2", "--run", str(run.path)])
    assert result.exit_code == 1
    assert (f"run folder {run.path} was trained with arch=mobilenet_v1, not mobilenet_v2; pass "
            "--run with another folder, or --fresh to discard it") in " ".join(result.output.split())


def test_mirrored_strategy_trains_on_the_cpu(pattern_folder, tmp_path):
    metrics = train(small_options(pattern_folder, epochs=1, strategy="mirrored",
                                  arch="mobilenet_v2"), RunFolder(tmp_path / "run"))
    assert metrics["test"]["samples"] == 4


def _trained_weights(run: RunFolder) -> list[np.ndarray]:
    return training.keras.models.load_model(run.model_file).get_weights()


def test_same_command_trains_the_same_weights(pattern_folder, tmp_path):
    """Initial weights, shuffling and augmentation all follow --seed: two
    runs of one command give the same model to the bit, another seed does not."""
    runs = [RunFolder(tmp_path / name) for name in ("a", "b", "c")]
    for run, seed in zip(runs, (3, 3, 4), strict=True):
        train(small_options(pattern_folder, augment=True, seed=seed), run)
    a, b, c = (_trained_weights(run) for run in runs)
    assert runs[0].history_file.read_text() == runs[1].history_file.read_text()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
