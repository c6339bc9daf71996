"""The training loop: schedule, early stopping, per-epoch checkpoints and resume."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

LEARNING_RATE = 2e-3
EARLY_STOPPING_PATIENCE = 3


@dataclass
class FitPlan:
    epochs: int
    steps_per_epoch: int
    checkpoint_file: Path
    checkpoint_state: Path
    learning_rate: float = LEARNING_RATE


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (every local GPU, else the CPU) or
    `multi-worker` (several machines, described by the TF_CONFIG variable)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi-worker needs the TF_CONFIG environment variable "
                             "describing the cluster (see tf.distribute.MultiWorkerMirroredStrategy)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def compile_model(model: keras.Model, plan: FitPlan) -> None:
    schedule = keras.optimizers.schedules.CosineDecay(
        plan.learning_rate, decay_steps=max(plan.epochs * plan.steps_per_epoch, 1), alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def completed_epochs(plan: FitPlan) -> tuple[int, dict]:
    """The epoch to resume from and the history so far (0, {} for a new run)."""
    if plan.checkpoint_file.exists() and plan.checkpoint_state.exists():
        state = json.loads(plan.checkpoint_state.read_text())
        return state["epoch"], state["history"]
    return 0, {}


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer after every epoch, atomically, with the history so far."""

    def __init__(self, plan: FitPlan, history: dict):
        super().__init__()
        self.plan = plan
        self.history = history

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.plan.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.plan.checkpoint_file.with_suffix(".tmp.keras")
        self.model.save(tmp)
        os.replace(tmp, self.plan.checkpoint_file)
        state = {"epoch": epoch + 1, "history": self.history}
        tmp_state = self.plan.checkpoint_state.with_suffix(".tmp")
        tmp_state.write_text(json.dumps(state))
        os.replace(tmp_state, self.plan.checkpoint_state)


class ProgressCallback(keras.callbacks.Callback):
    """Forwards batch and epoch progress to a UI function (a rich progress bar)."""

    def __init__(self, on_batch: Callable[[int, int, dict], None],
                 on_epoch: Callable[[int, dict], None]):
        super().__init__()
        self.on_batch, self.on_epoch = on_batch, on_epoch
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch(self.epoch, batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.on_epoch(epoch, logs or {})


def fit(model_factory: Callable[[], keras.Model], train_ds, val_ds, plan: FitPlan,
        strategy: tf.distribute.Strategy, callbacks: list) -> tuple[keras.Model, dict, int]:
    """Trains from scratch or resumes from the last checkpoint.

    Returns the model (best validation weights), the full history and the epoch
    training started from (0 when nothing was resumed).
    """
    start, history = completed_epochs(plan)
    with strategy.scope():
        if start:
            model = keras.models.load_model(plan.checkpoint_file)
        else:
            model = model_factory()
            compile_model(model, plan)
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=EARLY_STOPPING_PATIENCE,
                                         restore_best_weights=True)
    if start < plan.epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=plan.epochs, initial_epoch=start,
                  verbose=0, shuffle=False,
                  callbacks=[*callbacks, EpochCheckpoint(plan, history), stop])
    return model, history, start
