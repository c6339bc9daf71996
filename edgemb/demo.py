"""`edgemb demo`: the whole chain on the built-in defaults, each stage timed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgemb import ui
from edgemb.errors import EdgembError
from edgemb.run import RunFolder

# A quick training that still generalises: the trade-off measured on a 2-core machine.
QUICK_LIMIT = 12_000
QUICK_EPOCHS = 5
VERIFY_SAMPLES = 200


class StageFailed(EdgembError):
    """A demo stage failed; the message names the stage."""


@dataclass
class StageTimes:
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, action: Callable[[], object]):
        ui.console.rule(f"[bold]{name}")
        started = time.monotonic()
        try:
            return action()
        except EdgembError as exc:
            raise StageFailed(f"stage '{name}' failed: {exc}") from exc
        finally:
            self.seconds[name] = time.monotonic() - started


def demo(run: RunFolder, limit: int = QUICK_LIMIT, epochs: int = QUICK_EPOCHS) -> dict:
    from edgemb.export.exporter import export
    from edgemb.quantize import QuantizeOptions, quantize
    from edgemb.train import TrainOptions, train

    stages = StageTimes()
    metrics = stages.run("train", lambda: train(
        TrainOptions(limit=limit, epochs=epochs), run))
    report = stages.run("quantize", lambda: quantize(
        run, QuantizeOptions(eval_samples=VERIFY_SAMPLES)))
    exported = stages.run("export", lambda: export(
        run.tflite_file, run.export_dir / "native", run.read_settings().labels, "native"))
    return {"train": metrics, "quantize": report, "export": exported,
            "seconds": stages.seconds}
