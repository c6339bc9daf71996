"""Host boards for tests: the firmware application built for the `host` target
with a given runner and model, serving the protocol on a pseudo-terminal.

The link tests take a BoardFirmware, so the same tests can run against the
test double (the default) or, later, a real runtime and model.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import runner_double

REPO = Path(__file__).resolve().parents[1]
HOST_TARGET = REPO / "firmware" / "targets" / "host"
FIXTURES = REPO / "tests" / "fixtures" / "firmware"
_PTY_LINE = re.compile(rb"edgemb-host: serial on (\S+)")


@dataclass(frozen=True)
class BoardFirmware:
    """A runner and a model to build into a board, and what tests may expect of it."""

    name: str
    runner_srcs: tuple[Path, ...]
    model_srcs: tuple[Path, ...]
    expected_output: Callable[[bytes], bytes]  # reference int8 output for an input
    fingerprint: bytes
    input_bytes: int
    output_bytes: int
    runtime: str
    op_codes: tuple[int, ...] | None = None  # None: not known in advance
    op_ticks: tuple[int, ...] | None = None
    failing_input: bytes | None = None  # an input that makes invoke fail, if any
    fail_code: int | None = None
    defines: tuple[str, ...] = ()
    includes: tuple[Path, ...] = ()


def double_firmware() -> BoardFirmware:
    """The test double: a runner whose output tests compute themselves."""
    d = runner_double
    return BoardFirmware(
        name="test-double",
        runner_srcs=(FIXTURES / "runner_test_double.c",),
        model_srcs=(FIXTURES / "model_settings_test_double.c",),
        expected_output=d.expected_output,
        fingerprint=d.FINGERPRINT,
        input_bytes=d.INPUT_BYTES,
        output_bytes=d.OUTPUT_BYTES,
        runtime=d.RUNTIME,
        op_codes=d.OP_CODES,
        op_ticks=d.OP_TICKS,
        failing_input=d.FAILING_INPUT_PREFIX + bytes(d.INPUT_BYTES - 4),
        fail_code=d.FAIL_CODE,
    )


def have_cc() -> bool:
    return shutil.which(os.environ.get("CC", "cc")) is not None and shutil.which("make") is not None


def build_host_board(firmware: BoardFirmware, out_dir: Path, *, defines: tuple[str, ...] = (),
                     max_payload: int | None = None, window: int | None = None) -> Path:
    """Builds the host program into out_dir (never into the source tree).
    max_payload and window override the host target's protocol sizes."""
    out = Path(out_dir) / "edgemb-host"
    command = [
        "make", "-s", "-j2", "-C", str(HOST_TARGET), f"OUT={out}",
        "RUNNER_SRCS=" + " ".join(str(p) for p in firmware.runner_srcs),
        "MODEL_SRCS=" + " ".join(str(p) for p in firmware.model_srcs),
        "DEFINES=" + " ".join(firmware.defines + tuple(defines)),
        "INCLUDES=" + " ".join(f"-I{p}" for p in firmware.includes),
    ]
    if max_payload is not None:
        command.append(f"MAX_PAYLOAD={max_payload}u")
    if window is not None:
        command.append(f"WINDOW={window}u")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the host board failed:\n{done.stdout}{done.stderr}")
    return out


class HostBoard:
    """A running host board; `port` is the path of its pseudo-terminal."""

    def __init__(self, binary: Path, start_timeout: float = 5.0):
        self.process = subprocess.Popen(
            [str(binary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            self.port = self._read_port(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _read_port(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        line = b""
        stdout = self.process.stdout
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stdout], [], [], remaining)[0]:
                raise TimeoutError(f"host board printed no serial port in {timeout} s: {line!r}")
            byte = os.read(stdout.fileno(), 1)
            if not byte:
                raise RuntimeError(f"host board exited: {self.process.stderr.read()!r}")
            line += byte
        match = _PTY_LINE.search(line)
        if match is None:
            raise RuntimeError(f"unexpected first line from the host board: {line!r}")
        return match.group(1).decode()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> HostBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
