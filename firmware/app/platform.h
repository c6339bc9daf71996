/* The board layer: everything the portable application needs from a target.
 * One implementation per target under firmware/targets/<name>/. */
#ifndef EDGEMB_PLATFORM_H
#define EDGEMB_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Brings up the serial link, the timer and anything else the board needs. */
void em_platform_init(void);

/* Blocks until at least one byte has arrived; returns how many were stored (1..max). */
size_t em_serial_read(uint8_t *buf, size_t max);

/* Writes every byte before returning. */
void em_serial_write(const uint8_t *buf, size_t len);

/* A free-running 32-bit counter and its rate in Hz. */
uint32_t em_ticks(void);
uint32_t em_ticks_hz(void);

/* What the tick counts: EM_TICKS_CYCLES (CPU cycles), EM_TICKS_ICOUNT (emulator
 * ticks under QEMU -icount, 40 guest instructions each at shift=0) or
 * EM_TICKS_TIMER (a plain timer). */
#define EM_TICKS_TIMER 0u
#define EM_TICKS_CYCLES 1u
#define EM_TICKS_ICOUNT 2u
uint8_t em_ticks_kind(void);

uint32_t em_cpu_hz(void);
const char *em_target_name(void);

#ifdef __cplusplus
}
#endif

#endif /* EDGEMB_PLATFORM_H */
