"""The tflm runtime: TensorFlow Lite Micro built from a source tree for host and
mps2-an386, bit-exact with the tflite-micro Python interpreter.

The project and error tests need no tree. The board tests need one: set
EDGEMB_TFLM_DIR to a tensorflow/tflite-micro checkout whose third-party headers are
downloaded (`make -f tensorflow/lite/micro/tools/make/Makefile third_party_downloads`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgemb.export.exporter import export
from edgemb.runtimes import TFLM_REGISTRATIONS
from edgemb.targets.make_targets import HostTarget, Mps2An386Target
from edgemb.targets.tflm import TflmError, find_tree, is_tree, library_sources
from edgemb.tflite import read_tflite

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import models  # noqa: E402

TREE = os.environ.get("EDGEMB_TFLM_DIR", "")
needs_tree = pytest.mark.skipif(
    not (TREE and is_tree(Path(TREE))),
    reason="needs a TensorFlow Lite Micro source tree: set EDGEMB_TFLM_DIR to a "
           "tensorflow/tflite-micro checkout with its third-party downloads (`make -f "
           "tensorflow/lite/micro/tools/make/Makefile third_party_downloads` in it)")

TINY = {"input": [8, 8, 3], "seed": 5, "range": (-1.0, 1.0),
        "layers": [{"type": "conv", "filters": 4, "kernel": 3, "strides": 2, "activation": "relu6"},
                   {"type": "dwconv", "kernel": 3, "activation": "relu6"},
                   {"type": "gap"}, {"type": "dense", "units": 3}, {"type": "softmax"}]}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """edgemb's cache (libraries, the pinned clone) in a temporary folder."""
    monkeypatch.setenv("EDGEMB_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("EDGEMB_TFLM_DIR", "EDGEMB_TFLM_THIRD_PARTY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cache"


def fake_tree(root: Path, third_party: bool = True) -> Path:
    """The layout of a TFLite Micro checkout, with empty sources."""
    micro = root / "tensorflow" / "lite" / "micro"
    files = ["tensorflow/lite/micro/micro_interpreter.h",
             "tensorflow/lite/micro/micro_interpreter.cc",
             "tensorflow/lite/micro/micro_interpreter_test.cc",
             "tensorflow/lite/micro/debug_log.cc",
             "tensorflow/lite/micro/cortex_m_generic/debug_log.cc",
             "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
             "tensorflow/lite/micro/kernels/conv.cc",
             "tensorflow/lite/micro/kernels/conv_test.cc",
             "tensorflow/lite/core/c/common.cc",
             "tensorflow/lite/array.cc",
             "tensorflow/lite/experimental/ignored.cc",
             "tensorflow/compiler/mlir/lite/schema/schema_utils.cc"]
    if third_party:
        downloads = "tensorflow/lite/micro/tools/make/downloads/"
        files += [downloads + "flatbuffers/include/flatbuffers/flatbuffers.h",
                  downloads + "gemmlowp/fixedpoint/fixedpoint.h",
                  downloads + "ruy/ruy/profiler/instrumentation.h"]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (micro / "tools" / "make").mkdir(parents=True, exist_ok=True)
    (micro / "tools" / "make" / "sources.inc").write_text(
        "MICROLITE_TEST_SRCS := \\\n$(TENSORFLOW_ROOT)tensorflow/lite/micro/micro_interpreter_test.cc\n\n"
        "MICROLITE_CC_KERNEL_SRCS := \\\n$(TENSORFLOW_ROOT)tensorflow/lite/micro/kernels/conv.cc\n")
    return root


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("tflm-export")
    model = out / "model_int8.tflite"
    model.write_bytes(models.tflite_model(TINY))
    return export(model, out / "export", ["a", "b", "c"], "tflm")


def test_library_sources_follow_the_trees_makefile(tmp_path):
    core, kernels = library_sources(fake_tree(tmp_path / "tflm"))
    assert kernels == ["tensorflow/lite/micro/kernels/conv.cc"]
    assert "tensorflow/lite/micro/micro_interpreter.cc" in core
    assert "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc" in core
    assert "tensorflow/lite/core/c/common.cc" in core
    assert "tensorflow/compiler/mlir/lite/schema/schema_utils.cc" in core
    for left_out in ("micro_interpreter_test.cc", "array.cc", "ignored.cc", "conv_test.cc"):
        assert not any(s.endswith(left_out) for s in core + kernels)


@pytest.mark.parametrize("target_class", [HostTarget, Mps2An386Target])
def test_project_lists_runner_library_and_defines(tmp_path, cache, tiny_export, target_class):
    tree = fake_tree(tmp_path / "tflm")
    target = target_class()
    project, library = target.write(tmp_path / "project", tiny_export, tflm_dir=tree)
    makefile = (project.path / "Makefile").read_text()
    assert "RUNNER_SRCS=\"$(HERE)runtime/runner_tflm.cc\"" in makefile
    assert "MODEL_SRCS=\"$(HERE)model/model_settings.c $(HERE)model/model_data.c\"" in makefile
    assert f"-DEM_TFLM_ARENA_BYTES={tiny_export.tflm_arena_bytes}u" in makefile
    assert "-DTF_LITE_STATIC_MEMORY" in makefile
    assert "-DEM_TFLM_VERSION='\\\"tflite-micro@" in makefile
    assert f"-isystem {tree.resolve()}" in makefile
    assert f'LDLIBS="{library.path}"' in makefile and library.path.name == "libtflm.a"
    assert f"$(MAKE) -f {library.makefile}" in makefile
    assert (project.path / "model" / "op_resolver.h").exists()
    assert (project.path / "runtime" / "runner_tflm.cc").exists()
    # The library: built in the cache, per target, from the tree's own source list.
    assert library.directory.is_relative_to(cache)
    assert library.directory.name.startswith(target.name)
    lib_makefile = library.makefile.read_text()
    assert "tensorflow/lite/micro/kernels/conv.cc" in lib_makefile
    assert "micro_interpreter_test.cc" not in lib_makefile
    assert "-DTF_LITE_STATIC_MEMORY" in lib_makefile
    debug_log = ("tensorflow/lite/micro/cortex_m_generic/debug_log.cc"
                 if target.name == "mps2-an386" else "tensorflow/lite/micro/debug_log.cc")
    assert f"  {debug_log}" in lib_makefile
    if target.name == "mps2-an386":
        assert "-mcpu=cortex-m4" in lib_makefile and "-funsigned-char" in lib_makefile


def test_native_project_is_untouched_by_tflm(tmp_path, cache, tiny_export):
    native = export(tiny_export.out_dir.parent / "model_int8.tflite", tmp_path / "native",
                    ["a", "b", "c"], "native")
    project, library = HostTarget().write(tmp_path / "project", native)
    makefile = (project.path / "Makefile").read_text()
    assert library is None
    assert "tflm" not in makefile.replace("runtime tflm", "") and "LDLIBS" not in makefile
    assert 'INCLUDES="-I$(HERE)model -I$(HERE)runtime"' in makefile


def test_missing_tree_says_what_was_tried_and_how_to_provide_one(tmp_path, cache, monkeypatch):
    mirror = tmp_path / "no-such-mirror"
    monkeypatch.setenv("EDGEMB_TFLM_GIT_URL", str(mirror))
    with pytest.raises(TflmError) as error:
        find_tree()
    message = str(error.value)
    assert str(cache / "tflm") in message and str(mirror) in message
    assert "--tflm-dir" in message and "EDGEMB_TFLM_DIR" in message
    assert "third_party_downloads" in message
    assert not any((cache / "tflm").glob("tflite-micro-*"))  # nothing half-cloned left


def test_a_folder_that_is_not_a_tree_is_named(tmp_path, cache, monkeypatch):
    with pytest.raises(TflmError, match=r"--tflm-dir .*not-a-tree is not a TensorFlow Lite Micro"):
        find_tree(tmp_path / "not-a-tree")
    monkeypatch.setenv("EDGEMB_TFLM_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(TflmError, match=r"\$EDGEMB_TFLM_DIR .*elsewhere is not"):
        find_tree()


def test_missing_third_party_headers_are_named(tmp_path, cache):
    tree = fake_tree(tmp_path / "tflm", third_party=False)
    with pytest.raises(TflmError) as error:
        find_tree(tree)
    message = str(error.value)
    assert "flatbuffers, gemmlowp, ruy" in message
    assert "third_party_downloads" in message and "--tflm-third-party" in message
    # A separate third-party folder is accepted.
    other = fake_tree(tmp_path / "other")
    found = find_tree(tree, third_party=other / "tensorflow/lite/micro/tools/make/downloads")
    assert found.root == tree.resolve()


# ---- With a TensorFlow Lite Micro tree ------------------------------------------


@needs_tree
@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", "mps2-an386"])
def test_tflm_board_is_bit_exact_with_the_reference(quantized_run, tmp_path, target):
    from edgemb.commands.build import build
    from edgemb.commands.verify import VerifyOptions, verify
    from edgemb.targets.launch import start_board

    if target == "mps2-an386" and not (shutil.which("arm-none-eabi-gcc")
                                       and shutil.which("qemu-system-arm")):
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm (apt-get install "
                    "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
    result = build(quantized_run, target, "tflm", tflm_dir=TREE)
    assert result.sizes["runtime"]["text"] > 20_000  # the TFLite Micro library is linked
    samples = 16
    with start_board(target, result.artifact) as board:
        summary = verify(quantized_run, VerifyOptions(
            ports=[board.port], samples=samples, data=quantized_run.read_settings().dataset,
            bench=2, report_dir=tmp_path, timeout=5.0))
    assert summary["exact_matches"] == summary["samples"] == samples
    report = summary["boards"][0]
    assert report["info"]["runtime"] == "tflm"
    assert report["info"]["runtime_version"].startswith("tflite-micro@")
    assert 0 < report["info"]["arena_bytes"] <= result.arena_bytes
    operators = read_tflite(quantized_run.tflite_file.read_bytes()).operators
    assert [t["op"] for t in report["op_times"]] == [op.name for op in operators]


@needs_tree
@pytest.mark.slow
def test_init_failures_reach_the_info_status(quantized_run, tmp_path):
    """An operator missing from the resolver, then an arena too small: the board still
    answers, and INFO says why it cannot run."""
    from edgemb.commands.build import build
    from edgemb.link.client import BoardClient
    from edgemb.link.messages import BoardStatus
    from edgemb.targets.launch import start_board
    from edgemb.tflite import BUILTIN_OP_NAMES

    built = build(quantized_run, "host", "tflm", tflm_dir=TREE)
    codes = {name: code for code, name in BUILTIN_OP_NAMES.items()}

    def broken_board(name, edit):
        project = tmp_path / name
        shutil.copytree(built.project_dir, project, ignore=shutil.ignore_patterns("build"))
        edit(project)
        (project / "runtime" / "runner_tflm.cc").touch()
        subprocess.run(["make", "-s", "-j2", "-C", str(project)], check=True,
                       capture_output=True)
        with start_board("host", project / "build" / "edgemb-host") as board, \
                BoardClient.open(board.port) as client:
            return client.hello()

    def drop_last_op(project):
        header = project / "model" / "op_resolver.h"
        lines = header.read_text().splitlines(keepends=True)
        last = max(i for i, line in enumerate(lines) if "resolver.Add" in line)
        dropped.append(lines.pop(last).split("resolver.Add")[1].split("(")[0])
        header.write_text("".join(lines))

    dropped: list[str] = []
    info = broken_board("missing-op", drop_last_op)
    method_to_op = {method: op for op, method in TFLM_REGISTRATIONS.items()}
    assert info.status == BoardStatus.RUNNER_INIT_FAILED
    assert info.status_detail == -1000 - codes[method_to_op["Add" + dropped[0]]]

    def tiny_arena(project):
        makefile = project / "Makefile"
        makefile.write_text(re.sub(r"-DEM_TFLM_ARENA_BYTES=\d+u", "-DEM_TFLM_ARENA_BYTES=1024u",
                                   makefile.read_text()))

    info = broken_board("tiny-arena", tiny_arena)
    assert info.status == BoardStatus.RUNNER_INIT_FAILED and info.status_detail == -3
