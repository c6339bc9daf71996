"""`edgemb build`: export the model of a run folder, or of a model folder (--model), and
build firmware for a target."""

from __future__ import annotations

from pathlib import Path

from edgemb.export.exporter import export
from edgemb.model_folder import ModelFolder
from edgemb.run import RunFolder
from edgemb.targets import BuildResult, TargetError, get_target
from edgemb.targets.esp32 import Esp32Target


def project_dir(run: RunFolder | ModelFolder, target: str, runtime: str):
    return run.firmware_dir / f"{target}-{runtime}"


def built_artifact(run: RunFolder | ModelFolder, target: str, runtime: str) -> Path:
    """Where `edgemb build` puts the program or image it builds for a target."""
    return project_dir(run, target, runtime) / "build" / get_target(target).artifact_name


def build(run: RunFolder | ModelFolder, target_name: str, runtime: str, tflm_dir: str | Path | None = None,
          tflm_third_party: str | Path | None = None, serial: str | None = None,
          baud: int | None = None) -> BuildResult:
    """tflm_dir, tflm_third_party: for runtime tflm on targets that compile TFLite Micro
    from a source tree (host, mps2-an386); see edgemb.targets.tflm.find_tree.
    serial, baud: an ESP32 board's protocol channel (uart0, usb-serial-jtag) and
    UART0's baud rate; None keeps what the project recorded."""
    target = get_target(target_name)
    target.check_runtime(runtime)
    if serial is not None or baud is not None:
        if not isinstance(target, Esp32Target):
            raise TargetError(f"--serial and --baud choose an ESP32 board's serial channel; "
                              f"the {target_name} target has one fixed serial port")
        target.serial, target.baud = serial, baud
    model = run.require(run.tflite_file, "edgemb quantize")
    exported = export(model, run.export_dir / runtime, run.labels(), runtime)
    if runtime == "tflm" and getattr(target, "tflm_toolchain", None) is not None:
        return target.build(project_dir(run, target_name, runtime), exported,
                            tflm_dir=tflm_dir, tflm_third_party=tflm_third_party)
    return target.build(project_dir(run, target_name, runtime), exported)
