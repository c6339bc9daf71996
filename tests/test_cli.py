"""The command line's surface: version, help, errors without tracebacks."""

import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgemb import __version__
from edgemb.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"edgemb, version {__version__}\n"


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "train" in result.output


def test_missing_data_folder_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "none"),
                                       "--run", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"error: data folder {tmp_path / 'none'} does not exist" in " ".join(result.output.split())


NOISE = ("absl::InitializeLog", "oneDNN custom operations", "fully_quantize:")


@pytest.mark.slow
def test_quantize_prints_no_tensorflow_chatter_unless_verbose(quantized_run, tmp_path):
    """TensorFlow's C++ start-up lines and the converter's settings go straight to
    fds 1 and 2; the command hides them, and -v shows them."""
    run = tmp_path / "run"
    shutil.copytree(quantized_run.path, run)
    edgemb = [sys.executable, "-m", "edgemb.cli"]
    quiet = subprocess.run([*edgemb, "quantize", "--run", str(run)], capture_output=True,
                           text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert "int8 accuracy (TFLite Micro)" in quiet.stdout
    assert [n for n in NOISE if n in quiet.stdout + quiet.stderr] == []
    verbose = subprocess.run([*edgemb, "-v", "quantize", "--run", str(run)],
                             capture_output=True, text=True, timeout=300)
    assert verbose.returncode == 0
    assert "fully_quantize:" in verbose.stdout + verbose.stderr


@pytest.mark.slow
def test_a_verify_that_fails_before_any_sample_prints_the_error_alone(quantized_run, tmp_path):
    result = CliRunner().invoke(main, ["verify", "--run", str(quantized_run.path), "--port",
                                       str(tmp_path / "ttyNONE"), "--samples", "2",
                                       "--report", str(tmp_path / "verify")])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # rich wraps lines at 80 columns
    assert f"error: {tmp_path / 'ttyNONE'}: no such device." in said
    assert "exact matches" not in said and "0 of 2" not in said
