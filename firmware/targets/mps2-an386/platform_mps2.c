/* Board layer of QEMU's mps2-an386: CMSDK UART0 with a receive ring buffer filled by
 * its RX interrupt, and a 32-bit tick counter built on SysTick. */
#include <stdint.h>

#include "platform.h"

#define CPU_HZ 25000000u

/* CMSDK APB UART0 */
#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_INTCLEAR (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_CTRL_TXEN 0x1u
#define UART_CTRL_RXEN 0x2u
#define UART_CTRL_RXIE 0x8u
#define UART_INT_RX 0x2u
#define UART0_RX_IRQ 0u

/* System control */
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_ENABLE_TICKINT_CORECLK 0x7u
#define SYST_PERIOD_BITS 24u
#define SYST_MAX 0xFFFFFFu

/* A power of two, so indices wrap with a mask. The host never has more than one
 * window of frames in flight, far below this. */
#define RX_RING_BYTES 8192u

static volatile uint8_t rx_ring[RX_RING_BYTES];
static volatile uint32_t rx_head; /* written by the interrupt only */
static volatile uint32_t rx_tail; /* written by the reader only */
static volatile uint32_t systick_wraps;

void UART0_RX_Handler(void) {
  /* Clear first, then drain: a byte that lands after the last RXFULL check raises
   * the interrupt again. (Cleared after the drain, such a byte would sit in the
   * one-byte receive register with no interrupt, and QEMU would send no more.) */
  UART_INTCLEAR = UART_INT_RX;
  while (UART_STATE & UART_STATE_RXFULL) {
    uint8_t byte = (uint8_t)UART_DATA;
    if (rx_head - rx_tail < RX_RING_BYTES) { /* full: drop, the protocol retries */
      rx_ring[rx_head & (RX_RING_BYTES - 1u)] = byte;
      rx_head++;
    }
  }
}

void SysTick_Handler(void) { systick_wraps++; }

void em_platform_init(void) {
  UART_BAUDDIV = 16u; /* the fastest the CMSDK UART allows; QEMU ignores the rate */
  UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXIE;
  NVIC_ISER0 = 1u << UART0_RX_IRQ;

  SYST_RVR = SYST_MAX;
  SYST_CVR = 0u;
  SYST_CSR = SYST_ENABLE_TICKINT_CORECLK;
  while (SYST_CVR == 0u) { /* the first reload takes a tick under QEMU */
  }
  __asm__ volatile("cpsie i" ::: "memory");
}

size_t em_serial_read(uint8_t *buf, size_t max) {
  /* Sleep until a byte arrives. QEMU does not wake a WFI for an interrupt masked by
   * PRIMASK, so the check and the WFI are not made atomic: a byte landing between
   * them is serviced at once and the WFI then waits for the next interrupt, at
   * worst the SysTick wrap (0.67 s). */
  while (rx_head == rx_tail) {
    __asm__ volatile("wfi" ::: "memory");
  }
  size_t count = 0;
  while (count < max && rx_tail != rx_head) {
    buf[count++] = rx_ring[rx_tail & (RX_RING_BYTES - 1u)];
    rx_tail++;
  }
  return count;
}

void em_serial_write(const uint8_t *buf, size_t len) {
  for (size_t i = 0; i < len; i++) {
    while (UART_STATE & UART_STATE_TXFULL) {
    }
    UART_DATA = buf[i];
  }
}

uint32_t em_ticks(void) {
  uint32_t wraps, current, pending;
  do {
    wraps = systick_wraps;
    current = SYST_CVR;
    pending = SCB_ICSR & ICSR_PENDSTSET;
  } while (wraps != systick_wraps);
  /* A wrap whose interrupt has not run yet: the counter has just reloaded. */
  if (pending && current > SYST_MAX / 2u) wraps++;
  return (wraps << SYST_PERIOD_BITS) | (SYST_MAX - current);
}

uint32_t em_ticks_hz(void) { return CPU_HZ; }

/* SysTick counts core clock cycles; under QEMU with -icount shift=0 each one is 40
 * guest instructions. The host, which started QEMU, knows which. */
uint8_t em_ticks_kind(void) { return EM_TICKS_CYCLES; }

uint32_t em_cpu_hz(void) { return CPU_HZ; }

const char *em_target_name(void) { return "mps2-an386"; }
