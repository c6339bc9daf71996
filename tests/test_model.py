"""MobileNet builders, statistics and the shared preprocessing."""

import keras
import numpy as np
import pytest

from edgemb.data.pipeline import int8_input, model_pixels, normalize
from edgemb.model.builders import BATCH_NORM_MOMENTUM, build_model
from edgemb.model.stats import model_stats


def test_v1_quarter_width_96_two_classes_matches_the_reference_model():
    stats = model_stats(build_model("mobilenet_v1", 2))
    assert stats.parameters == 219_058
    assert stats.macs == 7_489_664  # the MLPerf Tiny VWW int8 model's MAC count


def test_batch_norm_momentum_is_lowered_for_short_runs():
    model = build_model("mobilenet_v2", 3, alpha=0.35, size=64)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.momentum == BATCH_NORM_MOMENTUM for layer in norms)
    assert model.output_shape == (None, 3)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        build_model("resnet", 2)


def test_model_pixels_resizes_grey_to_rgb_uint8():
    grey = np.full((2, 28, 28, 1), 200, np.uint8)
    out = model_pixels(grey, 96).numpy()
    assert out.shape == (2, 96, 96, 3) and out.dtype == np.uint8
    assert np.all(out == 200)


def test_int8_input_is_pixel_minus_128_and_matches_the_float_input():
    pixels = np.arange(256, dtype=np.uint8)
    assert int8_input(pixels).tolist() == list(range(-128, 128))
    assert np.array_equal(normalize(pixels).numpy() * 128, int8_input(pixels).astype(np.float32))
