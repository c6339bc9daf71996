/* Reset and vector table for the Cortex-M4F of QEMU's mps2-an386: copy .data, clear
 * .bss, enable the FPU, run C++ constructors, enter main. */
#include <stddef.h>
#include <stdint.h>

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top;
extern void (*__preinit_array_start[])(void), (*__preinit_array_end[])(void);
extern void (*__init_array_start[])(void), (*__init_array_end[])(void);
extern int main(void);

void Reset_Handler(void);
void SysTick_Handler(void);
void UART0_RX_Handler(void);

/* Every fault stops here: visible in a debugger (`qemu -s`), silent on the wire. */
static void Default_Handler(void) {
  for (;;) {
  }
}

typedef void (*vector_t)(void);

#define SYSTEM_VECTORS 16
#define IRQ_VECTORS 32

__attribute__((section(".vectors"), used)) const vector_t em_vectors[SYSTEM_VECTORS + IRQ_VECTORS] = {
    [0] = (vector_t)&__stack_top,
    [1] = Reset_Handler,
    [2] = Default_Handler,  /* NMI */
    [3] = Default_Handler,  /* HardFault */
    [4] = Default_Handler,  /* MemManage */
    [5] = Default_Handler,  /* BusFault */
    [6] = Default_Handler,  /* UsageFault */
    [11] = Default_Handler, /* SVCall */
    [14] = Default_Handler, /* PendSV */
    [15] = SysTick_Handler,
    [SYSTEM_VECTORS + 0] = UART0_RX_Handler, /* IRQ 0: UART0 receive */
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void) {
  uint32_t *src = &__etext;
  for (uint32_t *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  SCB_CPACR |= 0xFu << 20; /* CP10 and CP11: full access to the FPU */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (void (**f)(void) = __preinit_array_start; f < __preinit_array_end; ++f) (*f)();
  for (void (**f)(void) = __init_array_start; f < __init_array_end; ++f) (*f)();
  main();
  for (;;) {
  }
}

/* newlib-nano's malloc, if anything links it, grows up to the stack. */
extern char end, __heap_limit;
void *_sbrk(ptrdiff_t increment) {
  static char *brk = &end;
  char *previous = brk;
  if (brk + increment > &__heap_limit) return (void *)-1;
  brk += increment;
  return previous;
}
