"""Models edgemb did not train, through `edgemb build --model`, `edgemb verify --model
--emulate` on the host program and on the emulated Cortex-M4: every output byte equal
to TFLite Micro's, for each kind of model a user brings. And the refusals: each bad
input gets its own message, and nothing is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgemb.cli import main
from edgemb.tflite import read_tflite

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import harness  # noqa: E402
import models  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not harness.have_cc(), reason="needs a C compiler (cc)")]

CONV = {"type": "conv", "filters": 4, "kernel": 3, "strides": 2, "activation": "relu"}
CLASSIFIER = [{"type": "gap"}, {"type": "dense", "units": 3}, {"type": "softmax"}]

# Each kind of model a user brings, built small; named for the test ids.
KINDS = {
    "grey_96x96x1": {"input": [96, 96, 1], "seed": 1, "layers": [
        {"type": "conv", "filters": 4, "kernel": 3, "strides": 4, "activation": "relu"},
        {"type": "dwconv", "kernel": 3, "strides": 2, "activation": "relu6"},
        {"type": "gap"}, {"type": "dense", "units": 2}, {"type": "softmax"}]},
    "uint8_edges": {"input": [12, 12, 3], "seed": 2, "io": ["uint8", "uint8"],
                    "layers": [CONV, *CLASSIFIER]},
    "float_edges": {"input": [12, 12, 3], "seed": 3, "io": ["float32", "float32"],
                    "layers": [CONV, *CLASSIFIER]},
    "fully_connected_only": {"input": [20], "seed": 4, "layers": [
        {"type": "dense", "units": 16, "activation": "relu"}, {"type": "dense", "units": 5},
        {"type": "softmax"}]},
    "audio_49x10x1": {"input": [49, 10, 1], "seed": 5, "layers": [
        {"type": "conv", "filters": 8, "kernel": [10, 4], "strides": 2, "activation": "relu"},
        {"type": "dwconv", "kernel": 3, "activation": "relu"},
        {"type": "conv", "filters": 8, "kernel": 1, "activation": "relu"},
        {"type": "avgpool", "pool": [25, 5]}, {"type": "reshape", "shape": [8]},
        {"type": "dense", "units": 4}, {"type": "softmax"}]},
    "autoencoder": {"input": [8, 8, 2], "seed": 6, "layers": [
        {"type": "conv", "filters": 6, "kernel": 3, "activation": "relu"},
        {"type": "concat_branch", "filters": 2},
        {"type": "conv", "filters": 2, "kernel": 3}, {"type": "sigmoid"}]},
    "dilated": {"input": [12, 12, 2], "batch": 1, "seed": 9, "layers": [
        {"type": "conv", "filters": 4, "kernel": 3, "dilation": 2, "activation": "relu"},
        {"type": "dwconv", "kernel": 3, "dilation": 2}, *CLASSIFIER]},
    "two_outputs": {"input": [10, 10, 2], "seed": 7, "layers": [CONV],
                    "heads": [CLASSIFIER, [{"type": "conv", "filters": 2, "kernel": 1}]]},
}


class Ran:
    """A command's exit code, and its output with the terminal's line wrapping undone."""

    def __init__(self, result):
        self.exit_code = result.exit_code
        self.output = " ".join(result.output.split())


def run_cli(*args: str) -> Ran:
    return Ran(CliRunner().invoke(main, list(args), catch_exceptions=False))


@pytest.fixture(scope="module", params=sorted(KINDS))
def kind(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    path = folder / f"{request.param}.tflite"
    path.write_bytes(models.tflite_model(KINDS[request.param]))
    return request.param, path, folder


def verified(model: Path, out: Path, target: str, samples: int, *extra: str) -> dict:
    built = run_cli("build", "--model", str(model), "--out", str(out), "--target", target)
    assert built.exit_code == 0, built.output
    result = run_cli("verify", "--model", str(model), "--out", str(out), "--emulate",
                     "--target", target, "--samples", str(samples), "--bench", "0",
                     "--report", str(out / f"verify-{target}"), *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / f"verify-{target}" / "verify.json").read_text())


def test_host_and_qemu_give_tflite_micro_bytes(kind):
    name, model, folder = kind
    host = verified(model, folder / "work", "host", 24)
    assert (host["samples"], host["exact_matches"], host["mismatches"]) == (24, 24, 0)
    assert host["max_abs_diff"] == 0 and host["rmse"] == 0.0
    assert "board_accuracy" not in host  # random inputs: nothing to be accurate about
    assert host["inputs"] == "24 random {} tensors, {}, seed 0".format(
        *{"uint8_edges": ("uint8", "uniform over 0..255"),
          "float_edges": ("float32", "uniform over [{:.6g}, {:.6g})".format(
              *_float_input_range(model)))}.get(name, ("int8", "uniform over -128..127")))
    expected_kind = "tensor" if name in ("autoencoder", "two_outputs") else "classes"
    assert host["output_kind"] == expected_kind
    assert ("argmax_agreement" in host) == (expected_kind == "classes")
    m = read_tflite(model.read_bytes())
    record = json.loads((folder / "work" / "verify-host" / "samples.jsonl")
                        .read_text().splitlines()[0])  # several outputs: back to back
    assert len(bytes.fromhex(record["output"])) == sum(t.nbytes for t in m.output_tensors)
    if harness.have_qemu():
        arm = verified(model, folder / "work", "mps2-an386", 6)
        assert (arm["samples"], arm["exact_matches"]) == (6, 6)


def _float_input_range(model: Path):
    from edgemb.tflite.io import model_io

    return model_io(read_tflite(model.read_bytes())).input.real_range


@pytest.fixture(scope="module")
def grey_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grey")
    path = folder / "grey.tflite"
    path.write_bytes(models.tflite_model(KINDS["grey_96x96x1"]))
    labels = folder / "labels.txt"
    labels.write_text("circle\nsquare\n")
    built = run_cli("build", "--model", str(path), "--labels", str(labels), "--out",
                    str(folder / "work"), "--target", "host")
    assert built.exit_code == 0, built.output
    return path, folder


def verify_grey(grey_model, *args: str):
    path, folder = grey_model
    return run_cli("verify", "--model", str(path), "--out", str(folder / "work"), "--emulate",
                   "--target", "host", "--bench", "0", *args)


def test_image_folder_gives_accuracy(grey_model):
    path, folder = grey_model
    shapes = Path(__file__).parent.parent / "datasets" / "shapes"
    result = verify_grey(grey_model, "--data", str(shapes), "--samples", "48")
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "work" / "verify" / "verify.json").read_text())
    assert summary["labels"] == ["circle", "square"]  # kept from the build's --labels
    assert summary["exact_matches"] == 48
    assert summary["board_accuracy"] == summary["reference_accuracy"]
    assert summary["inputs"].startswith(f"{shapes}: 48 images resized bilinearly to 96x96, "
                                        "grey, pixels 0..255 mapped to ")


def test_tensor_file_inputs_quantize_floats(grey_model, tmp_path):
    m = read_tflite(grey_model[0].read_bytes())
    q = m.input_tensors[0].quantization
    floats = np.random.default_rng(3).uniform(-0.5, 0.5, (5, 96, 96, 1)).astype(np.float32)
    np.savez(tmp_path / "x.npz", inputs=floats, labels=np.array([0, 1, 0, 1, 1]))
    result = verify_grey(grey_model, "--inputs", str(tmp_path / "x.npz"),
                         "--report", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "verify.json").read_text())
    assert summary["exact_matches"] == 5 and "board_accuracy" in summary
    assert summary["inputs"] == (f"{tmp_path / 'x.npz'}: 5 float tensors quantized with the "
                                 f"input's scale {q.scale:.6g} and zero point {q.zero_point}")
    sent = [json.loads(line) for line in (tmp_path / "r" / "samples.jsonl").open()]
    assert [s["label"] for s in sent] == [0, 1, 0, 1, 1]


def test_wrong_shape_of_inputs_is_named(grey_model, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((3, 32, 32, 1), np.int8))
    result = verify_grey(grey_model, "--inputs", str(tmp_path / "bad.npy"))
    assert result.exit_code == 1
    assert (f"--inputs {tmp_path / 'bad.npy'} holds an array of shape (3, 32, 32, 1); the "
            "model takes (N, 96, 96, 1) (96x96x1 int8 (scale") in result.output


def test_labels_that_do_not_fit_are_refused(grey_model, tmp_path):
    path, _ = grey_model
    labels = tmp_path / "three.txt"
    labels.write_text("a\nb\nc\n")
    result = run_cli("build", "--model", str(path), "--labels", str(labels),
                     "--out", str(tmp_path / "work"), "--target", "host")
    assert result.exit_code == 1
    assert (f"{labels} names 3 classes, the model's first output has 2 values; give one "
            "label per output value") in result.output
    assert not (tmp_path / "work").exists()


def test_image_folder_for_a_model_that_takes_no_images(tmp_path):
    path = tmp_path / "fc.tflite"
    path.write_bytes(models.tflite_model(KINDS["fully_connected_only"]))
    assert run_cli("build", "--model", str(path), "--out", str(tmp_path / "w"),
                   "--target", "host").exit_code == 0
    shapes = Path(__file__).parent.parent / "datasets" / "shapes"
    result = run_cli("verify", "--model", str(path), "--out", str(tmp_path / "w"), "--emulate",
                     "--target", "host", "--data", str(shapes))
    assert result.exit_code == 1
    assert (f"--data {shapes}: the model's input is 20 int8 (scale") in result.output
    assert "not an image (height x width x 1 or 3 channels); give its inputs with --inputs " \
           "FILE.npy or --random N" in result.output
    assert not (tmp_path / "w" / "verify").exists()


def test_float_model_is_refused_before_anything_is_written(tmp_path):
    import keras
    import tensorflow as tf

    inputs = keras.Input((8,), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    result = run_cli("build", "--model", str(path), "--out", str(tmp_path / "w"),
                     "--target", "host")
    assert result.exit_code == 1
    assert (f"{path}: operator FULLY_CONNECTED (#0) computes in float32") in result.output
    assert "this is a float model" in result.output
    assert not (tmp_path / "w").exists()


def test_unsupported_operator_is_named_before_anything_is_written(tmp_path):
    recipe = {"input": [6, 6, 2], "seed": 8,
              "layers": [CONV, {"type": "activation", "name": "hard_swish"}]}
    path = tmp_path / "hard_swish.tflite"
    path.write_bytes(models.tflite_model(recipe))
    result = run_cli("build", "--model", str(path), "--out", str(tmp_path / "w"),
                     "--target", "host")
    assert result.exit_code == 1
    assert (f"{path}: the native runtime does not support operator(s) HARD_SWISH; use "
            "--runtime tflm") in result.output
    assert not (tmp_path / "w").exists()


def test_resume_refuses_other_inputs(grey_model, tmp_path):
    report = str(tmp_path / "r")
    first = verify_grey(grey_model, "--random", "3", "--report", report)
    assert first.exit_code == 0, first.output
    again = verify_grey(grey_model, "--random", "3", "--seed", "1", "--resume", "--report", report)
    assert again.exit_code == 2
    assert (f"{tmp_path / 'r' / 'samples.jsonl'} holds results for other inputs (another "
            "--data, --inputs, --random or --seed)") in again.output
    same = verify_grey(grey_model, "--random", "3", "--resume", "--report", report)
    assert same.exit_code == 0, same.output


@pytest.mark.parametrize("arrays, message", [
    ({"inputs": np.zeros((0, 96, 96, 1), np.int8)}, "holds no tensors"),
    ({"inputs": np.zeros((2, 96, 96, 1), np.int8), "labels": np.zeros((2, 2), np.int64)},
     "`labels` is int64 of shape (2, 2); give one integer class per tensor, shape (2,)"),
    ({"inputs": np.full((1, 96, 96, 1), np.nan, np.float32)}, "holds NaN or infinite values"),
])
def test_bad_tensor_files_are_named(grey_model, tmp_path, arrays, message):
    np.savez(tmp_path / "x.npz", **arrays)
    result = verify_grey(grey_model, "--inputs", str(tmp_path / "x.npz"),
                         "--report", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert f"--inputs {tmp_path / 'x.npz'}" in result.output and message in result.output
    assert not (tmp_path / "r").exists()


def test_a_run_folder_is_not_taken_for_a_model_folder(grey_model, tmp_path):
    (tmp_path / "settings.json").write_text("{}")
    result = run_cli("build", "--model", str(grey_model[0]), "--out", str(tmp_path),
                     "--target", "host")
    assert result.exit_code == 1
    assert (f"{tmp_path} is a run folder of `edgemb train`; give the model a folder of its "
            "own with --out DIR") in result.output


def test_inspect_marks_folded_shape_operators(tmp_path):
    """A batch-None Flatten leaves SHAPE / STRIDED_SLICE / PACK computing RESHAPE's shape:
    the native runtime folds them, and inspect says so."""
    from edgemb.commands.inspect import summarize

    recipe = {"input": [4, 4, 2], "seed": 10, "layers": [
        {"type": "flatten"}, {"type": "dense", "units": 3}]}
    path = tmp_path / "flat.tflite"
    path.write_bytes(models.tflite_model(recipe))
    summary = summarize(path, measure_arena=False)
    assert summary.folded["native"] == ["PACK", "SHAPE", "STRIDED_SLICE"]
    assert summary.folded["tflm"] == [] and summary.unsupported["native"] == []
