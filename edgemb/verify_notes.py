"""What `edgemb verify` can say about a board beyond its numbers: why it
cannot run its model, what a pattern of mismatches points to, and which TFLite
Micro each side runs.

Each function takes what verify already has (the board's INFO as recorded in
its report, the sample records) and returns text for the summary, the
terminal and the HTML report.
"""

from __future__ import annotations

import re
from importlib import metadata

# The first esp-nn whose conv and depthwise conv requantize as TFLite Micro's
# reference kernels do by default, and where CONFIG_NN_SKIP_NUDGE exists: esp-nn
# 1.2.2 (commit aa8dbc2, "route fast requant through esp_nn_requantize macro").
# Before it the generic kernels (ESP32, ESP32-C3) and the ESP32-S3's C paths
# always called esp_nn_multiply_by_quantized_mult_fast, which may round 1 off.
ESP_NN_EXACT_FROM = (1, 2, 2)
_ESP_NN_VERSION = re.compile(r"esp-nn (\d+)\.(\d+)\.(\d+)")
SKIP_NUDGE_MARK = "CONFIG_NN_SKIP_NUDGE"


# Codes of the tflm runners' init (firmware/runtime/tflm/runner_tflm.cc, and
# firmware/targets/esp32/main/runner_tflm_esp.cc, which adds -6).
TFLM_INIT_ERRORS = {
    -1: "the model's schema version is not the one this TFLite Micro reads",
    -2: "the op resolver refused a registration",
    -3: "AllocateTensors failed: the arena is too small for this build's kernels",
    -4: "the interpreter's input or output differs from the model's settings",
    -5: "the model has no subgraph",
}
TFLM_ALLOCATE_FAILED, TFLM_NO_MEMORY, TFLM_MISSING_OP = -3, -6, -1000
REBUILD_FOR_THIS_MODEL = "build and flash the firmware for this model (edgemb build, edgemb flash)"


def not_ready_message(port: str, info) -> str:
    """Why the board on `port` cannot run its model, from its INFO (status not
    READY), and what to do about it."""
    from edgemb.link.messages import BoardStatus

    if info.status in (BoardStatus.INPUT_TOO_BIG, BoardStatus.OUTPUT_TOO_BIG):
        which = "input" if info.status == BoardStatus.INPUT_TOO_BIG else "output"
        return (f"the board on {port} cannot run its model: the model's {which} needs "
                f"{info.status_detail:,} bytes, more than the firmware's buffer: "
                f"{REBUILD_FOR_THIS_MODEL}")
    if info.status != BoardStatus.RUNNER_INIT_FAILED:
        return f"the board on {port} is not ready (status {info.status}, detail {info.status_detail})"
    return f"the board on {port} cannot run its model: " + _runner_failure(info)


def _runner_failure(info) -> str:
    code, runtime = info.status_detail, info.runtime
    if runtime != "tflm":
        return (f"the {runtime} runtime failed to start (code {code}): "
                f"{REBUILD_FOR_THIS_MODEL}")
    if code in (TFLM_NO_MEMORY, TFLM_ALLOCATE_FAILED) and info.target.startswith("esp32"):
        return _arena_failure(info)  # an arena from the heap
    if code <= TFLM_MISSING_OP:
        return (f"TFLite Micro lacks the model's operator with builtin code "
                f"{TFLM_MISSING_OP - code} (the op resolver is made from another model): "
                f"{REBUILD_FOR_THIS_MODEL}")
    what = TFLM_INIT_ERRORS.get(code, "an error this edgemb does not know")
    return f"TFLite Micro failed to start (code {code}: {what}): {REBUILD_FOR_THIS_MODEL}"


def _heap(info) -> str:
    psram = (f"{info.largest_free_psram:,} bytes of PSRAM" if info.largest_free_psram
             else "no PSRAM")
    return f"{info.largest_free_internal:,} bytes of internal RAM, {psram}"


def _arena_failure(info) -> str:
    """An arena that did not fit, with the figures the board reported."""
    if not info.arena_request:
        return ("its TFLite Micro arena does not fit in the heap (code "
                f"{info.status_detail}); this firmware does not report the sizes: build it "
                "with this edgemb to see them")
    asked = (f"it asked for {info.arena_request:,} bytes of contiguous RAM (the arena measured "
             "on the host, with margin, and the chip's ESP-NN scratch allowance, "
             "CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES)")
    fixes = ("use a smaller model (edgemb train --alpha, --size), a board with PSRAM "
             "(CONFIG_SPIRAM=y in the project's sdkconfig.user), or --runtime native, whose "
             "arena is smaller")
    if info.status_detail == TFLM_NO_MEMORY:
        why = "the model does not fit in the largest"
    else:
        why = "TFLite Micro with ESP-NN could not allocate its tensors in the largest either"
    return (f"its TFLite Micro arena does not fit: {asked}, and the largest free blocks were "
            f"{_heap(info)}; {why}. To fix it, {fixes}")


def reference_version() -> str:
    """The host reference: the tflite-micro Python package and its version."""
    try:
        return f"tflite-micro {metadata.version('tflite-micro')}"
    except metadata.PackageNotFoundError:
        return "tflite-micro (version unknown: not installed as a package)"


def runtime_versions(boards: list[dict]) -> dict:
    """The TFLite Micro of each side, so that a mismatch can be traced to it:
    the host's package, and each board's runtime as its INFO named it."""
    return {"reference": reference_version(),
            "boards": {b["port"]: f"{b['info']['runtime']} {b['info']['runtime_version']}"
                       for b in boards if b.get("info")}}


def esp_nn_version(runtime_version: str) -> tuple[int, int, int] | None:
    """The esp-nn version an ESP32 tflm board names in its runtime version."""
    found = _ESP_NN_VERSION.search(runtime_version)
    return tuple(int(part) for part in found.groups()) if found else None


def _mismatches_of(port: str, records: list[dict]) -> tuple[int, int, int]:
    """(samples, mismatched samples, largest difference) of one board."""
    mine = [r for r in records if r["port"] == port]
    differing = [r for r in mine if not r["exact"]]
    return len(mine), len(differing), max((r["max_abs_diff"] for r in differing), default=0)


def requantization_note(board: dict, records: list[dict]) -> str | None:
    """For an ESP32 board running TFLite Micro with ESP-NN whose outputs differ
    from the reference: what that pattern is known to mean and what fixes it.
    None for other boards, or when every output matched."""
    info = board.get("info") or {}
    if info.get("runtime") != "tflm" or not str(info.get("target", "")).startswith("esp32"):
        return None
    samples, differing, largest = _mismatches_of(board["port"], records)
    if not differing:
        return None
    version = info.get("runtime_version", "")
    seen = (f"{differing} of {samples} outputs of the board on {board['port']} differ from "
            f"TFLite Micro on the host, by at most {largest}"
            + (" (±1)" if largest == 1 else "") + ". ")
    known = ("±1 differences in CONV_2D and DEPTHWISE_CONV_2D outputs are the known "
             "signature of ESP-NN's fast requantization, which is not bit-exact with TFLite "
             "Micro's reference kernels; later layers can carry them to larger differences at "
             "the output. esp-nn before 1.2.2 uses it in conv and depthwise conv always "
             "(CONFIG_NN_SKIP_NUDGE does not exist there); esp-nn 1.2.2 and later are "
             "bit-exact unless CONFIG_NN_SKIP_NUDGE=y. ")
    return seen + known + _requantization_advice(version)


def _requantization_advice(runtime_version: str) -> str:
    rebuild = ("rebuild with this edgemb (its main/idf_component.yml requires espressif/esp-nn "
               "^1.2.2; run `idf.py update-dependencies` in the project, or delete its "
               "dependencies.lock, if an older esp-nn is locked there) and flash again.")
    version = esp_nn_version(runtime_version)
    if version is None:
        return (f"The board does not name its esp-nn version ({runtime_version!r}): "
                + rebuild[0].upper() + rebuild[1:])
    named = ".".join(map(str, version))
    if version < ESP_NN_EXACT_FROM:
        return f"The board runs esp-nn {named}, older than 1.2.2: {rebuild}"
    if SKIP_NUDGE_MARK in runtime_version:
        return (f"The board runs esp-nn {named}, built with CONFIG_NN_SKIP_NUDGE=y: turn it "
                "off (sdkconfig.defaults of the project keeps it off; check sdkconfig.user "
                "and `idf.py menuconfig`), rebuild and flash again.")
    return (f"The board runs esp-nn {named} with CONFIG_NN_SKIP_NUDGE off, which is bit-exact "
            "by default: look for another cause (compare the board's TFLite Micro, "
            f"{runtime_version!r}, with the host's, {reference_version()}).")


def board_notes(boards: list[dict], records: list[dict]) -> list[str]:
    """Every note verify has about these boards, in board order."""
    notes = (requantization_note(board, records) for board in boards)
    return [note for note in notes if note]
