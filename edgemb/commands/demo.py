"""`edgemb demo`: the whole chain on the built-in defaults, each stage timed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgemb import ui
from edgemb.errors import EdgembError
from edgemb.run import RunFolder

# A quick training that still generalises, measured on a 2-core machine: 12,000
# images, 4 epochs in 4 min 41 s, 87.3 % on the test split (seed 0; training is
# deterministic, so that is what the demo gets). TensorFlow keeps one core busy
# with this network, so the budget is about 48,000 image passes; small batches
# and a high rate make the most of them, and augmentation only slows learning
# down this early. 3 epochs reach 84.2 %, 10,000 images x 4 epochs 84.2 %.
QUICK_LIMIT = 12_000
QUICK_EPOCHS = 4
QUICK_BATCH_SIZE = 32
QUICK_LEARNING_RATE = 5e-3
VERIFY_SAMPLES = 200
TARGET = "mps2-an386"
RUNTIME = "native"


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


def demo(run: RunFolder, limit: int = QUICK_LIMIT, epochs: int = QUICK_EPOCHS,
         samples: int = VERIFY_SAMPLES) -> dict:
    """Train, quantize, build for the emulated Cortex-M4, boot it and verify it."""
    from edgemb.commands.build import build
    from edgemb.commands.quantize import QuantizeOptions, quantize
    from edgemb.commands.train import TrainOptions, train
    from edgemb.commands.verify import VerifyOptions, verify
    from edgemb.targets.launch import start_board

    stages = StageTimes()
    metrics = stages.run("train", lambda: train(
        TrainOptions(limit=limit, epochs=epochs, batch_size=QUICK_BATCH_SIZE,
                     learning_rate=QUICK_LEARNING_RATE, augment=False), run))
    report = stages.run("quantize", lambda: quantize(
        run, QuantizeOptions(eval_samples=samples)))
    built = stages.run("build", lambda: build(run, TARGET, RUNTIME))

    def boot_and_verify():
        with start_board(TARGET, built.artifact, icount=True, prefer_tcp=True) as board, \
                ui.progress() as bar:
            bar.console.print(f"QEMU {TARGET} serves {board.port} (-icount shift=0)")
            task = bar.add_task("verifying on the board", total=samples, status="")
            return verify(run, VerifyOptions([board.port], samples=samples, icount=True),
                          lambda done, total: bar.update(task, completed=done, total=total))

    summary = stages.run("emulate and verify", boot_and_verify)
    return {"train": metrics, "quantize": report, "build": built, "verify": summary,
            "seconds": stages.seconds}
