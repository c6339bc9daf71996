/* The protocol dispatcher: decodes requests, runs them, answers each one.
 *
 * Rules that keep it robust (docs/protocol.md):
 * - every byte goes through the streaming decoder, which resynchronises at the
 *   next 0x00, so no input can leave it stuck;
 * - a request that is rejected changes nothing;
 * - the reply to the last request is kept as a small record, and a
 *   retransmission of that request (same seq, same CRC) gets the same reply
 *   again without running it twice. */
#include "app.h"

#include <string.h>

#include "model_settings.h"
#include "platform.h"
#include "protocol.h"
#include "runner.h"

/* What the board answered to the last request: enough to send it again. */
typedef struct {
  uint8_t type; /* EM_MSG_* reply type */
  uint8_t seq;
  union {
    struct {
      uint32_t offset, length;
      uint8_t begin_seq;
      uint32_t session;
    } ack;
    struct {
      uint32_t time_us, ticks;
    } result;
    em_bench_msg_t bench;
    struct {
      uint8_t code, request_type;
      int32_t detail;
    } error;
  } u;
} em_reply_t;

typedef struct {
  em_runner_info_t runner;
  uint8_t status; /* EM_STATUS_* */
  int32_t status_detail;
  uint16_t timed_ops; /* operators whose ticks we keep; 0 if none */
  uint8_t load_begun;
  uint8_t begin_seq; /* seq of the LOAD at offset 0 that started the current upload */
  uint32_t loaded;   /* input bytes received, contiguous from offset 0 */
  uint32_t session;  /* set by the last HELLO; 0 from boot until one comes */
  uint8_t have_op_times;
  uint8_t have_last;
  uint8_t last_seq;
  uint32_t last_crc;
  em_reply_t reply;
} em_app_state_t;

static em_app_state_t app;
static em_decoder_t decoder;
static uint8_t rx_frame[EM_FRAME_BUFFER_BYTES];
/* Aligned for the runtimes that read the tensors as wider types (float32 edges). */
static int8_t input[EM_APP_MAX_INPUT_BYTES] __attribute__((aligned(16)));
static int8_t output[EM_APP_MAX_OUTPUT_BYTES] __attribute__((aligned(16)));
static uint32_t op_ticks[EM_APP_MAX_OPS];
static uint8_t op_codes[EM_APP_MAX_OPS];

static uint8_t tx_chunk[EM_APP_TX_CHUNK];
static size_t tx_len;

static void tx_flush(void) {
  if (tx_len > 0u) em_serial_write(tx_chunk, tx_len);
  tx_len = 0;
}

/* The encoder's sink. Only a frame's delimiter is 0x00 (COBS removes every
 * other zero), so a piece that ends with one ends the frame: send it all. */
static void serial_sink(void *ctx, const uint8_t *data, size_t len) {
  (void)ctx;
  if (len == 0u) return;
  if (len > sizeof tx_chunk - tx_len) tx_flush();
  if (len >= sizeof tx_chunk) {
    em_serial_write(data, len);
    return;
  }
  memcpy(tx_chunk + tx_len, data, len);
  tx_len += len;
  if (data[len - 1u] == 0u) tx_flush();
}

static uint32_t ticks_to_us(uint32_t ticks) {
  uint32_t hz = em_ticks_hz();
  return hz != 0u ? (uint32_t)((uint64_t)ticks * 1000000u / hz) : 0u;
}

/* ---- Setup ------------------------------------------------------------- */

static void check_model_fits(void) {
  const em_model_settings_t *m = &em_model_settings;
  if (m->input.bytes > EM_APP_MAX_INPUT_BYTES) {
    app.status = EM_STATUS_INPUT_TOO_BIG;
    app.status_detail = (int32_t)m->input.bytes;
  } else if (m->output.bytes > EM_APP_MAX_OUTPUT_BYTES) {
    app.status = EM_STATUS_OUTPUT_TOO_BIG;
    app.status_detail = (int32_t)m->output.bytes;
  }
}

static void record_op_codes(void) {
  uint16_t i;
  /* A runner with more operators than we can hold is timed as a whole only. */
  app.timed_ops = app.runner.op_count <= EM_APP_MAX_OPS ? app.runner.op_count : 0u;
  for (i = 0; i < app.timed_ops; i++) op_codes[i] = em_runner_op_code(i);
}

void em_app_init(void) {
  int rc;
  memset(&app, 0, sizeof app);
  em_decoder_init(&decoder, rx_frame, sizeof rx_frame);
  rc = em_runner_init(&app.runner);
  if (rc != 0) {
    app.status = EM_STATUS_RUNNER_INIT_FAILED;
    app.status_detail = rc;
    app.runner.op_count = 0;
  } else {
    check_model_fits();
  }
  record_op_codes();
}

void em_app_reset(void) {
  em_decoder_init(&decoder, rx_frame, sizeof rx_frame);
  app.load_begun = 0;
  app.loaded = 0;
  app.session = 0;
  app.have_op_times = 0;
  app.have_last = 0;
}

/* ---- Replies ----------------------------------------------------------- */

static void reply_error(uint8_t code, uint8_t request_type, int32_t detail) {
  app.reply.type = EM_MSG_ERROR;
  app.reply.u.error.code = code;
  app.reply.u.error.request_type = request_type;
  app.reply.u.error.detail = detail;
}

static void reply_ack(uint32_t offset, uint32_t length) {
  app.reply.type = EM_MSG_ACK;
  app.reply.u.ack.offset = offset;
  app.reply.u.ack.length = length;
  app.reply.u.ack.begin_seq = app.begin_seq;
  app.reply.u.ack.session = app.session;
}

static void send_info(uint8_t seq) {
  const em_model_settings_t *m = &em_model_settings;
  em_info_msg_t info;
  memset(&info, 0, sizeof info);
  info.protocol_version = EM_PROTOCOL_VERSION;
  info.status = app.status;
  info.status_detail = app.status_detail;
  info.max_payload = EM_PROTO_MAX_PAYLOAD;
  info.window = EM_PROTO_WINDOW;
  info.cpu_hz = em_cpu_hz();
  info.tick_hz = em_ticks_hz();
  info.tick_kind = em_ticks_kind();
  info.arena_bytes = app.runner.arena_bytes;
  info.op_count = app.timed_ops;
  info.num_labels = m->num_labels;
  memcpy(info.fingerprint, m->fingerprint, sizeof info.fingerprint);
  info.input = m->input;
  info.output = m->output;
  info.target = em_target_name();
  info.runtime = app.runner.name;
  info.runtime_version = app.runner.version;
  info.arena_request = app.runner.arena_request;
  info.largest_free_internal = app.runner.largest_free_internal;
  info.largest_free_psram = app.runner.largest_free_psram;
  em_send_info(serial_sink, NULL, seq, &info);
}

/* Sends app.reply; also used, unchanged, to answer a retransmission. */
static void send_reply(void) {
  const em_reply_t *r = &app.reply;
  switch (r->type) {
    case EM_MSG_INFO:
      send_info(r->seq);
      break;
    case EM_MSG_ACK:
      em_send_ack(serial_sink, NULL, r->seq, r->u.ack.offset, r->u.ack.length,
                  r->u.ack.begin_seq, r->u.ack.session);
      break;
    case EM_MSG_RESULT:
      em_send_result(serial_sink, NULL, r->seq, r->u.result.time_us, r->u.result.ticks, output,
                     em_model_settings.output.bytes);
      break;
    case EM_MSG_BENCH_RESULT:
      em_send_bench_result(serial_sink, NULL, r->seq, &r->u.bench);
      break;
    case EM_MSG_OP_TIMES_RESULT:
      em_send_op_times(serial_sink, NULL, r->seq, app.timed_ops, op_codes, op_ticks);
      break;
    default:
      em_send_error(serial_sink, NULL, r->seq, r->u.error.code, r->u.error.request_type,
                    r->u.error.detail);
      break;
  }
}

/* ---- Requests ---------------------------------------------------------- */

static int input_complete(void) {
  return app.load_begun && app.loaded == em_model_settings.input.bytes;
}

static void do_hello(const em_frame_t *f) {
  uint16_t host_version;
  uint32_t session, expected;
  if (em_parse_hello(f, &host_version, &session, &expected)) {
    reply_error(EM_ERR_BAD_LENGTH, f->type, (int32_t)expected);
    return;
  }
  /* Every ACK names it from now on: an ACK with another session tells the
   * host that the board has restarted (session 0) or greeted another host
   * since, whatever the upload looks like. */
  app.session = session;
  /* INFO goes out whatever the host's version: the host decides. */
  app.reply.type = EM_MSG_INFO;
}

/* A LOAD at offset 0 starts a new upload; any other continues the current one
 * at an offset it has reached (offset <= loaded: a chunk sent again rewrites
 * the same bytes). Every check comes first: a refused LOAD changes nothing. */
static void do_load(const em_frame_t *f) {
  uint32_t total, offset, expected;
  const uint8_t *data;
  size_t len;
  uint32_t input_bytes = em_model_settings.input.bytes;
  if (em_parse_load(f, &total, &offset, &data, &len, &expected)) {
    reply_error(EM_ERR_BAD_LENGTH, f->type, (int32_t)expected);
  } else if (app.status != EM_STATUS_READY) {
    reply_error(EM_ERR_NOT_READY, f->type, app.status);
  } else if (total != input_bytes) {
    reply_error(EM_ERR_INPUT_SIZE, f->type, (int32_t)input_bytes);
  } else if (offset != 0u && (!app.load_begun || offset > app.loaded)) {
    /* No upload started, or a gap: the detail tells the host where to resume. */
    reply_error(EM_ERR_SEQUENCE, f->type, (int32_t)app.loaded);
  } else if (len > (size_t)(total - offset)) { /* offset <= loaded <= total here */
    reply_error(EM_ERR_OUT_OF_RANGE, f->type, (int32_t)total);
  } else {
    if (offset == 0u) {
      app.load_begun = 1;
      app.begin_seq = f->seq;
      app.loaded = 0;
    }
    memcpy(input + offset, data, len);
    if (offset + (uint32_t)len > app.loaded) app.loaded = offset + (uint32_t)len;
    reply_ack(offset, (uint32_t)len);
  }
}

/* Checks shared by INVOKE and BENCH; 0 when the model can run. */
static int check_can_run(const em_frame_t *f) {
  if (app.status != EM_STATUS_READY) {
    reply_error(EM_ERR_NOT_READY, f->type, app.status);
    return -1;
  }
  if (!input_complete()) {
    reply_error(EM_ERR_NO_INPUT, f->type, (int32_t)app.loaded);
    return -1;
  }
  return 0;
}

static void do_invoke(const em_frame_t *f) {
  uint32_t expected, t0, ticks;
  int rc;
  if (em_parse_empty(f, &expected)) {
    reply_error(EM_ERR_BAD_LENGTH, f->type, (int32_t)expected);
    return;
  }
  if (check_can_run(f)) return;
  t0 = em_ticks();
  rc = em_runner_invoke(input, output, app.timed_ops ? op_ticks : NULL);
  ticks = em_ticks() - t0; /* unsigned: right across one counter wrap */
  app.have_op_times = rc == 0;
  if (rc != 0) {
    reply_error(EM_ERR_INVOKE_FAILED, f->type, rc);
    return;
  }
  app.reply.type = EM_MSG_RESULT;
  app.reply.u.result.time_us = ticks_to_us(ticks);
  app.reply.u.result.ticks = ticks;
}

static void bench_add(em_bench_msg_t *b, uint32_t ticks) {
  if (b->count == 0u || ticks < b->min_ticks) b->min_ticks = ticks;
  if (b->count == 0u || ticks > b->max_ticks) b->max_ticks = ticks;
  b->total_ticks += ticks;
  b->count++;
}

static void bench_finish(em_bench_msg_t *b) {
  b->mean_ticks = (uint32_t)(b->total_ticks / b->count);
  b->min_us = ticks_to_us(b->min_ticks);
  b->mean_us = ticks_to_us(b->mean_ticks);
  b->max_us = ticks_to_us(b->max_ticks);
}

static void do_bench(const em_frame_t *f) {
  uint32_t expected, t0;
  uint16_t n, i;
  int rc;
  em_bench_msg_t b;
  if (em_parse_bench(f, &n, &expected)) {
    reply_error(EM_ERR_BAD_LENGTH, f->type, (int32_t)expected);
    return;
  }
  if (n == 0u) {
    reply_error(EM_ERR_BAD_ARGUMENT, f->type, 0);
    return;
  }
  if (check_can_run(f)) return;
  memset(&b, 0, sizeof b);
  for (i = 0; i < n; i++) {
    /* No per-operator timing here: the figures are those of a plain invoke. */
    t0 = em_ticks();
    rc = em_runner_invoke(input, output, NULL);
    if (rc != 0) {
      reply_error(EM_ERR_INVOKE_FAILED, f->type, rc);
      return;
    }
    bench_add(&b, em_ticks() - t0);
  }
  bench_finish(&b);
  app.reply.type = EM_MSG_BENCH_RESULT;
  app.reply.u.bench = b;
}

static void do_op_times(const em_frame_t *f) {
  uint32_t expected;
  if (em_parse_empty(f, &expected)) {
    reply_error(EM_ERR_BAD_LENGTH, f->type, (int32_t)expected);
  } else if (!app.have_op_times) {
    reply_error(EM_ERR_NO_RESULT, f->type, 0);
  } else {
    app.reply.type = EM_MSG_OP_TIMES_RESULT;
  }
}

static void execute(const em_frame_t *f) {
  app.reply.seq = f->seq;
  switch (f->type) {
    case EM_MSG_HELLO:
      do_hello(f);
      break;
    case EM_MSG_LOAD:
    case EM_MSG_LOAD_QUIET:
      do_load(f);
      break;
    case EM_MSG_INVOKE:
      do_invoke(f);
      break;
    case EM_MSG_BENCH:
      do_bench(f);
      break;
    case EM_MSG_OP_TIMES:
      do_op_times(f);
      break;
    default:
      reply_error(EM_ERR_UNKNOWN_TYPE, f->type, f->type);
      break;
  }
}

static void handle_frame(const em_frame_t *f) {
  int retransmission = app.have_last && f->seq == app.last_seq && f->crc == app.last_crc;
  if (!retransmission) {
    execute(f);
    app.have_last = 1;
    app.last_seq = f->seq;
    app.last_crc = f->crc;
  }
  /* A quiet LOAD is answered only when refused: the host counts on the ACK to
   * a later LOAD, which the board sends after this one. */
  if ((f->type & EM_MSG_QUIET) && app.reply.type == EM_MSG_ACK) return;
  send_reply();
}

/* A damaged frame is answered at once and forgotten: it is not a request, so
 * it neither runs nor replaces the reply kept for retransmissions. */
static void handle_damaged(em_decode_result_t result, const em_frame_t *f) {
  uint8_t code = EM_ERR_BAD_FRAME;
  int32_t detail = 0;
  if (result == EM_DECODE_BAD_CRC) code = EM_ERR_BAD_CRC;
  if (result == EM_DECODE_TOO_LONG) {
    code = EM_ERR_TOO_LONG;
    detail = (int32_t)EM_PROTO_MAX_PAYLOAD;
  }
  em_send_error(serial_sink, NULL, f->seq, code, f->type, detail);
}

void em_app_feed(const uint8_t *data, size_t len) {
  em_frame_t frame;
  em_decode_result_t result;
  while (len > 0) {
    size_t used = em_decoder_feed(&decoder, data, len, &frame, &result);
    data += used;
    len -= used;
    if (result == EM_DECODE_FRAME) {
      handle_frame(&frame);
    } else if (result != EM_DECODE_NONE) {
      handle_damaged(result, &frame);
    }
  }
}

void em_app_run(void) {
  uint8_t buf[EM_APP_READ_CHUNK];
  for (;;) {
    size_t n = em_serial_read(buf, sizeof buf);
    em_app_feed(buf, n);
  }
}
