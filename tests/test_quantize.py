"""`edgemb quantize`: full int8, input = pixel - 128, TFLite Micro agrees with BUILTIN_REF."""

import json

import numpy as np
import pytest
from imagefolders import write_pattern_folder

from edgemb.commands.quantize import QuantizeError, QuantizeOptions, calibration_pixels, quantize
from edgemb.commands.train import TrainOptions, train
from edgemb.run import RunFolder, RunSettings
from edgemb.tflite import read_tflite

pytestmark = pytest.mark.slow


def test_quantized_model_is_full_int8_with_the_pixel_minus_128_input(quantized_run):
    model = read_tflite(quantized_run.tflite_file.read_bytes())
    tensor_in, tensor_out = model.input_tensors[0], model.output_tensors[0]
    assert (tensor_in.dtype, tensor_out.dtype) == ("int8", "int8")
    assert tensor_in.quantization.scale == np.float32(1 / 128)
    assert tensor_in.quantization.zero_point == 0
    assert tensor_in.shape == (1, 32, 32, 3)
    # At 32x32 the last feature map is 1x1: the average pool becomes a RESHAPE.
    assert {op.name for op in model.operators} == {
        "CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "SOFTMAX"}


def test_tflite_micro_agrees_with_builtin_ref_byte_for_byte(quantized_run):
    report = json.loads(quantized_run.quantize_report.read_text())
    assert report["samples"] == 4
    assert report["tflm_vs_builtin_ref_disagreeing_bytes"] == 0
    assert report["model_bytes"] == quantized_run.tflite_file.stat().st_size
    assert report["calibration_samples"] == 16
    assert set(report["accuracy"]) == {"float", "int8_builtin_ref", "int8_tflm"}


def test_calibration_swaps_in_the_extreme_pixels():
    images = np.full((10, 4, 4, 1), 100, np.uint8)
    images[7, 0, 0] = 0
    images[3, 1, 1] = 255
    pixels = calibration_pixels(images, 2, 4, seed=0)
    assert pixels.min() == 0 and pixels.max() == 255


def test_empty_calibration_set_is_refused():
    with pytest.raises(QuantizeError, match=r"the calibration set is empty \(--calibration-"
                                            r"samples 0, 10 training images\)"):
        calibration_pixels(np.zeros((10, 4, 4, 1), np.uint8), 0, 4, seed=0)


def test_run_without_a_trained_model_is_refused(tmp_path):
    run = RunFolder(tmp_path)
    run.write_settings(RunSettings("fashion-mnist", "mobilenet_v1", 0.25, 96, ["a", "b"]))
    with pytest.raises(QuantizeError, match=f"run folder {tmp_path} has no trained model "
                                            r"\(model.keras\); run `edgemb train --run"):
        quantize(run, QuantizeOptions())


def test_images_without_white_say_why_the_input_scale_is_off(tmp_path):
    data = write_pattern_folder(tmp_path / "dim", per_class=8, brightest=200)
    run = RunFolder(tmp_path / "run")
    train(TrainOptions(data=str(data), size=32, epochs=1, batch_size=16), run)
    with pytest.raises(QuantizeError) as err:
        quantize(run, QuantizeOptions(calibration_samples=8))
    message = str(err.value)
    assert "not 1/128 and 0: the calibration pixels span 0..200" in message
    assert "no training image has a white (255) pixel" in message
