"""What every target does: write a firmware project, build it, report its sizes."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgemb.errors import EdgembError


class TargetError(EdgembError):
    """A target cannot be built, flashed or started; the message says why and what to do."""

    exit_code = 2


def firmware_source_dir() -> Path:
    """The firmware sources shipped with edgemb (never written to)."""
    for candidate in (Path(__file__).resolve().parents[2] / "firmware",
                      Path(__file__).resolve().parents[1] / "firmware"):
        if (candidate / "app" / "app.c").exists():
            return candidate
    raise TargetError("edgemb's firmware sources are missing from this installation; "
                      "reinstall edgemb (tools/setup) from its repository")


@dataclass
class BuildResult:
    target: str
    runtime: str
    project_dir: Path
    artifact: Path
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)  # part -> section -> bytes
    arena_bytes: int = 0


@dataclass(frozen=True)
class Emulator:
    """How QEMU runs a target's firmware on this machine."""

    qemu: str  # the QEMU program
    package: str  # the Debian package that provides it
    machine_args: tuple[str, ...]
    # Guest instructions per tick of the board's counter under -icount shift=0, where
    # QEMU's virtual clock advances one nanosecond per instruction.
    instructions_per_tick: int


class Target:
    """A board. Subclasses set `name`, `runtimes` and implement `build`."""

    name = ""
    runtimes: tuple[str, ...] = ("native",)
    required_tools: dict[str, str] = {}  # command -> Debian package that provides it
    emulator: Emulator | None = None  # set where QEMU can run the firmware

    def check_tools(self) -> None:
        for command, package in self.required_tools.items():
            if shutil.which(command) is None:
                raise TargetError(f"{command} is not installed: the {self.name} target needs it; "
                                  f"install it with `sudo apt-get install {package}` "
                                  "(or run tools/setup)")

    def check_runtime(self, runtime: str) -> None:
        if runtime not in self.runtimes:
            raise TargetError(f"target {self.name} has no runtime {runtime!r}; "
                              f"choose one of {', '.join(self.runtimes)}")


def run_build(command: list[str], what: str) -> None:
    """Runs a build command; on failure, the last lines of its output are the message."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise TargetError(f"{what} failed ({' '.join(command[:3])} … exit {done.returncode}):\n"
                          f"{tail}")
