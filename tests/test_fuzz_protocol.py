"""tools/fuzz_protocol: libFuzzer with ASan and UBSan on the firmware application."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fuzzer_finds_no_crash_in_20_seconds(tmp_path):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (apt-get install clang libclang-rt-14-dev)")
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "fuzz_protocol"), "20", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=180,
    )
    if "-fsanitize=fuzzer" in done.stderr and "cannot find" in done.stderr:
        pytest.skip("clang's libFuzzer runtime is missing (apt-get install libclang-rt-14-dev)")
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    executions = int(re.search(r"(\d+) executions", done.stdout).group(1))
    assert executions > 10_000
