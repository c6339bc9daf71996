/* firmware/app/runner.h implemented by the native runtime: the generated
 * model_native.c (edgemb/export/native.py) plus the kernels in this folder.
 * Needs firmware/app on the include path; tests that use the model without the
 * platform layer call em_native_invoke() directly and leave this file out. */
#include "em_nn.h"
#include "model_native.h"
#include "platform.h"
#include "runner.h"

int em_runner_init(em_runner_info_t *info) {
  if (info) {
    info->name = "native";
    info->version = EM_NN_VERSION;
    info->arena_bytes = EM_NATIVE_ARENA_BYTES;
    info->op_count = EM_NATIVE_OP_COUNT;
  }
  return 0;
}

int em_runner_invoke(const int8_t *input, int8_t *output, uint32_t *op_ticks) {
  return em_native_invoke_timed(input, output, op_ticks, op_ticks ? em_ticks : 0);
}

uint8_t em_runner_op_code(uint16_t i) {
  return i < EM_NATIVE_OP_COUNT ? em_native_op_codes[i] : 0;
}
