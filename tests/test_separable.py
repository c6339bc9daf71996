"""The cost table of depthwise separable blocks: figures computed by hand for one V1 and
one V2 block, and parameter counts against Keras' own layers."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from edgemb.tflite import read_tflite
from edgemb.tflite.separable import separable_blocks

pytestmark = pytest.mark.slow


def converted(model) -> bytes:
    # A float conversion is enough: the converter folds batch normalization either way.
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def v1():
    model = keras.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None,
                                         classes=4)
    return model, separable_blocks(read_tflite(converted(model)))


@pytest.fixture(scope="module")
def v2():
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None,
                                           classes=4)
    return model, separable_blocks(read_tflite(converted(model)))


def test_v1_first_block_by_hand(v1):
    _, blocks = v1
    assert len(blocks) == 13 and {b.kind for b in blocks} == {"separable"}
    b = blocks[0]  # conv_dw_1 / conv_pw_1: 8 -> 16 channels over 48 x 48
    assert (b.kernel, b.in_channels, b.out_channels, b.out_size) == (3, 8, 16, (48, 48))
    assert b.depthwise_macs == 3 * 3 * 8 * 48 * 48 == 165_888
    assert b.pointwise_macs == 8 * 16 * 48 * 48 == 294_912
    assert b.standard_macs == 3 * 3 * 8 * 16 * 48 * 48 == 2_654_208
    assert b.ratio == pytest.approx(1 / 16 + 1 / 9) and b.closed_form == 1 / 16 + 1 / 9
    last = blocks[-1]  # conv_dw_13 / conv_pw_13: 256 -> 256 over 3 x 3
    assert (last.in_channels, last.out_channels, last.out_size) == (256, 256, (3, 3))
    assert last.standard_macs == 9 * 256 * 256 * 9


def test_v2_expanded_block_by_hand(v2):
    _, blocks = v2
    assert len(blocks) == 17
    assert [b.kind for b in blocks[:2]] == ["separable", "inverted residual"]
    b = blocks[1]  # block_1: expand 8 -> 48 at 48 x 48, depthwise stride 2, project to 8
    assert (b.in_channels, b.out_channels, b.out_size) == (8, 8, (24, 24))
    assert b.expand_macs == 8 * 48 * 48 * 48 == 884_736
    assert b.depthwise_macs == 3 * 3 * 48 * 24 * 24 == 248_832
    assert b.pointwise_macs == 48 * 8 * 24 * 24 == 221_184
    assert b.standard_macs == 3 * 3 * 8 * 8 * 24 * 24 == 331_776
    assert b.closed_form is None and b.ratio == pytest.approx(1_354_752 / 331_776)


def test_parameters_match_keras_layers(v1, v2):
    """Keras' convolutions have no bias under batch normalization; the converter folds
    the normalization into one bias per output channel."""
    def keras_params(model, name):
        layer = model.get_layer(name)
        return layer.count_params() + layer.output.shape[-1]

    model, blocks = v1
    for i, b in enumerate(blocks, start=1):
        assert b.depthwise_params == keras_params(model, f"conv_dw_{i}")
        assert b.pointwise_params == keras_params(model, f"conv_pw_{i}")
    model, blocks = v2
    assert blocks[0].pointwise_params == keras_params(model, "expanded_conv_project")
    for i, b in enumerate(blocks[1:], start=1):
        assert b.expand_params == keras_params(model, f"block_{i}_expand")
        assert b.depthwise_params == keras_params(model, f"block_{i}_depthwise")
        assert b.pointwise_params == keras_params(model, f"block_{i}_project")


def test_inspect_prints_the_table_with_totals(v1, tmp_path):
    from click.testing import CliRunner

    from edgemb.cli import main

    model, blocks = v1
    path = tmp_path / "v1.tflite"
    path.write_bytes(converted(model))
    result = CliRunner(env={"COLUMNS": "220"}).invoke(main, ["inspect", str(path),
                                                             "--no-tensors"])
    assert result.exit_code == 0, result.output
    assert "Depthwise separable blocks" in result.output
    rows = [line for line in result.output.splitlines() if "separable" in line]
    first = " ".join(rows[1].replace("│", " ").split())  # rows[0] is the title
    assert first == ("1 separable 3x3 8→16 48x48 165,888 294,912 2,654,208 0.1736 0.1736 "
                     f"{blocks[0].params:,} / {blocks[0].standard_params:,}")
    total = sum(b.macs for b in blocks) / sum(b.standard_macs for b in blocks)
    assert any(line.replace("│", " ").split()[:3] == ["all", "13", "blocks"] and
               f"{total:.4f}" in line for line in result.output.splitlines())
