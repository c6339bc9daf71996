"""Targets esp32, esp32s3 and esp32c3, and `edgemb flash`.

Without ESP-IDF and without a board, these tests check what can be checked here:
the ESP-IDF project edgemb writes for a trained model (files, sources, component
manifest, op resolver, arena, sdkconfig, partition table); the board layer
compiled with -Wall -Wextra -Werror against stand-ins for ESP-IDF
(tests/fixtures/esp_idf_stubs) and run on the host, serving the protocol on a
pipe; the ESP32 TFLite Micro runner compiled against TFLite Micro's API; the
flash command's esptool arguments from a recorded flasher_args.json; and every
error a user can meet. The last test builds the firmware for all three chips
with ESP-IDF, where ESP-IDF is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import runner_double

from edgemb.export import c_sources
from edgemb.link.frames import FrameDecoder
from edgemb.link.messages import (
    Ack,
    Hello,
    Info,
    Invoke,
    Load,
    Result,
    TickKind,
    encode_message,
    parse_message,
)
from edgemb.runtimes import TFLM_REGISTRATIONS
from edgemb.targets import get_target
from edgemb.targets.esp32 import (
    CHIPS,
    IDF_PART,
    TFLM_PART,
    IdfMissing,
    finish_commands,
    memory_summary,
    sizes_from_map,
)

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "firmware" / "app"
ESP = REPO / "firmware" / "targets" / "esp32"
STUBS = REPO / "tests" / "fixtures" / "esp_idf_stubs"
FIXTURES = REPO / "tests" / "fixtures" / "esp32"
DOUBLES = REPO / "tests" / "fixtures" / "firmware"
CC = os.environ.get("CC", "cc")
CXX = os.environ.get("CXX", "c++")
# What ESP-IDF adds to every component, among others: -Wall -Werror=all -Wextra
# -Wno-unused-parameter -Wno-sign-compare. Here: all of -Wall and -Wextra are errors.
STRICT = ["-Wall", "-Wextra", "-Werror"]
PROTOCOL = ["-DEM_PROTO_MAX_PAYLOAD=4096u", "-DEM_PROTO_WINDOW=3u", "-DEM_APP_READ_CHUNK=1024u"]
RUNS = [("esp32", "tflm"), ("esp32s3", "tflm"), ("esp32c3", "tflm"), ("esp32", "native")]

needs_cc = pytest.mark.skipif(shutil.which(CC) is None, reason=f"needs a C compiler ({CC})")


def _hide_idf(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without ESP-IDF, whatever is installed."""
    monkeypatch.delenv("IDF_PATH", raising=False)
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "idf.py").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))


# ---- the project written for a trained model --------------------------------------


@pytest.fixture(scope="module")
def projects(quantized_run):
    """`edgemb build` for each chip (and runtime native once) on a machine without
    ESP-IDF: the project is written, then IdfMissing."""
    from edgemb.commands.build import build

    written = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        _hide_idf(monkeypatch)
        for chip, runtime in RUNS:
            with pytest.raises(IdfMissing) as missing:
                build(quantized_run, chip, runtime)
            written[chip, runtime] = (quantized_run.firmware_dir / f"{chip}-{runtime}",
                                      missing.value)
    return quantized_run, written


def _cmake_list(text: str, name: str) -> list[str]:
    body = re.search(rf"set\({name}\n(.*?)\)\n", text, re.S)
    assert body, f"{name} is not set"
    return [item.strip().strip('"') for item in body.group(1).split()]


def _sdkconfig(*files: Path) -> dict[str, str]:
    """Options of sdkconfig files, later files overriding earlier ones as in ESP-IDF;
    "# CONFIG_X is not set" reads as "n"."""
    options: dict[str, str] = {}
    for file in files:
        for line in file.read_text().splitlines():
            unset = re.fullmatch(r"# (CONFIG_\w+) is not set", line.strip())
            if unset:
                options[unset.group(1)] = "n"
            elif line.startswith("CONFIG_"):
                key, value = line.split("=", 1)
                options[key] = value
    return options


@pytest.mark.slow
@pytest.mark.parametrize("chip,runtime", RUNS)
def test_build_without_esp_idf_writes_the_project_and_exits_3_with_the_commands(
        projects, chip, runtime):
    from edgemb.cli import reports_errors

    run, written = projects
    project, error = written[chip, runtime]
    assert (project / "CMakeLists.txt").exists()
    assert error.exit_code == 3
    message = str(error)
    assert message.startswith("ESP-IDF is missing")
    commands = finish_commands(project, chip, run.path)
    assert commands == [". $IDF_PATH/export.sh", f"cd {project}", f"idf.py set-target {chip}",
                        "idf.py build", f"edgemb flash --target {chip} --run {run.path} --port PORT"]
    lines = [line.strip() for line in message.splitlines()]
    assert lines[-len(commands):] == commands

    @reports_errors
    def command():
        raise error

    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == 3


def test_esp_idf_path_that_does_not_work_is_reported(tmp_path, monkeypatch):
    from edgemb.targets.esp32 import Esp32Target

    class Export:  # what build() reads of an ExportResult before ESP-IDF is looked for
        runtime, out_dir, fingerprint, tflm_arena_bytes = "tflm", tmp_path / "export", "ab" * 32, 4096
        settings = {"input_bytes": 3072, "output_bytes": 2, "op_count": 5}
        native = None

    Export.out_dir.mkdir()
    (Export.out_dir / "model_settings.c").write_text("")
    _hide_idf(monkeypatch)
    idf = tmp_path / "esp-idf"
    idf.mkdir()
    (idf / "export.sh").write_text("echo 'Python requirements are not satisfied' >&2\nreturn 1\n")
    monkeypatch.setenv("IDF_PATH", str(idf))
    with pytest.raises(IdfMissing) as missing:
        Esp32Target().build(tmp_path / "project", Export())
    assert missing.value.exit_code == 3
    assert f"IDF_PATH is {idf}" in str(missing.value)
    assert "install.sh esp32" in str(missing.value)
    assert "idf.py set-target esp32" in str(missing.value)


@pytest.mark.slow
@pytest.mark.parametrize("chip,runtime", RUNS)
def test_project_tree(projects, chip, runtime):
    project, _ = projects[1][chip, runtime]
    files = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    expected = {"CMakeLists.txt", "partitions.csv", "sdkconfig.defaults", "edgemb_project.json",
                "sdkconfig.defaults.esp32", "sdkconfig.defaults.esp32s3", "sdkconfig.defaults.esp32c3",
                "main/CMakeLists.txt", "main/edgemb_sources.cmake", "main/idf_component.yml",
                "main/Kconfig.projbuild", "main/app_main.c", "main/platform_esp32.c",
                "main/app/app.c", "main/app/app.h", "main/app/protocol.c", "main/app/protocol.h",
                "main/app/platform.h", "main/app/runner.h", "main/app/model_settings.h",
                "main/model/model_data.c", "main/model/model_data.h", "main/model/model_settings.c"}
    assert expected <= files
    assert "main/app/main.c" not in files  # app_main.c takes its place
    if runtime == "tflm":
        assert {"main/runtime/runner_tflm_esp.cc", "main/model/op_resolver.h"} <= files
    else:
        assert {"main/runtime/em_runner_native.c", "main/model/model_native.c"} <= files
    description = json.loads((project / "edgemb_project.json").read_text())
    assert (description["target"], description["runtime"]) == (chip, runtime)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["tflm", "native"])
def test_component_manifest_names_esp_tflite_micro_for_tflm(projects, runtime):
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with esptool: pip install 'edgemb[esp]'")
    project, _ = projects[1]["esp32", runtime]
    manifest = yaml.safe_load((project / "main" / "idf_component.yml").read_text())
    dependencies = manifest["dependencies"]
    assert dependencies["idf"]["version"] == ">=5.1"
    if runtime == "tflm":
        assert dependencies["espressif/esp-tflite-micro"]["version"].startswith("^1.")
    else:
        assert "espressif/esp-tflite-micro" not in dependencies


def test_tflm_manifest_requires_the_first_bit_exact_esp_nn():
    """esp-tflite-micro itself accepts esp-nn from 1.1.1; only esp-nn 1.2.2 and
    later are bit-exact with TFLite Micro's reference kernels by default."""
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with esptool: pip install 'edgemb[esp]'")
    from edgemb.targets.esp32 import component_manifest

    assert yaml.safe_load(component_manifest("tflm"))["dependencies"] == {
        "idf": {"version": ">=5.1"},
        "espressif/esp-tflite-micro": {"version": "^1.3.0"},
        "espressif/esp-nn": {"version": "^1.2.2"}}
    assert set(yaml.safe_load(component_manifest("native"))["dependencies"]) == {"idf"}


needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None,
                                 reason="needs cmake (tools/setup installs it)")


def _cmake_versions(tmp_path: Path, lock: str | None) -> subprocess.CompletedProcess:
    """main/edgemb_versions.cmake run as a script on a dependencies.lock."""
    lock_file = tmp_path / "dependencies.lock"
    if lock is not None:
        lock_file.write_text(lock)
    script = tmp_path / "versions.cmake"
    script.write_text(
        f'include("{ESP / "main" / "edgemb_versions.cmake"}")\n'
        f'edgemb_locked_version("{lock_file}" espressif/esp-tflite-micro tflm)\n'
        f'edgemb_locked_version("{lock_file}" espressif/esp-nn nn)\n'
        'message("tflm=${tflm} esp-nn=${nn}")\n'
        'edgemb_require_esp_nn("${nn}" 1.2.2)\n'
        'message("accepted")\n')
    return subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True)


@needs_cmake
def test_component_versions_are_read_from_the_lock_file(tmp_path):
    done = _cmake_versions(tmp_path, (FIXTURES / "dependencies.lock").read_text())
    assert done.returncode == 0, done.stderr
    # message() writes to stderr; the versions of what a component depends on
    # ('>=1.1.1', '>=4.2') are not taken for its own.
    assert done.stderr.splitlines() == ["tflm=1.3.8 esp-nn=1.2.3", "accepted"]


@needs_cmake
def test_an_esp_nn_older_than_1_2_2_stops_the_build(tmp_path):
    lock = (FIXTURES / "dependencies.lock").read_text().replace("version: 1.2.3", "version: 1.1.2")
    done = _cmake_versions(tmp_path, lock)
    assert done.returncode != 0
    message = " ".join(done.stderr.split())
    assert ("edgemb: dependencies.lock holds espressif/esp-nn 1.1.2; edgemb needs 1.2.2 or "
            "later") in message
    assert "Run `idf.py update-dependencies` in this project (or delete dependencies.lock)" in message
    assert "accepted" not in done.stderr


@needs_cmake
@pytest.mark.parametrize("lock,expected", [
    (None, "tflm=unknown esp-nn=unknown"),  # no lock file: the component manager is off
    ("dependencies:\n  idf:\n    version: 5.4.1\n", "tflm=unknown esp-nn=unknown"),
    ("dependencies:\n  espressif/esp-nn:\n    version: '1.2.2~1'\n", "tflm=unknown esp-nn=1.2.2~1"),
])
def test_versions_the_lock_does_not_hold(tmp_path, lock, expected):
    done = _cmake_versions(tmp_path, lock)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [expected, "accepted"]


def test_main_component_reports_the_locked_versions():
    cmake = (ESP / "main" / "CMakeLists.txt").read_text()
    register = cmake.index("idf_component_register(")
    # After the registration: ESP-IDF first runs what comes before it as a script.
    assert cmake.index("include(${CMAKE_CURRENT_LIST_DIR}/edgemb_versions.cmake)") > register
    assert 'edgemb_require_esp_nn("${edgemb_esp_nn_version}" 1.2.2)' in cmake
    assert '"EM_ESP_NN_VERSION=\\"${edgemb_esp_nn_version}\\""' in cmake


@pytest.mark.slow
@pytest.mark.parametrize("chip,runtime", RUNS)
def test_every_source_the_component_lists_exists_and_every_source_is_listed(projects, chip, runtime):
    project, _ = projects[1][chip, runtime]
    main = project / "main"
    cmake = (main / "edgemb_sources.cmake").read_text()
    sources = _cmake_list(cmake, "EDGEMB_SRCS")
    for source in sources:
        assert (main / source).is_file(), source
    for include in _cmake_list(cmake, "EDGEMB_INCLUDE_DIRS"):
        assert (main / include).is_dir(), include
    present = {str(p.relative_to(main)) for p in main.rglob("*") if p.suffix in (".c", ".cc")}
    # Everything is compiled but, for the native runtime, the flatbuffer array: its
    # weights are in model_native.c.
    unused = {"model/model_data.c"} if runtime == "native" else set()
    assert present - unused == set(sources)
    assert "include(${CMAKE_CURRENT_LIST_DIR}/edgemb_sources.cmake)" in (main / "CMakeLists.txt").read_text()
    assert "idf_component_register(SRCS ${EDGEMB_SRCS}" in (main / "CMakeLists.txt").read_text()


@pytest.mark.slow
def test_op_resolver_registers_exactly_the_models_operators(projects):
    from edgemb.tflite import parse_tflite

    run, written = projects
    project, _ = written["esp32", "tflm"]
    ops = sorted({op.name for op in parse_tflite(run.tflite_file.read_bytes()).operators})
    header = (project / "main" / "model" / "op_resolver.h").read_text()
    registered = re.findall(r"resolver\.(\w+)\(\)", header)
    assert sorted(registered) == sorted(TFLM_REGISTRATIONS[op] for op in ops)
    assert f"constexpr unsigned int kOpRegistrations = {len(ops)};" in header


@pytest.mark.slow
def test_tflm_arena_comes_from_the_settings_and_the_heap(projects):
    project, _ = projects[1]["esp32", "tflm"]
    main = project / "main"
    exported = json.loads((main / "model" / "export.json").read_text())
    arena = exported["tflm_arena_bytes"]
    assert f".tflm_arena_bytes = {arena}u," in (main / "model" / "model_settings.c").read_text()
    assert f"EM_TFLM_ARENA_BYTES={arena}u" in _cmake_list(
        (main / "edgemb_sources.cmake").read_text(), "EDGEMB_DEFINITIONS")
    runner = (main / "runtime" / "runner_tflm_esp.cc").read_text()
    assert "em_model_settings.tflm_arena_bytes" in runner
    assert "settings.tflm_arena_bytes + CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES" in runner
    assert "heap_caps_aligned_alloc(kArenaAlign, bytes, kInternal)" in runner
    assert "heap_caps_aligned_alloc(kArenaAlign, bytes, kPsram)" in runner
    assert "MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT" in runner and "MALLOC_CAP_SPIRAM" in runner
    # No static arena anywhere in the component: a large one overflows dram0_0_seg.
    for source in main.rglob("*.c*"):
        assert not re.search(r"static\s+u?int8_t\s+\w*arena\w*\s*\[", source.read_text()), source


@pytest.mark.slow
def test_model_array_is_16_byte_aligned(projects):
    project, _ = projects[1]["esp32", "tflm"]
    assert "alignas(16) const unsigned char em_model_data[]" in \
        (project / "main" / "model" / "model_data.c").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("chip", CHIPS)
def test_sdkconfig_defaults(projects, chip):
    project, _ = projects[1][chip, "tflm"]
    options = _sdkconfig(project / "sdkconfig.defaults", project / f"sdkconfig.defaults.{chip}")
    assert options["CONFIG_IDF_TARGET"] == f'"{chip}"'
    # Nothing but frames on the link.
    assert options["CONFIG_LOG_DEFAULT_LEVEL_NONE"] == "y"
    assert options["CONFIG_BOOTLOADER_LOG_LEVEL_NONE"] == "y"
    assert options["CONFIG_ESP_CONSOLE_NONE"] == "y"
    if CHIPS[chip].usb_serial_jtag:
        assert options["CONFIG_ESP_CONSOLE_SECONDARY_NONE"] == "y"
    # Speed: the chip's top clock, -O2.
    assert options[f"CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_{CHIPS[chip].cpu_mhz}"] == "y"
    assert options["CONFIG_COMPILER_OPTIMIZATION_PERF"] == "y"
    # Watchdog: the idle task of the core edgemb runs on is not watched.
    edgemb_core = 1 if CHIPS[chip].cores == 2 else 0
    assert options[f"CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU{edgemb_core}"] == "n"
    assert options["CONFIG_ESP_TASK_WDT_PANIC"] == "n"
    # Flash and partitions; bit-exact ESP-NN; the link.
    assert options["CONFIG_ESPTOOLPY_FLASHSIZE_2MB"] == "y"
    assert options["CONFIG_PARTITION_TABLE_CUSTOM"] == "y"
    assert options["CONFIG_PARTITION_TABLE_CUSTOM_FILENAME"] == '"partitions.csv"'
    assert options["CONFIG_NN_SKIP_NUDGE"] == "n"
    assert options["CONFIG_EDGEMB_SERIAL_UART0"] == "y"
    assert options["CONFIG_EDGEMB_UART_BAUD"] == "921600"


@pytest.mark.parametrize("chip,extra", [("esp32", 1024), ("esp32c3", 1024), ("esp32s3", 65536)])
def test_esp_nn_scratch_allowance_is_the_chips_own(chip, extra):
    """ESP-NN's generic kernels (ESP32, ESP32-C3) need no scratch for conv and
    depthwise conv; the ESP32-S3's SIMD kernels do."""
    options = _sdkconfig(ESP / "sdkconfig.defaults", ESP / f"sdkconfig.defaults.{chip}")
    assert options["CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES"] == str(extra)


def test_usb_serial_jtag_channel_only_where_the_chip_has_it(tmp_path):
    from edgemb.targets.base import TargetError
    from edgemb.targets.esp32 import sdkconfig_lines, write_idf_project

    assert sdkconfig_lines(CHIPS["esp32c3"], "usb-serial-jtag", 921600) == [
        'CONFIG_IDF_TARGET="esp32c3"', "# CONFIG_EDGEMB_SERIAL_UART0 is not set",
        "CONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG=y"]
    with pytest.raises(TargetError, match="ESP32 has no USB-Serial-JTAG"):
        write_idf_project(tmp_path, CHIPS["esp32"], None, "usb-serial-jtag")


class _Export:
    """What the ESP32 target reads of an ExportResult, without a trained model."""

    def __init__(self, out_dir: Path, runtime: str = "tflm"):
        self.runtime, self.out_dir, self.fingerprint = runtime, out_dir, "ab" * 32
        self.tflm_arena_bytes, self.native = 4096, None
        self.settings = {"input_bytes": 3072, "output_bytes": 2, "op_count": 5}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model_settings.c").write_text("")


@pytest.fixture
def cli_build(tmp_path, monkeypatch):
    """`edgemb build` through the command line on a machine without ESP-IDF, its
    export replaced by _Export: returns run(args) -> (exit code, output)."""
    from click.testing import CliRunner

    import edgemb.commands.build as building
    from edgemb.cli import main
    from edgemb.run import RunFolder

    _hide_idf(monkeypatch)
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.tflite_file.write_bytes(b"tflite")
    monkeypatch.setattr(building, "export", lambda model, out, labels, runtime: _Export(out, runtime))
    monkeypatch.setattr(RunFolder, "read_settings",
                        lambda self: type("Settings", (), {"labels": ["a", "b"]})())

    def invoke(*args: str):
        done = CliRunner().invoke(main, ["build", "--run", str(run.path), *args])
        return done.exit_code, done.output

    invoke.run = run
    return invoke


def _project(run, target: str) -> Path:
    return run.firmware_dir / f"{target}-tflm"


def test_build_chooses_usb_serial_jtag_from_the_command_line(cli_build):
    code, output = cli_build("--target", "esp32c3", "--serial", "usb-serial-jtag")
    assert code == 3, output  # ESP-IDF is missing: the project is written
    project = _project(cli_build.run, "esp32c3")
    options = _sdkconfig(project / "sdkconfig.defaults")
    assert options["CONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG"] == "y"
    assert options["CONFIG_EDGEMB_SERIAL_UART0"] == "n"
    assert "CONFIG_EDGEMB_UART_BAUD" not in options
    record = json.loads((project / "edgemb_project.json").read_text())
    assert (record["serial"], record["baud"]) == ("usb-serial-jtag", None)


def test_a_rebuild_keeps_the_recorded_channel_and_baud(cli_build):
    assert cli_build("--target", "esp32s3", "--baud", "460800")[0] == 3
    assert cli_build("--target", "esp32s3")[0] == 3  # no options: as recorded
    project = _project(cli_build.run, "esp32s3")
    assert _sdkconfig(project / "sdkconfig.defaults")["CONFIG_EDGEMB_UART_BAUD"] == "460800"
    assert cli_build("--target", "esp32s3", "--serial", "usb-serial-jtag")[0] == 3
    assert cli_build("--target", "esp32s3")[0] == 3
    record = json.loads((project / "edgemb_project.json").read_text())
    assert (record["serial"], record["baud"]) == ("usb-serial-jtag", None)
    assert cli_build("--target", "esp32s3", "--serial", "uart0")[0] == 3
    assert _sdkconfig(project / "sdkconfig.defaults")["CONFIG_EDGEMB_UART_BAUD"] == "921600"


def test_build_refuses_links_the_board_cannot_have(cli_build):
    code, output = cli_build("--target", "esp32", "--serial", "usb-serial-jtag")
    assert code == 2 and "ESP32 has no USB-Serial-JTAG controller: use --serial uart0" in output
    code, output = cli_build("--target", "esp32c3", "--serial", "usb-serial-jtag",
                             "--baud", "115200")
    assert code == 2 and ("--baud sets UART0's rate; USB-Serial-JTAG is USB and has none: "
                          "leave --baud out, or pass --serial uart0") in " ".join(output.split())
    code, output = cli_build("--target", "host", "--serial", "uart0")
    assert code == 2 and ("--serial and --baud choose an ESP32 board's serial channel; the "
                          "host target has one fixed serial port") in " ".join(output.split())


def test_the_users_sdkconfig_survives_every_build_and_is_read_last(cli_build):
    assert cli_build("--target", "esp32")[0] == 3
    project = _project(cli_build.run, "esp32")
    user = project / "sdkconfig.user"
    assert user.read_text().startswith("# Your own sdkconfig settings for this project")
    user.write_text("CONFIG_ESP_CONSOLE_UART_CUSTOM=y\nCONFIG_ESP_CONSOLE_UART_CUSTOM_NUM_1=y\n")
    from edgemb.targets.esp32 import _config_digest

    before = _config_digest(project, "esp32")
    assert cli_build("--target", "esp32", "--baud", "115200")[0] == 3
    assert user.read_text() == ("CONFIG_ESP_CONSOLE_UART_CUSTOM=y\n"
                                "CONFIG_ESP_CONSOLE_UART_CUSTOM_NUM_1=y\n")
    # A change to it makes sdkconfig anew at the next build, as one to the defaults does.
    after_baud = _config_digest(project, "esp32")
    user.write_text("CONFIG_LOG_DEFAULT_LEVEL_INFO=y\n")
    assert len({before, after_baud, _config_digest(project, "esp32")}) == 3
    cmake = (project / "CMakeLists.txt").read_text()
    assert cmake.index('set(SDKCONFIG_DEFAULTS "sdkconfig.defaults")') < cmake.index(
        'list(APPEND SDKCONFIG_DEFAULTS "sdkconfig.user")') < cmake.index("project(edgemb)")


def test_verify_talks_at_the_baud_rate_the_newest_esp32_build_recorded(tmp_path):
    import os as _os

    from edgemb.targets.esp32 import newest_link

    firmware = tmp_path / "firmware"
    assert newest_link(firmware) is None
    for name, serial, baud, when in (("esp32-tflm", "uart0", 460800, 1000),
                                     ("esp32c3-native", "usb-serial-jtag", None, 2000)):
        (firmware / name).mkdir(parents=True)
        record = firmware / name / "edgemb_project.json"
        record.write_text(json.dumps({"serial": serial, "baud": baud}))
        _os.utime(record, (when, when))
    assert newest_link(firmware) == ("usb-serial-jtag", None, firmware / "esp32c3-native")
    _os.utime(firmware / "esp32-tflm" / "edgemb_project.json", (3000, 3000))
    assert newest_link(firmware) == ("uart0", 460800, firmware / "esp32-tflm")


def test_partition_table_has_a_large_factory_app_that_fits_2mb():
    rows = [[f.strip() for f in line.split(",")] for line in (ESP / "partitions.csv").read_text()
            .splitlines() if line.strip() and not line.startswith("#")]
    end = 0x8000 + 0x1000  # the partition table itself
    for name, kind, _subtype, offset, size, *_ in rows:
        offset, size = int(offset, 16), int(size, 16)
        assert offset >= end, f"{name} overlaps the partition before it"
        end = offset + size
        if kind == "app":
            assert name == "factory" and size >= 1536 * 1024 and offset % 0x10000 == 0
    assert end <= 2 * 1024 * 1024


def test_targets_are_registered():
    for chip in CHIPS:
        target = get_target(chip)
        assert (target.name, target.chip.name) == (chip, chip)
        assert set(target.runtimes) == {"tflm", "native"}


# ---- the board layer on the host, against stand-ins for ESP-IDF ----------------------


@needs_cc
@pytest.mark.parametrize("channel", ["uart0", "usb-serial-jtag"])
@pytest.mark.parametrize("cores", [2, 1])
@pytest.mark.parametrize("source", ["platform_esp32.c", "app_main.c"])
def test_board_layer_compiles_without_warnings(tmp_path, channel, cores, source):
    defines = ["-DCONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG=1"] if channel != "uart0" else []
    defines += ["-DSTUB_SINGLE_CORE"] if cores == 1 else []
    subprocess.run([CC, "-std=gnu17", *STRICT, "-O2", f"-I{STUBS / 'include'}", f"-I{APP}",
                    *PROTOCOL, *defines, "-c", str(ESP / "main" / source),
                    "-o", str(tmp_path / "out.o")], check=True)


def _compile_board_layer(tmp_path: Path, *defines: str) -> subprocess.CompletedProcess:
    return subprocess.run([CC, "-std=gnu17", *STRICT, f"-I{STUBS / 'include'}", f"-I{APP}",
                           *PROTOCOL, *defines, "-c", str(ESP / "main" / "platform_esp32.c"),
                           "-o", str(tmp_path / "out.o")], capture_output=True, text=True)


@needs_cc
@pytest.mark.parametrize("channel,console", [
    ("uart0", ["-DCONFIG_ESP_CONSOLE_UART=1", "-DCONFIG_ESP_CONSOLE_UART_NUM=0"]),
    ("usb-serial-jtag", ["-DCONFIG_ESP_CONSOLE_USB_SERIAL_JTAG=1"]),
    ("usb-serial-jtag", ["-DCONFIG_ESP_CONSOLE_UART=1", "-DCONFIG_ESP_CONSOLE_UART_NUM=0",
                         "-DCONFIG_ESP_CONSOLE_SECONDARY_USB_SERIAL_JTAG=1"]),
])
def test_a_console_on_the_protocols_channel_stops_the_build(tmp_path, channel, console):
    """stdout, stderr and TFLite Micro's DebugLog (vfprintf to stderr) go to the
    console, which the log silencing does not reach."""
    defines = ["-DCONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG=1"] if channel != "uart0" else []
    done = _compile_board_layer(tmp_path, *defines, *console)
    assert done.returncode != 0
    name = "UART0" if channel == "uart0" else "USB-Serial-JTAG"
    assert (f"edgemb: the console is on {name}, the protocol's channel: its text (stdout, "
            "stderr, TFLite Micro's DebugLog) would corrupt frames.") in done.stderr


@needs_cc
@pytest.mark.parametrize("channel,console", [
    ("uart0", []),  # CONFIG_ESP_CONSOLE_NONE, the default
    ("uart0", ["-DCONFIG_ESP_CONSOLE_UART=1", "-DCONFIG_ESP_CONSOLE_UART_NUM=1"]),
    ("uart0", ["-DCONFIG_ESP_CONSOLE_USB_SERIAL_JTAG=1"]),
    ("usb-serial-jtag", ["-DCONFIG_ESP_CONSOLE_UART=1", "-DCONFIG_ESP_CONSOLE_UART_NUM=0"]),
])
def test_a_console_elsewhere_is_allowed(tmp_path, channel, console):
    defines = ["-DCONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG=1"] if channel != "uart0" else []
    done = _compile_board_layer(tmp_path, *defines, *console)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("chip", CHIPS)
def test_by_default_no_console_and_no_log_reach_any_channel(chip):
    """What edgemb's defaults leave on the link: nothing but frames (the ROM's
    own boot message aside). stdio, and with it TFLite Micro's DebugLog, goes
    to /dev/null with no console."""
    options = _sdkconfig(ESP / "sdkconfig.defaults", ESP / f"sdkconfig.defaults.{chip}")
    assert options["CONFIG_ESP_CONSOLE_NONE"] == "y"
    assert options["CONFIG_LOG_DEFAULT_LEVEL_NONE"] == "y"
    assert options["CONFIG_BOOTLOADER_LOG_LEVEL_NONE"] == "y"
    if CHIPS[chip].usb_serial_jtag:
        assert options["CONFIG_ESP_CONSOLE_SECONDARY_NONE"] == "y"


def _host_board(tmp_path: Path, *defines: str) -> Path:
    """The ESP32 board layer and app_main on Linux: serial on stdin/stdout, the
    test double as the model runner."""
    program = tmp_path / "esp32-on-host"
    sources = [APP / "protocol.c", APP / "app.c", ESP / "main" / "platform_esp32.c",
               ESP / "main" / "app_main.c", STUBS / "host_idf.c", STUBS / "host_main.c",
               DOUBLES / "runner_test_double.c", DOUBLES / "model_settings_test_double.c"]
    subprocess.run([CC, "-std=gnu17", *STRICT, "-O2", f"-I{STUBS / 'include'}", f"-I{APP}",
                    *PROTOCOL, *defines, *map(str, sources), "-o", str(program)], check=True)
    return program


def _talk(program: Path, data: bytes) -> tuple[list, str]:
    requests = [Hello()]
    chunk = 4096 - 8
    requests += [Load(len(data), o, data[o:o + chunk]) for o in range(0, len(data), chunk)]
    requests.append(Invoke())
    wire = b"".join(encode_message(m, seq) for seq, m in enumerate(requests, start=1))
    done = subprocess.run([str(program)], input=wire, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    replies = [parse_message(frame) for frame in FrameDecoder().feed(done.stdout)]
    return replies, done.stderr.decode()


@needs_cc
@pytest.mark.parametrize("channel,cores", [("uart0", 2), ("usb-serial-jtag", 1), ("uart0", 1)])
def test_board_layer_serves_the_protocol(tmp_path, channel, cores):
    defines = ["-DCONFIG_IDF_TARGET=\"esp32c3\""] if cores == 1 else []
    defines += ["-DSTUB_SINGLE_CORE"] if cores == 1 else []
    if channel == "usb-serial-jtag":
        defines.append("-DCONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG=1")
    data = bytes((i * 7 + 3) % 256 for i in range(runner_double.INPUT_BYTES))
    replies, log = _talk(_host_board(tmp_path, *defines), data)

    info, *acks, result = replies
    assert isinstance(info, Info) and info.ready
    assert info.target == ("esp32c3" if cores == 1 else "esp32")
    assert (info.tick_kind, info.tick_hz, info.cpu_hz) == (TickKind.CYCLES, 240_000_000, 240_000_000)
    assert (info.max_payload, info.window) == (4096, 3)
    assert all(isinstance(a, Ack) for a in acks) and len(acks) == -(-len(data) // 4088)
    assert isinstance(result, Result)
    assert result.output == runner_double.expected_output(data)
    assert result.ticks > 0 and result.time_us == result.ticks // 240

    # Logging silenced first; the task pinned to the last core with a 16 KB stack.
    assert log.index("log level *=0") < log.index("task edgemb")
    assert "log sink replaced" in log
    assert f"task edgemb stack=16384 priority=5 core={cores - 1}" in log
    if channel == "uart0":
        assert "uart0 driver rx=16384 tx=4096" in log and "uart0 baud=921600" in log
        assert "uart0 pins tx=1 rx=3" in log
    else:
        assert "usb_serial_jtag driver rx=16384 tx=4096" in log


@needs_cc
def test_board_layer_times_in_microseconds_when_the_cycle_counter_stands_still(tmp_path):
    replies, _ = _talk(_host_board(tmp_path, "-DSTUB_CYCLES_STOPPED"),
                       bytes(runner_double.INPUT_BYTES))
    info = replies[0]
    assert (info.tick_kind, info.tick_hz, info.cpu_hz) == (TickKind.TIMER, 1_000_000, 240_000_000)
    assert replies[-1].time_us == replies[-1].ticks


@pytest.mark.skipif(shutil.which(CXX) is None, reason=f"needs a C++ compiler ({CXX})")
def test_tflm_runner_compiles_against_the_tflm_api(tmp_path):
    """Against stand-ins for TFLite Micro's API, with an op resolver that registers
    every operator edgemb knows. (Against the real headers of esp-tflite-micro 1.3.0
    and 1.4.0 it was checked too, with ESP-IDF's -Wno-unused-parameter.)"""
    model = tmp_path / "model"
    model.mkdir()
    (model / "op_resolver.h").write_text(c_sources.op_resolver_header(list(TFLM_REGISTRATIONS)))
    (model / "model_data.h").write_text(c_sources.model_data_header("00" * 32))
    subprocess.run([CXX, "-std=gnu++17", *STRICT, "-fno-exceptions", "-fno-rtti",
                    f"-I{STUBS / 'include'}", f"-I{STUBS / 'tflm'}", f"-I{APP}", f"-I{model}",
                    "-c", str(ESP / "main" / "runner_tflm_esp.cc"), "-o", str(tmp_path / "r.o")],
                   check=True)


needs_cxx = pytest.mark.skipif(shutil.which(CXX) is None or shutil.which(CC) is None,
                               reason=f"needs a C and a C++ compiler ({CC}, {CXX})")
TEST_DOUBLE_ARENA = 4096  # tflm_arena_bytes of tests/fixtures/firmware/model_settings_test_double.c


def _esp_tflm_board(tmp_path: Path, *defines: str) -> Path:
    """runner_tflm_esp.cc with the board layer and app_main on Linux, over a fake
    TFLite Micro (tests/fixtures/esp_idf_stubs/tflm_fake.cc: AllocateTensors needs
    STUB_TFLM_ARENA_NEEDED bytes) and a heap whose largest blocks the defines set."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "op_resolver.h").write_text(
        c_sources.op_resolver_header(["CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX"]))
    (model / "model_data.h").write_text(c_sources.model_data_header("00" * 32))
    (model / "model_data.c").write_text(c_sources.model_data_source(bytes(16), "00" * 32))
    include = [f"-I{STUBS / 'include'}", f"-I{APP}", f"-I{model}"]
    objects = []
    for source in (APP / "protocol.c", APP / "app.c", ESP / "main" / "platform_esp32.c",
                   ESP / "main" / "app_main.c", STUBS / "host_idf.c", STUBS / "host_main.c",
                   DOUBLES / "model_settings_test_double.c", model / "model_data.c"):
        objects.append(tmp_path / (source.name + ".o"))
        subprocess.run([CC, "-std=gnu17", *STRICT, *include, *PROTOCOL, *defines, "-c",
                        str(source), "-o", str(objects[-1])], check=True)
    for source in (ESP / "main" / "runner_tflm_esp.cc", STUBS / "tflm_fake.cc"):
        objects.append(tmp_path / (source.name + ".o"))
        subprocess.run([CXX, "-std=gnu++17", *STRICT, "-fno-exceptions", "-fno-rtti",
                        *include, f"-I{STUBS / 'tflm'}", *defines, "-c", str(source),
                        "-o", str(objects[-1])], check=True)
    program = tmp_path / "esp32-tflm-fake"
    subprocess.run([CXX, *map(str, objects), "-o", str(program)], check=True)
    return program


def _heap_log(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith(("heap alloc", "tflm interpreter"))]


@needs_cxx
def test_esp32_tflm_arena_fits_and_info_reports_the_heap(tmp_path):
    program = _esp_tflm_board(tmp_path, "-DCONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES=1024",
                              '-DEM_ESP_TFLM_VERSION="1.3.8"', '-DEM_ESP_NN_VERSION="1.2.3"')
    data = bytes((i * 7 + 3) % 256 for i in range(runner_double.INPUT_BYTES))
    replies, log = _talk(program, data)
    info, result = replies[0], replies[-1]
    assert info.ready and info.runtime == "tflm"
    assert info.runtime_version == "esp-tflite-micro 1.3.8, esp-nn 1.2.3, ESP-NN optimized"
    assert (info.arena_bytes, info.arena_request) == (4096, TEST_DOUBLE_ARENA + 1024)
    assert (info.largest_free_internal, info.largest_free_psram) == (300000, 0)
    assert _heap_log(log) == ["heap alloc 5120 internal -> ok", "tflm interpreter arena=5120"]
    assert result.output == runner_double.expected_output(data)


@needs_cxx
def test_esp32_tflm_without_a_block_for_the_arena_reports_both_sizes(tmp_path):
    """The heap's largest block (3000 bytes) is smaller than the arena measured on
    the host (4096): the runner tries it all the same (a 32-bit target needs less
    than the host), then gives up with -6; INFO carries both figures and verify
    names them."""
    from edgemb.verify_notes import not_ready_message

    program = _esp_tflm_board(tmp_path, "-DCONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES=1024",
                              "-DSTUB_LARGEST_INTERNAL=3000u")
    replies, log = _talk(program, bytes(runner_double.INPUT_BYTES))
    info = replies[0]
    assert (info.ready, info.status, info.status_detail) == (False, 1, -6)
    assert (info.arena_request, info.largest_free_internal, info.largest_free_psram) == (
        5120, 3000, 0)
    assert info.runtime_version == "esp-tflite-micro unknown, esp-nn unknown, ESP-NN optimized"
    # The arena wanted, from internal RAM, then PSRAM; then the largest block
    # (3000 less twice the alignment, rounded down to 16).
    assert _heap_log(log) == ["heap alloc 5120 internal -> NULL", "heap alloc 5120 psram -> NULL",
                              "heap alloc 2960 internal -> ok", "tflm interpreter arena=2960"]
    assert not_ready_message("/dev/ttyUSB0", info) == (
        "the board on /dev/ttyUSB0 cannot run its model: its TFLite Micro arena does not fit: "
        "it asked for 5,120 bytes of contiguous RAM (the arena measured on the host, with "
        "margin, and the chip's ESP-NN scratch allowance, CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES), "
        "and the largest free blocks were 3,000 bytes of internal RAM, no PSRAM; the model does "
        "not fit in the largest. To fix it, use a smaller model (edgemb train --alpha, --size), "
        "a board with PSRAM (CONFIG_SPIRAM=y in the project's sdkconfig.user), or --runtime "
        "native, whose arena is smaller")


@needs_cxx
def test_verify_stops_at_a_board_whose_arena_does_not_fit_and_names_both_sizes(tmp_path):
    """The same board on a pseudo-terminal, through verify's handshake: it
    answers INFO, cannot run its model, and verify says why instead of
    sending samples to it."""
    import hashlib
    import queue
    import tty

    from edgemb.commands.verify import BoardWorker, VerifyError, VerifyOptions

    program = _esp_tflm_board(tmp_path, "-DCONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES=1024",
                              "-DSTUB_LARGEST_INTERNAL=3000u")
    master, slave = os.openpty()
    tty.setraw(slave)
    board = subprocess.Popen([str(program)], stdin=master, stdout=master,
                             stderr=subprocess.DEVNULL)
    port = os.ttyname(slave)
    try:
        worker = BoardWorker(port, VerifyOptions([port], timeout=0.5), b"edgemb test double",
                             None, None, queue.Queue(), None, lambda: None)
        assert worker.model_fingerprint == hashlib.sha256(b"edgemb test double").hexdigest()
        with pytest.raises(VerifyError) as error:
            worker._connect()
    finally:
        board.kill()
        board.wait()
        os.close(master)
        os.close(slave)
    info = worker.report.info
    assert (info["status"], info["status_detail"], info["arena_request"],
            info["largest_free_internal"], info["largest_free_psram"]) == (1, -6, 5120, 3000, 0)
    assert str(error.value).startswith(
        f"the board on {port} cannot run its model: its TFLite Micro arena does not fit: it "
        "asked for 5,120 bytes of contiguous RAM")
    assert "the largest free blocks were 3,000 bytes of internal RAM, no PSRAM" in str(error.value)


@needs_cxx
def test_esp32_tflm_retries_in_the_largest_block_when_esp_nn_needs_more_scratch(tmp_path):
    program = _esp_tflm_board(tmp_path, "-DCONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES=1024",
                              "-DSTUB_TFLM_ARENA_NEEDED=6000u", "-DCONFIG_NN_SKIP_NUDGE=1")
    replies, log = _talk(program, bytes(runner_double.INPUT_BYTES))
    info = replies[0]
    assert info.ready and (info.arena_bytes, info.arena_request) == (6000, 5120)
    assert info.runtime_version.endswith(
        "ESP-NN optimized, fast requantization (CONFIG_NN_SKIP_NUDGE)")
    assert _heap_log(log) == ["heap alloc 5120 internal -> ok", "tflm interpreter arena=5120",
                              "heap alloc 299968 internal -> ok", "tflm interpreter arena=299968"]


@needs_cxx
def test_esp32_tflm_that_cannot_allocate_even_in_the_largest_block(tmp_path):
    from edgemb.verify_notes import not_ready_message

    program = _esp_tflm_board(tmp_path, "-DCONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES=1024",
                              "-DSTUB_TFLM_ARENA_NEEDED=10000u", "-DSTUB_LARGEST_INTERNAL=8000u")
    replies, log = _talk(program, bytes(runner_double.INPUT_BYTES))
    info = replies[0]
    assert (info.status, info.status_detail) == (1, -3)
    assert (info.arena_request, info.largest_free_internal, info.largest_free_psram) == (
        5120, 8000, 0)
    assert _heap_log(log) == ["heap alloc 5120 internal -> ok", "tflm interpreter arena=5120",
                              "heap alloc 7968 internal -> ok", "tflm interpreter arena=7968"]
    message = not_ready_message("/dev/ttyACM0", info)
    assert ("and the largest free blocks were 8,000 bytes of internal RAM, no PSRAM; TFLite "
            "Micro with ESP-NN could not allocate its tensors in the largest either.") in message


@needs_cxx
def test_esp32_tflm_arena_from_psram_when_internal_ram_is_short(tmp_path):
    program = _esp_tflm_board(tmp_path, "-DCONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES=1024",
                              "-DSTUB_LARGEST_INTERNAL=3000u", "-DSTUB_LARGEST_PSRAM=4000000u")
    replies, log = _talk(program, bytes(runner_double.INPUT_BYTES))
    assert replies[0].ready and replies[0].largest_free_psram == 4000000
    assert _heap_log(log) == ["heap alloc 5120 internal -> NULL", "heap alloc 5120 psram -> ok",
                              "tflm interpreter arena=5120"]


ESP_TFLM_DIR = os.environ.get("EDGEMB_ESP_TFLM_DIR")
TFLM_SOURCES = [  # TFLite Micro with the reference kernels of the operators of quantized_run
    *(f"tensorflow/lite/micro/{n}.cc" for n in (
        "debug_log", "flatbuffer_utils", "memory_helpers", "micro_allocation_info", "micro_allocator",
        "micro_context", "micro_interpreter", "micro_interpreter_context", "micro_interpreter_graph",
        "micro_log", "micro_op_resolver", "micro_profiler", "micro_resource_variable", "micro_time",
        "micro_utils", "system_setup", "tflite_bridge/flatbuffer_conversions_bridge",
        "tflite_bridge/micro_error_reporter", "memory_planner/greedy_memory_planner",
        "memory_planner/linear_memory_planner",
        "arena_allocator/non_persistent_arena_buffer_allocator",
        "arena_allocator/persistent_arena_buffer_allocator",
        "arena_allocator/single_arena_buffer_allocator")),
    *(f"tensorflow/lite/micro/kernels/{n}.cc" for n in (
        "conv", "conv_common", "depthwise_conv", "depthwise_conv_common", "reshape", "reshape_common",
        "softmax", "softmax_common", "kernel_util", "fully_connected", "fully_connected_common",
        "pooling", "pooling_common", "reduce", "reduce_common", "add", "add_common", "pad",
        "pad_common", "quantize", "quantize_common", "dequantize", "dequantize_common", "mul",
        "mul_common")),
    *(f"tensorflow/lite/{n}.cc" for n in (
        "core/c/common", "core/api/flatbuffer_conversions", "core/api/tensor_utils",
        "kernels/kernel_util", "kernels/internal/common", "kernels/internal/quantization_util",
        "kernels/internal/portable_tensor_utils", "kernels/internal/tensor_utils",
        "kernels/internal/tensor_ctypes", "kernels/internal/reference/portable_tensor_utils")),
    "tensorflow/compiler/mlir/lite/core/api/error_reporter.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
]


@pytest.mark.slow
@pytest.mark.skipif(not ESP_TFLM_DIR, reason=(
    "set EDGEMB_ESP_TFLM_DIR to a checkout of espressif/esp-tflite-micro to run the ESP32 "
    "TFLite Micro runner on the host (reference kernels) against the tflite-micro reference"))
def test_tflm_runner_matches_tflite_micro_on_the_host(quantized_run, tmp_path):
    """runner_tflm_esp.cc, the board layer and app_main on Linux, with TFLite Micro's
    reference kernels from an esp-tflite-micro tree: heap arena, op resolver,
    per-operator ticks and outputs, against the tflite-micro Python package."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from edgemb.export.exporter import export
    from edgemb.link.messages import OpTimes, OpTimesRequest
    from edgemb.reference import TflmReference
    from edgemb.tflite import parse_tflite

    tree = Path(ESP_TFLM_DIR)
    third = [f"-I{tree / 'third_party' / d}" for d in ("flatbuffers/include", "gemmlowp", "ruy")]
    cxx = [CXX, "-std=gnu++17", "-O1", "-fno-exceptions", "-fno-rtti", "-DTF_LITE_STATIC_MEMORY",
           f"-I{tree}", *third]
    objects = [tmp_path / (s.replace("/", "_") + ".o") for s in TFLM_SOURCES if (tree / s).exists()]

    def compile_tflm(obj: Path) -> None:
        source = next(tree / s for s in TFLM_SOURCES if s.replace("/", "_") + ".o" == obj.name)
        subprocess.run([*cxx, "-w", "-c", str(source), "-o", str(obj)], check=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(compile_tflm, objects))
    exported = export(quantized_run.tflite_file, tmp_path / "model", None, "tflm")
    model, settings = tmp_path / "model", exported.settings
    sizes = [f"-DEM_APP_MAX_INPUT_BYTES={settings['input_bytes']}u",
             f"-DEM_APP_MAX_OUTPUT_BYTES={settings['output_bytes']}u",
             f"-DEM_APP_MAX_OPS={settings['op_count']}u"]
    include = [f"-I{STUBS / 'include'}", f"-I{APP}", f"-I{model}"]
    for source in (APP / "protocol.c", APP / "app.c", ESP / "main" / "platform_esp32.c",
                   ESP / "main" / "app_main.c", STUBS / "host_idf.c", STUBS / "host_main.c",
                   model / "model_data.c", model / "model_settings.c"):
        objects.append(tmp_path / (source.name + ".o"))
        subprocess.run([CC, "-std=gnu17", *STRICT, *include, *PROTOCOL, *sizes, "-c", str(source),
                        "-o", str(objects[-1])], check=True)
    objects.append(tmp_path / "runner.o")
    subprocess.run([*cxx, *STRICT, "-Wno-unused-parameter", *include, "-c",
                    str(ESP / "main" / "runner_tflm_esp.cc"), "-o", str(objects[-1])], check=True)
    program = tmp_path / "esp32-tflm-on-host"
    subprocess.run([CXX, *map(str, objects), "-o", str(program)], check=True)

    reference = TflmReference(quantized_run.tflite_file.read_bytes())
    shape = tuple(parse_tflite(reference.model_bytes).input_tensors[0].shape[1:])
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(4)]
    requests = [Hello()]
    for x in inputs:
        requests += [Load(x.size, 0, x.tobytes()), Invoke(), OpTimesRequest()]
    wire = b"".join(encode_message(m, seq) for seq, m in enumerate(requests, start=1))
    done = subprocess.run([str(program)], input=wire, capture_output=True, timeout=120)
    replies = [parse_message(frame) for frame in FrameDecoder().feed(done.stdout)]
    info = replies[0]
    assert info.ready and info.runtime == "tflm" and 0 < info.arena_bytes <= exported.tflm_arena_bytes
    results = [r for r in replies if isinstance(r, Result)]
    assert [r.output for r in results] == [reference.invoke(x).tobytes() for x in inputs]
    op_times = [r for r in replies if isinstance(r, OpTimes)][0]
    assert len(op_times.ops) == settings["op_count"] and all(op.ticks > 0 for op in op_times.ops)


# ---- sizes --------------------------------------------------------------------------


def test_sizes_per_part_from_an_esp_idf_link_map():
    parts = {"board": ["app_main.c", "platform_esp32.c"], "application": ["protocol.c", "app.c"],
             "runtime": ["runner_tflm_esp.cc"], "model": ["model_settings.c", "model_data.c"]}
    sizes = sizes_from_map(FIXTURES / "edgemb.map", parts)
    assert sizes["model"] == {"text": 0x6a10 + 0x88, "data": 0, "bss": 0}
    assert sizes["application"] == {"text": 0x14 + 0x9a + 0x40 + 0x400, "data": 0,
                                    "bss": 0x70 + 0x1006 + 0x18}
    assert sizes["board"] == {"text": 0x88 + 0x2c, "data": 4, "bss": 4}
    assert sizes["runtime"] == {"text": 0x7c + 0x3c, "data": 0, "bss": 0x170}
    assert sizes[TFLM_PART] == {"text": 0x1c4 + 0x610, "data": 0, "bss": 0}
    assert sizes[IDF_PART] == {"text": 0x403 + 0x24 + 0x5c + 0x88, "data": 8 + 0xf0, "bss": 0x40}


@pytest.mark.parametrize("name", ["size_legacy.json", "size_json2.json"])
def test_memory_summary_from_idf_size(name):
    summary = memory_summary(json.loads((FIXTURES / name).read_text()))
    assert summary["DRAM"] == {"used": 45856, "total": 180736}
    assert summary["IRAM"] == {"used": 57214, "total": 131072}


# ---- edgemb flash -------------------------------------------------------------------


@pytest.fixture
def built(tmp_path):
    """A run folder with a finished ESP32 build: the recorded flasher_args.json and
    the files it names."""
    from edgemb.run import RunFolder

    run = RunFolder(tmp_path / "run")
    build_dir = run.firmware_dir / "esp32-tflm" / "build"
    for name in ("bootloader/bootloader.bin", "partition_table/partition-table.bin", "edgemb.bin"):
        (build_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (build_dir / name).write_bytes(b"\xe9" + bytes(31))
    shutil.copy(FIXTURES / "flasher_args.json", build_dir / "flasher_args.json")
    (build_dir.parent / "CMakeLists.txt").write_text("project(edgemb)\n")
    return run, build_dir


@pytest.fixture
def pty_port():
    """A serial port that exists and opens: a pseudo-terminal."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_esptool_arguments_from_flasher_args(built):
    from edgemb.commands.flash import esptool_command, load_flash_plan

    _, build_dir = built
    plan = load_flash_plan(build_dir, "esp32")
    command = esptool_command(plan, "/dev/ttyUSB0", 460800, major=5)
    assert command[1:] == [
        "-m", "esptool", "--chip", "esp32", "-p", "/dev/ttyUSB0", "-b", "460800",
        "--before", "default-reset", "--after", "hard-reset",
        "write-flash", "--flash-mode", "dio", "--flash-size", "2MB", "--flash-freq", "80m",
        "0x1000", "bootloader/bootloader.bin", "0x8000", "partition_table/partition-table.bin",
        "0x10000", "edgemb.bin"]
    legacy = esptool_command(plan, "/dev/ttyUSB0", 460800, major=4)
    assert legacy[legacy.index("--before"):legacy.index("0x1000")] == [
        "--before", "default_reset", "--after", "hard_reset",
        "write_flash", "--flash_mode", "dio", "--flash_size", "2MB", "--flash_freq", "80m"]


def test_esptool_arguments_are_accepted_by_the_installed_esptool(built, tmp_path):
    """esptool parses the command as far as opening the port (which does not exist)."""
    pytest.importorskip("esptool", reason="esptool comes with edgemb[esp]")
    from edgemb.commands.flash import esptool_command, esptool_major, load_flash_plan

    _, build_dir = built
    missing = str(tmp_path / "ttyUSB9")
    command = esptool_command(load_flash_plan(build_dir, "esp32"), missing, 460800, esptool_major())
    done = subprocess.run(command, cwd=build_dir, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Usage:" not in output and "No such option" not in output
    assert missing in output


def test_flash_without_a_build_says_to_build_with_esp_idf(tmp_path):
    from edgemb.commands.flash import FlashError, flash
    from edgemb.run import RunFolder

    run = RunFolder(tmp_path / "run")
    with pytest.raises(FlashError) as error:
        flash(run, "esp32", "/dev/ttyUSB0")
    assert error.value.exit_code == 2
    assert "flasher_args.json is missing" in str(error.value)
    assert f"edgemb build --target esp32 --run {run.path}` on a machine with ESP-IDF" in str(error.value)


def test_flash_of_a_project_not_yet_built_gives_the_idf_commands(built):
    from edgemb.commands.flash import FlashError, flash

    run, build_dir = built
    (build_dir / "flasher_args.json").unlink()
    with pytest.raises(FlashError) as error:
        flash(run, "esp32", "/dev/ttyUSB0")
    assert f"cd {build_dir.parent} && idf.py set-target esp32 && idf.py build" in str(error.value)


def test_flash_to_a_missing_port_lists_the_ports(built, tmp_path):
    from edgemb.commands.flash import FlashError, flash

    run, _ = built
    with pytest.raises(FlashError) as error:
        flash(run, "esp32", str(tmp_path / "ttyUSB7"))
    assert "no such device" in str(error.value) and "serial ports here:" in str(error.value)


def test_flash_to_a_port_without_permission_says_join_dialout(built, tmp_path, monkeypatch):
    import edgemb.link.ports as ports
    from edgemb.commands.flash import FlashError, flash

    run, _ = built
    port = tmp_path / "ttyUSB0"
    port.touch()

    def denied(name, **_):
        raise ports.port_error(name, PermissionError(13, "Permission denied"))

    monkeypatch.setattr(ports, "open_port", denied)
    with pytest.raises(FlashError) as error:
        flash(run, "esp32", str(port))
    assert "sudo usermod -aG dialout $USER" in str(error.value)
    assert "log out and in" in str(error.value)


def test_flash_to_a_busy_port_says_it_is_busy(built, pty_port):
    from edgemb.commands.flash import FlashError, flash
    from edgemb.link.ports import open_port

    run, _ = built
    holder = open_port(pty_port)  # another program holding the port, as a serial monitor does
    try:
        with pytest.raises(FlashError) as error:
            flash(run, "esp32", pty_port)
    finally:
        holder.close()
    assert "busy" in str(error.value)


def test_flash_refuses_a_board_of_another_chip(built, pty_port, monkeypatch):
    import edgemb.commands.flash as flashing

    run, _ = built
    monkeypatch.setattr(flashing, "detect_chip", lambda port, baud=115200: "ESP32-S3")
    monkeypatch.setattr(flashing, "_run", lambda command, cwd: pytest.fail("must not flash"))
    with pytest.raises(flashing.BoardMismatch) as error:
        flashing.flash(run, "esp32", pty_port)
    assert error.value.exit_code == 4
    assert str(error.value).startswith(
        f"the board on {pty_port} is an ESP32-S3, the build is for esp32: rebuild with --target esp32s3")


def test_flash_refuses_a_build_made_for_another_chip(built):
    import edgemb.commands.flash as flashing

    _, build_dir = built
    args = json.loads((build_dir / "flasher_args.json").read_text())
    args["extra_esptool_args"]["chip"] = "esp32c3"
    (build_dir / "flasher_args.json").write_text(json.dumps(args))
    with pytest.raises(flashing.BoardMismatch, match="is a build for esp32c3, not esp32"):
        flashing.load_flash_plan(build_dir, "esp32")


def test_flash_with_esptool(built, pty_port, monkeypatch):
    import edgemb.commands.flash as flashing

    run, build_dir = built
    ran = []
    monkeypatch.setattr(flashing, "detect_chip", lambda port, baud=115200: "ESP32")
    monkeypatch.setattr(flashing, "_run", lambda command, cwd: ran.append((command, cwd)) or 0)
    result = flashing.flash(run, "esp32", pty_port, 921600, use_idf=False)
    plan = flashing.load_flash_plan(build_dir, "esp32")
    assert ran == [(flashing.esptool_command(plan, pty_port, 921600, flashing.esptool_major()),
                    build_dir)]
    assert (result.method, result.chip) == ("esptool", "ESP32")


def test_flash_with_idf_py_where_it_is_installed(built, pty_port, monkeypatch, tmp_path):
    import edgemb.commands.flash as flashing

    run, build_dir = built
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "idf_args"
    idf = bin_dir / "idf.py"
    idf.write_text(f"#!/bin/sh\necho \"$@\" > {record}\n")
    idf.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(flashing, "detect_chip", lambda port, baud=115200: "ESP32")
    result = flashing.flash(run, "esp32", pty_port, 460800)
    assert result.method == "idf.py"
    assert record.read_text().split() == ["-C", str(build_dir.parent), "-p", pty_port, "-b",
                                          "460800", "flash"]


def test_flash_is_for_esp_targets_only(tmp_path):
    from edgemb.commands.flash import FlashError, flash
    from edgemb.run import RunFolder

    with pytest.raises(FlashError, match="edgemb emulate"):
        flash(RunFolder(tmp_path), "mps2-an386", "/dev/ttyUSB0")


# ---- with ESP-IDF ------------------------------------------------------------------


def _idf_available() -> bool:
    return shutil.which("idf.py") is not None or bool(os.environ.get("IDF_PATH"))


@pytest.mark.slow
@pytest.mark.skipif(not _idf_available(), reason=(
    "ESP-IDF is not installed: set IDF_PATH to an ESP-IDF 5.1+ tree whose install.sh has run "
    "(or put idf.py on PATH) to build the firmware for esp32, esp32s3 and esp32c3; the first "
    "build downloads espressif/esp-tflite-micro from the component registry"))
@pytest.mark.parametrize("chip", CHIPS)
def test_builds_with_esp_idf_for_every_chip(quantized_run, chip):
    from edgemb.commands.build import build

    result = build(quantized_run, chip, "tflm")
    assert result.artifact.exists()
    assert result.sizes["model"]["text"] > quantized_run.tflite_file.stat().st_size
    args = json.loads((result.project_dir / "build" / "flasher_args.json").read_text())
    offsets = {int(k, 16) for k in args["flash_files"]}
    assert {CHIPS[chip].bootloader_offset, 0x8000, 0x10000} <= offsets


def test_finish_commands_name_a_brought_model(tmp_path):
    """A project built with --model is flashed with --model and --out, not --run."""
    folder = tmp_path / "edgemb-person"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(b"TFL3")
    project = folder / "firmware" / "esp32-tflm"
    assert finish_commands(project, "esp32", folder)[-1] == (
        f"edgemb flash --target esp32 --model {folder / 'model.tflite'} --out {folder} --port PORT")
