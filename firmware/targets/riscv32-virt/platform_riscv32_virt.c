/* Board layer of QEMU's RISC-V virt machine (one RV32IMC hart, machine mode):
 * NS16550A UART0 with a receive ring buffer filled by its interrupt through the
 * PLIC, and the CLINT's 10 MHz machine timer as the tick counter. */
#include <stdint.h>

#include "platform.h"

/* NS16550A UART0: byte-wide registers, IRQ 10 on the PLIC. */
#define UART0_BASE 0x10000000u
#define UART_REG(offset) (*(volatile uint8_t *)(UART0_BASE + (offset)))
#define UART_RBR UART_REG(0u) /* receive buffer (read) */
#define UART_THR UART_REG(0u) /* transmit holding (write) */
#define UART_IER UART_REG(1u)
#define UART_FCR UART_REG(2u)
#define UART_LCR UART_REG(3u)
#define UART_MCR UART_REG(4u)
#define UART_LSR UART_REG(5u)
#define IER_RX_AVAILABLE 0x01u
#define FCR_ENABLE_AND_CLEAR 0x07u
#define LCR_8N1 0x03u
#define MCR_DTR_RTS_OUT2 0x0Bu /* OUT2 gates the interrupt line on a real 16550 */
#define LSR_DATA_READY 0x01u
#define LSR_THR_EMPTY 0x20u
#define UART0_IRQ 10u

/* PLIC: priority per source, enable bits and threshold/claim of context 0 (hart 0,
 * machine mode). */
#define PLIC_BASE 0x0C000000u
#define PLIC_PRIORITY(irq) (*(volatile uint32_t *)(PLIC_BASE + 4u * (irq)))
#define PLIC_ENABLE0 (*(volatile uint32_t *)(PLIC_BASE + 0x2000u))
#define PLIC_THRESHOLD0 (*(volatile uint32_t *)(PLIC_BASE + 0x200000u))
#define PLIC_CLAIM0 (*(volatile uint32_t *)(PLIC_BASE + 0x200004u))

/* CLINT machine timer: 64 bits at 10 MHz. Under QEMU -icount shift=0 one tick is
 * 100 guest instructions. */
#define MTIME_LO (*(volatile uint32_t *)0x0200BFF8u)
#define MTIME_HZ 10000000u

#define MSTATUS_MIE 0x8u
#define MIE_MEIE 0x800u

/* A power of two, so indices wrap with a mask. The host never has more than one
 * window of frames in flight, far below this. */
#define RX_RING_BYTES 8192u

static volatile uint8_t rx_ring[RX_RING_BYTES];
static volatile uint32_t rx_head; /* written by the interrupt only */
static volatile uint32_t rx_tail; /* written by the reader only */

/* The only interrupt enabled is the PLIC's external one, and of it only UART0. */
__attribute__((interrupt("machine"), aligned(4))) static void machine_trap(void) {
  const uint32_t irq = PLIC_CLAIM0;
  if (irq == UART0_IRQ) {
    while (UART_LSR & LSR_DATA_READY) {
      const uint8_t byte = UART_RBR;
      if (rx_head - rx_tail < RX_RING_BYTES) { /* full: drop, the protocol retries */
        rx_ring[rx_head & (RX_RING_BYTES - 1u)] = byte;
        rx_head++;
      }
    }
  }
  if (irq != 0u) PLIC_CLAIM0 = irq; /* complete */
}

void em_platform_init(void) {
  UART_LCR = LCR_8N1;
  UART_FCR = FCR_ENABLE_AND_CLEAR;
  UART_MCR = MCR_DTR_RTS_OUT2;
  UART_IER = IER_RX_AVAILABLE;

  PLIC_PRIORITY(UART0_IRQ) = 1u;
  PLIC_THRESHOLD0 = 0u;
  PLIC_ENABLE0 = 1u << UART0_IRQ;

  __asm__ volatile("csrw mtvec, %0" : : "r"(&machine_trap)); /* direct mode */
  __asm__ volatile("csrs mie, %0" : : "r"(MIE_MEIE));
  __asm__ volatile("csrs mstatus, %0" : : "r"(MSTATUS_MIE) : "memory");
}

size_t em_serial_read(uint8_t *buf, size_t max) {
  /* WFI wakes for a pending enabled interrupt even while mstatus.MIE is clear, so
   * checking the ring with interrupts off and sleeping there loses no wake-up; the
   * interrupt is taken as soon as they are on again. */
  for (;;) {
    __asm__ volatile("csrc mstatus, %0" : : "r"(MSTATUS_MIE) : "memory");
    const int empty = rx_head == rx_tail;
    if (empty) __asm__ volatile("wfi" ::: "memory");
    __asm__ volatile("csrs mstatus, %0" : : "r"(MSTATUS_MIE) : "memory");
    if (!empty) break;
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
    while (!(UART_LSR & LSR_THR_EMPTY)) {
    }
    UART_THR = buf[i];
  }
}

uint32_t em_ticks(void) { return MTIME_LO; }

uint32_t em_ticks_hz(void) { return MTIME_HZ; }

/* A plain timer: under -icount shift=0 its ticks are 100 guest instructions each,
 * which the host, having started QEMU, knows. */
uint8_t em_ticks_kind(void) { return EM_TICKS_TIMER; }

/* The emulated hart has no clock of its own: QEMU runs it as fast as it can. */
uint32_t em_cpu_hz(void) { return 0u; }

const char *em_target_name(void) { return "riscv32-virt"; }
