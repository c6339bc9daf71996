"""`edgemb train`: from a dataset to a trained MobileNet and its evaluation."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import keras
import numpy as np

from edgemb import ui
from edgemb.data.imageset import ImageSet
from edgemb.data.pipeline import make_dataset
from edgemb.data.source import load_source
from edgemb.data.split import Split, make_split, save_split
from edgemb.model import training
from edgemb.model.builders import build_model
from edgemb.model.stats import keras_separable_blocks, model_stats
from edgemb.report.blocks import separable_table
from edgemb.report.metrics import classification_metrics
from edgemb.report.plots import plot_confusion_matrix, plot_training_curves
from edgemb.run import RunFolder, RunSettings


@dataclass
class TrainOptions:
    data: str = "fashion-mnist"
    arch: str = "mobilenet_v1"
    alpha: float = 0.25
    size: int = 96
    epochs: int = 10
    batch_size: int = 64
    limit: int | None = None
    augment: bool = True
    learning_rate: float = training.LEARNING_RATE
    seed: int = 0
    strategy: str = "default"
    skip_bad: bool = False
    fresh: bool = False


def train(options: TrainOptions, run: RunFolder) -> dict:
    data = load_source(options.data, options.size, skip_bad=options.skip_bad)
    for note in data.notes:
        ui.info(f"[yellow]{options.data}: {note}[/yellow]")
    settings = RunSettings(
        dataset=options.data, arch=options.arch, alpha=options.alpha, size=options.size,
        labels=data.class_names, seed=options.seed, limit=options.limit,
        epochs=options.epochs, batch_size=options.batch_size, augment=options.augment,
        learning_rate=options.learning_rate)
    if options.fresh:
        run.clear()
    run.check_compatible(settings)

    split = make_split(data, options.seed, options.limit)
    run.write_settings(settings)
    save_split(split, data, run.split_file)
    ui.info(f"{options.data}: {len(data.class_names)} classes; train {len(split.train)}, "
            f"validation {len(split.validation)}, test {len(split.test)} images")

    def factory():
        # Seeded here, so that the same command gives the same weights: the
        # initial weights, dropout and the shuffle order all draw from it.
        keras.utils.set_random_seed(options.seed)
        return build_model(options.arch, len(data.class_names), options.alpha, options.size)

    _print_model_stats(factory(), options)
    train_ds = make_dataset(data.images[split.train], data.labels[split.train], options.size,
                            options.batch_size, training=True, seed=options.seed,
                            augment=options.augment)
    val_ds = make_dataset(data.images[split.validation], data.labels[split.validation],
                          options.size, options.batch_size, training=False)
    plan = training.FitPlan(options.epochs, math.ceil(len(split.train) / options.batch_size),
                            run.checkpoint_file, run.checkpoint_state, options.learning_rate)
    started = time.monotonic()
    model, history, resumed_from = _fit_with_progress(factory, train_ds, val_ds, plan, options)
    seconds = time.monotonic() - started
    model.save(run.model_file)
    return _evaluate(model, data, split, run, history, {
        "train_seconds": seconds, "resumed_from_epoch": resumed_from,
        "epochs_run": len(history.get("loss", [])) - resumed_from,
        "seconds_per_epoch": seconds / max(len(history.get("loss", [])) - resumed_from, 1)})


def _print_model_stats(model, options: TrainOptions) -> None:
    stats = model_stats(model)
    ui.info(ui.table(f"{options.arch} alpha {options.alpha} at {options.size}x{options.size}x3",
                     ["", "value"], [
                         ["parameters", f"{stats.parameters:,}"],
                         ["MACs per inference", f"{stats.macs:,}"],
                         ["expected int8 size", f"~{stats.expected_int8_bytes / 1024:,.0f} KB"],
                     ]))
    try:
        table = separable_table(keras_separable_blocks(model))
    except Exception as exc:  # noqa: BLE001 - a table is not worth stopping the training for
        ui.info(f"[yellow]no separable-block table: the float conversion failed ({exc})[/yellow]")
        table = None
    if table is not None:
        ui.info(table)


def _fit_with_progress(factory, train_ds, val_ds, plan, options):
    strategy = training.distribution_strategy(options.strategy)
    start, _ = training.completed_epochs(plan)
    if start:
        ui.info(f"resuming from the checkpoint after epoch {start}")
    with ui.progress() as bar:
        task = bar.add_task("epoch", total=plan.steps_per_epoch, status="")

        def on_batch(epoch, step, logs):
            if step == 1:
                bar.reset(task, total=plan.steps_per_epoch)
            bar.update(task, completed=step, description=f"epoch {epoch + 1}/{plan.epochs}",
                       status=f"loss {logs.get('loss', 0):.3f} acc {logs.get('accuracy', 0):.3f}")

        def on_epoch(epoch, logs):
            bar.console.print(
                f"epoch {epoch + 1}/{plan.epochs}: loss {logs.get('loss', 0):.4f} "
                f"accuracy {logs.get('accuracy', 0):.4f} val_accuracy "
                f"{logs.get('val_accuracy', 0):.4f}")

        callback = training.ProgressCallback(on_batch, on_epoch)
        return training.fit(factory, train_ds, val_ds, plan, strategy, [callback])


def _evaluate(model, data: ImageSet, split: Split, run: RunFolder, history: dict,
              timing: dict) -> dict:
    settings = run.read_settings()
    metrics = {"timing": timing}
    for part in ("validation", "test"):
        index = split.part(part)
        ds = make_dataset(data.images[index], data.labels[index], settings.size,
                          settings.batch_size, training=False)
        predictions = np.argmax(model.predict(ds, verbose=0), axis=1)
        metrics[part] = classification_metrics(data.labels[index], predictions, data.class_names)
    run.history_file.write_text(json.dumps(history, indent=1))
    run.metrics_file.write_text(json.dumps(metrics, indent=1))
    plot_training_curves(history, run.curves_plot)
    plot_confusion_matrix(metrics["test"]["confusion_matrix"], data.class_names,
                          run.confusion_plot, "Test confusion matrix (Keras float)")
    return metrics
