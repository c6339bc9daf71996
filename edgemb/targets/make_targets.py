"""Targets built with make from edgemb's own Makefiles: `host` and `mps2-an386`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgemb.export.exporter import ExportResult
from edgemb.targets.base import BuildResult, Target, run_build
from edgemb.targets.mapfile import sizes_by_part
from edgemb.targets.project import app_defines, write_project


class MakeTarget(Target):
    artifact_name = "firmware"
    protocol_defines: tuple[str, ...] = ()

    def build(self, project_dir: Path, export: ExportResult) -> BuildResult:
        self.check_tools()
        self.check_runtime(export.runtime)
        defines = app_defines(export) + list(self.protocol_defines)
        project = write_project(project_dir, self.name, export.runtime, export.out_dir, export,
                                self.artifact_name, defines, self.extra_make())
        jobs = f"-j{min(os.cpu_count() or 1, 2)}"
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

    def extra_make(self) -> str:
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

    def extra_make(self) -> str:
        return ' \\\n\t  LDFLAGS="-Wl,-Map=$(OUT).map"'


class Mps2An386Target(MakeTarget):
    name = "mps2-an386"
    runtimes = ("native", "tflm")
    required_tools = {"arm-none-eabi-gcc": "gcc-arm-none-eabi", "make": "make"}
    artifact_name = "firmware.elf"
    # The RX ring holds 8 KiB: three frames of 2 KiB in flight fit with room to spare.
    protocol_defines = ("-DEM_PROTO_MAX_PAYLOAD=2048u", "-DEM_PROTO_WINDOW=3u")
