"""What a model costs: parameters, multiply-accumulates, and its expected int8 size."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass
class ModelStats:
    parameters: int
    macs: int
    expected_int8_bytes: int


def layer_macs(layer) -> int:
    """Multiply-accumulates of one layer, from its weights and output shape."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel.shape[:2]
        _, oh, ow, oc = layer.output.shape
        return int(oh * ow * oc * kh * kw)
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, ic, oc = layer.kernel.shape
        _, oh, ow, _ = layer.output.shape
        return int(oh * ow * oc * kh * kw * ic)
    if isinstance(layer, keras.layers.Dense):
        ic, oc = layer.kernel.shape
        return int(ic * oc)
    return 0


def expected_int8_bytes(model: keras.Model) -> int:
    """An estimate of the fully quantized .tflite size.

    Weights take one byte each; every output channel of a convolution or dense layer
    also carries an int32 bias, and both weights and bias carry a float32 scale and
    an int64 zero point per channel in the flatbuffer (4 + 2 * 12 bytes).
    BatchNormalization folds away. Names, shapes and the graph take a few hundred
    bytes per layer.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            channels = layer.kernel.shape[2] * layer.kernel.shape[3]
            total += int(np.prod(layer.kernel.shape)) + 28 * channels
        elif isinstance(layer, keras.layers.Conv2D | keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape)) + 28 * layer.kernel.shape[-1]
        if not isinstance(layer, keras.layers.BatchNormalization):
            total += 450
    return total


def model_stats(model: keras.Model) -> ModelStats:
    return ModelStats(
        parameters=int(model.count_params()),
        macs=sum(layer_macs(layer) for layer in model.layers),
        expected_int8_bytes=expected_int8_bytes(model),
    )


def keras_separable_blocks(model: keras.Model):
    """The depthwise separable blocks of a Keras model, read from its float TFLite
    conversion (batch normalization folded, as the board will run it)."""
    import tensorflow as tf

    from edgemb.quiet import native_output_hidden
    from edgemb.tflite import read_tflite
    from edgemb.tflite.separable import separable_blocks

    with native_output_hidden():
        data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return separable_blocks(read_tflite(data))
