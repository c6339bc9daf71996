"""Flash and RAM per part of a firmware, read from the GNU linker's map file.

The map lists every input section kept after garbage collection with its size and
the object it came from, so the figures are what the program really holds.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from edgemb.targets.tflm import LIBRARY_NAME as TFLM_LIBRARY

_ENTRY = re.compile(r"^ (\.[\w.$]+|COMMON)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$")
_NAME_ONLY = re.compile(r"^ (\.[\w.$]+|COMMON)$")


def section_kind(name: str) -> str | None:
    if name.startswith((".text", ".rodata", ".srodata", ".vectors", ".ARM.exidx", ".ARM.extab",
                        ".init_array", ".preinit_array")):
        return "text"
    if name.startswith((".data", ".sdata")):
        return "data"
    if name.startswith((".bss", ".sbss", "COMMON")):
        return "bss"
    return None


PARTS = {"_app_": "application", "_runtime_": "runtime", "_target_": "board", "_model_": "model"}


def part_of(source: str, project_dir: Path) -> str:
    """Which part of the project an object belongs to. Objects are named after their
    source's path with '/' turned into '_' (see the target Makefiles)."""
    if Path(source.split("(")[0]).name == TFLM_LIBRARY:
        return "runtime"  # the tflm runtime: TensorFlow Lite Micro, built by edgemb
    if ".a(" in source or source.endswith(".a"):
        return "C/C++ libraries"
    name = Path(source).name
    prefix = str(project_dir).replace("/", "_")
    rest = name[len(prefix):] if name.startswith(prefix) else name
    for marker, part in PARTS.items():
        if rest.startswith(marker):
            return part
    return "other"


def sizes_by_part(map_file: Path, project_dir: Path) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"text": 0, "data": 0, "bss": 0})
    text = map_file.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    pending = None
    for line in text[start:].splitlines():
        if pending is not None:
            line = f" {pending} {line.strip()}"
            pending = None
        name_only = _NAME_ONLY.match(line)
        if name_only:
            pending = name_only.group(1)
            continue
        entry = _ENTRY.match(line)
        if not entry:
            continue
        name, address, size, source = entry.groups()
        kind = section_kind(name)
        if kind and int(address, 16) and int(size, 16):
            totals[part_of(source, project_dir)][kind] += int(size, 16)
    return {part: dict(sizes) for part, sizes in sorted(totals.items())}
