"""Real boards for the link tests: the native runtime with a trained, quantized model,
described as a boards.BoardFirmware so the test double's tests run against it unchanged."""

from __future__ import annotations

from pathlib import Path

import boards
import numpy as np

from edgemb.export.exporter import export
from edgemb.reference import TflmReference
from edgemb.run import RunFolder
from edgemb.tflite import read_tflite

NATIVE_DIR = boards.REPO / "firmware" / "runtime" / "native"


def native_firmware(run: RunFolder, out_dir: Path) -> boards.BoardFirmware:
    exported = export(run.tflite_file, out_dir, run.read_settings().labels, "native")
    model_bytes = run.tflite_file.read_bytes()
    model = read_tflite(model_bytes)
    shape = model.input_tensors[0].shape[1:]
    reference = TflmReference(model_bytes)

    def expected_output(data: bytes) -> bytes:
        return reference.invoke(np.frombuffer(data, np.int8).reshape(shape)).tobytes()

    settings = exported.settings
    return boards.BoardFirmware(
        name="native",
        runner_srcs=(*sorted(NATIVE_DIR.glob("*.c")), out_dir / "model_native.c"),
        model_srcs=(out_dir / "model_settings.c",),
        expected_output=expected_output,
        fingerprint=bytes.fromhex(exported.fingerprint),
        input_bytes=settings["input_bytes"],
        output_bytes=settings["output_bytes"],
        runtime="native",
        op_codes=None,
        defines=(f"-DEM_APP_MAX_INPUT_BYTES={settings['input_bytes']}u",
                 f"-DEM_APP_MAX_OUTPUT_BYTES={settings['output_bytes']}u",
                 f"-DEM_APP_MAX_OPS={settings['op_count']}u"),
        includes=(NATIVE_DIR, out_dir),
    )
