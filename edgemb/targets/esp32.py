"""Targets esp32, esp32s3 and esp32c3: an ESP-IDF project (ESP-IDF 5.1 or later).

`build` writes a self-contained ESP-IDF project into the run folder, then builds
it with idf.py where ESP-IDF is installed. Where it is not, the project is
written all the same and IdfMissing (exit code 3) says how to finish the build
on a machine that has ESP-IDF.

The project (RUN/firmware/<target>-<runtime>/):

    CMakeLists.txt                 ESP-IDF project "edgemb"
    sdkconfig.defaults             common settings, and edgemb's own (chip, channel, baud)
    sdkconfig.defaults.<chip>      CPU clock and watchdog of each chip
    partitions.csv                 one 1.5 MiB factory app
    main/
      CMakeLists.txt               the "main" component, sources from edgemb_sources.cmake
      edgemb_sources.cmake         generated: sources, include dirs, definitions
      idf_component.yml            espressif/esp-tflite-micro for runtime tflm
      Kconfig.projbuild            menuconfig "edgemb": channel, baud, task, arena
      app_main.c platform_esp32.c  the board layer
      app/                         the portable application (firmware/app)
      runtime/                     runtime sources (native kernels, or the ESP32 tflm runner)
      model/                       the exported model (model_data.c, model_settings.c, ...)
    build/                         idf.py's output: edgemb.bin, flasher_args.json, edgemb.map
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from edgemb.export.exporter import ExportResult
from edgemb.targets.base import BuildResult, Target, TargetError, firmware_source_dir, run_build
from edgemb.targets.project import app_defines

PROJECT_NAME = "edgemb"
IDF_DOCS = "https://docs.espressif.com/projects/esp-idf/en/stable/esp32/get-started/"
TEMPLATE = ("CMakeLists.txt", "partitions.csv", "sdkconfig.defaults")
MAIN_TEMPLATE = ("CMakeLists.txt", "Kconfig.projbuild", "app_main.c", "platform_esp32.c",
                 "edgemb_versions.cmake")
TFLM_RUNNER = "runner_tflm_esp.cc"
TFLM_COMPONENT = "espressif/esp-tflite-micro"
TFLM_COMPONENT_VERSION = "^1.3.0"
# The first esp-nn that is bit-exact with TFLite Micro's reference kernels by
# default, and has CONFIG_NN_SKIP_NUDGE (main/idf_component.yml).
ESP_NN_COMPONENT = "espressif/esp-nn"
ESP_NN_COMPONENT_VERSION = "^1.2.2"

# Protocol sizes on the ESP32 board layer: the driver's receive buffer holds
# 16 KiB, more than three frames of 4 KiB in flight.
PROTOCOL_DEFINES = ("EM_PROTO_MAX_PAYLOAD=4096u", "EM_PROTO_WINDOW=3u", "EM_APP_READ_CHUNK=1024u")

SERIAL_CHANNELS = {"uart0": "CONFIG_EDGEMB_SERIAL_UART0",
                   "usb-serial-jtag": "CONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG"}
DEFAULT_SERIAL, DEFAULT_BAUD = "uart0", 921600
PROJECT_RECORD = "edgemb_project.json"  # what edgemb wrote: chip, runtime, channel, baud
# The user's own sdkconfig settings, read after edgemb's defaults; edgemb build
# writes it only when it is missing, and never after.
USER_SDKCONFIG = "sdkconfig.user"
USER_SDKCONFIG_TEXT = """\
# Your own sdkconfig settings for this project, read after edgemb's
# sdkconfig.defaults and sdkconfig.defaults.<chip>: edgemb build never
# overwrites this file. A change here takes effect at the next edgemb build
# (it makes sdkconfig anew). Choose the serial channel and baud rate with
# `edgemb build --serial ... --baud ...` rather than here, so that edgemb
# knows them. For example, to debug the firmware with logs on UART1:
#   CONFIG_ESP_CONSOLE_UART_CUSTOM=y
#   CONFIG_ESP_CONSOLE_UART_CUSTOM_NUM_1=y
#   CONFIG_LOG_DEFAULT_LEVEL_INFO=y
"""


@dataclass(frozen=True)
class Chip:
    name: str              # ESP-IDF target name: esp32, esp32s3, esp32c3
    esptool_name: str      # what esptool's chip detection reports
    cpu_mhz: int
    cores: int
    usb_serial_jtag: bool  # has the USB-Serial-JTAG controller
    bootloader_offset: int


CHIPS = {
    "esp32": Chip("esp32", "ESP32", 240, 2, False, 0x1000),
    "esp32s3": Chip("esp32s3", "ESP32-S3", 240, 2, True, 0x0),
    "esp32c3": Chip("esp32c3", "ESP32-C3", 160, 1, True, 0x0),
}


class IdfMissing(TargetError):
    """ESP-IDF is not installed here: the project is written, the build must be
    finished on a machine with ESP-IDF. Exit code 3."""

    exit_code = 3


def template_dir() -> Path:
    return firmware_source_dir() / "targets" / "esp32"


def finish_commands(project: Path, chip: str, run_dir: Path | None = None) -> list[str]:
    """The commands that finish the build and flash the board, in order. run_dir: the
    run folder, or the folder of a model brought with --model (which keeps model.tflite)."""
    run = ""
    if run_dir is not None:
        brought = (run_dir / "model.tflite").exists() and not (run_dir / "settings.json").exists()
        run = (f" --model {run_dir / 'model.tflite'} --out {run_dir}" if brought
               else f" --run {run_dir}")
    return [". $IDF_PATH/export.sh", f"cd {project}", f"idf.py set-target {chip}", "idf.py build",
            f"edgemb flash --target {chip}{run} --port PORT"]


def idf_missing_message(project: Path, chip: str, reason: str) -> str:
    steps = "\n".join(f"  {line}" for line in finish_commands(project, chip, _run_dir_of(project)))
    return (f"ESP-IDF is missing: {reason}. The ESP-IDF project is written to {project}; "
            f"finish the build with ESP-IDF 5.1 or later (install: {IDF_DOCS}), "
            f"then flash the board:\n{steps}")


def _run_dir_of(project: Path) -> Path | None:
    """RUN for a project at RUN/firmware/<target>-<runtime>."""
    return project.parent.parent if project.parent.name == "firmware" else None


# ---- the project ------------------------------------------------------------------


def sdkconfig_lines(chip: Chip, serial: str, baud: int) -> list[str]:
    """What edgemb appends to sdkconfig.defaults: the chip, the channel, the baud rate."""
    lines = [f'CONFIG_IDF_TARGET="{chip.name}"']
    for channel, option in SERIAL_CHANNELS.items():
        lines.append(f"{option}=y" if channel == serial else f"# {option} is not set")
    if serial == "uart0":
        lines.append(f"CONFIG_EDGEMB_UART_BAUD={baud}")
    return lines


def component_manifest(runtime: str) -> str:
    if runtime == "tflm":
        return (template_dir() / "main" / "idf_component.yml").read_text()
    return ("## edgemb firmware, runtime native: no component beyond ESP-IDF itself.\n"
            "dependencies:\n  idf:\n    version: \">=5.1\"\n")


def sources_cmake(sources: list[str], include_dirs: list[str], definitions: list[str],
                  chip: str, runtime: str) -> str:
    def block(name: str, items: list[str]) -> str:
        body = "\n".join(f"    {item}" for item in items)
        return f"set({name}\n{body})\n"

    return (f"# Generated by edgemb build for {chip}, runtime {runtime}. Do not edit: run\n"
            f"# edgemb build again. Paths are relative to this folder (main/).\n"
            + block("EDGEMB_SRCS", [f'"{s}"' for s in sources])
            + block("EDGEMB_INCLUDE_DIRS", [f'"{d}"' for d in include_dirs])
            + block("EDGEMB_DEFINITIONS", definitions))


def check_channel(chip: Chip, serial: str) -> None:
    if serial not in SERIAL_CHANNELS:
        raise TargetError(f"unknown serial channel {serial!r}; choose one of "
                          f"{', '.join(SERIAL_CHANNELS)}")
    if serial == "usb-serial-jtag" and not chip.usb_serial_jtag:
        raise TargetError(f"{chip.esptool_name} has no USB-Serial-JTAG controller: use "
                          "--serial uart0")


def recorded_project(project: Path) -> dict | None:
    """What the last edgemb build wrote into the project (edgemb_project.json)."""
    record = Path(project) / PROJECT_RECORD
    try:
        return json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def newest_link(firmware_dir: Path) -> tuple[str, int | None, Path] | None:
    """(serial, baud, project) of the newest ESP32 project in a run folder's
    firmware/, as its last build recorded them; None without one. `edgemb
    verify` talks to the board at that baud rate unless told otherwise."""
    records = sorted(Path(firmware_dir).glob(f"esp32*-*/{PROJECT_RECORD}"),
                     key=lambda record: record.stat().st_mtime)
    for record in reversed(records):
        described = recorded_project(record.parent)
        if described and described.get("serial") in SERIAL_CHANNELS:
            return described["serial"], described.get("baud"), record.parent
    return None


def resolve_link(chip: Chip, serial: str | None, baud: int | None,
                 recorded: dict | None) -> tuple[str, int | None]:
    """The channel and baud rate of a build: those asked for, else those the
    project recorded (so that a rebuild does not switch a board's channel back),
    else UART0 at 921600. USB-Serial-JTAG has no baud rate (None)."""
    recorded = recorded or {}
    serial = serial or recorded.get("serial") or DEFAULT_SERIAL
    check_channel(chip, serial)
    if serial == "usb-serial-jtag":
        if baud is not None:
            raise TargetError("--baud sets UART0's rate; USB-Serial-JTAG is USB and has none: "
                              "leave --baud out, or pass --serial uart0")
        return serial, None
    if baud is None and recorded.get("serial") == "uart0":
        baud = recorded.get("baud")
    return serial, baud or DEFAULT_BAUD


def write_idf_project(path: Path, chip: Chip, export: ExportResult, serial: str = "uart0",
                      baud: int = 921600) -> dict:
    """Writes the ESP-IDF project for one chip and runtime; returns its description
    (also written to edgemb_project.json). Leaves build/, sdkconfig and
    sdkconfig.user (once written) alone."""
    check_channel(chip, serial)
    source, template = firmware_source_dir(), template_dir()
    main = path / "main"
    path.mkdir(parents=True, exist_ok=True)
    for part in ("app", "runtime", "model"):
        shutil.rmtree(main / part, ignore_errors=True)
    main.mkdir(exist_ok=True)

    for name in TEMPLATE:
        shutil.copy(template / name, path / name)
    if not (path / USER_SDKCONFIG).exists():
        (path / USER_SDKCONFIG).write_text(USER_SDKCONFIG_TEXT)
    for defaults in template.glob("sdkconfig.defaults.*"):
        shutil.copy(defaults, path / defaults.name)
    with (path / "sdkconfig.defaults").open("a") as out:
        out.write("\n# ---- written by edgemb build: chip, serial channel, baud rate ----\n")
        out.write("\n".join(sdkconfig_lines(chip, serial, baud)) + "\n")
    for name in MAIN_TEMPLATE:
        shutil.copy(template / "main" / name, main / name)
    (main / "idf_component.yml").write_text(component_manifest(export.runtime))

    # Copies get a new modification time (shutil.copy), so that ninja rebuilds them.
    # The portable application; its main.c is replaced by app_main.c.
    shutil.copytree(source / "app", main / "app", ignore=shutil.ignore_patterns("main.c"),
                    copy_function=shutil.copy)
    (main / "runtime").mkdir()
    if export.runtime == "tflm":
        shutil.copy(template / "main" / TFLM_RUNNER, main / "runtime" / TFLM_RUNNER)
    else:
        for file in sorted((source / "runtime" / export.runtime).iterdir()):
            if file.suffix in (".c", ".h", ".cc"):
                shutil.copy(file, main / "runtime" / file.name)
    shutil.copytree(export.out_dir, main / "model", copy_function=shutil.copy)

    parts = {
        "board": ["app_main.c", "platform_esp32.c"],
        "application": ["app/protocol.c", "app/app.c"],
        "runtime": sorted(f"runtime/{p.name}" for p in (main / "runtime").iterdir()
                          if p.suffix in (".c", ".cc")),
        "model": ["model/model_settings.c"]
                 + (["model/model_native.c"] if export.runtime == "native" else ["model/model_data.c"]),
    }
    sources = [s for part in ("board", "application", "runtime", "model") for s in parts[part]]
    definitions = [d.removeprefix("-D") for d in app_defines(export)] + list(PROTOCOL_DEFINES)
    if export.runtime == "tflm":
        definitions.append(f"EM_TFLM_ARENA_BYTES={export.tflm_arena_bytes}u")
    (main / "edgemb_sources.cmake").write_text(
        sources_cmake(sources, [".", "app", "runtime", "model"], definitions, chip.name,
                      export.runtime))

    description = {"target": chip.name, "chip": chip.esptool_name, "runtime": export.runtime,
                   "fingerprint": export.fingerprint, "serial": serial,
                   "baud": baud if serial == "uart0" else None,
                   "tflm_arena_bytes": export.tflm_arena_bytes,
                   "parts": {part: [Path(s).name for s in files] for part, files in parts.items()}}
    (path / PROJECT_RECORD).write_text(json.dumps(description, indent=1) + "\n")
    return description


# ---- ESP-IDF ----------------------------------------------------------------------


def find_idf() -> tuple[list[str], str] | None:
    """How to run idf.py here: ([], "") when it is on PATH; (["bash", "-c"], prologue)
    when only IDF_PATH is set (export.sh is sourced first); None without ESP-IDF."""
    if shutil.which("idf.py"):
        return [], ""
    idf_path = os.environ.get("IDF_PATH")
    if idf_path and (Path(idf_path) / "export.sh").exists():
        return ["bash", "-c"], f'. "{idf_path}/export.sh" >/dev/null 2>&1 && '
    return None


def idf_command(idf: tuple[list[str], str], args: list[str]) -> list[str]:
    wrapper, prologue = idf
    if not wrapper:
        return ["idf.py", *args]
    return [*wrapper, prologue + " ".join(_quote(a) for a in ["idf.py", *args])]


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def _config_digest(project: Path, chip: str) -> str:
    digest = hashlib.sha256(chip.encode())
    for file in sorted([*project.glob("sdkconfig.defaults*"), *project.glob(USER_SDKCONFIG + "*")]):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def needs_set_target(project: Path, chip: str) -> bool:
    """sdkconfig is made from the defaults only when it does not exist: start over
    when the chip or the defaults changed since it was made."""
    stamp = project / "build" / "edgemb_config.sha256"
    return not (project / "sdkconfig").exists() or not stamp.exists() or \
        stamp.read_text().strip() != _config_digest(project, chip)


# ---- sizes ------------------------------------------------------------------------

_MAP_ENTRY = re.compile(r"^ (\.[\w.$]+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")
_MAP_NAME_ONLY = re.compile(r"^ (\.[\w.$]+|COMMON)$")
_MEMBER = re.compile(r"([^/()]+)\.a\(([^()]+)\)$")
TFLM_PART = "TFLite Micro + ESP-NN"
IDF_PART = "ESP-IDF, FreeRTOS, C library"


def esp_section_kind(name: str) -> str | None:
    """text (code and constants, in flash or IRAM), data (initialised RAM) or bss."""
    if name.startswith((".text", ".literal", ".iram", ".rodata", ".srodata", ".flash.rodata",
                         ".exception_vectors", ".vectors")):
        return "text"
    if name.startswith((".data", ".sdata", ".dram")):
        return "data"
    if name.startswith((".bss", ".sbss", "COMMON")):
        return "bss"
    return None


def esp_part_of(source: str, parts: dict[str, list[str]]) -> str:
    """edgemb's parts are object files of libmain.a, named after their sources."""
    member = _MEMBER.search(source)
    if member is None:
        return IDF_PART
    archive, obj = member.groups()
    if archive == "libmain":
        for part, files in parts.items():
            if obj.removesuffix(".obj") in files:
                return part
        return "other"
    if "tflite-micro" in archive or "esp-nn" in archive:
        return TFLM_PART
    return IDF_PART


def sizes_from_map(map_file: Path, parts: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Bytes per part and kind from ESP-IDF's link map (build/edgemb.map)."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"text": 0, "data": 0, "bss": 0})
    text = map_file.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    pending = None
    for line in text[max(start, 0):].splitlines():
        if pending is not None:
            line, pending = f" {pending} {line.strip()}", None
        name_only = _MAP_NAME_ONLY.match(line)
        if name_only:
            pending = name_only.group(1)
            continue
        entry = _MAP_ENTRY.match(line)
        if not entry:
            continue
        name, address, size, source = entry.groups()
        kind = esp_section_kind(name)
        if kind and int(address, 16) and int(size, 16):
            totals[esp_part_of(source, parts)][kind] += int(size, 16)
    return {part: dict(sizes) for part, sizes in sorted(totals.items())}


def memory_summary(size_json: dict) -> dict[str, dict[str, int]]:
    """Used and total bytes per memory type, from `idf.py size --format json2`
    (esp-idf-size 1.x: a "layout" list) or `--format json` (the older flat keys)."""
    if isinstance(size_json.get("layout"), list):
        return {m["name"]: {"used": int(m["used"]), "total": int(m["total"])}
                for m in size_json["layout"] if "name" in m and "used" in m}
    summary = {}
    for name, used, total in (("DRAM", "used_dram", "dram_total"), ("IRAM", "used_iram", "iram_total"),
                              ("DIRAM", "used_diram", "diram_total")):
        if size_json.get(total):
            summary[name] = {"used": int(size_json.get(used, 0)), "total": int(size_json[total])}
    flash = sum(int(size_json.get(k, 0)) for k in ("flash_code", "flash_rodata", "flash_other"))
    if flash:
        summary["Flash"] = {"used": flash, "total": 0}
    if "total_size" in size_json:
        summary["image"] = {"used": int(size_json["total_size"]), "total": 0}
    return summary


def _json_in(text: str) -> dict | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None


def idf_memory_summary(idf, project: Path) -> dict[str, dict[str, int]]:
    """`idf.py size` in JSON: json2 (ESP-IDF 5.3+), else json; {} if neither works."""
    for fmt in ("json2", "json"):
        done = subprocess.run(idf_command(idf, ["-C", str(project), "size", "--format", fmt]),
                              capture_output=True, text=True)
        data = _json_in(done.stdout) if done.returncode == 0 else None
        if data:
            return memory_summary(data)
    return {}


# ---- the targets ------------------------------------------------------------------


class Esp32Target(Target):
    """An ESP-IDF project for one chip. `serial` picks the protocol's channel:
    uart0 (the USB-to-UART bridge, at `baud`) or usb-serial-jtag (ESP32-S3, -C3);
    None keeps what the project recorded at its last build (resolve_link)."""

    name = "esp32"
    chip = CHIPS["esp32"]
    runtimes = ("tflm", "native")

    def __init__(self, serial: str | None = None, baud: int | None = None):
        self.serial = serial
        self.baud = baud

    def build(self, project_dir: Path, export: ExportResult) -> BuildResult:
        self.check_runtime(export.runtime)
        project_dir = Path(project_dir).resolve()
        self.serial, self.baud = resolve_link(self.chip, self.serial, self.baud,
                                              recorded_project(project_dir))
        description = write_idf_project(project_dir, self.chip, export, self.serial,
                                        self.baud or DEFAULT_BAUD)
        artifact = project_dir / "build" / f"{PROJECT_NAME}.bin"
        idf = find_idf()
        if idf is None:
            raise IdfMissing(idf_missing_message(
                project_dir, self.chip.name, "idf.py is not on PATH and IDF_PATH is not set"))
        if idf[0] and subprocess.run(idf_command(idf, ["--version"]), capture_output=True).returncode:
            raise IdfMissing(idf_missing_message(
                project_dir, self.chip.name,
                f"IDF_PATH is {os.environ.get('IDF_PATH')}, but `. $IDF_PATH/export.sh` fails "
                f"there (run `$IDF_PATH/install.sh {self.chip.name}` once)"))

        if needs_set_target(project_dir, self.chip.name):
            (project_dir / "sdkconfig").unlink(missing_ok=True)
            run_build(idf_command(idf, ["-C", str(project_dir), "set-target", self.chip.name]),
                      f"idf.py set-target {self.chip.name} in {project_dir}")
            (project_dir / "build").mkdir(exist_ok=True)
            (project_dir / "build" / "edgemb_config.sha256").write_text(
                _config_digest(project_dir, self.chip.name) + "\n")
        run_build(idf_command(idf, ["-C", str(project_dir), "build"]),
                  f"building the {self.name} firmware in {project_dir} (idf.py build)")

        map_file = project_dir / "build" / f"{PROJECT_NAME}.map"
        sizes = sizes_from_map(map_file, description["parts"]) if map_file.exists() else {}
        memory = idf_memory_summary(idf, project_dir)
        arena = export.tflm_arena_bytes if export.runtime == "tflm" else \
            int((export.native or {}).get("arena_bytes", 0))
        (project_dir / "build" / "build.json").write_text(json.dumps({
            "target": self.name, "chip": self.chip.name, "runtime": export.runtime,
            "artifact": str(artifact), "fingerprint": export.fingerprint, "sizes": sizes,
            "memory": memory, "arena_bytes": arena, "serial": self.serial,
            "baud": self.baud}, indent=1) + "\n")
        return BuildResult(self.name, export.runtime, project_dir, artifact, sizes, arena)


class Esp32S3Target(Esp32Target):
    name = "esp32s3"
    chip = CHIPS["esp32s3"]


class Esp32C3Target(Esp32Target):
    name = "esp32c3"
    chip = CHIPS["esp32c3"]


ESP_TARGETS = {cls.name: cls for cls in (Esp32Target, Esp32S3Target, Esp32C3Target)}
