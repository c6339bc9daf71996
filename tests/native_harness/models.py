"""Tiny and whole Keras models converted to full-int8 .tflite, cached on disk.

Used by tests/test_native_*.py and tools/bench_native.py. Building a model and
running the converter costs seconds, so every model is cached under
$EDGEMB_TEST_CACHE (default: <tmp>/edgemb-native-cache) keyed by its recipe and
the TensorFlow version.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    default = Path(tempfile.gettempdir()) / "edgemb-native-cache"
    d = Path(os.environ.get("EDGEMB_TEST_CACHE", default))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(recipe: dict) -> str:
    import tensorflow as tf

    blob = json.dumps({"recipe": recipe, "tf": tf.__version__, "v": 5}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def convert_int8(model, input_shape, seed: int = 0, samples: int = 16, low=-1.0, high=1.0,
                 structured: bool = False, io=("int8", "int8")) -> bytes:
    """Full int8 conversion with a random representative dataset (i.i.d. uniform noise,
    or smooth images in [-1, 1) as the design's (pixel - 128) / 128 convention gives)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def rep():
        if structured:
            from harness import structured_inputs

            for img in structured_inputs(input_shape, samples, seed):
                yield [(img[None].astype(np.float32) / 128.0)]
            return
        for _ in range(samples):
            yield [rng.uniform(low, high, size=(1, *input_shape)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # int8 edges by default; uint8 or float32 ones add QUANTIZE / DEQUANTIZE operators
    conv.inference_input_type = getattr(tf, io[0])
    conv.inference_output_type = getattr(tf, io[1])
    return conv.convert()


def _randomize_bn(model, seed: int) -> None:
    """Random BatchNormalization scales and offsets, with moving statistics measured on
    smooth random images (one training-mode pass with momentum 0), so a randomly
    initialised network keeps its input's variation down to the classifier."""
    import keras
    from harness import structured_inputs

    rng = np.random.default_rng(seed)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bns:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([
            rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
            rng.uniform(-0.5, 0.5, beta.shape).astype(np.float32), mean, var,
        ])
        layer.momentum = 0.0
    x = structured_inputs(tuple(model.input_shape[1:]), 32, seed + 100).astype(np.float32) / 128
    model(x, training=True)
    for layer in bns:
        layer.momentum = 0.9


def build_keras(recipe: dict):
    """A Keras model from a JSON-able recipe."""
    import keras

    kind = recipe.get("kind", "layers")
    seed = recipe.get("seed", 0)
    keras.utils.set_random_seed(seed)
    shape = tuple(recipe["input"])
    if kind == "mobilenet_v1":
        m = keras.applications.MobileNet(
            input_shape=shape, alpha=recipe.get("alpha", 0.25), weights=None,
            classes=recipe.get("classes", 2))
        _randomize_bn(m, seed)
        return m
    if kind == "mobilenet_v2":
        m = keras.applications.MobileNetV2(
            input_shape=shape, alpha=recipe.get("alpha", 0.35), weights=None,
            classes=recipe.get("classes", 2))
        _randomize_bn(m, seed)
        return m
    # batch 1: with a batch of None the converter writes a dilated convolution as
    # SPACE_TO_BATCH_ND, convolution, BATCH_TO_SPACE_ND instead of one dilated operator
    inp = keras.Input(shape=shape, batch_size=recipe.get("batch"))
    x = _stack(keras, recipe["layers"], inp)
    if "heads" in recipe:  # several outputs, each a stack of layers after the trunk
        return keras.Model(inp, [_stack(keras, head, x) for head in recipe["heads"]])
    return keras.Model(inp, x)


def _stack(keras, layers, x):
    for layer in layers:
        if layer["type"] == "add_branch":
            x = _add_branch(keras, layer, x)
        elif layer["type"] == "concat_branch":  # x beside a 1x1 convolution of x
            y = keras.layers.Conv2D(layer.get("filters", 2), 1, padding="same")(x)
            x = keras.layers.Concatenate()([x, y])
        else:
            x = _layer(keras, layer)(x)
    return x


def _add_branch(keras, spec, x):
    y = keras.layers.Conv2D(x.shape[-1], 1, padding="same")(x)
    if spec.get("op", "add") == "mul":
        return keras.layers.Multiply()([x, y])
    return keras.layers.Add()([x, y])


_BIAS_INIT = {"class_name": "RandomUniform", "config": {"minval": -0.3, "maxval": 0.3}}


def _layer(keras, spec):
    t = spec["type"]
    act = spec.get("activation")
    if t == "conv":
        return keras.layers.Conv2D(
            spec["filters"], spec["kernel"], strides=spec.get("strides", 1),
            padding=spec.get("padding", "same"), activation=act,
            dilation_rate=spec.get("dilation", 1),
            use_bias=spec.get("bias", True), bias_initializer=_BIAS_INIT)
    if t == "dwconv":
        return keras.layers.DepthwiseConv2D(
            spec["kernel"], strides=spec.get("strides", 1), padding=spec.get("padding", "same"),
            depth_multiplier=spec.get("depth_multiplier", 1), activation=act,
            dilation_rate=spec.get("dilation", 1),
            use_bias=spec.get("bias", True), bias_initializer=_BIAS_INIT)
    if t == "dense":
        return keras.layers.Dense(spec["units"], activation=act, use_bias=spec.get("bias", True),
                                  bias_initializer=_BIAS_INIT)
    if t == "avgpool":
        return keras.layers.AveragePooling2D(
            spec["pool"], strides=spec.get("strides"), padding=spec.get("padding", "valid"))
    if t == "maxpool":
        return keras.layers.MaxPooling2D(
            spec["pool"], strides=spec.get("strides"), padding=spec.get("padding", "valid"))
    if t == "gap":
        return keras.layers.GlobalAveragePooling2D(keepdims=spec.get("keepdims", False))
    if t == "flatten":
        return keras.layers.Flatten()
    if t == "reshape":
        return keras.layers.Reshape(tuple(spec["shape"]))
    if t == "softmax":
        return keras.layers.Softmax()
    if t == "sigmoid":
        return keras.layers.Activation("sigmoid")
    if t == "activation":
        return keras.layers.Activation(spec["name"])
    if t == "relu":
        return keras.layers.ReLU(max_value=spec.get("max_value"))
    if t == "pad":
        return keras.layers.ZeroPadding2D(tuple(tuple(p) for p in spec["pad"]))
    if t == "bn":
        return keras.layers.BatchNormalization()
    raise ValueError(f"unknown layer type {t}")


def tflite_model(recipe: dict) -> bytes:
    """The int8 .tflite bytes of a recipe, built once and cached."""
    path = cache_dir() / f"{recipe.get('kind', 'layers')}-{_key(recipe)}.tflite"
    if path.exists():
        return path.read_bytes()
    shape = tuple(recipe["input"])
    model = build_keras(recipe)
    low, high = recipe.get("range", (-1.0, 1.0))
    data = convert_int8(model, shape, seed=recipe.get("seed", 0), low=low, high=high,
                        structured=recipe.get("rep") == "structured",
                        samples=recipe.get("samples", 16), io=tuple(recipe.get("io", ("int8",) * 2)))
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


V1_RECIPE = {"kind": "mobilenet_v1", "input": [96, 96, 3], "alpha": 0.25, "classes": 10,
             "seed": 1, "rep": "structured", "samples": 32}
V1_GREY_RECIPE = {"kind": "mobilenet_v1", "input": [96, 96, 1], "alpha": 0.25, "classes": 2,
                  "seed": 2, "rep": "structured", "samples": 32}
V2_RECIPE = {"kind": "mobilenet_v2", "input": [96, 96, 3], "alpha": 0.35, "classes": 2, "seed": 3,
             "rep": "structured", "samples": 32}


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:]:
        r = {"v1": V1_RECIPE, "v2": V2_RECIPE, "grey": V1_GREY_RECIPE}[name]
        print(name, len(tflite_model(r)))
