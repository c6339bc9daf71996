/* On-target check of a generated native model under QEMU riscv32 virt (RV32IMC,
 * semihosting through picolibc): the inputs are a raw blob that QEMU's loader
 * device puts at EM_TEST_BLOB (a uint32 count, then the inputs back to back), so
 * hundreds of inputs need no compiling. Prints each output in hex with the
 * instructions retired around invoke (exact under -icount; without it QEMU's
 * minstret follows the host clock), then the per-operator counts of one more
 * invoke. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "model_native.h"

#define EM_TEST_BLOB 0x81000000u

static uint32_t instructions(void) {
  uint32_t count;
  __asm__ volatile("csrr %0, minstret" : "=r"(count));
  return count;
}

static int8_t out[EM_NATIVE_OUTPUT_BYTES];
static uint32_t op_counts[EM_NATIVE_OP_COUNT];

static int run(void) {
  const uint32_t inputs = *(const volatile uint32_t *)EM_TEST_BLOB;
  const int8_t *input = (const int8_t *)(EM_TEST_BLOB + 4u);
  for (uint32_t n = 0; n < inputs; ++n, input += EM_NATIVE_INPUT_BYTES) {
    const uint32_t before = instructions();
    const int rc = em_native_invoke(input, out);
    const uint32_t spent = instructions() - before;
    if (rc != 0) return 10 + rc;
    printf("out %lu %lu ", (unsigned long)n, (unsigned long)spent);
    for (int i = 0; i < EM_NATIVE_OUTPUT_BYTES; ++i) printf("%02x", (unsigned)(uint8_t)out[i]);
    printf("\n");
  }
  em_native_invoke_timed((const int8_t *)(EM_TEST_BLOB + 4u), out, op_counts, instructions);
  printf("ops");
  for (int i = 0; i < EM_NATIVE_OP_COUNT; ++i) printf(" %lu", (unsigned long)op_counts[i]);
  printf("\ndone\n");
  return 0;
}

/* exit() ends QEMU through semihosting with run()'s status. */
int main(void) { exit(run()); }
