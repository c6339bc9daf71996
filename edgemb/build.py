"""`edgemb build`: export the run's model and build firmware for a target."""

from __future__ import annotations

from edgemb.export.exporter import export
from edgemb.run import RunFolder
from edgemb.targets import BuildResult, get_target


def project_dir(run: RunFolder, target: str, runtime: str):
    return run.firmware_dir / f"{target}-{runtime}"


def build(run: RunFolder, target_name: str, runtime: str) -> BuildResult:
    target = get_target(target_name)
    target.check_runtime(runtime)
    model = run.require(run.tflite_file, "edgemb quantize")
    exported = export(model, run.export_dir / runtime, run.read_settings().labels, runtime)
    return target.build(project_dir(run, target_name, runtime), exported)
