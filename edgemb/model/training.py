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
        LEARNING_RATE, decay_steps=max(plan.epochs * plan.steps_per_epoch, 1), alpha=0.01)
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


@dataclass
class Stage:
    """Epochs up to `end_epoch` trained at one input size (progressive resizing:
    early epochs at a lower resolution cost a fraction of the time, and the
    weights of a MobileNet do not depend on its input size)."""

    end_epoch: int
    size: int
    model_factory: Callable[[], keras.Model]
    train_ds: tf.data.Dataset
    val_ds: tf.data.Dataset


def fit(stages: list[Stage], plan: FitPlan, strategy: tf.distribute.Strategy,
        callbacks: list) -> tuple[keras.Model, dict, int]:
    """Trains from scratch or resumes from the last checkpoint, stage by stage.

    Returns the model of the last stage (best validation weights of that
    stage), the full history and the epoch training started from (0 when
    nothing was resumed). Early stopping acts in the last stage only, so the
    model returned always has the final input size.
    """
    start, history = completed_epochs(plan)
    resumed_from = start
    model = None
    if start:
        with strategy.scope():
            model = keras.models.load_model(plan.checkpoint_file)
    for index, stage in enumerate(stages):
        if start >= stage.end_epoch and index < len(stages) - 1:
            continue
        with strategy.scope():
            if model is None:
                model = stage.model_factory()
                compile_model(model, plan)
            elif model.input_shape[1] != stage.size:
                model = resized(model, stage.model_factory(), plan)
        last = index == len(stages) - 1
        extra = [keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=EARLY_STOPPING_PATIENCE,
            restore_best_weights=True)] if last else []
        if start < stage.end_epoch:
            model.fit(stage.train_ds, validation_data=stage.val_ds, epochs=stage.end_epoch,
                      initial_epoch=start, verbose=0, shuffle=False,
                      callbacks=[*callbacks, EpochCheckpoint(plan, history), *extra])
            start = stage.end_epoch
    return model, history, resumed_from


def resized(source: keras.Model, target: keras.Model, plan: FitPlan) -> keras.Model:
    """`target` (the same network at another input size) with the weights and
    the optimizer state of `source`, so the schedule and Adam's moments go on."""
    compile_model(target, plan)
    target.set_weights(source.get_weights())
    target.optimizer.build(target.trainable_variables)
    theirs = source.optimizer.variables
    mine = target.optimizer.variables
    if len(mine) != len(theirs):
        raise ValueError(f"optimizer state of {len(theirs)} variables does not fit "
                         f"{len(mine)}: not the same network")
    for variable, value in zip(mine, theirs, strict=True):
        variable.assign(value)
    return target
