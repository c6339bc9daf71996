"""edgemb.tflite.reader on real converter output and on broken files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgemb.tflite import TFLiteFormatError, param_count, parse_tflite, read_tflite, total_macs

sys.path.insert(0, str(Path(__file__).parent / "native_harness"))
import models  # noqa: E402

SMALL = {
    "input": [12, 12, 3], "seed": 5,
    "layers": [
        {"type": "conv", "filters": 8, "kernel": 3, "strides": 2, "activation": "relu6"},
        {"type": "dwconv", "kernel": 3, "depth_multiplier": 2, "padding": "valid"},
        {"type": "maxpool", "pool": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 5},
        {"type": "softmax"},
    ],
}


@pytest.fixture(scope="module")
def small_bytes() -> bytes:
    return models.tflite_model(SMALL)


def test_reads_tensors_operators_options(small_bytes):
    m = parse_tflite(small_bytes)
    names = [op.name for op in m.operators]
    assert names[0] == "CONV_2D" and "DEPTHWISE_CONV_2D" in names and names[-1] == "SOFTMAX"
    conv = m.operators[0]
    assert conv.options["stride_w"] == 2 and conv.options["padding"] == "SAME"
    assert conv.options["fused_activation_function"] == "RELU6"
    assert conv.options["dilation_w_factor"] == 1
    dw = m.operators[names.index("DEPTHWISE_CONV_2D")]
    assert dw.options["depth_multiplier"] == 2 and dw.options["padding"] == "VALID"
    pool = m.operators[names.index("MAX_POOL_2D")]
    assert pool.options["filter_width"] == 2 and pool.options["filter_height"] == 2

    inp = m.input_tensors[0]
    assert inp.shape == (1, 12, 12, 3) and inp.dtype == "int8" and inp.data is None
    assert inp.quantization is not None and not inp.quantization.per_channel
    w = m.tensors[conv.inputs[1]]
    assert w.is_constant and w.data.dtype == np.int8 and w.data.shape == (8, 3, 3, 3)
    assert w.quantization.per_channel and len(w.quantization.scales) == 8
    b = m.tensors[conv.inputs[2]]
    assert b.data.dtype == np.int32 and b.data.shape == (8,)
    assert m.output_tensors[0].shape == (1, 5)


def test_macs_and_params(small_bytes):
    m = parse_tflite(small_bytes)
    # conv 6x6x8 from 3x3x3, dw 4x4x16 3x3, dense 5x(2*2*16)
    assert total_macs(m) == 6 * 6 * 8 * 27 + 4 * 4 * 16 * 9 + 5 * 64
    assert param_count(m) == (8 * 27 + 8) + (16 * 9 + 16) + (5 * 64 + 5)


def test_not_a_tflite_file(tmp_path):
    p = tmp_path / "x.tflite"
    p.write_bytes(b"\x10\x00\x00\x00NOPE" + bytes(64))
    with pytest.raises(TFLiteFormatError, match="not a TFLite flatbuffer"):
        read_tflite(p)
    with pytest.raises(TFLiteFormatError, match="too short"):
        parse_tflite(b"TFL3")
    with pytest.raises(TFLiteFormatError, match="no such file"):
        read_tflite(tmp_path / "missing.tflite")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated(small_bytes, keep):
    with pytest.raises(TFLiteFormatError, match="truncated"):
        parse_tflite(small_bytes[: int(len(small_bytes) * keep)])


def test_dynamic_shape_refused():
    import tensorflow as tf

    schema = __import__("edgemb.tflite.reader", fromlist=["_S"])._S
    m = schema.ModelT.InitFromPackedBuf(models.tflite_model(SMALL), 0)
    m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]].shapeSignature = np.array([1, -1, 12, 3])
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(TFLiteFormatError, match="dynamic shape"):
        parse_tflite(bytes(b.Output()))
    assert tf  # the converter's models carry -1 only in the batch dimension, which is accepted
