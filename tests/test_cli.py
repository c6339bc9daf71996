"""The command line's surface: version, help, errors without tracebacks."""

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
