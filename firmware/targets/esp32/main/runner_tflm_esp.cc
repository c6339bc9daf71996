/* app/runner.h on ESP32, ESP32-S3 and ESP32-C3: TFLite Micro from the ESP-IDF
 * component espressif/esp-tflite-micro, whose conv, depthwise conv, fully
 * connected, add, mul, pooling and softmax kernels are Espressif's ESP-NN.
 *
 * This is the ESP32 variant of the tflm runtime. What differs from a bare-metal
 * runner is memory: the arena comes from the heap, never from a static array (a
 * static arena of ~200 KB overflows dram0_0_seg at link time), 16-byte aligned,
 * from internal RAM first and from PSRAM when internal RAM has no block that
 * large (PSRAM needs CONFIG_SPIRAM). Its size is the one `edgemb export`
 * measured on the host (em_model_settings.tflm_arena_bytes) plus
 * CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES for ESP-NN's scratch buffers, which
 * depends on the chip (sdkconfig.defaults.<chip>: the ESP32-S3's SIMD kernels
 * need scratch, the generic kernels of the ESP32 and ESP32-C3 next to none).
 * If that fails, the runner retries once with the largest free block. INFO
 * reports what the interpreter really uses, what the runner asked for first and
 * the largest free blocks it found, so that the host can say why an arena did
 * not fit (the board has no console to say it on).
 *
 * The operators are registered by model/op_resolver.h, generated from the model
 * itself (edgemb::RegisterOps), so the resolver holds exactly its operators.
 * Per-operator ticks come from a MicroProfilerInterface: the interpreter opens
 * one event per operator it invokes, in order. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <new>

#include "esp_heap_caps.h"
#include "sdkconfig.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/schema/schema_utils.h"

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "platform.h"
#include "runner.h"

#ifndef CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES
#define CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES 65536 /* main/Kconfig.projbuild's default */
#endif

/* Codes of em_runner_init, reported by INFO as the status detail: those of
 * firmware/runtime/tflm/runner_tflm.cc, and -6 for the heap. */
#define EM_TFLM_ERR_SCHEMA (-1)       /* the model's schema version is not TFLite Micro's */
#define EM_TFLM_ERR_REGISTER (-2)     /* the op resolver rejected a registration */
#define EM_TFLM_ERR_ALLOCATE (-3)     /* AllocateTensors failed, even with the largest block */
#define EM_TFLM_ERR_TENSORS (-4)      /* input or output differ from model_settings.c */
#define EM_TFLM_ERR_NO_OPERATORS (-5) /* the model has no subgraph */
#define EM_TFLM_ERR_NO_MEMORY (-6)    /* no heap block as large as the measured arena, and
                                        * the largest there is was not enough */
#define EM_TFLM_ERR_MISSING_OP (-1000) /* -1000 - op code: an operator the resolver lacks */
/* Codes of em_runner_invoke. */
#define EM_TFLM_ERR_NOT_READY (-1)
#define EM_TFLM_ERR_INVOKE (-2)

/* The runtime's version in INFO: the esp-tflite-micro and esp-nn versions of
 * the build (main/CMakeLists.txt reads them from dependencies.lock), and which
 * ESP-NN kernels and requantization it uses, so that a difference from the
 * host's TFLite Micro can be traced to the code that made it. */
#ifndef EM_ESP_TFLM_VERSION
#define EM_ESP_TFLM_VERSION "unknown"
#endif
#ifndef EM_ESP_NN_VERSION
#define EM_ESP_NN_VERSION "unknown"
#endif
#if CONFIG_NN_OPTIMIZED
#define EM_ESP_NN_KERNELS "ESP-NN optimized"
#else
#define EM_ESP_NN_KERNELS "ANSI C kernels"
#endif
#if CONFIG_NN_SKIP_NUDGE
#define EM_ESP_NN_REQUANT ", fast requantization (CONFIG_NN_SKIP_NUDGE)"
#else
#define EM_ESP_NN_REQUANT ""
#endif
#define EM_TFLM_VERSION                                                                  \
  "esp-tflite-micro " EM_ESP_TFLM_VERSION ", esp-nn " EM_ESP_NN_VERSION ", " EM_ESP_NN_KERNELS \
      EM_ESP_NN_REQUANT

namespace {

constexpr size_t kArenaAlign = 16;
constexpr uint32_t kInternal = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
constexpr uint32_t kPsram = MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT;

/* Per-operator ticks: the interpreter opens one event per operator invoked, and
 * the events are numbered in that order. Armed only around an Invoke. */
class OpTimer : public tflite::MicroProfilerInterface {
 public:
  void Arm(uint32_t *ticks, uint16_t count) {
    ticks_ = ticks;
    count_ = count;
    next_ = 0;
  }
  void Disarm() { ticks_ = nullptr; }

  uint32_t BeginEvent(const char *tag) override {
    (void)tag;
    uint32_t event = next_++;
    if (ticks_ != nullptr && event < count_) ticks_[event] = em_ticks();
    return event;
  }

  void EndEvent(uint32_t event) override {
    if (ticks_ != nullptr && event < count_) ticks_[event] = em_ticks() - ticks_[event];
  }

 private:
  uint32_t *ticks_ = nullptr;
  uint16_t count_ = 0;
  uint32_t next_ = 0;
};

const tflite::Model *model = nullptr;
edgemb::OpResolver resolver;
OpTimer op_timer;
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *interpreter = nullptr;
uint8_t *arena = nullptr;
uint16_t op_count = 0;
bool ops_registered = false;

size_t round_up(size_t bytes) { return (bytes + kArenaAlign - 1u) / kArenaAlign * kArenaAlign; }

void release() {
  if (interpreter != nullptr) {
    interpreter->~MicroInterpreter();
    interpreter = nullptr;
  }
  if (arena != nullptr) {
    heap_caps_free(arena);
    arena = nullptr;
  }
}

/* An arena of `bytes` from internal RAM, else from PSRAM; an interpreter on it
 * with its tensors allocated. False (and nothing held) when either step fails. */
bool try_arena(size_t bytes) {
  bytes = round_up(bytes);
  arena = static_cast<uint8_t *>(heap_caps_aligned_alloc(kArenaAlign, bytes, kInternal));
  if (arena == nullptr) {
    arena = static_cast<uint8_t *>(heap_caps_aligned_alloc(kArenaAlign, bytes, kPsram));
  }
  if (arena == nullptr) return false;
  interpreter = new (interpreter_storage)
      tflite::MicroInterpreter(model, resolver, arena, bytes, nullptr, &op_timer);
  if (interpreter->AllocateTensors() == kTfLiteOk) return true;
  release();
  return false;
}

/* The largest block the heap could give, rounded down to the arena alignment. */
size_t largest_block() {
  size_t internal = heap_caps_get_largest_free_block(kInternal);
  size_t psram = heap_caps_get_largest_free_block(kPsram);
  size_t largest = internal > psram ? internal : psram;
  /* heap_caps_aligned_alloc may need up to the alignment on top. */
  return largest > 2u * kArenaAlign ? (largest - 2u * kArenaAlign) / kArenaAlign * kArenaAlign : 0u;
}

tflite::BuiltinOperator builtin_code(uint16_t i) {
  const auto *op = model->subgraphs()->Get(0)->operators()->Get(i);
  return tflite::GetBuiltinCode(model->operator_codes()->Get(op->opcode_index()));
}

bool tensor_matches(const TfLiteTensor *tensor, const em_tensor_desc_t &desc) {
  return tensor != nullptr && tensor->bytes == desc.bytes;
}

/* The bytes of all the model's outputs together: several travel back to back. */
size_t outputs_bytes() {
  size_t total = 0;
  for (size_t i = 0; i < interpreter->outputs_size(); i++) {
    total += interpreter->output(i)->bytes;
  }
  return total;
}

}  // namespace

extern "C" int em_runner_init(em_runner_info_t *info) {
  const em_model_settings_t &settings = em_model_settings;
  size_t wanted = (size_t)settings.tflm_arena_bytes + CONFIG_EDGEMB_TFLM_ARENA_EXTRA_BYTES;

  release();
  info->name = "tflm";
  info->version = EM_TFLM_VERSION;
  info->arena_bytes = 0;
  info->op_count = 0;
  info->arena_request = 0;
  info->largest_free_internal = 0;
  info->largest_free_psram = 0;

  model = tflite::GetModel(em_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) return EM_TFLM_ERR_SCHEMA;
  if (model->subgraphs() == nullptr || model->subgraphs()->size() == 0) {
    return EM_TFLM_ERR_NO_OPERATORS;
  }
  if (!ops_registered) {
    if (edgemb::RegisterOps(resolver) != kTfLiteOk) return EM_TFLM_ERR_REGISTER;
    ops_registered = true;
  }
  /* Name a missing operator now, rather than let AllocateTensors fail on it. */
  const auto *operators = model->subgraphs()->Get(0)->operators();
  op_count = operators != nullptr ? (uint16_t)operators->size() : 0u;
  for (uint16_t i = 0; i < op_count; i++) {
    tflite::BuiltinOperator code = builtin_code(i);
    if (code != tflite::BuiltinOperator_CUSTOM && resolver.FindOp(code) == nullptr) {
      return EM_TFLM_ERR_MISSING_OP - (int)code;
    }
  }

  /* What the heap has before the arena takes from it. */
  info->largest_free_internal = (uint32_t)heap_caps_get_largest_free_block(kInternal);
  info->largest_free_psram = (uint32_t)heap_caps_get_largest_free_block(kPsram);
  info->arena_request = (uint32_t)round_up(wanted);
  if (!try_arena(wanted)) {
    /* Too little memory for `wanted`, or ESP-NN asked for more scratch than the
     * extra: once more with all the heap can give. */
    size_t largest = largest_block();
    if (largest == 0u || !try_arena(largest)) {
      return largest < settings.tflm_arena_bytes ? EM_TFLM_ERR_NO_MEMORY : EM_TFLM_ERR_ALLOCATE;
    }
  }
  if (!tensor_matches(interpreter->input(0), settings.input) ||
      outputs_bytes() != settings.output.bytes) {
    release();
    return EM_TFLM_ERR_TENSORS;
  }

  info->arena_bytes = (uint32_t)interpreter->arena_used_bytes();
  info->op_count = op_count;
  return 0;
}

extern "C" int em_runner_invoke(const int8_t *input, int8_t *output, uint32_t *op_ticks) {
  if (interpreter == nullptr) return EM_TFLM_ERR_NOT_READY;
  memcpy(interpreter->input(0)->data.int8, input, em_model_settings.input.bytes);
  if (op_ticks != nullptr) {
    memset(op_ticks, 0, sizeof(uint32_t) * op_count);
    op_timer.Arm(op_ticks, op_count);
  }
  TfLiteStatus status = interpreter->Invoke();
  op_timer.Disarm();
  if (status != kTfLiteOk) return EM_TFLM_ERR_INVOKE;
  for (size_t i = 0; i < interpreter->outputs_size(); i++) {
    const TfLiteTensor *out = interpreter->output(i);
    memcpy(output, out->data.data, out->bytes);
    output += out->bytes;
  }
  return 0;
}

extern "C" uint8_t em_runner_op_code(uint16_t i) {
  if (model == nullptr || i >= op_count) return 0;
  return (uint8_t)builtin_code(i);
}
