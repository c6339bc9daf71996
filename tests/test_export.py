"""`edgemb export` and `edgemb inspect`: C sources that compile and give back the model."""

import shutil
import subprocess
from collections import Counter

import keras
import numpy as np
import pytest
import tensorflow as tf

from edgemb.commands.inspect import summarize
from edgemb.commands.quantize import convert
from edgemb.export.exporter import ExportError, export
from edgemb.model.builders import build_model
from edgemb.model.stats import layer_macs
from edgemb.reference import allocation_report, minimum_arena
from edgemb.runtimes import TFLM_REGISTRATIONS
from edgemb.tflite import TFLiteFormatError, read_tflite

pytestmark = pytest.mark.slow

ECHO_PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include "model_data.h"
int main(void) {
  fwrite(em_model_data, 1, em_model_data_len, stdout);
  fprintf(stderr, "%u", (unsigned)((uintptr_t)em_model_data % 16));
  return 0;
}
"""


@pytest.fixture(scope="module")
def exported(quantized_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    result = export(quantized_run.tflite_file, out, ["circle", "square"], "tflm")
    return quantized_run, out, result


@pytest.mark.parametrize("compiler", ["cc", "c++"])
def test_c_array_compiles_back_to_the_exact_model_bytes_16_aligned(exported, tmp_path, compiler):
    run, out, _ = exported
    main = tmp_path / ("echo.c" if compiler == "cc" else "echo.cc")
    main.write_text(ECHO_PROGRAM)
    # model_data.c is C11; under C++ it is compiled as C++ through a one-line wrapper.
    data_src = out / "model_data.c"
    if compiler == "c++":
        data_src = tmp_path / "model_data.cc"
        data_src.write_text(f'#include "{out}/model_data.c"\n')
    exe = tmp_path / "echo"
    subprocess.run([compiler, "-O2", "-Wall", "-Werror", f"-I{out}", str(main), str(data_src),
                    "-o", str(exe)], check=True)
    done = subprocess.run([str(exe)], capture_output=True, check=True)
    assert done.stdout == run.tflite_file.read_bytes()
    assert done.stderr == b"0"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                    reason="arm-none-eabi-gcc is not installed (tools/setup installs it)")
def test_c_array_is_16_aligned_for_cortex_m(exported, tmp_path):
    _, out, _ = exported
    obj = tmp_path / "model_data.o"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c11", "-c",
                    f"-I{out}", str(out / "model_data.c"), "-o", str(obj)], check=True)
    sections = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(obj)],
                              capture_output=True, text=True, check=True).stdout
    rodata = next(line for line in sections.splitlines() if ".rodata" in line)
    assert rodata.split()[-1] == "16"  # the Al column


def test_export_is_byte_for_byte_deterministic(exported, tmp_path):
    run, out, _ = exported
    export(run.tflite_file, tmp_path, ["circle", "square"], "tflm")
    for name in ("model_data.c", "model_data.h", "model_settings.c", "op_resolver.h"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


MINIMAL_RESOLVER = r"""
#ifndef FAKE_RESOLVER_H
#define FAKE_RESOLVER_H
#include <cstdio>
typedef int TfLiteStatus;
const TfLiteStatus kTfLiteOk = 0;
#define TF_LITE_ENSURE_STATUS(a) do { TfLiteStatus s = (a); if (s != kTfLiteOk) return s; } while (0)
namespace tflite {
template <unsigned int N> class MicroMutableOpResolver {
 public:
  unsigned int count = 0;
  TfLiteStatus Add(const char *name) {
    if (count >= N) return 1;  // what the real resolver does with one too many
    std::printf("%s\n", name); ++count; return kTfLiteOk;
  }
#define OP(name) TfLiteStatus name() { return Add(#name); }
  OP(AddConv2D) OP(AddDepthwiseConv2D) OP(AddMean) OP(AddReshape) OP(AddSoftmax)
  OP(AddAdd) OP(AddPad) OP(AddFullyConnected) OP(AddAveragePool2D) OP(AddMaxPool2D)
  OP(AddQuantize) OP(AddDequantize) OP(AddMul) OP(AddLogistic)
};
}
#endif
"""


def test_generated_op_resolver_registers_exactly_the_models_operators(exported, tmp_path):
    run, out, _ = exported
    fake = tmp_path / "tensorflow/lite/micro"
    fake.mkdir(parents=True)
    (fake / "micro_mutable_op_resolver.h").write_text(MINIMAL_RESOLVER)
    (tmp_path / "main.cc").write_text(
        '#include "op_resolver.h"\nint main() { edgemb::OpResolver r; '
        'int s = edgemb::RegisterOps(r); std::printf("N=%u\\n", edgemb::kOpRegistrations); '
        'return s; }\n')
    exe = tmp_path / "resolver"
    subprocess.run(["c++", "-std=c++17", "-Wall", "-Werror", f"-I{tmp_path}", f"-I{out}",
                    str(tmp_path / "main.cc"), "-o", str(exe)], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    registered = {method: op for op, method in TFLM_REGISTRATIONS.items()}
    model_ops = {op.name for op in read_tflite(run.tflite_file.read_bytes()).operators}
    assert {registered[name] for name in lines[:-1]} == model_ops
    assert lines[-1] == f"N={len(model_ops)}"


def test_model_settings_describe_the_model(exported, tmp_path):
    _, out, result = exported
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "model_settings.h"
int main(void) {
  const em_model_settings_t *s = &em_model_settings;
  printf("%u %u %u %u %u %.9g %d %u\n", s->input.type, s->input.dims[1], s->input.dims[3],
         s->input.bytes, s->output.bytes, (double)s->output.scale, (int)s->output.zero_point,
         s->tflm_arena_bytes);
  for (unsigned i = 0; i < s->num_labels; i++) printf("%s\n", s->labels[i]);
  for (int i = 0; i < 32; i++) printf("%02x", s->fingerprint[i]);
  return 0;
}
""")
    exe = tmp_path / "settings"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", "firmware/app", f"-I{out}",
                    str(tmp_path / "main.c"), str(out / "model_settings.c"), "-o", str(exe)],
                   check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    assert lines[0] == f"9 32 3 3072 2 0.00390625 -128 {result.tflm_arena_bytes}"
    assert lines[1:3] == ["circle", "square"]
    assert lines[3] == result.fingerprint


def test_arena_search_agrees_with_tflite_micros_own_report(quantized_run):
    model = quantized_run.tflite_file.read_bytes()
    minimum = minimum_arena(model)
    _, reported = allocation_report(model, minimum)
    assert reported is not None and abs(reported - minimum) <= 16


def keras_layer_counts(model):
    counts = Counter(type(layer).__name__ for layer in model.layers)
    return {"CONV_2D": counts["Conv2D"], "DEPTHWISE_CONV_2D": counts["DepthwiseConv2D"],
            "ADD": counts["Add"], "FULLY_CONNECTED": counts["Dense"]}


@pytest.mark.parametrize("arch", ["mobilenet_v1", "mobilenet_v2"])
def test_inspect_counts_every_operator_of_v1_and_v2(arch, tmp_path):
    model = build_model(arch, 3, alpha=0.35, size=64)
    calibration = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    path = tmp_path / "m.tflite"
    path.write_bytes(convert(model, calibration))
    summary = summarize(path, measure_arena=False)
    expected = {op: n for op, n in keras_layer_counts(model).items() if n}
    assert {op: summary.operators[op] for op in expected} == expected
    extra = set(summary.operators) - set(expected)
    assert extra == ({"MEAN", "RESHAPE", "SOFTMAX"} if arch == "mobilenet_v1"
                     else {"MEAN", "SOFTMAX"})
    assert summary.macs == sum(layer_macs(layer) for layer in model.layers)


def test_not_a_flatbuffer(tmp_path):
    path = tmp_path / "photo.tflite"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(TFLiteFormatError, match=r"photo.tflite: not a TFLite flatbuffer"):
        export(path, tmp_path / "out")


def test_truncated_model(quantized_run, tmp_path):
    path = tmp_path / "half.tflite"
    path.write_bytes(quantized_run.tflite_file.read_bytes()[:5000])
    with pytest.raises(TFLiteFormatError, match=r"half.tflite: truncated"):
        export(path, tmp_path / "out")


def float_model_bytes(inputs_shape, activation=None):
    inputs = keras.Input(inputs_shape)
    outputs = keras.layers.Dense(4, activation=activation)(inputs)
    return tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert()


def test_float_model_says_to_quantize(tmp_path):
    path = tmp_path / "float.tflite"
    path.write_bytes(float_model_bytes((8,)))
    with pytest.raises(ExportError, match=r"float.tflite: operator FULLY_CONNECTED \(#0\) "
                                          r"computes in float32 .*: this is a float model.*"
                                          r"run `edgemb quantize`"):
        export(path, tmp_path / "out")


def test_dynamic_shapes_are_refused(tmp_path):
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(float_model_bytes((None, 8)))
    with pytest.raises(TFLiteFormatError, match=r"dynamic.tflite: tensor .* has a dynamic shape"):
        export(path, tmp_path / "out")


def int8_model_with(activation, tmp_path):
    inputs = keras.Input((8,), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(4, activation=activation)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.full((1, 8), v, np.float32)] for v in (-1, 1))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path / f"{activation}.tflite"
    path.write_bytes(converter.convert())
    return path


def test_operator_the_native_runtime_lacks_points_to_tflm(tmp_path):
    path = int8_model_with("hard_swish", tmp_path)
    with pytest.raises(ExportError, match=r"the native runtime does not support operator\(s\) "
                                          r"HARD_SWISH; use --runtime tflm"):
        export(path, tmp_path / "out", runtime="native")
    assert export(path, tmp_path / "tflm").files  # TFLite Micro has a HARD_SWISH kernel


def test_operator_no_runtime_has_is_named(tmp_path):
    path = int8_model_with("tanh", tmp_path)
    with pytest.raises(ExportError, match=r"the tflm runtime does not support operator\(s\) "
                                          r"TANH; change the model"):
        export(path, tmp_path / "out")
