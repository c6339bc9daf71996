"""Targets built with make from edgemb's own Makefiles: `host`, `mps2-an386` and
`riscv32-virt`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgemb.export.exporter import ExportResult
from edgemb.targets.base import BuildResult, Emulator, Target, TargetError, run_build
from edgemb.targets.mapfile import sizes_by_part
from edgemb.targets.project import FirmwareProject, app_defines, write_project
from edgemb.targets.tflm import TflmLibrary, TflmToolchain, find_tree, prepare_library


class MakeTarget(Target):
    artifact_name = "firmware"
    protocol_defines: tuple[str, ...] = ()
    tflm_toolchain: TflmToolchain | None = None  # how this target compiles TFLite Micro

    def build(self, project_dir: Path, export: ExportResult, tflm_dir: Path | None = None,
              tflm_third_party: Path | None = None) -> BuildResult:
        """tflm_dir / tflm_third_party: the TFLite Micro tree and its third-party
        headers for the tflm runtime (see edgemb.targets.tflm.find_tree)."""
        self.check_tools()
        self.check_runtime(export.runtime)
        project, library = self.write(project_dir, export, tflm_dir, tflm_third_party)
        jobs = f"-j{min(os.cpu_count() or 1, 2)}"
        if library is not None:
            run_build(["make", "-s", jobs, "-f", str(library.makefile)],
                      f"building TensorFlow Lite Micro from {library.tree.root} for {self.name} "
                      f"into {library.directory} (done once, then reused)")
        run_build(["make", "-s", jobs, "-C", str(project.path)],
                  f"building the {self.name} firmware in {project.path}")
        map_file = Path(f"{project.artifact}.map")
        sizes = sizes_by_part(map_file, project.path) if map_file.exists() else {}
        result = BuildResult(self.name, export.runtime, project.path, project.artifact, sizes,
                             arena_bytes=self.arena_bytes(export))
        (project.path / "build" / "build.json").write_text(json.dumps({
            "target": self.name, "runtime": export.runtime, "artifact": str(project.artifact),
            "fingerprint": export.fingerprint, "sizes": sizes, "arena_bytes": result.arena_bytes,
        }, indent=1) + "\n")
        return result

    def write(self, project_dir: Path, export: ExportResult, tflm_dir: Path | None = None,
              tflm_third_party: Path | None = None
              ) -> tuple[FirmwareProject, TflmLibrary | None]:
        """The firmware project (and, for tflm, the TFLite Micro library it links)."""
        defines = app_defines(export) + list(self.protocol_defines)
        if export.runtime != "tflm":
            return write_project(project_dir, self.name, export.runtime, export.out_dir, export,
                                 self.artifact_name, defines, self.extra_make()), None
        library = prepare_library(find_tree(tflm_dir, tflm_third_party), self.tflm_toolchain)
        lib = library.path
        # The target Makefiles do not know the library: relink when it is newer.
        prelude = (f"\n\t$(MAKE) -f {library.makefile}"
                   f"\n\t@if [ {lib} -nt $(OUT) ]; then rm -f $(OUT); fi")
        extra = self.extra_make() + f' \\\n\t  LDLIBS="{lib}"' + self.tflm_extra_make()
        project = write_project(project_dir, self.name, export.runtime, export.out_dir, export,
                                self.artifact_name,
                                defines + library.firmware_defines(export.tflm_arena_bytes),
                                extra, library.includes(), prelude)
        return project, library

    def extra_make(self) -> str:
        return ""

    def tflm_extra_make(self) -> str:
        return ""

    @staticmethod
    def arena_bytes(export: ExportResult) -> int:
        if export.runtime == "native" and export.native:
            return int(export.native.get("arena_bytes", 0))
        return export.tflm_arena_bytes


class HostTarget(MakeTarget):
    name = "host"
    runtimes = ("native", "tflm")
    required_tools = {"cc": "build-essential", "make": "make"}
    artifact_name = "edgemb-host"
    tflm_toolchain = TflmToolchain("host", "cc", "c++", "ar")

    def extra_make(self) -> str:
        return ' \\\n\t  LDFLAGS="-Wl,-Map=$(OUT).map"'

    def tflm_extra_make(self) -> str:
        # The host Makefile leaves C++ flags to the caller; TFLite Micro's are these.
        return (' \\\n\t  CXXFLAGS="-O2 -g -std=c++17 -fno-exceptions -fno-rtti '
                '-fno-threadsafe-statics -Wall -Wextra"')


class Mps2An386Target(MakeTarget):
    name = "mps2-an386"
    runtimes = ("native", "tflm")
    required_tools = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "make": "make"}
    artifact_name = "firmware.elf"
    # SysTick counts the 25 MHz core clock: 40 ns, 40 instructions under -icount shift=0.
    emulator = Emulator("qemu-system-arm", "qemu-system-arm", ("-M", "mps2-an386"), 40)
    # The RX ring holds 8 KiB: three frames of 2 KiB in flight fit with room to spare.
    protocol_defines = ("-DEM_PROTO_MAX_PAYLOAD=2048u", "-DEM_PROTO_WINDOW=3u")
    # The flags of the target Makefile's ARCH_FLAGS plus those of TFLite Micro's
    # cortex_m_generic build; its debug log goes to a callback, never to the UART.
    tflm_toolchain = TflmToolchain(
        "mps2-an386", "arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-ar",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
         "-funsigned-char", "-fomit-frame-pointer"),
        (("tensorflow/lite/micro/debug_log.cc",
          "tensorflow/lite/micro/cortex_m_generic/debug_log.cc"),))


PICOLIBC_SPECS = "/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs"


class Riscv32VirtTarget(MakeTarget):
    """QEMU's RISC-V virt machine as a bare-metal RV32IMC core: the ESP32-C3's
    instruction set, so the native kernels' portable C path runs as on that chip."""

    name = "riscv32-virt"
    runtimes = ("native",)
    required_tools = {"riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
                      "make": "make"}
    artifact_name = "firmware.elf"
    # -bios none: no OpenSBI, the firmware runs in machine mode from the reset vector.
    # The CLINT timer runs at 10 MHz: 100 instructions a tick under -icount shift=0.
    emulator = Emulator("qemu-system-riscv32", "qemu-system-misc",
                        ("-M", "virt", "-bios", "none"), 100)
    # The same 8 KiB receive ring as mps2-an386.
    protocol_defines = ("-DEM_PROTO_MAX_PAYLOAD=2048u", "-DEM_PROTO_WINDOW=3u")

    def check_tools(self) -> None:
        super().check_tools()
        if not Path(PICOLIBC_SPECS).exists():
            raise TargetError("picolibc for RISC-V is not installed: the riscv32-virt target "
                              "links it; install it with `sudo apt-get install "
                              "picolibc-riscv64-unknown-elf` (or run tools/setup)")
