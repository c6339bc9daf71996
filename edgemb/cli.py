"""The command line: parse, call one function, print."""

from __future__ import annotations

import functools
import os
import sys
import warnings

import click

from edgemb import __version__, ui
from edgemb.errors import EdgembError
from edgemb.run import DEFAULT_RUN_DIR, RunFolder

# TensorFlow's start-up chatter and deprecation notes are noise for a command-line user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for noisy in ("tensorflow", "keras", "absl"):
    warnings.filterwarnings("ignore", module=noisy)

# Commands whose libraries load TensorFlow (Keras, the converter, tflite-micro): it
# is imported first with its C++ start-up lines hidden (edgemb.quiet).
USES_TENSORFLOW = {"train", "quantize", "inspect", "export", "build", "verify", "demo"}

run_option = click.option("--run", "run_dir", default=str(DEFAULT_RUN_DIR), show_default=True,
                          type=click.Path(file_okay=False), help="The run folder.")


def model_options(command):
    """--model FILE [--labels FILE] [--out DIR]: a model from elsewhere instead of --run."""
    command = click.option(
        "--out", "model_dir", type=click.Path(file_okay=False), default=None,
        help="With --model: the model's folder for exports, builds and reports "
             "(default: ./edgemb-<model name>).")(command)
    command = click.option(
        "--labels", "labels_file", type=click.Path(exists=True, dir_okay=False), default=None,
        help="With --model: class names, one per line (default: the model's metadata, "
             "else class 0 .. N-1).")(command)
    return click.option(
        "--model", "model_path", type=click.Path(exists=True, dir_okay=False), default=None,
        help="Any int8 .tflite model instead of the run's.")(command)


def model_source(run_dir, model_path, labels_file, model_dir, runtime=None):
    """The run folder, or the folder of a model from elsewhere (edgemb.model_folder),
    checked for `runtime` when one is given."""
    if model_path is None:
        if labels_file or model_dir:
            raise click.UsageError("--labels and --out go with --model FILE")
        return RunFolder(run_dir)
    from edgemb.model_folder import ModelFolder

    return ModelFolder(model_path, model_dir, labels_file).prepare(runtime)


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
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """From a folder of images to a microcontroller that classifies them,
    verified bit for bit against TFLite Micro."""
    ui.VERBOSE = verbose
    if ctx.invoked_subcommand in USES_TENSORFLOW:
        from edgemb.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()


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
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, the initial weights, the shuffling and the augmentation: "
              "the same command trains the same model.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Random flips, shifts and zooms of the training images. A short training "
              "learns faster without them.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=2e-3,
              show_default=True, help="Adam's initial rate; it decays on a cosine to 1 %.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]),
              default="default", show_default=True, help="tf.distribute strategy.")
@click.option("--skip-bad", is_flag=True, help="Leave unreadable images out (counted).")
@click.option("--fresh", is_flag=True, help="Discard what the run folder holds.")
@run_option
@reports_errors
def train(run_dir, **options) -> None:
    """Train a MobileNet on a dataset and evaluate it on its held-out test split."""
    from edgemb.commands.train import TrainOptions
    from edgemb.commands.train import train as train_run

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


@main.command()
@click.option("--calibration-samples", type=int, default=200, show_default=True,
              help="Training images that calibrate the int8 ranges.")
@click.option("--eval-samples", type=click.IntRange(1), default=None,
              help="Evaluate on the first N test images (default: the whole test split).")
@run_option
@reports_errors
def quantize(run_dir, calibration_samples, eval_samples) -> None:
    """Convert the run's model to full int8 and check it against TFLite Micro."""
    from edgemb.commands.quantize import QuantizeOptions
    from edgemb.commands.quantize import quantize as quantize_run

    run = RunFolder(run_dir)
    with ui.progress() as bar:
        task = bar.add_task("converting", total=None, status="")

        def on_progress(stage, done, total):
            bar.update(task, description=stage, completed=done, total=total)

        report = quantize_run(run, QuantizeOptions(calibration_samples, eval_samples),
                              on_progress)
    ui.info(quantize_table(report))
    ui.info(f"{run.tflite_file} ({report['model_bytes']:,} bytes); report in "
            f"{run.quantize_report}")


def quantize_table(report: dict):
    acc = report["accuracy"]
    return ui.table(f"Quantization, {report['samples']} test images", ["", "value"], [
        ["float accuracy (Keras)", f"{acc['float']:.4f}"],
        ["int8 accuracy (tf.lite BUILTIN_REF)", f"{acc['int8_builtin_ref']:.4f}"],
        ["int8 accuracy (TFLite Micro)", f"{acc['int8_tflm']:.4f}"],
        ["accuracy drop", f"{report['accuracy_drop_points']:.2f} points"],
        ["TFLite Micro vs BUILTIN_REF: bytes that differ",
         report["tflm_vs_builtin_ref_disagreeing_bytes"]],
        ["model bytes", f"{report['model_bytes']:,}"],
        ["TFLite Micro arena (with margin)", f"{report['tflm_arena_bytes']:,}"],
    ])


@main.command("inspect")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--tensors/--no-tensors", default=True, show_default=True,
              help="List every tensor.")
@reports_errors
def inspect_command(model, tensors) -> None:
    """Describe any int8 TFLite model: operators, tensors, MACs, arena, runtime support."""
    from edgemb.commands.inspect import summarize

    summary = summarize(model)
    ui.info(ui.table(f"{model}", ["", "value"], [
        ["fingerprint (SHA-256)", summary.fingerprint],
        ["flatbuffer bytes", f"{summary.size_bytes:,}"],
        ["parameters", f"{summary.parameters:,}"],
        ["MACs per inference", f"{summary.macs:,}"],
        ["TFLite Micro arena, minimum (64-bit host)", f"{summary.arena_minimum:,}"],
        ["TFLite Micro arena, recommended for 32-bit targets", f"{summary.arena_recommended:,}"],
    ]))
    def runs(name, runtime):
        if name in summary.folded[runtime]:
            return "folded"  # computes a static shape: nothing to run
        return "yes" if name not in summary.unsupported[runtime] else "[red]no[/red]"

    ui.info(ui.table("Operators", ["operator", "count", "tflm", "native"], [
        [name, count] + [runs(name, r) for r in ("tflm", "native")]
        for name, count in summary.operators.items()]))
    from edgemb.report.blocks import separable_table

    blocks = separable_table(summary.blocks)
    if blocks is not None:
        ui.info(blocks)
    if tensors:
        ui.info(ui.table("Tensors", ["#", "name", "shape", "type", "scale", "zero point"], [
            [t["index"], t["name"][-48:], "x".join(map(str, t["shape"])), t["dtype"],
             t.get("scale", ""), t.get("zero_point", "")] for t in summary.tensors]))
    for runtime, missing in summary.unsupported.items():
        if missing:
            ui.info(f"[yellow]runtime {runtime} cannot run this model: unsupported "
                    f"operator(s) {', '.join(missing)}[/yellow]")


@main.command("export")
@run_option
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="An int8 .tflite model instead of the run's.")
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False),
              help="Class names, one per line (default: the run's).")
@click.option("--runtime", type=click.Choice(["tflm", "native"]), default="tflm",
              show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default: RUN/export/RUNTIME).")
@reports_errors
def export_command(run_dir, model_path, labels_file, runtime, out_dir) -> None:
    """Write the model as C sources for the firmware."""
    from pathlib import Path

    from edgemb.export.exporter import export

    run = RunFolder(run_dir)
    labels = None
    if labels_file:
        labels = Path(labels_file).read_text().split("\n")
        labels = [label for label in labels if label]
    if model_path is None:
        model_path = run.require(run.tflite_file, "edgemb quantize")
        labels = labels or run.read_settings().labels
    out = Path(out_dir) if out_dir else run.export_dir / runtime
    result = export(Path(model_path), out, labels, runtime)
    rows = [["fingerprint", result.fingerprint], ["model bytes", f"{result.model_bytes:,}"],
            ["TFLite Micro arena, minimum", f"{result.tflm_arena_minimum:,}"],
            ["TFLite Micro arena, with margin", f"{result.tflm_arena_bytes:,}"]]
    if result.native:
        rows.append(["native arena (static plan)", f"{result.native.get('arena_bytes', 0):,}"])
    ui.info(ui.table(f"Exported for runtime {runtime}", ["", "value"], rows))
    ui.info(f"{', '.join(result.files)} in {out}/")


TARGET_CHOICE = click.Choice(["host", "mps2-an386", "riscv32-virt", "esp32", "esp32s3", "esp32c3"])
# The targets that run on this machine: the host program and QEMU's boards.
LOCAL_TARGET_CHOICE = click.Choice(["mps2-an386", "riscv32-virt", "host"])


@main.command("build")
@run_option
@model_options
@click.option("--target", type=TARGET_CHOICE, default="mps2-an386", show_default=True)
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default=None,
              help="Default: tflm on ESP32 chips (ESP-NN kernels), native elsewhere.")
@click.option("--tflm-dir", type=click.Path(file_okay=False), default=None,
              help="A tensorflow/tflite-micro checkout for --runtime tflm (host, mps2-an386); "
                   "default: $EDGEMB_TFLM_DIR, else a pinned clone.")
@click.option("--tflm-third-party", type=click.Path(file_okay=False), default=None,
              help="Where its flatbuffers, gemmlowp, ruy and kissfft downloads are.")
@click.option("--serial", type=click.Choice(["uart0", "usb-serial-jtag"]), default=None,
              help="ESP32 chips: the protocol's channel, UART0 (the board's USB-to-UART "
                   "bridge) or the chip's own USB-Serial-JTAG port (ESP32-S3, -C3). "
                   "Default: the project's last choice, else uart0.")
@click.option("--baud", type=click.IntRange(9600, 5_000_000), default=None,
              help="ESP32 chips, --serial uart0: UART0's baud rate. Default: the project's "
                   "last choice, else 921600.")
@reports_errors
def build_command(run_dir, model_path, labels_file, model_dir, target, runtime, tflm_dir,
                  tflm_third_party, serial, baud) -> None:
    """Export the run's model (or --model FILE) and build firmware for a target.

    Without ESP-IDF an ESP32 build writes the project, prints the commands that
    finish it and exits with code 3."""
    from edgemb.commands.build import build

    runtime = runtime or ("tflm" if target.startswith("esp32") else "native")
    result = build(model_source(run_dir, model_path, labels_file, model_dir, runtime), target,
                   runtime, tflm_dir, tflm_third_party, serial, baud)
    ui.info(sizes_table(result))
    ui.info(f"firmware: {result.artifact}")


def sizes_table(result):
    rows, total = [], {"text": 0, "data": 0, "bss": 0}
    for part, sizes in result.sizes.items():
        rows.append([part] + [f"{sizes[k]:,}" for k in ("text", "data", "bss")])
        for key in total:
            total[key] += sizes[key]
    rows.append(["total"] + [f"{total[k]:,}" for k in ("text", "data", "bss")])
    flash, ram = total["text"] + total["data"], total["data"] + total["bss"]
    rows.append(["flash (text + data) / RAM (data + bss)", f"{flash:,}", "", f"{ram:,}"])
    rows.append([f"of which the {result.runtime} arena", "", "", f"{result.arena_bytes:,}"])
    return ui.table(f"{result.target} firmware, runtime {result.runtime} (bytes)",
                    ["part", "text", "data", "bss"], rows)


@main.command("flash")
@run_option
@model_options
@click.option("--target", type=click.Choice(["esp32", "esp32s3", "esp32c3"]), default="esp32",
              show_default=True)
@click.option("--port", required=True, help="The board's serial port, e.g. /dev/ttyUSB0.")
@click.option("--baud", type=int, default=460800, show_default=True, help="Flashing baud rate.")
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default=None,
              help="Which build to flash (default: the newest).")
@reports_errors
def flash_command(run_dir, model_path, labels_file, model_dir, target, port, baud,
                  runtime) -> None:
    """Write the built firmware to an ESP32 board (idf.py, or esptool without ESP-IDF)."""
    from edgemb.commands.flash import flash

    source = model_source(run_dir, model_path, labels_file, model_dir)
    result = flash(source, target, port, baud, runtime)
    ui.info(f"flashed {result.project_dir} to the {result.chip} on {port} ({result.method})")
    ui.info(f"verify it with: edgemb verify {source.describe()} --port {port}")


@main.command()
@run_option
@model_options
@click.option("--target", type=LOCAL_TARGET_CHOICE, default="mps2-an386", show_default=True)
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default="native",
              show_default=True)
@click.option("--tcp", "tcp_port", type=click.IntRange(1, 65535), default=None,
              help="Serve the serial port on 127.0.0.1:PORT instead of a pseudo-terminal.")
@click.option("--icount", is_flag=True,
              help="QEMU -icount shift=0: deterministic timing in instruction counts.")
@reports_errors
def emulate(run_dir, model_path, labels_file, model_dir, target, runtime, tcp_port,
            icount) -> None:
    """Boot the built firmware on this machine and serve its serial port."""
    import time

    from edgemb.commands.build import built_artifact
    from edgemb.targets.launch import instructions_per_tick, start_board

    run = model_source(run_dir, model_path, labels_file, model_dir)
    board = start_board(target, built_artifact(run, target, runtime), tcp_port, icount)
    ui.info(f"{target} is running; serial port: [bold]{board.port}[/bold]")
    ui.info(f"verify it with: edgemb verify {run.describe()} --port {board.port}")
    if icount:
        ui.info(f"timing is in emulator ticks: one tick = {instructions_per_tick(target)} guest "
                "instructions (not CPU cycles)")
    ui.info("Ctrl-C stops it")
    try:
        while board.alive():
            time.sleep(0.2)
        ui.console.print(f"[red]the board exited with status {board.process.returncode}[/red]")
        sys.exit(2)
    except KeyboardInterrupt:
        board.stop()
        ui.info("stopped")


@main.command("verify")
@run_option
@model_options
@click.option("--port", "ports", multiple=True,
              help="Serial device or pyserial URL (socket://, rfc2217://); repeat for a farm.")
@click.option("--emulate", is_flag=True, help="Start the built board here (QEMU or host).")
@click.option("--target", type=LOCAL_TARGET_CHOICE, default="mps2-an386", show_default=True,
              help="With --emulate: which board to start; with --icount: whose ticks.")
@click.option("--runtime", type=click.Choice(["native", "tflm"]), default="native",
              show_default=True, help="With --emulate: which build to start.")
@click.option("--icount", is_flag=True,
              help="The board runs in QEMU under -icount shift=0 (--emulate --icount, or "
                   "edgemb emulate --icount): report its ticks as instructions.")
@click.option("--samples", type=click.IntRange(1), default=100, show_default=True)
@click.option("--data", default=None,
              help="Verify on a folder's images instead of the test split (with --model: "
                   "DIR/<class>/* for accuracy, or a flat folder).")
@click.option("--inputs", "inputs_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="A .npy / .npz of input tensors (floats are quantized).")
@click.option("--random", "random_count", type=click.IntRange(1), default=None,
              help="N seeded random input tensors: bit-exactness without accuracy (the "
                   "default for --model without --data or --inputs, N = --samples).")
@click.option("--seed", type=int, default=0, show_default=True, help="For --random.")
@click.option("--pixels", type=click.Choice(["auto", "0..1", "-1..1", "0..255", "-128..127"]),
              default="auto", show_default=True,
              help="With --model --data: the real range pixels map to before the input's "
                   "quantization (auto: the range its int8 values can represent).")
@click.option("--baud", type=int, default=None,
              help="Default: the baud rate of the run's newest ESP32 build over UART0, "
                   "else 921600 (USB-Serial-JTAG and emulated ports ignore it).")
@click.option("--reset", is_flag=True, help="Reset the board through DTR/RTS on open.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: RUN/verify).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run.")
@click.option("--tolerance", type=click.IntRange(0), default=0, show_default=True,
              help="Largest int8 difference still counted as a match.")
@click.option("--bench", type=click.IntRange(0, 65535), default=10, show_default=True,
              help="On-board repeat count, to time compute apart from the link.")
@reports_errors
def verify_command(run_dir, model_path, labels_file, model_dir, ports, emulate, target, runtime,
                   icount, samples, data, inputs_file, random_count, seed, pixels, baud, reset,
                   report_dir, resume, tolerance, bench) -> None:
    """Compare a board's predictions with TFLite Micro on the host, and time them."""
    from pathlib import Path

    from edgemb.commands.verify import VerifyOptions, verify

    if not ports and not emulate:
        raise click.UsageError("give --port PORT (or --emulate to start a board here)")
    if sum(x is not None for x in (data, inputs_file, random_count)) > 1:
        raise click.UsageError("give one of --data, --inputs and --random")
    run = model_source(run_dir, model_path, labels_file, model_dir)
    baud = baud or verify_baud(run)
    options = VerifyOptions(list(ports), samples, data, baud, reset,
                            Path(report_dir) if report_dir else None, resume, tolerance, bench,
                            icount=icount, inputs=inputs_file, random=random_count, seed=seed,
                            pixels=pixels)
    if icount:
        from edgemb.targets.launch import instructions_per_tick

        options.instructions_per_tick = instructions_per_tick(target)
    board = None
    if emulate:
        from edgemb.commands.build import built_artifact
        from edgemb.targets.launch import start_board

        board = start_board(target, built_artifact(run, target, runtime), icount=icount,
                            prefer_tcp=True)
        options.ports.append(board.port)
        ui.info(f"started {target} on {board.port}")
    try:
        summary = run_verify(run, options, verify)
    finally:
        if board is not None:
            board.stop()
    if summary["samples"] or not summary["failures"]:
        ui.info(f"inputs: {summary['inputs']}")
        ui.info(verify_table(summary))  # with nothing verified, the error is all there is
    for failure in summary["failures"]:
        ui.console.print(f"[bold red]error:[/bold red] {failure}")
    for note in summary.get("notes", []):
        ui.console.print(f"[bold yellow]note:[/bold yellow] {note}")
    ui.info(f"report: {summary['html_report']}")
    sys.exit(summary["exit_code"])


def verify_baud(run) -> int:
    """The baud rate the run's newest ESP32 build set for UART0, else 921600."""
    from edgemb.targets.esp32 import DEFAULT_BAUD, newest_link

    link = newest_link(run.firmware_dir)
    if link is None or link[0] != "uart0" or not link[1] or link[1] == DEFAULT_BAUD:
        return DEFAULT_BAUD
    ui.info(f"baud rate {link[1]}, as {link[2]} was built (--baud to change)")
    return link[1]


def run_verify(run, options, verify):
    with ui.progress() as bar:
        task = bar.add_task("verifying", total=options.samples, status="")

        def on_progress(done, total):
            bar.update(task, completed=done, total=total)

        return verify(run, options, on_progress)


def verify_table(summary: dict):
    from edgemb.report.outcome import outcome_rows
    from edgemb.report.timing import timing_rows

    rows = [*map(list, outcome_rows(summary)), *map(list, timing_rows(summary))]
    versions = summary.get("runtime_versions") or {}
    if versions:
        rows.append(["reference on the host", versions["reference"]])
        rows += [[f"runtime on {port}", runtime] for port, runtime in versions["boards"].items()]
    link = summary["link"]
    rows.append(["link bytes/s (nominal)", f"{link['bytes_per_second']:,.0f} "
                                           f"({link['nominal_bytes_per_second']:,.0f})"])
    for board in summary["boards"]:
        for note in board["recoveries"]:
            rows.append(["recovered", note])
    return ui.table("Board against TFLite Micro", ["", "value"], rows)


@main.command()
@click.option("--run", "run_dir", default="edgemb-demo", show_default=True,
              type=click.Path(file_okay=False), help="The demo's run folder.")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Training images (default: the quick setting).")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Training epochs (default: the quick setting).")
@click.option("--samples", type=click.IntRange(1), default=200, show_default=True,
              help="Held-out images verified on the board.")
@reports_errors
def demo(run_dir, limit, epochs, samples) -> None:
    """Run the whole chain on the built-in defaults: train, quantize, build for the
    emulated Cortex-M4, boot it in QEMU and verify it against TFLite Micro."""
    from edgemb.commands import demo as demo_module

    run = RunFolder(run_dir)
    result = demo_module.demo(run, limit or demo_module.QUICK_LIMIT,
                              epochs or demo_module.QUICK_EPOCHS, samples)
    ui.info(quantize_table(result["quantize"]))
    ui.info(sizes_table(result["build"]))
    ui.info(verify_table(result["verify"]))
    rows = [[stage, f"{seconds:.1f} s"] for stage, seconds in result["seconds"].items()]
    rows.append(["total", f"{sum(result['seconds'].values()):.1f} s"])
    ui.info(ui.table("Stages", ["stage", "time"], rows))
    ui.info(f"HTML report: {result['verify']['html_report']}")
    sys.exit(result["verify"]["exit_code"])


if __name__ == "__main__":
    main()
