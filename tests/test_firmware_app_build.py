"""The portable firmware application compiles cleanly: C99, -Wall -Wextra
-Werror -pedantic, with gcc and clang, and for a 32-bit Cortex-M4."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "firmware" / "app"
SOURCES = [
    APP / "protocol.c", APP / "app.c", APP / "main.c",
    REPO / "firmware" / "targets" / "host" / "platform_host.c",
    REPO / "tests" / "fixtures" / "firmware" / "runner_test_double.c",
    REPO / "tests" / "fixtures" / "firmware" / "model_settings_test_double.c",
]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wshadow"]


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_compiles_without_warnings(compiler, source, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    subprocess.run([compiler, *STRICT, "-O2", f"-I{APP}", "-c", str(source),
                    "-o", str(tmp_path / "out.o")], check=True)


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_sliced_crc_compiles_without_warnings(compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    subprocess.run([compiler, *STRICT, "-O2", "-DEM_CRC32_SLICES=8", f"-I{APP}", "-c",
                    str(APP / "protocol.c"), "-o", str(tmp_path / "out.o")], check=True)


@pytest.mark.parametrize("source", SOURCES[:3], ids=lambda p: p.name)
def test_compiles_for_cortex_m4(source, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-Os", *STRICT,
                    f"-I{APP}", "-c", str(source), "-o", str(tmp_path / "out.o")], check=True)
