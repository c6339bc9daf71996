/* Board layer (app/platform.h) for ESP32, ESP32-S3 and ESP32-C3 under ESP-IDF 5.1+.
 *
 * Serial: UART0 through the driver (the board's USB-to-UART bridge) at
 * CONFIG_EDGEMB_UART_BAUD, or the chip's USB-Serial-JTAG controller where it has
 * one (`edgemb build --serial`). The protocol owns the channel:
 * sdkconfig.defaults turns every log and console off, and em_platform_init
 * silences the log at run time as well, whatever the sdkconfig says.
 *
 * The log silencing reaches ESP_LOG only. TFLite Micro's DebugLog (MicroPrintf,
 * its error reports) writes to stderr with vfprintf (esp-tflite-micro
 * tensorflow/lite/micro/debug_log.cc), and so does any printf: they go to the
 * console, /dev/console. With CONFIG_ESP_CONSOLE_NONE, edgemb's default, that
 * is /dev/null (ESP-IDF esp_vfs_console/vfs_console.c, console_open) and the
 * ROM's printf has no channel either (esp_system/port/cpu_start.c). A console
 * on the protocol's own channel would put text between frames, so it stops
 * the build below; on another channel (UART1, or USB-Serial-JTAG while the
 * protocol runs on UART0) it is the way to see those messages.
 *
 * Ticks: the CPU cycle counter (esp_cpu_get_cycle_count), tick_hz = the CPU clock,
 * checked at start against esp_timer's microseconds. Should the counter not run,
 * the ticks are esp_timer microseconds instead (EM_TICKS_TIMER, 1 MHz). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_cpu.h"
#include "esp_err.h"
#include "esp_log.h"
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "sdkconfig.h"

#if CONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG
#include "driver/usb_serial_jtag.h"
#else
#include "driver/uart.h"
#include "soc/uart_pins.h"
#endif

#include "platform.h"

#if CONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG
#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG || CONFIG_ESP_CONSOLE_SECONDARY_USB_SERIAL_JTAG
#error "edgemb: the console is on USB-Serial-JTAG, the protocol's channel: its text (stdout, stderr, TFLite Micro's DebugLog) would corrupt frames. Set CONFIG_ESP_CONSOLE_NONE=y and CONFIG_ESP_CONSOLE_SECONDARY_NONE=y, or put the console on a UART (sdkconfig.user)."
#endif
#elif CONFIG_ESP_CONSOLE_UART && CONFIG_ESP_CONSOLE_UART_NUM == 0
#error "edgemb: the console is on UART0, the protocol's channel: its text (stdout, stderr, TFLite Micro's DebugLog) would corrupt frames. Set CONFIG_ESP_CONSOLE_NONE=y, or CONFIG_ESP_CONSOLE_UART_CUSTOM=y with CONFIG_ESP_CONSOLE_UART_CUSTOM_NUM_1=y (sdkconfig.user)."
#endif

#ifndef CONFIG_EDGEMB_UART_BAUD
#define CONFIG_EDGEMB_UART_BAUD 921600
#endif

/* Driver ring buffers. Receive holds more than the host ever has in flight
 * (EM_PROTO_WINDOW frames of EM_PROTO_MAX_PAYLOAD bytes, set by edgemb build to
 * 3 x 4 KiB); a byte that finds it full is lost and the protocol resends. */
#define EM_RX_BUFFER_BYTES 16384
#define EM_TX_BUFFER_BYTES 4096

/* USB-Serial-JTAG: one write is at most this many bytes (the driver's ring
 * buffer takes an item whole or not at all), and waits this long for a host
 * that reads. With nobody reading, the rest of a reply is dropped rather than
 * blocking the board: the host resends its request when it comes back. */
#define EM_USJ_WRITE_CHUNK 1024u
#define EM_USJ_WRITE_TIMEOUT_MS 500u

/* How long em_platform_init compares the cycle counter with esp_timer. */
#define EM_CLOCK_CHECK_US 20000

static uint32_t tick_hz = 1000000u;
static uint32_t cpu_hz;
static int ticks_are_cycles;

static int discard_log(const char *format, va_list args) {
  (void)format;
  (void)args;
  return 0;
}

static void silence_logs(void) {
  esp_log_level_set("*", ESP_LOG_NONE);
  esp_log_set_vprintf(discard_log);
}

/* The nominal CPU clock, and a check that the cycle counter counts at that rate. */
static void init_clock(void) {
  uint32_t nominal = esp_rom_get_cpu_ticks_per_us() * 1000000u;
  int64_t t0, t1;
  uint32_t c0, c1;
  uint64_t measured;
#ifdef CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ
  if (nominal == 0u) nominal = (uint32_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ * 1000000u;
#endif
  t0 = esp_timer_get_time();
  c0 = (uint32_t)esp_cpu_get_cycle_count();
  do {
    t1 = esp_timer_get_time();
  } while (t1 - t0 < EM_CLOCK_CHECK_US);
  c1 = (uint32_t)esp_cpu_get_cycle_count();
  measured = (uint64_t)(uint32_t)(c1 - c0) * 1000000u / (uint64_t)(t1 - t0);

  if (measured < (uint64_t)nominal / 2u) {
    /* The counter does not run (or runs far slower than the clock): time in
     * microseconds rather than report wrong cycles. */
    ticks_are_cycles = 0;
    tick_hz = 1000000u;
    cpu_hz = nominal;
    return;
  }
  ticks_are_cycles = 1;
  /* The nominal clock unless the measurement is more than 2 % away from it
   * (then the measurement, to the nearest MHz). */
  if (nominal == 0u || measured * 50u < (uint64_t)nominal * 49u ||
      measured * 50u > (uint64_t)nominal * 51u) {
    nominal = (uint32_t)((measured + 500000u) / 1000000u * 1000000u);
  }
  cpu_hz = nominal;
  tick_hz = nominal;
}

#if CONFIG_EDGEMB_SERIAL_USB_SERIAL_JTAG

static void init_serial(void) {
  usb_serial_jtag_driver_config_t config = {
      .tx_buffer_size = EM_TX_BUFFER_BYTES,
      .rx_buffer_size = EM_RX_BUFFER_BYTES,
  };
  ESP_ERROR_CHECK(usb_serial_jtag_driver_install(&config));
}

size_t em_serial_read(uint8_t *buf, size_t max) {
  if (max == 0u) return 0u;
  for (;;) {
    /* Returns as soon as something has arrived, up to max bytes. */
    int got = usb_serial_jtag_read_bytes(buf, (uint32_t)max, portMAX_DELAY);
    if (got > 0) return (size_t)got;
  }
}

void em_serial_write(const uint8_t *buf, size_t len) {
  while (len > 0u) {
    size_t chunk = len < EM_USJ_WRITE_CHUNK ? len : EM_USJ_WRITE_CHUNK;
    int sent = usb_serial_jtag_write_bytes(buf, chunk, pdMS_TO_TICKS(EM_USJ_WRITE_TIMEOUT_MS));
    if (sent <= 0) return; /* no host reading: drop the rest */
    buf += sent;
    len -= (size_t)sent;
  }
}

#else /* UART0 */

#define EM_UART UART_NUM_0

static void init_serial(void) {
  uart_config_t config = {
      .baud_rate = CONFIG_EDGEMB_UART_BAUD,
      .data_bits = UART_DATA_8_BITS,
      .parity = UART_PARITY_DISABLE,
      .stop_bits = UART_STOP_BITS_1,
      .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
      .source_clk = UART_SCLK_DEFAULT,
  };
  ESP_ERROR_CHECK(uart_driver_install(EM_UART, EM_RX_BUFFER_BYTES, EM_TX_BUFFER_BYTES, 0, NULL, 0));
  ESP_ERROR_CHECK(uart_param_config(EM_UART, &config));
  /* The IOMUX pins of UART0, those of the USB bridge on every devkit. */
  ESP_ERROR_CHECK(uart_set_pin(EM_UART, U0TXD_GPIO_NUM, U0RXD_GPIO_NUM, UART_PIN_NO_CHANGE,
                               UART_PIN_NO_CHANGE));
}

size_t em_serial_read(uint8_t *buf, size_t max) {
  size_t buffered = 0u;
  int got;
  if (max == 0u) return 0u;
  /* uart_read_bytes waits until it has every byte asked for: ask for one and
   * wait for it, then take what else is already there without waiting. */
  do {
    got = uart_read_bytes(EM_UART, buf, 1u, portMAX_DELAY);
  } while (got != 1);
  if (max > 1u && uart_get_buffered_data_len(EM_UART, &buffered) == ESP_OK && buffered > 0u) {
    if (buffered > max - 1u) buffered = max - 1u;
    got = uart_read_bytes(EM_UART, buf + 1, (uint32_t)buffered, 0);
    if (got > 0) return 1u + (size_t)got;
  }
  return 1u;
}

void em_serial_write(const uint8_t *buf, size_t len) {
  while (len > 0u) {
    /* Blocks until the bytes are in the driver's transmit buffer. */
    int sent = uart_write_bytes(EM_UART, buf, len);
    if (sent <= 0) return; /* driver error: nothing sensible left to do */
    buf += sent;
    len -= (size_t)sent;
  }
}

#endif

void em_platform_init(void) {
  silence_logs();
  init_serial();
  init_clock();
}

uint32_t em_ticks(void) {
  if (ticks_are_cycles) return (uint32_t)esp_cpu_get_cycle_count();
  return (uint32_t)esp_timer_get_time();
}

uint32_t em_ticks_hz(void) { return tick_hz; }

uint8_t em_ticks_kind(void) { return ticks_are_cycles ? EM_TICKS_CYCLES : EM_TICKS_TIMER; }

uint32_t em_cpu_hz(void) { return cpu_hz; }

/* "esp32", "esp32s3" or "esp32c3": the chip the firmware was built for. */
const char *em_target_name(void) { return CONFIG_IDF_TARGET; }
