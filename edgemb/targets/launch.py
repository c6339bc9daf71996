"""Starting a built board on this machine: the host program, or QEMU for the targets
it emulates (mps2-an386, riscv32-virt).

Each prints the serial port it serves (a pseudo-terminal, or a TCP socket that
pyserial opens as socket://127.0.0.1:PORT); `edgemb verify --port` talks to it
exactly as to a USB serial adapter.
"""

from __future__ import annotations

import re
import select
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgemb.targets.base import Emulator, TargetError
from edgemb.targets.registry import get_target

_PTY = re.compile(r"(/dev/pts/\d+)")


@dataclass
class RunningBoard:
    process: subprocess.Popen
    port: str
    target: str
    icount: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> RunningBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _wait_for_line(process: subprocess.Popen, pattern: re.Pattern, what: str,
                   timeout: float = 10.0) -> re.Match:
    """Reads the process's output until `pattern` appears; explains a failure."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line:
                seen.append(line.rstrip())
                match = pattern.search(line)
                if match:
                    return match
                continue
        if process.poll() is not None:
            break
    process.kill()
    output = "\n".join(seen[-10:]) or "(nothing)"
    status = process.poll()
    state = f"exited with status {status}" if status is not None else f"said nothing in {timeout} s"
    raise TargetError(f"{what} {state}; its output:\n{output}")


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def emulator_of(target: str) -> Emulator:
    emulator = get_target(target).emulator
    if emulator is None:
        raise TargetError(f"target {target} cannot run in QEMU on this machine; flash it to a "
                          "board with `edgemb flash` and pass its port to `edgemb verify --port`")
    return emulator


def instructions_per_tick(target: str) -> int:
    """Guest instructions per board tick of an emulated target under --icount."""
    return emulator_of(target).instructions_per_tick


def start_qemu(elf: Path, tcp_port: int | None = None, icount: bool = False,
               monitor_socket: Path | None = None, target: str = "mps2-an386") -> RunningBoard:
    """Boots the ELF; `monitor_socket` serves QEMU's monitor (e.g. `system_reset`) there."""
    emulator = emulator_of(target)
    if shutil.which(emulator.qemu) is None:
        raise TargetError(f"{emulator.qemu} is not installed: install it with `sudo apt-get "
                          f"install --no-install-recommends {emulator.package}` "
                          "(or run tools/setup)")
    if not Path(elf).exists():
        raise TargetError(f"{elf} does not exist; build it with `edgemb build --target {target}`")
    serial = "pty" if tcp_port is None else f"tcp:127.0.0.1:{tcp_port},server=on,wait=off"
    monitor = f"unix:{monitor_socket},server=on,wait=off" if monitor_socket else "none"
    command = [emulator.qemu, *emulator.machine_args, "-display", "none", "-monitor", monitor,
               "-nographic", "-serial", serial, "-kernel", str(elf)]
    if icount:
        command += ["-icount", "shift=0"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    if tcp_port is None:
        port = _wait_for_line(process, _PTY, f"QEMU ({' '.join(command)})").group(1)
    else:
        port = f"socket://127.0.0.1:{tcp_port}"
        _wait_for_tcp(process, tcp_port, command)
    return RunningBoard(process, port, target, icount)


def _wait_for_tcp(process: subprocess.Popen, tcp_port: int, command: list[str]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read()
            raise TargetError(f"QEMU ({' '.join(command)}) exited with status "
                              f"{process.returncode}: {output.strip()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", tcp_port)) == 0:
                return
        time.sleep(0.05)
    raise TargetError(f"QEMU did not open TCP port {tcp_port} within 10 s")


def start_host(program: Path) -> RunningBoard:
    if not Path(program).exists():
        raise TargetError(f"{program} does not exist; build it with `edgemb build --target host`")
    process = subprocess.Popen([str(program)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    match = _wait_for_line(process, re.compile(r"edgemb-host: serial on (\S+)"),
                           f"the host board {program}")
    return RunningBoard(process, match.group(1), "host")


def start_board(target: str, artifact: Path, tcp_port: int | None = None,
                icount: bool = False, prefer_tcp: bool = False) -> RunningBoard:
    """Starts a built board. `prefer_tcp` serves QEMU's UART on a free local TCP port:
    QEMU moves bytes through a socket faster than through a pseudo-terminal."""
    if target == "host":
        return start_host(artifact)
    emulator_of(target)  # says so if it cannot run here
    if prefer_tcp and tcp_port is None:
        tcp_port = _free_tcp_port()
    return start_qemu(artifact, tcp_port, icount, target=target)
