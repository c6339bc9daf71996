/* Test harness for generated native models: reads whole input tensors from stdin
 * (EM_NATIVE_INPUT_BYTES each) until end of file, runs em_native_invoke on each and
 * writes the output tensors (EM_NATIVE_OUTPUT_BYTES each) to stdout. */
#include <stdio.h>
#include <stdlib.h>

#include "model_native.h"

/* With EM_HARNESS_DUMP every step's output tensor precedes the model output. */
#ifdef EM_HARNESS_DUMP
static void dump(int step, const int8_t *data, uint32_t bytes) {
  (void)step;
  fwrite(data, 1, bytes, stdout);
}
#endif

int main(void) {
  static int8_t in[EM_NATIVE_INPUT_BYTES];
  static int8_t out[EM_NATIVE_OUTPUT_BYTES];
  for (;;) {
    const size_t got = fread(in, 1, sizeof in, stdin);
    if (got == 0) break;
    if (got != sizeof in) {
      fprintf(stderr, "short input: %zu of %zu bytes\n", got, sizeof in);
      return 2;
    }
#ifdef EM_HARNESS_DUMP
    if (em_native_invoke_debug(in, out, dump) != 0) return 3;
#else
    if (em_native_invoke(in, out) != 0) return 3;
#endif
    if (fwrite(out, 1, sizeof out, stdout) != sizeof out) return 4;
  }
  return 0;
}
