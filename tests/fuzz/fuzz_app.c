/* libFuzzer harness for the firmware application (firmware/app): protocol
 * decoder, dispatcher and reply encoder, with the test-double runner and a fake
 * board. Built and run by tools/fuzz_protocol.
 *
 * The first input byte picks how the rest reaches the board:
 *  - odd: as raw wire bytes (garbage, broken frames, stray delimiters);
 *  - even: as records [len][type][seq][len payload bytes], each sent as a
 *    valid frame, so the fuzzer gets past the CRC into every handler.
 * Every byte the board sends back must decode as a valid frame, or we abort. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "platform.h"
#include "protocol.h"

/* ---- A fake board ------------------------------------------------------ */

static em_decoder_t reply_decoder;
static uint8_t reply_buffer[4096];
static uint32_t fake_time;

void em_platform_init(void) {}

size_t em_serial_read(uint8_t *buf, size_t max) {
  (void)buf;
  (void)max;
  abort(); /* the harness feeds the application directly */
}

void em_serial_write(const uint8_t *buf, size_t len) {
  em_frame_t frame;
  size_t i;
  for (i = 0; i < len; i++) {
    em_decode_result_t r = em_decoder_push(&reply_decoder, buf[i], &frame);
    if (r != EM_DECODE_NONE && r != EM_DECODE_FRAME) abort(); /* a broken reply */
  }
}

uint32_t em_ticks(void) { return fake_time += 977u; } /* deterministic, and wraps */
uint32_t em_ticks_hz(void) { return 1000000u; }
uint8_t em_ticks_kind(void) { return EM_TICKS_TIMER; }
uint32_t em_cpu_hz(void) { return 0u; }
const char *em_target_name(void) { return "fuzz"; }

/* ---- Feeding ----------------------------------------------------------- */

static void feed_sink(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  em_app_feed(data, len);
}

static void feed_records(const uint8_t *data, size_t size) {
  uint8_t payload[255];
  while (size >= 3) {
    size_t len = data[0];
    if (len > size - 3) len = size - 3;
    memcpy(payload, data + 3, len);
    /* A BENCH of up to 65535 inferences is legal but would spend the fuzzing
     * time in the runner: keep counts below 16. */
    if (data[1] == EM_MSG_BENCH && len >= 2) {
      payload[0] &= 0x0Fu;
      payload[1] = 0;
    }
    em_frame_write(feed_sink, NULL, data[1], data[2], payload, len);
    data += 3 + len;
    size -= 3 + len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int initialised;
  static const uint8_t delimiter = 0;
  if (!initialised) {
    em_app_init();
    em_decoder_init(&reply_decoder, reply_buffer, sizeof reply_buffer);
    initialised = 1;
  }
  em_app_reset();
  if (size == 0) return 0;
  if (data[0] & 1u) {
    em_app_feed(data + 1, size - 1);
  } else {
    feed_records(data + 1, size - 1);
  }
  em_app_feed(&delimiter, 1); /* end whatever frame was left open */
  return 0;
}
