"""The Python and the C implementation of the protocol against the committed
golden vectors (tests/golden/protocol/vectors.json): same bytes, both ways."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edgemb.link.errors import BadCrcError, BadFrameError
from edgemb.link.frames import Frame, FrameDecoder, decode_frame
from edgemb.link.messages import encode_message, message_fields, parse_message

REPO = Path(__file__).resolve().parents[1]
VECTORS_PATH = REPO / "tests" / "golden" / "protocol" / "vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())
FRAMES = VECTORS["frames"]
APP_DIR = REPO / "firmware" / "app"
GOLDEN_TEST_C = REPO / "tests" / "fixtures" / "firmware" / "protocol_golden_test.c"
C_FLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_protocol_vectors", REPO / "tools" / "gen_protocol_vectors.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- Python ---------------------------------------------------------------


@pytest.mark.parametrize("vector", FRAMES, ids=[v["name"] for v in FRAMES])
def test_python_matches_vector(vector):
    wire = bytes.fromhex(vector["wire_hex"])
    frame = decode_frame(wire[:-1])
    assert frame == Frame(vector["type"], vector["seq"], bytes.fromhex(vector["payload_hex"]))
    message = parse_message(frame)
    assert message_fields(message) == vector["fields"]
    assert encode_message(message, vector["seq"]) == wire


@pytest.mark.parametrize("vector", VECTORS["rejects"], ids=lambda v: v["name"])
def test_python_rejects_vector(vector):
    items = FrameDecoder().feed(bytes.fromhex(vector["wire_hex"]))
    expected = {"ignored": [], "bad_crc": [BadCrcError], "bad_frame": [BadFrameError]}
    assert [type(item) for item in items] == expected[vector["error"]]


def test_committed_vectors_are_what_the_code_produces():
    """Changing a byte on the wire needs a new vectors.json, reviewed and committed."""
    assert _load_generator().build() == VECTORS


def test_doc_examples_are_the_golden_vectors():
    """docs/protocol.md shows the golden bytes (tools/gen_protocol_vectors.py --markdown)."""
    examples = _load_generator().markdown(VECTORS)
    assert examples in (REPO / "docs" / "protocol.md").read_text()


# ---- C ----------------------------------------------------------------------


def _c_bytes(data: bytes) -> str:
    return "{" + ", ".join(f"0x{b:02x}" for b in data) + "}" if data else "{0}"


def _c_string(text: str) -> str:
    assert text.isascii() and text.isprintable()
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _c_int(value: int) -> str:
    return f"(int32_t){value}" if value < 0 else f"{value}u"


def _c_tensor(target: str, t: dict) -> list[str]:
    lines = [f"{target}.type = {t['type']}u;", f"{target}.ndims = {len(t['dims'])}u;"]
    lines += [f"{target}.dims[{i}] = {d}u;" for i, d in enumerate(t["dims"])]
    lines += [
        f"{target}.scale = {float(t['scale']).hex()}f;",
        f"{target}.zero_point = {_c_int(t['zero_point'])};",
        f"{target}.bytes = {t['bytes']}u;",
    ]
    return lines


def _c_send(index: int, v: dict) -> list[str]:
    """C statements that encode a reply from its fields and compare the bytes."""
    f, seq = v["fields"], v["seq"]
    call = {
        "ACK": (
            f"em_send_ack(capture_write, NULL, {seq}u, {f.get('offset')}u, {f.get('length')}u, "
            f"{f.get('begin_seq')}u, {f.get('session')}u);"
        ),
        "ERROR": (
            f"em_send_error(capture_write, NULL, {seq}u, {f.get('code')}u, "
            f"{f.get('request_type')}u, {_c_int(f.get('detail', 0))});"
        ),
    }.get(v["message"])
    lines: list[str] = []
    if v["message"] == "INFO":
        lines.append("em_info_msg_t m; memset(&m, 0, sizeof m);")
        for key in ("protocol_version", "status", "status_detail", "max_payload", "window",
                    "cpu_hz", "tick_hz", "tick_kind", "arena_bytes", "op_count", "num_labels",
                    "arena_request", "largest_free_internal", "largest_free_psram"):
            lines.append(f"m.{key} = {_c_int(f[key])};")
        fingerprint = bytes.fromhex(f["fingerprint"])
        lines.append(f"{{ static const uint8_t fp[32] = {_c_bytes(fingerprint)}; "
                     "memcpy(m.fingerprint, fp, 32); }")
        lines += _c_tensor("m.input", f["input"]) + _c_tensor("m.output", f["output"])
        for key in ("target", "runtime", "runtime_version"):
            lines.append(f"m.{key} = {_c_string(f[key])};")
        call = f"em_send_info(capture_write, NULL, {seq}u, &m);"
    elif v["message"] == "RESULT":
        output = bytes.fromhex(f["output"])
        lines.append(f"static const uint8_t out[] = {_c_bytes(output)};")
        call = (f"em_send_result(capture_write, NULL, {seq}u, {f['time_us']}u, {f['ticks']}u, "
                f"(const int8_t *)out, {len(output)}u);")
    elif v["message"] == "BENCH_RESULT":
        lines.append("em_bench_msg_t m;")
        for key in ("count", "min_ticks", "mean_ticks", "max_ticks", "min_us", "mean_us",
                    "max_us"):
            lines.append(f"m.{key} = {f[key]}u;")
        lines.append(f"m.total_ticks = {f['total_ticks']}ull;")
        call = f"em_send_bench_result(capture_write, NULL, {seq}u, &m);"
    elif v["message"] == "OP_TIMES_RESULT":
        ops = f["ops"]
        codes = ", ".join(f"{op['op_code']}u" for op in ops) or "0"
        ticks = ", ".join(f"{op['ticks']}u" for op in ops) or "0"
        lines.append(f"static const uint8_t codes[] = {{{codes}}};")
        lines.append(f"static const uint32_t ticks[] = {{{ticks}}};")
        call = f"em_send_op_times(capture_write, NULL, {seq}u, {len(ops)}u, codes, ticks);"
    return lines + [
        "capture_reset();",
        call,
        f"expect_captured({_c_string(v['name'])}, golden_frames[{index}].wire, "
        f"golden_frames[{index}].wire_len);",
    ]


def _c_parse(index: int, v: dict) -> list[str]:
    """C statements that parse a request's frame and compare its fields."""
    f, name = v["fields"], _c_string(v["name"])
    lines = [
        "em_frame_t f; uint32_t expected_len = 0;",
        f"expect(decode_wire(golden_frames[{index}].wire, golden_frames[{index}].wire_len, &f)"
        f" == EM_DECODE_FRAME, {name}, \"decodes\");",
    ]
    message = v["message"]
    if message == "HELLO":
        lines.append("uint16_t version = 0; uint32_t session = 1;")
        lines.append(f"expect(em_parse_hello(&f, &version, &session, &expected_len) == 0 && "
                     f"version == {f['version']}u && session == {f['session']}u, {name}, "
                     "\"fields\");")
    elif message in ("LOAD", "LOAD_QUIET"):
        data = bytes.fromhex(f["data"])
        lines.append(f"static const uint8_t want[] = {_c_bytes(data)};")
        lines.append("uint32_t total = 0, offset = 0; const uint8_t *data = NULL; size_t len = 0;")
        lines.append(f"expect(em_parse_load(&f, &total, &offset, &data, &len, &expected_len) == 0"
                     f" && total == {f['total_len']}u && offset == {f['offset']}u"
                     f" && len == {len(data)}u && memcmp(data, want, len) == 0, {name}, \"fields\");")
    elif message == "BENCH":
        lines.append("uint16_t count = 0;")
        lines.append(f"expect(em_parse_bench(&f, &count, &expected_len) == 0 && "
                     f"count == {f['count']}u, {name}, \"fields\");")
    else:  # INVOKE, OP_TIMES: no fields
        lines.append(f"expect(em_parse_empty(&f, &expected_len) == 0, {name}, \"fields\");")
    return lines


def golden_header(vectors: dict) -> str:
    """golden_vectors.h for protocol_golden_test.c."""
    out = ["/* Generated by tests/test_protocol_golden.py from vectors.json. */"]
    for i, v in enumerate(vectors["frames"]):
        out.append(f"static const uint8_t v{i}_payload[] = "
                   f"{_c_bytes(bytes.fromhex(v['payload_hex']))};")
        out.append(f"static const uint8_t v{i}_wire[] = {_c_bytes(bytes.fromhex(v['wire_hex']))};")
    out.append("static const golden_frame_t golden_frames[] = {")
    for i, v in enumerate(vectors["frames"]):
        out.append(f"  {{{_c_string(v['name'])}, {v['type']}u, {v['seq']}u, v{i}_payload, "
                   f"{len(v['payload_hex']) // 2}u, v{i}_wire, {len(v['wire_hex']) // 2}u}},")
    out.append("};")
    results = {"ignored": "EM_DECODE_NONE", "bad_crc": "EM_DECODE_BAD_CRC",
               "bad_frame": "EM_DECODE_BAD_FRAME"}
    for i, r in enumerate(vectors["rejects"]):
        out.append(f"static const uint8_t r{i}_wire[] = {_c_bytes(bytes.fromhex(r['wire_hex']))};")
    out.append("static const golden_reject_t golden_rejects[] = {")
    for i, r in enumerate(vectors["rejects"]):
        out.append(f"  {{{_c_string(r['name'])}, {results[r['error']]}, r{i}_wire, "
                   f"{len(r['wire_hex']) // 2}u}},")
    out.append("};")
    out.append("static void golden_check_messages(void) {")
    for i, v in enumerate(vectors["frames"]):
        body = _c_send(i, v) if v["type"] & 0x80 else _c_parse(i, v)
        out.append(f"  {{ /* {v['name']} */")
        out += ["    " + line for line in body]
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _compilers() -> list[str]:
    found = [c for c in ("gcc", "clang") if shutil.which(c)]
    return found or ([] if not shutil.which("cc") else ["cc"])


@pytest.mark.parametrize("crc_slices", [1, 8])
@pytest.mark.parametrize("compiler", _compilers())
def test_c_matches_vectors(compiler, crc_slices, tmp_path):
    (tmp_path / "golden_vectors.h").write_text(golden_header(VECTORS))
    program = tmp_path / "protocol_golden_test"
    subprocess.run(
        [compiler, *C_FLAGS, f"-DEM_CRC32_SLICES={crc_slices}", f"-I{APP_DIR}", f"-I{tmp_path}",
         str(GOLDEN_TEST_C),
         str(APP_DIR / "protocol.c"), "-o", str(program)],
        check=True, capture_output=True, text=True,
    )
    done = subprocess.run([str(program)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:")
