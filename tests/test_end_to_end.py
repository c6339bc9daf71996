"""The whole chain on real parts: a trained, quantized model built into firmware for
`host`, for `mps2-an386` (QEMU, Arm Cortex-M4) and for `riscv32-virt` (QEMU, RV32IMC),
booted, and verified over a real serial port:
every output byte must equal TFLite Micro's on the host."""

import json
import shutil
import socket
import threading
import time

import pytest
from link_proxy import LinkProxy, frame_type

from edgemb.commands.build import build
from edgemb.commands.verify import VerifyOptions, verify
from edgemb.link.messages import MsgType
from edgemb.targets.launch import instructions_per_tick, start_board, start_qemu

pytestmark = pytest.mark.slow

needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs gcc-arm-none-eabi and qemu-system-arm (tools/setup installs them)")
needs_riscv = pytest.mark.skipif(
    shutil.which("riscv64-unknown-elf-gcc") is None or shutil.which("qemu-system-riscv32") is None,
    reason="needs gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf and qemu-system-misc "
           "(tools/setup installs them)")
EMULATED = ("mps2-an386", "riscv32-virt")


def verify_options(run, port, tmp_path, **overrides):
    options = dict(ports=[port], samples=24, data=run.read_settings().dataset, bench=3,
                   report_dir=tmp_path / "verify")
    options.update(overrides)
    return VerifyOptions(**options)


@pytest.mark.parametrize("target", ["host", pytest.param("mps2-an386", marks=needs_arm),
                                    pytest.param("riscv32-virt", marks=needs_riscv)])
def test_every_output_byte_matches_tflite_micro(quantized_run, tmp_path, target):
    built = build(quantized_run, target, "native")
    assert built.artifact.exists()
    assert built.sizes["model"]["text"] > quantized_run.tflite_file.stat().st_size // 2
    emulated = target in EMULATED
    with start_board(target, built.artifact, icount=emulated) as board:
        summary = verify(quantized_run, verify_options(
            quantized_run, board.port, tmp_path, icount=emulated,
            instructions_per_tick=instructions_per_tick(target) if emulated else 0))
    assert summary["samples"] == summary["exact_matches"] == 24
    assert summary["exit_code"] == 0 and summary["failures"] == []
    assert summary["board_accuracy"] == summary["reference_accuracy"]
    assert summary["boards"][0]["info"]["target"] == target
    assert summary["boards"][0]["info"]["runtime"] == "native"
    assert summary["boards"][0]["bench"]["count"] == 3
    assert len(summary["boards"][0]["op_times"]) > 0
    saved = json.loads((tmp_path / "verify" / "verify.json").read_text())
    assert saved["exact_matches"] == 24
    lines = (tmp_path / "verify" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 24 and all(json.loads(line)["exact"] for line in lines)
    assert "<img" in (tmp_path / "verify" / "report.html").read_text()
    if emulated:
        # -icount shift=0: deterministic, so the same input always costs the same.
        bench = summary["boards"][0]["bench"]
        assert 0 < bench["min_ticks"] <= bench["max_ticks"] <= bench["min_ticks"] + 1  # tick phase
        assert summary["invoke_instructions"]["min"] > 0


def monitor_command(path, command: str) -> None:
    with socket.socket(socket.AF_UNIX) as monitor:
        monitor.connect(str(path))
        monitor.sendall(command.encode() + b"\n")
        time.sleep(0.2)


class ResetBoard:
    """A link-proxy hook on the board's replies: once `results` RESULTs have
    gone by, the next reply of type `at` goes on to the host and the board is
    reset through QEMU's monitor. At an ACK the board is part-way through the
    next upload; at a RESULT it is reset as the next upload begins, before it
    has acknowledged any of it."""

    def __init__(self, monitor, results: int, at: MsgType):
        self.monitor, self.results, self.at, self.fired = monitor, results, at, False

    def __call__(self, wire: bytes) -> bytes:
        kind = frame_type(wire)
        if kind == MsgType.RESULT:
            self.results -= 1
        if kind == self.at and self.results == 0 and not self.fired:
            self.fired = True
            threading.Thread(target=monitor_command, args=(self.monitor, "system_reset")).start()
        return wire


@needs_arm
@pytest.mark.parametrize("at", [MsgType.ACK, MsgType.RESULT], ids=["mid-upload", "upload-start"])
def test_board_reset_mid_run_is_recovered_and_reported(quantized_run, tmp_path, at):
    built = build(quantized_run, "mps2-an386", "native")
    monitor = tmp_path / "monitor.sock"
    with start_qemu(built.artifact, monitor_socket=monitor) as board:
        # The board is reset during the fourth sample: what it had loaded is
        # gone, and the client hears of it from the board, whenever it falls:
        # the next ACK names session 0 (the board has had no handshake since
        # it booted), or, after the last ACK, INVOKE is refused with NO_INPUT.
        reset = ResetBoard(monitor, results=3, at=at)
        with LinkProxy(board.port, to_host=reset) as proxy:
            summary = verify(quantized_run, verify_options(quantized_run, proxy.port, tmp_path,
                                                           samples=8, bench=0))
    assert reset.fired
    assert summary["exact_matches"] == summary["samples"] == 8
    recoveries = summary["boards"][0]["recoveries"]
    assert len(recoveries) == 1
    restarted = "sample 3: BoardRestarted: the board has restarted since the handshake: its ACK"
    no_input = "sample 3: BoardError: board error NO_INPUT on INVOKE"
    # Reset as an upload begins, the board can only show it by an ACK; reset
    # part-way through, it may have acknowledged the whole upload first.
    causes = (restarted,) if at == MsgType.RESULT else (restarted, no_input)
    assert recoveries[0].startswith(causes), recoveries[0]
    assert recoveries[0].endswith("the board answered a new handshake and the sample was sent again")


@needs_arm
def test_demo_runs_the_readme_main_job_on_the_default_dataset(tmp_path):
    from click.testing import CliRunner

    from edgemb.cli import main

    run_dir = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--run", str(run_dir), "--limit", "200",
                                       "--epochs", "1", "--samples", "6"])
    assert result.exit_code == 0, result.output
    summary = json.loads((run_dir / "verify" / "verify.json").read_text())
    assert summary["exact_matches"] == summary["samples"] == 6
    assert summary["boards"][0]["info"]["target"] == "mps2-an386"
    for stage in ("train", "quantize", "build", "emulate and verify", "total"):
        assert stage in result.output
    assert (run_dir / "verify" / "report.html").exists()
