"""`edgemb verify` against a real host board: refusals, failures that keep results,
resume, a board farm, exit codes."""

import json
import os

import boards
import pytest
from click.testing import CliRunner

from edgemb.cli import main
from edgemb.commands.build import build
from edgemb.commands.verify import EXIT_LINK, VerifyOptions, verify
from edgemb.targets.launch import start_board

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host_program(quantized_run):
    return build(quantized_run, "host", "native").artifact


def options(run, ports, tmp_path, **overrides):
    values = dict(ports=ports, samples=12, data=run.read_settings().dataset, bench=0,
                  report_dir=tmp_path, timeout=0.5)
    values.update(overrides)
    return VerifyOptions(**values)


def test_two_boards_share_one_sample_list(quantized_run, host_program, tmp_path):
    with start_board("host", host_program) as one, start_board("host", host_program) as two:
        summary = verify(quantized_run, options(quantized_run, [one.port, two.port], tmp_path))
    assert summary["exact_matches"] == 12
    per_board = [b["samples"] for b in summary["boards"]]
    assert sum(per_board) == 12
    ports = {json.loads(line)["port"] for line in (tmp_path / "samples.jsonl").open()}
    assert ports <= {one.port, two.port}


def test_board_with_another_model_is_refused_with_both_fingerprints(quantized_run, tmp_path):
    double = boards.double_firmware()
    program = boards.build_host_board(double, tmp_path / "double")
    with boards.HostBoard(program) as board:
        summary = verify(quantized_run, options(quantized_run, [board.port], tmp_path))
    assert summary["exit_code"] == EXIT_LINK
    (failure,) = summary["failures"]
    assert (f"the board on {board.port} runs another model: its fingerprint is "
            f"{double.fingerprint.hex()}") in failure
    assert "Build and flash this run's model" in failure
    assert summary["samples"] == 0


def test_silent_port_fails_with_the_port_named(quantized_run, tmp_path):
    master, slave = os.openpty()
    name = os.ttyname(slave)
    try:
        summary = verify(quantized_run, options(quantized_run, [name], tmp_path))
    finally:
        os.close(master)
        os.close(slave)
    assert summary["exit_code"] == EXIT_LINK
    assert summary["failures"][0].startswith(
        f"the board on {name} does not answer the handshake")


def test_board_dying_mid_run_keeps_its_results_and_resume_finishes(quantized_run, host_program,
                                                                   tmp_path):
    board = start_board("host", host_program)

    def kill_after_five(done, total):
        if done == 5:
            board.stop()

    summary = verify(quantized_run, options(quantized_run, [board.port], tmp_path),
                     kill_after_five)
    assert summary["exit_code"] == EXIT_LINK
    assert summary["samples"] == 5 and summary["complete"] is False
    assert "failed on sample 5" in summary["failures"][0]
    kept = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(kept) == 5

    with start_board("host", host_program) as again:
        resumed = verify(quantized_run, options(quantized_run, [again.port], tmp_path, resume=True))
    assert resumed["exit_code"] == 0 and resumed["exact_matches"] == 12
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert lines[:5] == kept and len(lines) == 12
    assert resumed["boards"][0]["samples"] == 7


def test_cli_exit_code_and_table(quantized_run, host_program, tmp_path):
    with start_board("host", host_program) as board:
        result = CliRunner().invoke(main, [
            "verify", "--run", str(quantized_run.path), "--port", board.port, "--samples", "4",
            "--report", str(tmp_path), "--bench", "2"])
    assert result.exit_code == 0, result.output
    assert "exact matches (every output byte)" in result.output
    assert json.loads((tmp_path / "verify.json").read_text())["samples"] == 4


def test_cli_without_a_port_says_what_to_give(quantized_run):
    result = CliRunner().invoke(main, ["verify", "--run", str(quantized_run.path)])
    assert result.exit_code == 2
    assert "give --port PORT (or --emulate to start a board here)" in result.output
