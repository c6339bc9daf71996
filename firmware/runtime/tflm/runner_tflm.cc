// firmware/app/runner.h implemented with TensorFlow Lite Micro: a MicroInterpreter
// over the exported model array (model_data.c), the op resolver generated from the
// model's own operators (op_resolver.h) and a static arena.
//
// Build defines: EM_TFLM_ARENA_BYTES (the export's recommended arena, required) and
// EM_TFLM_VERSION (a string naming the TFLite Micro tree; TFLM has no version macro).
#include <stdint.h>
#include <string.h>

#include <new>

#include "model_data.h"
#include "model_settings.h"
#include "op_resolver.h"
#include "platform.h"
#include "runner.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/schema/schema_utils.h"

#ifndef EM_TFLM_ARENA_BYTES
#error "EM_TFLM_ARENA_BYTES must be defined: the TFLite Micro arena size from edgemb export"
#endif
#ifndef EM_TFLM_VERSION
#define EM_TFLM_VERSION "unknown"
#endif

// Negative codes of em_runner_init, reported as the INFO status detail.
enum {
  kSchemaMismatch = -1,    // the model's schema version is not the one TFLM reads
  kRegisterFailed = -2,    // the op resolver rejected a registration (too small)
  kAllocateFailed = -3,    // AllocateTensors failed: arena too small or a bad model
  kTensorMismatch = -4,    // input/output sizes differ from model_settings.c
  kNoOperators = -5,       // the model has no subgraph
  kMissingOpBase = -1000,  // -1000 - op code: an operator missing from the resolver
};

namespace {

// Per-operator timing: the interpreter opens one event per operator, in order,
// around each kernel's Invoke (it does so unless built with
// TF_LITE_STRIP_ERROR_STRINGS).
class OpTimer : public tflite::MicroProfilerInterface {
 public:
  void Start(uint32_t *ticks, uint16_t count) {
    ticks_ = ticks;
    count_ = count;
    next_ = 0;
  }

  uint32_t BeginEvent(const char *) override {
    start_ = em_ticks();
    return next_++;
  }

  void EndEvent(uint32_t handle) override {
    uint32_t now = em_ticks();
    if (ticks_ != nullptr && handle < count_) ticks_[handle] = now - start_;
  }

 private:
  uint32_t *ticks_ = nullptr;
  uint16_t count_ = 0;
  uint32_t next_ = 0;
  uint32_t start_ = 0;
};

alignas(16) uint8_t arena[EM_TFLM_ARENA_BYTES];

// Constructed in em_runner_init, never destroyed: no static constructors or
// destructors to run on bare metal.
alignas(edgemb::OpResolver) uint8_t resolver_storage[sizeof(edgemb::OpResolver)];
alignas(OpTimer) uint8_t timer_storage[sizeof(OpTimer)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];

const tflite::Model *model = nullptr;
OpTimer *timer = nullptr;
tflite::MicroInterpreter *interpreter = nullptr;

const tflite::Operator *op_at(uint16_t i) {
  return model->subgraphs()->Get(0)->operators()->Get(i);
}

tflite::BuiltinOperator builtin_code_of(const tflite::Operator *op) {
  return tflite::GetBuiltinCode(model->operator_codes()->Get(op->opcode_index()));
}

uint16_t operator_count() {
  const auto *ops = model->subgraphs()->Get(0)->operators();
  return ops != nullptr ? static_cast<uint16_t>(ops->size()) : 0;
}

}  // namespace

// The bytes of all the model's outputs together.
static size_t outputs_bytes() {
  size_t total = 0;
  for (size_t i = 0; i < interpreter->outputs_size(); ++i) total += interpreter->output(i)->bytes;
  return total;
}

extern "C" int em_runner_init(em_runner_info_t *info) {
  if (info != nullptr) {
    info->name = "tflm";
    info->version = EM_TFLM_VERSION;
    info->arena_bytes = 0;
    info->op_count = 0;
  }
  model = tflite::GetModel(em_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) return kSchemaMismatch;
  if (model->subgraphs() == nullptr || model->subgraphs()->size() == 0) return kNoOperators;

  auto *resolver = new (resolver_storage) edgemb::OpResolver();
  if (edgemb::RegisterOps(*resolver) != kTfLiteOk) return kRegisterFailed;
  // Name a missing operator here, before AllocateTensors fails on it anonymously.
  const uint16_t count = operator_count();
  for (uint16_t i = 0; i < count; i++) {
    const tflite::BuiltinOperator code = builtin_code_of(op_at(i));
    if (code != tflite::BuiltinOperator_CUSTOM && resolver->FindOp(code) == nullptr) {
      return kMissingOpBase - static_cast<int>(code);
    }
  }

  timer = new (timer_storage) OpTimer();
  interpreter = new (interpreter_storage)
      tflite::MicroInterpreter(model, *resolver, arena, sizeof arena, nullptr, timer);
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    interpreter = nullptr;
    return kAllocateFailed;
  }
  if (interpreter->input(0)->bytes != em_model_settings.input.bytes ||
      outputs_bytes() != em_model_settings.output.bytes) {
    interpreter = nullptr;
    return kTensorMismatch;
  }
  if (info != nullptr) {
    info->arena_bytes = static_cast<uint32_t>(interpreter->arena_used_bytes());
    info->op_count = count;
  }
  return 0;
}

extern "C" int em_runner_invoke(const int8_t *input, int8_t *output, uint32_t *op_ticks) {
  if (interpreter == nullptr) return -1;
  TfLiteTensor *in = interpreter->input(0);
  memcpy(in->data.int8, input, in->bytes);
  timer->Start(op_ticks, operator_count());
  const TfLiteStatus status = interpreter->Invoke();
  timer->Start(nullptr, 0);
  if (status != kTfLiteOk) return -2;
  // Several outputs travel back to back, in the model's order.
  for (size_t i = 0; i < interpreter->outputs_size(); ++i) {
    const TfLiteTensor *out = interpreter->output(i);
    memcpy(output, out->data.data, out->bytes);
    output += out->bytes;
  }
  return 0;
}

extern "C" uint8_t em_runner_op_code(uint16_t i) {
  if (model == nullptr || i >= operator_count()) return 0;
  return static_cast<uint8_t>(builtin_code_of(op_at(i)));
}
