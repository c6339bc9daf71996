/* Minimal bare-metal start for QEMU mps2-an386: vector table, .data/.bss set-up,
 * FPU enable, semihosting initialisation, main, exit through semihosting. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top;
extern int main(void);
extern void initialise_monitor_handles(void);
void Reset_Handler(void);
void SysTick_Handler(void);

static void Default_Handler(void) {
  for (;;) {
  }
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t em_vectors[16] = {
    (vector_t)&__stack_top, Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler,        Default_Handler, Default_Handler, 0,
    0,                      0,               0,               Default_Handler,
    Default_Handler,        0,               Default_Handler, SysTick_Handler,
};

void Reset_Handler(void) {
  uint32_t *src = &__etext;
  for (uint32_t *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  /* CP10/CP11 full access (FPU) */
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb");
  initialise_monitor_handles();
  exit(main());
}

/* newlib-nano's malloc (used by stdio) grows the heap up to __heap_limit. */
extern char end, __heap_limit;
void *_sbrk(ptrdiff_t incr) {
  static char *brk = &end;
  char *prev = brk;
  if (brk + incr > &__heap_limit) return (void *)-1;
  brk += incr;
  return prev;
}
