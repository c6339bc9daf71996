"""MobileNet V1 and V2 from keras.applications, trained from scratch."""

from __future__ import annotations

import keras

ARCHITECTURES = ("mobilenet_v1", "mobilenet_v2")

# Keras' default BatchNormalization momentum (0.99) makes the moving statistics lag
# far behind the weights in short runs: the model then predicts one class in
# inference mode (validation accuracy 0.52 while training accuracy was 0.99).
# 0.9 lets them catch up within a few hundred steps.
BATCH_NORM_MOMENTUM = 0.9


def build_model(arch: str, num_classes: int, alpha: float = 0.25, size: int = 96) -> keras.Model:
    """A randomly initialised MobileNet for (size, size, 3) inputs in [-1, 1)."""
    shape = (size, size, 3)
    if arch == "mobilenet_v1":
        model = keras.applications.MobileNet(
            input_shape=shape, alpha=alpha, weights=None, classes=num_classes)
    elif arch == "mobilenet_v2":
        model = keras.applications.MobileNetV2(
            input_shape=shape, alpha=alpha, weights=None, classes=num_classes)
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    return model
