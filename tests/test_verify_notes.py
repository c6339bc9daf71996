"""What verify says beyond its numbers (edgemb.verify_notes): the ESP-NN
requantization note, and the TFLite Micro of each side."""

from __future__ import annotations

from importlib import metadata

import pytest

from edgemb.verify_notes import (
    board_notes,
    esp_nn_version,
    reference_version,
    requantization_note,
    runtime_versions,
)

PORT = "/dev/ttyUSB0"
OLD = "esp-tflite-micro 1.3.4, esp-nn 1.1.2, ESP-NN optimized"
NEW = "esp-tflite-micro 1.3.8, esp-nn 1.2.3, ESP-NN optimized"
FAST = "esp-tflite-micro 1.3.8, esp-nn 1.2.3, ESP-NN optimized, fast requantization (CONFIG_NN_SKIP_NUDGE)"
KNOWN = ("±1 differences in CONV_2D and DEPTHWISE_CONV_2D outputs are the known signature of "
         "ESP-NN's fast requantization, which is not bit-exact with TFLite Micro's reference "
         "kernels; later layers can carry them to larger differences at the output. esp-nn "
         "before 1.2.2 uses it in conv and depthwise conv always (CONFIG_NN_SKIP_NUDGE does not "
         "exist there); esp-nn 1.2.2 and later are bit-exact unless CONFIG_NN_SKIP_NUDGE=y. ")
REBUILD = ("rebuild with this edgemb (its main/idf_component.yml requires espressif/esp-nn "
           "^1.2.2; run `idf.py update-dependencies` in the project, or delete its "
           "dependencies.lock, if an older esp-nn is locked there) and flash again.")


def board(target="esp32", runtime="tflm", version=OLD, port=PORT):
    return {"port": port, "info": {"target": target, "runtime": runtime,
                                   "runtime_version": version}}


def record(port=PORT, diff=0):
    return {"port": port, "exact": diff == 0, "max_abs_diff": diff}


def test_a_one_off_esp_nn_board_is_told_the_known_signature_and_the_fix():
    records = [record(), record(diff=1), record(diff=1), record()]
    assert requantization_note(board(), records) == (
        f"2 of 4 outputs of the board on {PORT} differ from TFLite Micro on the host, by at "
        "most 1 (±1). " + KNOWN + "The board runs esp-nn 1.1.2, older than 1.2.2: " + REBUILD)


def test_larger_differences_are_named_as_they_are():
    note = requantization_note(board(), [record(diff=3)])
    assert note.startswith(f"1 of 1 outputs of the board on {PORT} differ from TFLite Micro on "
                           "the host, by at most 3. ±1 differences in CONV_2D")


def test_a_board_built_with_skip_nudge_is_told_to_turn_it_off():
    note = requantization_note(board(version=FAST), [record(diff=1)])
    assert note.endswith(
        "The board runs esp-nn 1.2.3, built with CONFIG_NN_SKIP_NUDGE=y: turn it off "
        "(sdkconfig.defaults of the project keeps it off; check sdkconfig.user and "
        "`idf.py menuconfig`), rebuild and flash again.")


def test_a_bit_exact_esp_nn_points_elsewhere():
    note = requantization_note(board(version=NEW), [record(diff=1)])
    assert note.endswith(
        "The board runs esp-nn 1.2.3 with CONFIG_NN_SKIP_NUDGE off, which is bit-exact by "
        f"default: look for another cause (compare the board's TFLite Micro, {NEW!r}, with the "
        f"host's, {reference_version()}).")


def test_a_board_that_does_not_name_its_esp_nn():
    old_firmware = "esp-tflite-micro, ESP-NN optimized"
    note = requantization_note(board(version=old_firmware), [record(diff=1)])
    assert note.endswith(f"The board does not name its esp-nn version ({old_firmware!r}): "
                         "R" + REBUILD[1:])


@pytest.mark.parametrize("target,runtime", [("esp32", "native"), ("mps2-an386", "tflm"),
                                            ("host", "tflm")])
def test_no_note_for_other_boards(target, runtime):
    assert requantization_note(board(target, runtime), [record(diff=1)]) is None


def test_no_note_when_every_output_matches_and_each_board_counts_its_own():
    other = "/dev/ttyUSB1"
    records = [record(), record(port=other, diff=1)]
    assert requantization_note(board(), records) is None
    notes = board_notes([board(), board(target="esp32c3", port=other)], records)
    assert len(notes) == 1 and notes[0].startswith(f"1 of 1 outputs of the board on {other} ")


def test_esp_nn_version_in_a_runtime_version():
    assert esp_nn_version(OLD) == (1, 1, 2)
    assert esp_nn_version("esp-tflite-micro 1.3.3~1, esp-nn 1.2.2~1, ESP-NN optimized") == (1, 2, 2)
    assert esp_nn_version("esp-tflite-micro unknown, esp-nn unknown, ANSI C kernels") is None


def test_both_sides_versions_are_recorded():
    versions = runtime_versions([board(version=NEW), {"port": "/dev/ttyACM0", "info": {}}])
    assert versions == {"reference": f"tflite-micro {metadata.version('tflite-micro')}",
                        "boards": {PORT: f"tflm {NEW}"}}


def info(target="esp32", runtime="tflm", status=1, detail=-6, **heap):
    from edgemb.link.messages import Info, TensorInfo

    tensor = TensorInfo(9, (1, 2), 0.5, 0, 2)
    return Info(3, status, detail, 4096, 3, 0, 1, 0, 0, 0, 2, bytes(32), tensor, tensor,
                target, runtime, "v", **heap)


def test_not_ready_messages_say_what_failed_and_what_to_do():
    from edgemb.verify_notes import not_ready_message

    rebuild = "build and flash the firmware for this model (edgemb build, edgemb flash)"
    assert not_ready_message(PORT, info(status=2, detail=110592)) == (
        f"the board on {PORT} cannot run its model: the model's input needs 110,592 bytes, "
        f"more than the firmware's buffer: {rebuild}")
    assert not_ready_message(PORT, info(detail=-1000 - 97)) == (
        f"the board on {PORT} cannot run its model: TFLite Micro lacks the model's operator "
        f"with builtin code 97 (the op resolver is made from another model): {rebuild}")
    # A static arena (not an ESP32): -3 is AllocateTensors in it.
    assert not_ready_message(PORT, info(target="mps2-an386", detail=-3)) == (
        f"the board on {PORT} cannot run its model: TFLite Micro failed to start (code -3: "
        f"AllocateTensors failed: the arena is too small for this build's kernels): {rebuild}")
    assert not_ready_message(PORT, info(runtime="native", detail=-2)) == (
        f"the board on {PORT} cannot run its model: the native runtime failed to start "
        f"(code -2): {rebuild}")


def test_an_esp32_built_before_the_heap_fields_is_told_to_rebuild_for_the_sizes():
    from edgemb.verify_notes import not_ready_message

    assert not_ready_message(PORT, info()) == (
        f"the board on {PORT} cannot run its model: its TFLite Micro arena does not fit in the "
        "heap (code -6); this firmware does not report the sizes: build it with this edgemb "
        "to see them")
