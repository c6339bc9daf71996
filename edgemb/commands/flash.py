"""`edgemb flash`: write a built ESP32 firmware to a board.

With ESP-IDF on this machine: `idf.py -p PORT -b BAUD flash` in the project.
Without it: esptool (edgemb's `esp` extra), with the offsets and files that the
ESP-IDF build listed in build/flasher_args.json (bootloader, partition table,
app). Either way the port is checked first (exists, permission, not busy) and
the chip on it is asked its name, so that a board of another kind is refused
before anything is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from edgemb.model_folder import ModelFolder
from edgemb.run import RunFolder
from edgemb.targets.base import TargetError
from edgemb.targets.esp32 import CHIPS, ESP_TARGETS, find_idf, idf_command

DEFAULT_FLASH_BAUD = 460800
DETECT_BAUD = 115200  # the ROM bootloader's rate


class FlashError(TargetError):
    """The firmware cannot be flashed: no build, a port problem, esptool failed. Exit code 2."""


class EsptoolMissing(FlashError):
    """esptool is not installed in edgemb's environment."""


class BoardMismatch(FlashError):
    """The board on the port is another chip than the build is for. Exit code 4."""

    exit_code = 4


@dataclass
class FlashPlan:
    """What esptool writes where, read from an ESP-IDF build's flasher_args.json."""

    chip: str                      # esp32, esp32s3, esp32c3
    build_dir: Path
    files: list[tuple[int, Path]]  # (offset, file relative to build_dir), by offset
    flash_mode: str = "dio"
    flash_size: str = "2MB"
    flash_freq: str = "80m"
    before: str = "default_reset"
    after: str = "hard_reset"
    stub: bool = True


@dataclass
class FlashResult:
    project_dir: Path
    port: str
    chip: str                      # what the board said it is, e.g. ESP32-S3
    method: str                    # "idf.py" or "esptool"
    command: list[str] = field(default_factory=list)


# ---- the build ----------------------------------------------------------------------


def find_project(run: RunFolder | ModelFolder, target: str, runtime: str | None = None) -> Path:
    """The project of the newest build for the target (or of the given runtime)."""
    runtimes = [runtime] if runtime else ["tflm", "native"]
    candidates = [run.firmware_dir / f"{target}-{r}" for r in runtimes]
    built = [p for p in candidates if (p / "build" / "flasher_args.json").exists()]
    if built:
        return max(built, key=lambda p: (p / "build" / "flasher_args.json").stat().st_mtime)
    written = [p for p in candidates if (p / "CMakeLists.txt").exists()]
    where = written[0] if written else candidates[0]
    hint = (f" The ESP-IDF project is there, not built: on a machine with ESP-IDF, "
            f"`cd {where} && idf.py set-target {target} && idf.py build`, or "
            f"`edgemb build --target {target} {run.describe()}`." if written else
            f" Build it with `edgemb build --target {target} {run.describe()}` on a machine "
            "with ESP-IDF (ESP-IDF 5.1 or later).")
    raise FlashError(f"no {target} build to flash: {where / 'build' / 'flasher_args.json'} "
                     f"is missing.{hint}")


def load_flash_plan(build_dir: Path, target: str) -> FlashPlan:
    """Reads build/flasher_args.json: the files, their offsets and the flash settings."""
    path = Path(build_dir) / "flasher_args.json"
    try:
        args = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise FlashError(f"{path} is missing: build with `edgemb build --target {target}` on a "
                         "machine with ESP-IDF") from error
    except json.JSONDecodeError as error:
        raise FlashError(f"{path} is not valid JSON ({error}): rebuild the firmware") from error
    extra = args.get("extra_esptool_args", {})
    built_for = extra.get("chip", target)
    if built_for != target:
        raise BoardMismatch(f"{path} is a build for {built_for}, not {target}: flash it with "
                            f"--target {built_for}, or rebuild with --target {target}")
    files = sorted((int(offset, 16), Path(name)) for offset, name in args["flash_files"].items())
    missing = [str(build_dir / name) for _, name in files if not (build_dir / name).exists()]
    if missing:
        raise FlashError(f"the build in {build_dir} is incomplete ({', '.join(missing)} missing): "
                         "rebuild the firmware")
    settings = args.get("flash_settings", {})
    return FlashPlan(chip=target, build_dir=Path(build_dir), files=files,
                     flash_mode=settings.get("flash_mode", "dio"),
                     flash_size=settings.get("flash_size", "2MB"),
                     flash_freq=settings.get("flash_freq", "80m"),
                     before=extra.get("before", "default_reset"),
                     after=extra.get("after", "hard_reset"),
                     stub=bool(extra.get("stub", True)))


# ---- esptool ------------------------------------------------------------------------


def esptool_major() -> int:
    try:
        import esptool
    except ImportError as error:
        raise EsptoolMissing("esptool is not installed: `pip install 'edgemb[esp]'` (or "
                         "`pip install esptool`), or flash with ESP-IDF's idf.py") from error
    try:
        return int(str(esptool.__version__).split(".")[0])
    except ValueError:
        return 5


def esptool_command(plan: FlashPlan, port: str, baud: int, major: int = 5) -> list[str]:
    """`python -m esptool ... write-flash ...` for the plan, in the installed esptool's
    dialect: version 5 spells the command, the flash options and the reset modes
    with dashes (write-flash, --flash-mode, default-reset), version 4 with
    underscores (write_flash, --flash_mode, default_reset)."""
    def spell(word: str) -> str:
        return word.replace("_", "-") if major >= 5 else word.replace("-", "_")

    command = [sys.executable, "-m", "esptool", "--chip", plan.chip, "-p", port, "-b", str(baud),
               "--before", spell(plan.before), "--after", spell(plan.after)]
    if not plan.stub:
        command.append("--no-stub")
    command += [spell("write_flash"),
                "--" + spell("flash_mode"), plan.flash_mode,
                "--" + spell("flash_size"), plan.flash_size,
                "--" + spell("flash_freq"), plan.flash_freq]
    for offset, name in plan.files:
        command += [f"0x{offset:x}", str(name)]
    return command


def detect_chip(port: str, baud: int = DETECT_BAUD) -> str:
    """The chip on the port as esptool names it (ESP32, ESP32-S3, ESP32-C3, ...).
    Resets the board into its ROM bootloader (DTR/RTS), as flashing does anyway."""
    esptool_major()
    from esptool.cmds import detect_chip as esptool_detect_chip
    from esptool.util import FatalError

    try:
        loader = esptool_detect_chip(port, baud)
    except FatalError as error:
        raise FlashError(
            f"no ESP chip answered on {port}: {' '.join(str(error).split())}. Is this the "
            "board's port? If it is, hold its BOOT button (IO0) while you press and release "
            "EN/RESET, then try again."
        ) from error
    try:
        return str(loader.CHIP_NAME)
    finally:
        port_object = getattr(loader, "_port", None)
        if port_object is not None:
            port_object.close()


def target_for_chip(chip_name: str) -> str | None:
    """edgemb's target for esptool's chip name, if edgemb has one."""
    for name, chip in CHIPS.items():
        if chip.esptool_name.lower() == chip_name.lower():
            return name
    return None


def check_board(port: str, target: str) -> str:
    """The board's chip name; BoardMismatch unless it is the target's chip."""
    found = detect_chip(port)
    if target_for_chip(found) == target:
        return found
    wanted = CHIPS[target].esptool_name
    other = target_for_chip(found)
    advice = (f"rebuild with --target {other}" if other else
              f"edgemb builds for {', '.join(c.esptool_name for c in CHIPS.values())} only")
    raise BoardMismatch(f"the board on {port} is {_article(found)} {found}, the build is for "
                        f"{target}: {advice} (or connect {_article(wanted)} {wanted})")


def _article(name: str) -> str:
    return "an" if name[:1].upper() in "AEFHILMNORSX" else "a"


def check_port(port: str) -> None:
    """The port exists, may be opened by this user and is free (FlashError otherwise)."""
    from edgemb.link.errors import PortError
    from edgemb.link.ports import is_url, open_port, port_error

    if not is_url(port) and not os.path.exists(port):
        raise FlashError(str(port_error(port, FileNotFoundError(2, "No such file or directory"))))
    try:
        device = open_port(port)  # opened without a reset (open_port)
    except PortError as error:
        raise FlashError(str(error)) from error
    device.close()


def _run(command: list[str], cwd: Path) -> int:
    """Runs a flashing command with its output on the terminal (progress bars)."""
    return subprocess.run(command, cwd=cwd).returncode


# ---- flashing -----------------------------------------------------------------------


def flash(run: RunFolder | ModelFolder, target: str, port: str, baud: int = DEFAULT_FLASH_BAUD,
          runtime: str | None = None, use_idf: bool | None = None) -> FlashResult:
    """Flashes the newest build of `target` in the run folder to the board on `port`.

    use_idf: True to require idf.py, False to use esptool even where idf.py is
    installed, None for idf.py where it is installed and esptool elsewhere."""
    if target not in ESP_TARGETS:
        runs_here = target in ("host", "mps2-an386", "riscv32-virt")
        raise FlashError(f"target {target} is not flashed: "
                         + ("it runs on this machine with `edgemb emulate`" if runs_here
                            else f"choose one of {', '.join(ESP_TARGETS)}"))
    project = find_project(run, target, runtime)
    build_dir = project / "build"
    plan = load_flash_plan(build_dir, target)
    check_port(port)

    idf = find_idf() if use_idf is not False else None
    if use_idf and idf is None:
        raise FlashError("idf.py is not available here (not on PATH, IDF_PATH not set): "
                         "run `. $IDF_PATH/export.sh` first, or flash with esptool")
    try:
        chip = check_board(port, target)
    except EsptoolMissing:
        if idf is None:
            raise
        chip = f"{CHIPS[target].esptool_name} (checked by idf.py)"  # its esptool refuses others
    if idf is not None:
        command = idf_command(idf, ["-C", str(project), "-p", port, "-b", str(baud), "flash"])
        method = "idf.py"
    else:
        command = esptool_command(plan, port, baud, esptool_major())
        method = "esptool"
    status = _run(command, build_dir)
    if status != 0:
        raise FlashError(f"{method} failed (exit {status}) flashing {project} to {port}: see its "
                         f"output above. Try a lower --baud (e.g. 115200), another USB cable, "
                         "or hold BOOT while pressing EN/RESET to enter the bootloader")
    return FlashResult(project, port, chip, method, command)
