"""TensorFlow Lite Micro from a source tree, for the `tflm` runtime of make targets.

Finds a tensorflow/lite/micro checkout (--tflm-dir, $EDGEMB_TFLM_DIR, or a pinned
commit cloned into edgemb's cache when the network allows) and the headers of the
third-party libraries TFLite Micro's download scripts pin (flatbuffers, gemmlowp,
ruy, kissfft), lists the library sources the tree's own Makefile compiles, and
writes a Makefile that builds them into a static library once per (tree, target),
in edgemb's cache: -Os for the core and -O2 for the kernels, -DTF_LITE_STATIC_MEMORY,
as TFLite Micro's own cortex_m_generic build does, with -DNDEBUG (its release_with_logs
build type).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgemb.targets.base import TargetError

GIT_URL = "https://github.com/tensorflow/tflite-micro"
# The tree the tflite-micro Python package (edgemb's reference) was checked against.
PINNED_COMMIT = "90b983c2b3f1480642e040bbd2ddb37b998f3424"
ENV_DIR = "EDGEMB_TFLM_DIR"
ENV_THIRD_PARTY = "EDGEMB_TFLM_THIRD_PARTY"
ENV_GIT_URL = "EDGEMB_TFLM_GIT_URL"  # a mirror of GIT_URL (or a local clone)
ENV_CACHE = "EDGEMB_CACHE_DIR"

MAKE_DIR = Path("tensorflow/lite/micro/tools/make")
DOWNLOADS = MAKE_DIR / "downloads"
# Third-party headers the library includes, by the folder the download scripts make.
THIRD_PARTY_HEADERS = {
    "flatbuffers": "flatbuffers/include/flatbuffers/flatbuffers.h",
    "gemmlowp": "gemmlowp/fixedpoint/fixedpoint.h",
    "ruy": "ruy/ruy/profiler/instrumentation.h",
}
# Flags of TFLite Micro's Makefile that change what the headers declare: the
# library and every file that includes its headers must agree on them.
DEFINES = ("-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON")
# TFLite Micro's BUILD_TYPE=release_with_logs, which its Makefile recommends for
# profiling: NDEBUG drops the TFLITE_DCHECKs of the reference kernels' inner loops
# (5.5 times fewer instructions per inference on the Cortex-M4) and keeps the error
# messages and the per-operator profiler hooks.
LIBRARY_DEFINES = ("-DNDEBUG",)
CORE_OPT, KERNEL_OPT = "-Os", "-O2"
LIBRARY_NAME = "libtflm.a"

PROVIDE = (f"get a tree with `git clone {GIT_URL} DIR`, then its third-party headers "
           f"with `make -f {MAKE_DIR}/Makefile third_party_downloads` inside DIR (both need "
           f"network access), and pass `--tflm-dir DIR` or set {ENV_DIR}=DIR")


class TflmError(TargetError):
    """No usable TensorFlow Lite Micro tree; the message says what was tried."""


@dataclass(frozen=True)
class TflmToolchain:
    """How one target compiles TFLite Micro."""

    name: str  # the target: one library per target
    cc: str
    cxx: str
    ar: str
    flags: tuple[str, ...] = ()  # architecture flags, shared with the firmware
    # TFLite Micro's per-target specialization: generic source -> the target's version.
    replace: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TflmTree:
    root: Path
    third_party: Path
    version: str  # `git describe` of the tree, as the firmware reports it

    @property
    def include_dirs(self) -> list[Path]:
        dirs = [self.root, self.third_party / "flatbuffers" / "include",
                self.third_party / "gemmlowp", self.third_party / "ruy"]
        if (self.third_party / "kissfft").is_dir():
            dirs.append(self.third_party / "kissfft")
        return dirs


@dataclass
class TflmLibrary:
    """A static library of TFLite Micro for one target, and how to compile against it."""

    tree: TflmTree
    toolchain: TflmToolchain
    directory: Path
    core_sources: list[str] = field(default_factory=list)
    kernel_sources: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.directory / LIBRARY_NAME

    @property
    def makefile(self) -> Path:
        return self.directory / "tflm.mk"

    def includes(self) -> list[str]:
        """-isystem: TFLite Micro's headers are not ours to warn about."""
        return [f"-isystem {d}" for d in self.tree.include_dirs]

    def firmware_defines(self, arena_bytes: int) -> list[str]:
        # The quotes survive the generated Makefile's DEFINES="..." and the compile command.
        return list(DEFINES) + [f"-DEM_TFLM_ARENA_BYTES={arena_bytes}u",
                                f"-DEM_TFLM_VERSION='\\\"{self.tree.version}\\\"'"]


# ---- Finding the tree --------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get(ENV_CACHE) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgemb")
    return Path(base) / "tflm"


def is_tree(path: Path) -> bool:
    return (path / "tensorflow" / "lite" / "micro" / "micro_interpreter.h").is_file()


def find_tree(tflm_dir: str | Path | None = None, third_party: str | Path | None = None,
              fetch: bool = True) -> TflmTree:
    """The tree named by --tflm-dir, else $EDGEMB_TFLM_DIR, else the pinned commit in
    edgemb's cache (cloned there first if the network allows)."""
    for given, what in ((tflm_dir, "--tflm-dir"), (os.environ.get(ENV_DIR), f"${ENV_DIR}")):
        if given:
            root = Path(given).expanduser().resolve()
            if not is_tree(root):
                raise TflmError(f"{what} {root} is not a TensorFlow Lite Micro source tree "
                                f"(no tensorflow/lite/micro/micro_interpreter.h in it); {PROVIDE}")
            return _with_third_party(root, third_party)
    cached = cache_root() / f"tflite-micro-{PINNED_COMMIT[:12]}"
    tried = [f"--tflm-dir (not given), ${ENV_DIR} (not set), {cached} (absent)"]
    if not is_tree(cached):
        url = os.environ.get(ENV_GIT_URL) or GIT_URL
        if not fetch:
            raise TflmError(f"no TensorFlow Lite Micro source tree: tried {tried[0]}; {PROVIDE}")
        failure = _clone_pinned(url, cached)
        if failure:
            raise TflmError(f"no TensorFlow Lite Micro source tree: tried {tried[0]}, and "
                            f"cloning {url} at commit {PINNED_COMMIT[:12]}: {failure}; "
                            f"{PROVIDE}")
    return _with_third_party(cached, third_party)


def _clone_pinned(url: str, dest: Path) -> str | None:
    """Clones the pinned commit with its third-party downloads; a reason on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tflite-micro-", dir=dest.parent))
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    steps = [["git", "init", "-q", str(work)],
             ["git", "-C", str(work), "fetch", "-q", "--depth", "1", url, PINNED_COMMIT],
             ["git", "-C", str(work), "checkout", "-q", "FETCH_HEAD"],
             ["make", "-C", str(work), "-f", str(MAKE_DIR / "Makefile"),
              "third_party_downloads"]]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=900)
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines()
                return f"`{' '.join(step[:4])} …` failed ({lines[-1] if lines else 'no output'})"
        work.rename(dest)
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _with_third_party(root: Path, third_party: str | Path | None) -> TflmTree:
    given = third_party or os.environ.get(ENV_THIRD_PARTY)
    directory = Path(given).expanduser().resolve() if given else root / DOWNLOADS
    what = ("--tflm-third-party" if third_party else f"${ENV_THIRD_PARTY}") if given else \
        "the tree's downloads folder"
    missing = [name for name, header in THIRD_PARTY_HEADERS.items()
               if not (directory / header).is_file()]
    if missing:
        raise TflmError(
            f"TensorFlow Lite Micro in {root} needs the headers of {', '.join(missing)}, not "
            f"found in {what} {directory}; run `make -f {MAKE_DIR}/Makefile "
            f"third_party_downloads` in {root} (it needs network access), or pass "
            "--tflm-third-party DIR with flatbuffers/, gemmlowp/, ruy/ and kissfft/ at the "
            f"versions of {MAKE_DIR}/third_party_downloads.inc")
    _check_flatbuffers(root, directory)
    return TflmTree(root, directory, tree_version(root))


def _check_flatbuffers(root: Path, third_party: Path) -> None:
    """The schema header only compiles with the flatbuffers release it was generated by."""
    schema = root / "tensorflow" / "lite" / "schema" / "schema_generated.h"
    base = third_party / "flatbuffers" / "include" / "flatbuffers" / "base.h"
    try:
        wanted = re.search(r"FLATBUFFERS_VERSION_MAJOR == (\d+) &&\s*FLATBUFFERS_VERSION_MINOR "
                           r"== (\d+) &&\s*FLATBUFFERS_VERSION_REVISION == (\d+)",
                           schema.read_text(errors="replace"))
        have = [re.search(rf"#define FLATBUFFERS_VERSION_{part} (\d+)",
                          base.read_text(errors="replace")) for part in
                ("MAJOR", "MINOR", "REVISION")]
    except OSError:
        return
    if wanted and all(have) and wanted.groups() != tuple(m.group(1) for m in have):
        raise TflmError(f"flatbuffers in {third_party} is version "
                        f"{'.'.join(m.group(1) for m in have)}, the tree {root} needs "
                        f"{'.'.join(wanted.groups())} (see {MAKE_DIR}/flatbuffers_download.sh)")


def tree_version(root: Path) -> str:
    """`tflite-micro@<git describe>`: TFLite Micro has no version macro."""
    described = ""
    if shutil.which("git") and (root / ".git").exists():
        done = subprocess.run(["git", "-C", str(root), "describe", "--tags", "--always",
                               "--dirty"], capture_output=True, text=True)
        described = done.stdout.strip() if done.returncode == 0 else ""
    if not described:
        described = "unversioned"
    return "tflite-micro@" + re.sub(r"[^A-Za-z0-9._+-]", "_", described)


# ---- The library -------------------------------------------------------------------


def _make_list(text: str, name: str) -> list[str]:
    """The words of `NAME := \\ ...` in a TFLite Micro make include file."""
    match = re.search(rf"^{name}\s*:?=((?:.*\\\n)*.*)$", text, re.MULTILINE)
    if not match:
        return []
    words = match.group(1).replace("\\\n", " ").split()
    return [w.replace("$(TENSORFLOW_ROOT)", "") for w in words]


def _relative(root: Path, paths) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in paths)


def library_sources(root: Path) -> tuple[list[str], list[str]]:
    """(core, kernels): what TFLite Micro's Makefile puts in libtensorflow-microlite.a
    (tools/make/sources.inc), without tests, benchmarks and the signal library."""
    sources_inc = root / MAKE_DIR / "sources.inc"
    text = sources_inc.read_text() if sources_inc.is_file() else ""
    micro = root / "tensorflow" / "lite" / "micro"
    kernels = _make_list(text, "MICROLITE_CC_KERNEL_SRCS") or [
        s for s in _relative(root, micro.glob("kernels/*.cc"))
        if not s.endswith(("_test.cc", "generated_data.cc", "test_common.cc"))]
    excluded = set(_make_list(text, "MICROLITE_TEST_SRCS")) | {"tensorflow/lite/array.cc"}
    core = _relative(root, [p for folder in ("", "arena_allocator", "memory_planner",
                                             "tflite_bridge")
                            for p in (micro / folder).glob("*.cc")])
    # Shared with TensorFlow Lite: everything under tensorflow/ but lite/micro, lite/experimental.
    for path in sorted((root / "tensorflow").rglob("*")):
        rel = str(path.relative_to(root))
        if path.suffix in (".cc", ".c") and not rel.startswith(
                ("tensorflow/lite/micro/", "tensorflow/lite/experimental/")):
            core.append(rel)
    core = [s for s in core if s not in excluded and not s.endswith(("_test.cc", "benchmark.cc"))]
    return core, [s for s in kernels if (root / s).is_file()]


def _compiler_identity(command: str) -> str:
    try:
        done = subprocess.run([command, "--version"], capture_output=True, text=True)
        return done.stdout.splitlines()[0] if done.stdout else command
    except OSError:
        return command


def prepare_library(tree: TflmTree, toolchain: TflmToolchain) -> TflmLibrary:
    """Writes the library's Makefile into edgemb's cache (nothing is built yet)."""
    core, kernels = library_sources(tree.root)
    swaps = dict(toolchain.replace)
    core = [swaps.get(s, s) for s in core if (tree.root / swaps.get(s, s)).is_file()]
    identity = {"root": str(tree.root), "third_party": str(tree.third_party),
                "toolchain": [toolchain.cc, toolchain.cxx, toolchain.ar, *toolchain.flags,
                              *map(str, toolchain.replace)],
                "compiler": _compiler_identity(toolchain.cxx),
                "defines": DEFINES + LIBRARY_DEFINES,
                "opt": [CORE_OPT, KERNEL_OPT]}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    library = TflmLibrary(tree, toolchain, cache_root() / "lib" / f"{toolchain.name}-{key}",
                          core, kernels)
    library.directory.mkdir(parents=True, exist_ok=True)
    text = library_makefile(library)
    if not library.makefile.exists() or library.makefile.read_text() != text:
        library.makefile.write_text(text)
    (library.directory / "library.json").write_text(json.dumps(
        {**identity, "version": tree.version, "core_sources": len(core),
         "kernel_sources": len(kernels)}, indent=1) + "\n")
    return library


LIBRARY_MAKEFILE = """\
# Generated by edgemb: TensorFlow Lite Micro ({version}) from {root}
# for target {target}, built once into this folder and reused by every firmware.
# Flags follow TFLite Micro's own Makefile: {core_opt} for the core, {kernel_opt} for kernels.
ROOT := {root}
DIR := {directory}
CC := {cc}
CXX := {cxx}
AR := {ar}
FLAGS := {flags} -ffunction-sections -fdata-sections -fno-unwind-tables \\
  -fno-asynchronous-unwind-tables -fmessage-length=0 -Wall -Wextra -Wno-unused-parameter \\
  {defines} {includes}
CXXFLAGS := -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics $(FLAGS)
CFLAGS := -std=c17 $(FLAGS)

CORE_SRCS := \\
{core}
KERNEL_SRCS := \\
{kernels}

obj_of = $(DIR)/obj/$(subst /,_,$(1)).o
OBJS := $(foreach s,$(CORE_SRCS) $(KERNEL_SRCS),$(call obj_of,$(s)))

$(DIR)/{library}: $(OBJS)
\trm -f $@
\t$(AR) rcs $@ $^

define compile_rule
$(call obj_of,$(1)): $(ROOT)/$(1) | $(DIR)/obj
\t$$(if $$(filter %.c,$(1)),$$(CC) $$(CFLAGS),$$(CXX) $$(CXXFLAGS)) $(2) -MMD -MP -c $$< -o $$@
endef
$(foreach s,$(CORE_SRCS),$(eval $(call compile_rule,$(s),{core_opt})))
$(foreach s,$(KERNEL_SRCS),$(eval $(call compile_rule,$(s),{kernel_opt})))

$(DIR)/obj:
\tmkdir -p $@

-include $(OBJS:.o=.d)
"""


def library_makefile(library: TflmLibrary) -> str:
    tree, chain = library.tree, library.toolchain
    return LIBRARY_MAKEFILE.format(
        version=tree.version, root=tree.root, target=chain.name, directory=library.directory,
        cc=chain.cc, cxx=chain.cxx, ar=chain.ar, flags=" ".join(chain.flags),
        defines=" ".join(DEFINES + LIBRARY_DEFINES), includes=" ".join(f"-I{d}" for d in tree.include_dirs),
        core=" \\\n".join(f"  {s}" for s in library.core_sources),
        kernels=" \\\n".join(f"  {s}" for s in library.kernel_sources),
        library=LIBRARY_NAME, core_opt=CORE_OPT, kernel_opt=KERNEL_OPT)
