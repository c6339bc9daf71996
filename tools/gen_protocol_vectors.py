#!/usr/bin/env python3
"""Writes tests/golden/protocol/vectors.json: messages and their exact bytes on
the wire, from the Python implementation (edgemb.link).

The file is committed. tests/test_protocol_golden.py checks both the Python and
the C implementation against it, so a change that alters any byte on the wire
fails until this tool is run again and the new file reviewed and committed.

    python tools/gen_protocol_vectors.py            # rewrite vectors.json
    python tools/gen_protocol_vectors.py --markdown # print the examples for docs/protocol.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgemb.link.frames import cobs_encode, crc32, frame_body  # noqa: E402
from edgemb.link.messages import (  # noqa: E402
    PROTOCOL_VERSION,
    Ack,
    Bench,
    BenchResult,
    ErrorCode,
    ErrorReply,
    Hello,
    Info,
    Invoke,
    Load,
    LoadQuiet,
    MsgType,
    OpTime,
    OpTimes,
    OpTimesRequest,
    Result,
    TensorInfo,
    encode_message,
    message_fields,
)

VECTORS = REPO / "tests" / "golden" / "protocol" / "vectors.json"

_INPUT = TensorInfo(type=9, dims=(1, 96, 96, 3), scale=1 / 128, zero_point=0, bytes=27648)
_OUTPUT = TensorInfo(type=9, dims=(1, 10), scale=1 / 256, zero_point=-128, bytes=10)
_FINGERPRINT = hashlib.sha256(b"edgemb test double").digest()


def _full_block_load() -> tuple[int, Load]:
    """A LOAD whose frame is exactly 254 non-zero bytes: COBS's one full
    block with no final empty block. The seq is chosen so that the CRC has no
    zero byte either."""
    load = Load(0x01010101, 0x01010101, bytes((i % 255) + 1 for i in range(240)))
    for seq in range(1, 256):
        if 0 not in frame_body(load.TYPE, seq, load.pack()):
            return seq, load
    raise AssertionError("no seq gives a zero-free frame")


def frame_vectors() -> list[tuple[str, int, object]]:
    """(name, seq, message) for each golden frame."""
    full_seq, full_load = _full_block_load()
    info = Info(
        protocol_version=PROTOCOL_VERSION, status=0, status_detail=0, max_payload=16384,
        window=8, cpu_hz=0, tick_hz=1_000_000_000, tick_kind=0, arena_bytes=4096, op_count=3,
        num_labels=10, fingerprint=_FINGERPRINT, input=_INPUT, output=_OUTPUT, target="host",
        runtime="test-double", runtime_version="1.0",
    )
    info_m4 = Info(
        protocol_version=PROTOCOL_VERSION, status=1, status_detail=-3, max_payload=1024,
        window=1, cpu_hz=25_000_000, tick_hz=25_000_000, tick_kind=2, arena_bytes=103926,
        op_count=0, num_labels=2, fingerprint=bytes(range(32)),
        input=TensorInfo(9, (1, 96, 96, 1), 1 / 128, 0, 9216),
        output=TensorInfo(9, (1, 2), 1 / 256, -128, 2),
        target="mps2-an386", runtime="tflm", runtime_version="1.3.2",
    )
    # An ESP32 whose heap has no block for the TFLite Micro arena (runner code -6):
    # what it asked for and the largest free blocks it had.
    info_esp32 = Info(
        protocol_version=PROTOCOL_VERSION, status=1, status_detail=-6, max_payload=4096,
        window=3, cpu_hz=240_000_000, tick_hz=240_000_000, tick_kind=1, arena_bytes=0,
        op_count=0, num_labels=2, fingerprint=bytes(range(32, 64)),
        input=TensorInfo(9, (1, 96, 96, 3), 1 / 128, 0, 27648),
        output=TensorInfo(9, (1, 2), 1 / 256, -128, 2),
        target="esp32", runtime="tflm",
        runtime_version="esp-tflite-micro 1.3.8, esp-nn 1.2.3, ESP-NN optimized",
        arena_request=115_216, largest_free_internal=110_580, largest_free_psram=0,
    )
    return [
        ("hello", 0, Hello(session=0x5E55_10A1)),
        ("info", 0, info),
        ("info_not_ready", 1, info_m4),
        ("info_no_memory", 1, info_esp32),
        ("load", 2, Load(27648, 0, bytes([0x00, 0x01, 0x80, 0xFF, 0x00, 0x00, 0x7F]))),
        ("ack_load", 2, Ack(0, 7, 2, 0x5E55_10A1)),
        ("load_quiet", 3, LoadQuiet(27648, 7, bytes([0x05, 0x00, 0xFB]))),
        ("load_after_quiet", 4, Load(27648, 10, bytes([0x80, 0x7F]))),
        ("ack_after_quiet", 4, Ack(10, 2, 2, 0x5E55_10A1)),
        ("ack_after_restart", 4, Ack(0, 7, 4, 0)),
        ("load_full_block", full_seq, full_load),
        ("load_long", 5, Load(27648, 16376, bytes((i * 7) & 0xFF for i in range(600)))),
        ("load_zeros", 5, Load(27648, 256, bytes(12))),
        ("load_empty", 5, Load(0, 0, b"")),
        ("invoke", 6, Invoke()),
        ("result", 6, Result(time_us=22, ticks=22583,
                             output=bytes.fromhex("6b8ec54f4ce716c6675b"))),
        ("bench", 7, Bench(100)),
        ("bench_result", 7, BenchResult(count=100, min_ticks=16250, mean_ticks=16625,
                                        max_ticks=18063, min_us=16, mean_us=16, max_us=18,
                                        total_ticks=1662500)),
        ("op_times", 8, OpTimesRequest()),
        ("op_times_result", 8, OpTimes((OpTime(3, 1000), OpTime(4, 2000), OpTime(25, 3000)))),
        ("op_times_result_empty", 9, OpTimes(())),
        ("error_bad_crc", 10, ErrorReply(ErrorCode.BAD_CRC, MsgType.LOAD, 0)),
        ("error_too_long", 0, ErrorReply(ErrorCode.TOO_LONG, MsgType.LOAD, 1024)),
        ("error_unknown_type", 11, ErrorReply(ErrorCode.UNKNOWN_TYPE, 0x47, 0x47)),
        ("error_bad_length", 12, ErrorReply(ErrorCode.BAD_LENGTH, MsgType.BENCH, 2)),
        ("error_input_size", 13, ErrorReply(ErrorCode.INPUT_SIZE, MsgType.LOAD, 27648)),
        ("error_sequence", 14, ErrorReply(ErrorCode.SEQUENCE, MsgType.LOAD, 16380)),
        ("error_sequence_quiet", 20,
         ErrorReply(ErrorCode.SEQUENCE, MsgType.LOAD_QUIET, 0)),
        ("error_no_input", 15, ErrorReply(ErrorCode.NO_INPUT, MsgType.INVOKE, 0)),
        ("error_invoke_failed", 16, ErrorReply(ErrorCode.INVOKE_FAILED, MsgType.INVOKE, -7)),
        ("error_no_result", 255, ErrorReply(ErrorCode.NO_RESULT, MsgType.OP_TIMES, 0)),
    ]


def reject_vectors() -> list[dict]:
    """Wire bytes both decoders must refuse, and how."""
    hello = frame_body(MsgType.HELLO, 0, Hello().pack())
    bad_crc = hello[:-1] + bytes([hello[-1] ^ 0x01])
    return [
        {"name": "bad_crc", "error": "bad_crc", "wire_hex": (cobs_encode(bad_crc) + b"\0").hex()},
        {"name": "block_cut_short", "error": "bad_frame", "wire_hex": "0501020300"},
        {"name": "too_short", "error": "bad_frame",
         "wire_hex": (cobs_encode(b"\x01\x02\x03") + b"\0").hex()},
        {"name": "empty_cobs", "error": "bad_frame", "wire_hex": "0100"},
        {"name": "padding", "error": "ignored", "wire_hex": "0000"},
    ]


def build() -> dict:
    frames = []
    for name, seq, message in frame_vectors():
        frames.append({
            "name": name,
            "message": message.TYPE.name,
            "type": int(message.TYPE),
            "seq": seq,
            "fields": message_fields(message),
            "payload_hex": message.pack().hex(),
            "wire_hex": encode_message(message, seq).hex(),
        })
    return {
        "protocol_version": PROTOCOL_VERSION,
        "framing": "COBS, 0x00 delimiter; frame = [type u8][seq u8][payload][crc32 u32 LE]",
        "crc": {"name": "CRC-32/ISO-HDLC", "check_123456789": f"0x{crc32(b'123456789'):08x}"},
        "frames": frames,
        "rejects": reject_vectors(),
    }


def markdown(vectors: dict) -> str:
    """The byte-level examples section of docs/protocol.md: for each frame, the
    frame before COBS (type seq | payload | CRC) and the bytes on the wire."""
    lines = []
    for v in vectors["frames"]:
        wire = bytes.fromhex(v["wire_hex"])
        if len(wire) > 200:
            continue  # long chunks are in vectors.json, not worth a page of hex
        payload = bytes.fromhex(v["payload_hex"])
        body = frame_body(v["type"], v["seq"], payload)
        lines.append(f"`{v['name']}`: {v['message']}, seq {v['seq']}, "
                     f"payload {len(payload)} bytes")
        lines.append("")
        lines.append("```")
        lines.append(f"frame: {body[:2].hex(' ')} | "
                     + (_wrap(payload, 15) + " | " if payload else "| ")
                     + body[-4:].hex(" "))
        lines.append("wire:  " + _wrap(wire, 7))
        lines.append("```")
        lines.append("")
    return "\n".join(lines)


def _wrap(data: bytes, indent: int, width: int = 24) -> str:
    rows = [data[i : i + width].hex(" ") for i in range(0, len(data), width)]
    return ("\n" + " " * indent).join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print doc examples instead")
    args = parser.parse_args()
    vectors = build()
    if args.markdown:
        print(markdown(vectors))
        return
    VECTORS.parent.mkdir(parents=True, exist_ok=True)
    VECTORS.write_text(json.dumps(vectors, indent=1) + "\n")
    print(f"wrote {VECTORS.relative_to(REPO)}: {len(vectors['frames'])} frames, "
          f"{len(vectors['rejects'])} rejects")


if __name__ == "__main__":
    main()
