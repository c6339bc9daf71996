/* On-target check of a generated native model under QEMU (mps2-an386, -icount
 * shift=0, semihosting): runs em_native_invoke on the embedded test inputs,
 * prints each output in hex and the SysTick ticks around invoke, then the
 * per-operator ticks of one more invoke. */
#include <stdint.h>
#include <stdio.h>

#include "model_native.h"
#include "vectors.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static volatile uint32_t wraps;

void SysTick_Handler(void) { ++wraps; }

static void ticks_init(void) {
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* processor clock, interrupt, enable */
  while (SYST_CVR == 0) {
  }
}

/* 25 MHz ticks since ticks_init. */
static uint32_t ticks(void) {
  uint32_t w, v;
  do {
    w = wraps;
    v = SYST_CVR;
  } while (w != wraps);
  return w * 0x01000000u + (0x00FFFFFFu - v);
}

static void spin(uint32_t n) {
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

static int8_t out[EM_NATIVE_OUTPUT_BYTES];
static uint32_t op_ticks[EM_NATIVE_OP_COUNT];

int main(void) {
  ticks_init();
  /* calibration: 2,000,000 loop iterations of 2 instructions */
  uint32_t t0 = ticks();
  spin(2000000u);
  printf("calib %lu\n", (unsigned long)(ticks() - t0));
  for (int n = 0; n < EM_TEST_INPUTS; ++n) {
    t0 = ticks();
    const int rc = em_native_invoke(em_test_inputs[n], out);
    const uint32_t dt = ticks() - t0;
    if (rc != 0) return 10 + rc;
    printf("out %d %lu ", n, (unsigned long)dt);
    for (int i = 0; i < EM_NATIVE_OUTPUT_BYTES; ++i) printf("%02x", (unsigned)(uint8_t)out[i]);
    printf("\n");
  }
  em_native_invoke_timed(em_test_inputs[0], out, op_ticks, ticks);
  printf("ops");
  for (int i = 0; i < EM_NATIVE_OP_COUNT; ++i) printf(" %lu", (unsigned long)op_ticks[i]);
  printf("\ndone\n");
  return 0;
}
