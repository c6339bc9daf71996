"""`edgemb quantize`: full int8 conversion and its float / int8 / TFLite Micro evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from edgemb.data.pipeline import int8_input, normalize, pixels_numpy
from edgemb.data.split import load_run_data
from edgemb.errors import EdgembError
from edgemb.quiet import native_output_hidden
from edgemb.reference import TflmReference
from edgemb.run import RunFolder
from edgemb.tflite import read_tflite

INPUT_SCALE = 1 / 128  # int8 input = pixel - 128 (see edgemb.data.pipeline)


class QuantizeError(EdgembError):
    """The model cannot be converted, or converts into something the board cannot use."""


@dataclass
class QuantizeOptions:
    calibration_samples: int = 200
    eval_samples: int | None = None  # None: the whole test split
    seed: int = 0


def load_trained_model(run: RunFolder):
    import keras

    if not run.model_file.exists():
        raise QuantizeError(f"run folder {run.path} has no trained model ({run.model_file.name}); "
                            f"run `edgemb train --run {run.path}` first")
    return keras.models.load_model(run.model_file)


def calibration_pixels(images: np.ndarray, count: int, size: int, seed: int) -> np.ndarray:
    """`count` training images; one holding a black and one a white pixel are swapped in
    when the draw lacks them, so the calibrated input range is exactly [-1, 127/128]:
    scale 1/128 and zero point 0."""
    if count < 1 or len(images) == 0:
        raise QuantizeError("the calibration set is empty (--calibration-samples "
                            f"{count}, {len(images)} training images); use at least 1 sample")
    rng = np.random.default_rng(seed)
    chosen = list(rng.choice(len(images), size=min(count, len(images)), replace=False))
    pixels = pixels_numpy(images[chosen], size)
    for slot, extreme in enumerate((0, 255)):
        if not np.any(pixels == extreme):
            holder = _first_image_with(images, extreme, size)
            if holder is not None:
                pixels[slot % len(pixels)] = holder
    return pixels


def _first_image_with(images, value, size, batch=512):
    for start in range(0, len(images), batch):
        pixels = pixels_numpy(images[start:start + batch], size)
        hits = np.flatnonzero(np.any(pixels == value, axis=(1, 2, 3)))
        if len(hits):
            return pixels[hits[0]]
    return None


def with_batch_of_one(model):
    """The same model with a static batch of 1.

    With Keras' dynamic batch, MobileNet V1's final Reshape converts into
    SHAPE + STRIDED_SLICE + PACK + RESHAPE; a static shape leaves a plain RESHAPE.
    """
    import keras

    inputs = keras.Input(model.input_shape[1:], batch_size=1, name="input")
    return keras.Model(inputs, model(inputs), name=model.name)


def convert(model, calibration: np.ndarray) -> bytes:
    """Full int8: int8 kernels only, int8 input and output, static shapes."""
    floats = normalize(calibration).numpy()
    model = with_batch_of_one(model)

    def representative():
        for x in floats:
            yield [x[None, ...]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with native_output_hidden():  # the SavedModel export's and the converter's chatter
        return converter.convert()


def check_input_quantization(model_bytes: bytes, calibration: np.ndarray) -> None:
    tensor = read_tflite(model_bytes).input_tensors[0]
    scale, zero_point = tensor.quantization.scale, tensor.quantization.zero_point
    if np.float32(scale) != np.float32(INPUT_SCALE) or zero_point != 0:
        lacking = " or ".join(name for value, name in ((0, "black (0)"), (255, "white (255)"))
                              if not np.any(calibration == value))
        raise QuantizeError(
            f"the int8 input came out as scale {scale!r}, zero point {zero_point}, not 1/128 and "
            f"0: the calibration pixels span {calibration.min()}..{calibration.max()}, and only "
            "a set spanning 0..255 gives int8 = pixel - 128; no training image has a "
            f"{lacking or 'full-range'} pixel, so the board would need a rescaled input")


def builtin_ref_outputs(model_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    """tf.lite with the reference kernels (bit-exact with TFLite Micro, unlike XNNPACK)."""
    interpreter = tf.lite.Interpreter(
        model_content=model_bytes,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for x in inputs:
        interpreter.set_tensor(inp["index"], x[None, ...])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(outputs)


def evaluate(keras_model, model_bytes: bytes, pixels: np.ndarray, labels: np.ndarray,
             batch: int = 256, on_progress: Callable[[int], None] = lambda n: None) -> dict:
    """Float, BUILTIN_REF and TFLite Micro accuracies, and where the two int8 ones differ."""
    reference = TflmReference(model_bytes)
    float_pred, ref_out, tflm_out = [], [], []
    for start in range(0, len(pixels), batch):
        chunk = pixels[start:start + batch]
        float_pred.append(np.argmax(keras_model.predict(normalize(chunk), verbose=0), axis=1))
        int8 = int8_input(chunk)
        ref_out.append(builtin_ref_outputs(model_bytes, int8))
        tflm_out.append(reference.invoke_many(int8))
        on_progress(len(chunk))
    float_pred = np.concatenate(float_pred)
    ref_out, tflm_out = np.concatenate(ref_out), np.concatenate(tflm_out)
    accuracy = {
        "float": float(np.mean(float_pred == labels)),
        "int8_builtin_ref": float(np.mean(np.argmax(ref_out, axis=1) == labels)),
        "int8_tflm": float(np.mean(np.argmax(tflm_out, axis=1) == labels)),
    }
    return {
        "samples": int(len(labels)),
        "accuracy": accuracy,
        "accuracy_drop_points": 100 * (accuracy["float"] - accuracy["int8_tflm"]),
        "tflm_vs_builtin_ref_disagreeing_bytes": int(np.count_nonzero(ref_out != tflm_out)),
        "tflm_arena_bytes": reference.arena_size,
    }


def quantize(run: RunFolder, options: QuantizeOptions,
             on_progress: Callable[[str, int, int], None] = lambda *a: None) -> dict:
    settings = run.read_settings()
    keras_model = load_trained_model(run)
    data, split = load_run_data(run, settings)
    calibration = calibration_pixels(data.images[split.train], options.calibration_samples,
                                     settings.size, options.seed)
    model_bytes = convert(keras_model, calibration)
    check_input_quantization(model_bytes, calibration)
    run.tflite_file.write_bytes(model_bytes)

    test = split.test[:options.eval_samples] if options.eval_samples else split.test
    pixels = pixels_numpy(data.images[test], settings.size)
    done = [0]

    def progress(n):
        done[0] += n
        on_progress("evaluating", done[0], len(test))

    report = evaluate(keras_model, model_bytes, pixels, data.labels[test], on_progress=progress)
    report.update(model_bytes=len(model_bytes), calibration_samples=len(calibration),
                  tflite_file=run.tflite_file.name)
    run.quantize_report.write_text(json.dumps(report, indent=1) + "\n")
    return report
