"""The firmware's CRC-32 equals zlib's for every length, alignment and starting
value: the portable tables, one byte and eight bytes a step."""

from __future__ import annotations

import ctypes
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "firmware" / "app"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wshadow"]

VARIANTS = {
    "table": ["-DEM_CRC32_SLICES=1"],
    "sliced": ["-DEM_CRC32_SLICES=8"],
}


def _compiler() -> str:
    for name in ("gcc", "clang", "cc"):
        if shutil.which(name):
            return name
    pytest.skip("no C compiler")


@pytest.fixture(scope="module", params=list(VARIANTS))
def crc_library(request, tmp_path_factory):
    flags = VARIANTS[request.param]
    sources = [APP / "protocol.c"]
    library = tmp_path_factory.mktemp(request.param) / "libcrc.so"
    subprocess.run([_compiler(), *STRICT, "-O2", "-shared", "-fPIC", *flags, f"-I{APP}",
                    *map(str, sources), "-o", str(library)], check=True)
    lib = ctypes.CDLL(str(library))
    lib.em_crc32_update.restype = ctypes.c_uint32
    lib.em_crc32_update.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    return lib


def _c_crc(lib, start: int, data: bytes, offset: int) -> int:
    # Passing a slice of a longer buffer at `offset` puts the data at every
    # alignment, which the 16-byte loads of the fast path must not care about.
    buffer = ctypes.create_string_buffer(bytes(offset) + data, offset + len(data))
    pointer = ctypes.cast(ctypes.byref(buffer, offset), ctypes.c_char_p)
    return lib.em_crc32_update(start, pointer, len(data))


def test_check_value(crc_library):
    assert _c_crc(crc_library, 0, b"123456789", 0) == 0xCBF43926


@pytest.mark.parametrize("length", [0, 1, 15, 16, 63, 64, 65, 79, 80, 127, 128, 129, 191, 255,
                                    256, 1000, 16390, 27654])
def test_matches_zlib_at_each_boundary(crc_library, length):
    rng = random.Random(length)
    data = rng.randbytes(length)
    for offset in range(4):
        start = rng.getrandbits(32)
        assert _c_crc(crc_library, start, data, offset) == zlib.crc32(data, start), offset


def test_matches_zlib_on_random_buffers(crc_library):
    rng = random.Random(11)
    for _ in range(2000):
        data = rng.randbytes(rng.choice([rng.randrange(300), rng.randrange(40000)]))
        start, offset = rng.getrandbits(32), rng.randrange(16)
        assert _c_crc(crc_library, start, data, offset) == zlib.crc32(data, start)


def test_continues_over_pieces(crc_library):
    data = random.Random(3).randbytes(5000)
    crc = 0
    for cut in range(0, 5000, 777):
        crc = _c_crc(crc_library, crc, data[cut : cut + 777], 0)
    assert crc == zlib.crc32(data)
