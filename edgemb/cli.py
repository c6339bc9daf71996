"""The command line: parse, call one function, print."""

from __future__ import annotations

import functools
import os
import sys

import click

from edgemb import __version__, ui
from edgemb.errors import EdgembError
from edgemb.run import DEFAULT_RUN_DIR, RunFolder

# TensorFlow's C++ start-up chatter is noise for a command-line user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

run_option = click.option("--run", "run_dir", default=str(DEFAULT_RUN_DIR), show_default=True,
                          type=click.Path(file_okay=False), help="The run folder.")


def reports_errors(command):
    """Turns an EdgembError into its message and exit code, with no traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EdgembError as exc:
            ui.console.print(f"[bold red]error:[/bold red] {exc}")
            sys.exit(exc.exit_code)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgemb")
@click.option("-v", "--verbose", is_flag=True, help="Print more detail.")
def main(verbose: bool) -> None:
    """From a folder of images to a microcontroller that classifies them,
    verified bit for bit against TFLite Micro."""
    ui.VERBOSE = verbose


@main.command()
@click.option("--data", default="fashion-mnist", show_default=True,
              help="fashion-mnist, or a folder DIR/<label>/*.png|jpg|jpeg|bmp.")
@click.option("--arch", type=click.Choice(["mobilenet_v1", "mobilenet_v2"]),
              default="mobilenet_v1", show_default=True)
@click.option("--alpha", type=float, default=0.25, show_default=True, help="Width multiplier.")
@click.option("--size", type=click.IntRange(32, 512), default=96, show_default=True,
              help="Input resolution (pixels per side).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Train on at most N images (validation and test: N/5 each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]),
              default="default", show_default=True, help="tf.distribute strategy.")
@click.option("--skip-bad", is_flag=True, help="Leave unreadable images out (counted).")
@click.option("--fresh", is_flag=True, help="Discard what the run folder holds.")
@run_option
@reports_errors
def train(run_dir, **options) -> None:
    """Train a MobileNet on a dataset and evaluate it on its held-out test split."""
    from edgemb.train import TrainOptions
    from edgemb.train import train as train_run

    run = RunFolder(run_dir)
    try:
        metrics = train_run(TrainOptions(**options), run)
    except KeyboardInterrupt:
        ui.console.print("[yellow]interrupted: the last finished epoch is saved in "
                         f"{run.checkpoint_dir}; rerun the same command to resume[/yellow]")
        sys.exit(130)
    timing = metrics["timing"]
    ui.info(ui.table("Results", ["", "value"], [
        ["validation accuracy", f"{metrics['validation']['accuracy']:.4f}"],
        ["test accuracy", f"{metrics['test']['accuracy']:.4f}"],
        ["test images", metrics["test"]["samples"]],
        ["seconds per epoch", f"{timing['seconds_per_epoch']:.1f}"],
    ]))
    ui.info(f"model, metrics and plots in {run.path}/")


if __name__ == "__main__":
    main()
