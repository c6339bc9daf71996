"""Shared fixtures: small image folders, and the cheapest real run of the chain."""

from __future__ import annotations

import pytest
from imagefolders import SHAPES, write_pattern_folder


@pytest.fixture
def pattern_folder(tmp_path):
    return write_pattern_folder(tmp_path / "patterns")


@pytest.fixture(scope="session")
def quantized_run(tmp_path_factory):
    """A run trained for one epoch at 32x32 on datasets/shapes, then quantized: the
    cheapest real model the whole chain can work on."""
    from edgemb.commands.quantize import QuantizeOptions, quantize
    from edgemb.commands.train import TrainOptions, train
    from edgemb.run import RunFolder

    root = tmp_path_factory.mktemp("quantized")
    run = RunFolder(root / "run")
    train(TrainOptions(data=str(SHAPES), size=32, epochs=1, batch_size=16), run)
    quantize(run, QuantizeOptions(calibration_samples=16))
    return run
