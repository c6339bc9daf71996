"""From uint8 images to model inputs: the one definition every step shares.

Training, quantization and verification all go through `model_pixels`, so the
pixels the board receives are exactly those the model was trained on. Pixels are
rounded to uint8 after resizing: the model's input is x = (p - 128) / 128, the
converter then picks input scale 1/128 and zero point 0, and the int8 input is
exactly p - 128 with no rounding left to disagree about.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def model_pixels(images: tf.Tensor, size: int) -> tf.Tensor:
    """(…, H, W, C) uint8 to (…, size, size, 3) uint8: bilinear resize, grey to RGB."""
    images = tf.convert_to_tensor(images)
    if images.shape[-3] != size or images.shape[-2] != size:
        resized = tf.image.resize(tf.cast(images, tf.float32), (size, size), "bilinear")
        images = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    if images.shape[-1] == 1:
        images = tf.repeat(images, 3, axis=-1)
    return images


def normalize(pixels: tf.Tensor) -> tf.Tensor:
    """uint8 pixels to the float input the model trains on."""
    return (tf.cast(pixels, tf.float32) - 128.0) / 128.0


def pixels_numpy(images: np.ndarray, size: int, batch: int = 1024) -> np.ndarray:
    """model_pixels over a numpy array, in batches to bound memory."""
    out = [model_pixels(images[i:i + batch], size).numpy() for i in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def int8_input(pixels: np.ndarray) -> np.ndarray:
    """The int8 tensor a fully quantized model takes for uint8 pixels: p - 128."""
    return (pixels.astype(np.int16) - 128).astype(np.int8)


def augmenter(seed: int) -> tf.keras.Sequential:
    """Flips, small shifts and zooms: training split only."""
    layers = tf.keras.layers
    return tf.keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.05, 0.05, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom(0.05, fill_mode="nearest", seed=seed + 2),
    ], name="augment")


def make_dataset(images: np.ndarray, labels: np.ndarray, size: int, batch_size: int,
                 training: bool, seed: int = 0, augment: bool = True) -> tf.data.Dataset:
    """A cached, prefetched tf.data pipeline; shuffled when training, and
    augmented too unless `augment` is off."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.batch(1024).map(lambda x, y: (model_pixels(x, size), y), num_parallel_calls=AUTOTUNE)
    # unbatch loses the cardinality; Keras needs it to size epochs without warnings.
    ds = ds.unbatch().apply(tf.data.experimental.assert_cardinality(len(labels))).cache()
    if training:
        ds = ds.shuffle(min(len(labels), 20_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augment:
        transform = augmenter(seed)
        # One batch at a time: the random layers draw from one generator, and
        # parallel calls would draw in a different order on every run. Prefetch
        # still runs it alongside the training step, which takes far longer.
        ds = ds.map(lambda x, y: (transform(tf.cast(x, tf.float32), training=True), y))
    ds = ds.map(lambda x, y: (normalize(x), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
