/* The model runner: what a runtime (native, tflm) provides to the application. */
#ifndef EDGEMB_RUNNER_H
#define EDGEMB_RUNNER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *name;     /* "native", "tflm", ... */
  const char *version;  /* the runtime's own version string */
  uint32_t arena_bytes; /* activation memory the runtime really uses */
  uint16_t op_count;    /* operators invoke can time one by one; 0 if none */
  /* A runtime that takes its arena from a heap says what it asked for and what
   * the heap had (INFO), so that an arena that does not fit can be explained;
   * 0 where that does not apply (a static arena) or is not known. */
  uint32_t arena_request;         /* bytes asked for first */
  uint32_t largest_free_internal; /* largest free block of internal RAM, before the arena */
  uint32_t largest_free_psram;    /* the same in external RAM; 0 without any */
} em_runner_info_t;

/* Prepares the runtime; 0 on success, a negative runtime-specific code otherwise. */
int em_runner_init(em_runner_info_t *info);

/* Runs one inference from the int8 input to the int8 output (sizes are those of
 * em_model_settings). When op_ticks is not NULL it receives op_count per-operator
 * durations in em_ticks() units. 0 on success. */
int em_runner_invoke(const int8_t *input, int8_t *output, uint32_t *op_ticks);

/* The builtin operator code (TFLite BuiltinOperator) of operator i, for reports. */
uint8_t em_runner_op_code(uint16_t i);

#ifdef __cplusplus
}
#endif

#endif /* EDGEMB_RUNNER_H */
