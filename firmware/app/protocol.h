/* The edgemb serial protocol (docs/protocol.md): framing, CRC and message layouts.
 *
 * Portable C99, no allocation, no dependence on a runtime or a board. The
 * decoder takes one byte at a time into a buffer its caller owns; the encoder
 * streams a frame out through a sink, so replies of any size (outputs, operator
 * lists) need no payload buffer. */
#ifndef EDGEMB_PROTOCOL_H
#define EDGEMB_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "model_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EM_PROTOCOL_VERSION 3u

/* Largest request payload the board accepts (LOAD data + 8). A target
 * may raise it; the board reports it in INFO and the host sizes chunks from it. */
#ifndef EM_PROTO_MAX_PAYLOAD
#define EM_PROTO_MAX_PAYLOAD 1024u
#endif

/* How many LOAD frames the host may have unacknowledged. 1 is stop-and-wait; a
 * target whose receive path buffers more may raise it. */
#ifndef EM_PROTO_WINDOW
#define EM_PROTO_WINDOW 1u
#endif

/* A decoded frame is [type][seq][payload][crc32]: the payload plus 6 bytes. */
#define EM_FRAME_OVERHEAD 6u
#define EM_FRAME_BUFFER_BYTES (EM_PROTO_MAX_PAYLOAD + EM_FRAME_OVERHEAD)

/* Message types: requests from the host, replies from the board. */
enum {
  EM_MSG_HELLO = 0x01,
  EM_MSG_LOAD = 0x02,
  EM_MSG_INVOKE = 0x04,
  EM_MSG_BENCH = 0x05,
  EM_MSG_OP_TIMES = 0x06,
  /* LOAD with the QUIET bit: answered only when refused; the ACK to the next
   * LOAD that is not quiet covers it. */
  EM_MSG_QUIET = 0x40,
  EM_MSG_LOAD_QUIET = EM_MSG_QUIET | EM_MSG_LOAD,
  EM_MSG_INFO = 0x81,
  EM_MSG_ACK = 0x82,
  EM_MSG_RESULT = 0x84,
  EM_MSG_BENCH_RESULT = 0x85,
  EM_MSG_OP_TIMES_RESULT = 0x86,
  EM_MSG_ERROR = 0xFF
};

/* ERROR codes (the detail field's meaning is given per code in the spec). */
enum {
  EM_ERR_BAD_CRC = 0x01,
  EM_ERR_BAD_FRAME = 0x02,
  EM_ERR_TOO_LONG = 0x03,
  EM_ERR_UNKNOWN_TYPE = 0x04,
  EM_ERR_BAD_LENGTH = 0x05,
  EM_ERR_INPUT_SIZE = 0x06,
  EM_ERR_SEQUENCE = 0x07,
  EM_ERR_OUT_OF_RANGE = 0x08,
  EM_ERR_NO_INPUT = 0x09,
  EM_ERR_INVOKE_FAILED = 0x0A,
  EM_ERR_BAD_ARGUMENT = 0x0B,
  EM_ERR_NOT_READY = 0x0C,
  EM_ERR_NO_RESULT = 0x0D
};

/* INFO status: whether the board can run its model. */
enum {
  EM_STATUS_READY = 0,
  EM_STATUS_RUNNER_INIT_FAILED = 1,
  EM_STATUS_INPUT_TOO_BIG = 2,
  EM_STATUS_OUTPUT_TOO_BIG = 3
};

/* CRC-32 by table look-up: 1 = one byte a step with a 1 KiB table in flash
 * (boards, where the UART is far slower), 8 = "slicing by 8", eight bytes a
 * step with 8 KiB of tables built in RAM on first use (the host target, whose
 * pseudo-terminal is faster than a byte-wise CRC). */
#ifndef EM_CRC32_SLICES
#define EM_CRC32_SLICES 1
#endif

/* CRC-32/ISO-HDLC (zlib's crc32): crc = em_crc32_update(0, data, len), and it
 * can be continued over further data by passing the previous result. */
uint32_t em_crc32_update(uint32_t crc, const uint8_t *data, size_t len);

/* ---- Decoding ---------------------------------------------------------- */

/* A frame whose CRC matched. payload points into the decoder's buffer and
 * stays valid until the next em_decoder_push. */
typedef struct {
  uint8_t type;
  uint8_t seq;
  const uint8_t *payload;
  size_t payload_len;
  uint32_t crc; /* the frame's CRC: identifies a retransmission */
} em_frame_t;

typedef enum {
  EM_DECODE_NONE = 0,      /* no complete frame yet (or an empty one, ignored) */
  EM_DECODE_FRAME = 1,     /* *frame holds a valid frame */
  EM_DECODE_BAD_CRC = 2,   /* well-formed COBS, CRC mismatch */
  EM_DECODE_BAD_FRAME = 3, /* broken COBS, or shorter than type+seq+crc */
  EM_DECODE_TOO_LONG = 4   /* more bytes than the buffer holds */
} em_decode_result_t;

typedef struct {
  uint8_t *buf;       /* decoded bytes of the frame being received */
  size_t cap;         /* its size */
  size_t len;         /* decoded bytes so far */
  uint8_t remaining;  /* data bytes left in the current COBS block */
  uint8_t block_code; /* code byte of the current block; 0 before the first */
  uint8_t overflow;   /* the frame outgrew buf: drop it at the delimiter */
} em_decoder_t;

void em_decoder_init(em_decoder_t *dec, uint8_t *buf, size_t cap);

/* Feeds bytes from the wire, up to and including the first delimiter, and
 * returns how many it consumed; *result says what that delimiter ended
 * (EM_DECODE_NONE when no delimiter was reached). On EM_DECODE_FRAME *frame is
 * filled; on an error the damaged frame is dropped, and when it was long
 * enough to carry them, frame->type and frame->seq hold its first two
 * (unverified) bytes, else 0. Call again with the rest of the bytes. */
size_t em_decoder_feed(em_decoder_t *dec, const uint8_t *data, size_t len, em_frame_t *frame,
                       em_decode_result_t *result);

/* The same, one byte at a time. */
em_decode_result_t em_decoder_push(em_decoder_t *dec, uint8_t byte, em_frame_t *frame);

/* ---- Encoding ---------------------------------------------------------- */

/* Where encoded bytes go: the serial port on a board, memory in a test. */
typedef void (*em_write_fn)(void *ctx, const uint8_t *data, size_t len);

typedef struct {
  em_write_fn write;
  void *ctx;
  uint32_t crc;
  uint8_t block[255]; /* block[0] is the COBS code, then up to 254 data bytes */
  uint8_t block_len;  /* data bytes in block */
  uint8_t after_full; /* the last flushed block was a full 0xFF block */
} em_encoder_t;

/* One frame: begin, put the payload in any number of pieces, end. */
void em_frame_begin(em_encoder_t *enc, em_write_fn write, void *ctx, uint8_t type, uint8_t seq);
void em_frame_put(em_encoder_t *enc, const void *data, size_t len);
void em_frame_put_u8(em_encoder_t *enc, uint8_t v);
void em_frame_put_u16(em_encoder_t *enc, uint16_t v);
void em_frame_put_u32(em_encoder_t *enc, uint32_t v);
void em_frame_put_u64(em_encoder_t *enc, uint64_t v);
void em_frame_end(em_encoder_t *enc);

/* A whole frame from a ready payload. */
void em_frame_write(em_write_fn write, void *ctx, uint8_t type, uint8_t seq,
                    const uint8_t *payload, size_t len);

/* ---- Requests (parsed on the board) ------------------------------------ */

/* Each returns 0, or EM_ERR_BAD_LENGTH with *expected_len set. */
/* session: the host's number for this handshake (0 from a host that sent none). */
int em_parse_hello(const em_frame_t *f, uint16_t *host_version, uint32_t *session,
                   uint32_t *expected_len);
int em_parse_load(const em_frame_t *f, uint32_t *total_len, uint32_t *offset,
                  const uint8_t **data, size_t *data_len, uint32_t *expected_len);
int em_parse_bench(const em_frame_t *f, uint16_t *count, uint32_t *expected_len);
int em_parse_empty(const em_frame_t *f, uint32_t *expected_len); /* INVOKE, OP_TIMES */

/* ---- Replies (written by the board) ------------------------------------ */

typedef struct {
  uint16_t protocol_version;
  uint8_t status;        /* EM_STATUS_* */
  int32_t status_detail; /* runner init code, or the bytes the model needs */
  uint32_t max_payload;
  uint16_t window;
  uint32_t cpu_hz;
  uint32_t tick_hz;
  uint8_t tick_kind;
  uint32_t arena_bytes;
  uint16_t op_count;
  uint16_t num_labels;
  uint8_t fingerprint[32];
  em_tensor_desc_t input;
  em_tensor_desc_t output;
  const char *target;
  const char *runtime;
  const char *runtime_version;
  /* Appended within protocol version 3 (readers ignore what they do not know,
   * and a board built before sends INFO without them): see em_runner_info_t. */
  uint32_t arena_request;
  uint32_t largest_free_internal;
  uint32_t largest_free_psram;
} em_info_msg_t;

typedef struct {
  uint32_t count;
  uint32_t min_ticks, mean_ticks, max_ticks;
  uint32_t min_us, mean_us, max_us;
  uint64_t total_ticks;
} em_bench_msg_t;

void em_send_info(em_write_fn write, void *ctx, uint8_t seq, const em_info_msg_t *m);
/* begin_seq: the seq of the LOAD at offset 0 that started the upload acknowledged;
 * session: the one the last HELLO set (0 since boot if none). */
void em_send_ack(em_write_fn write, void *ctx, uint8_t seq, uint32_t offset, uint32_t length,
                 uint8_t begin_seq, uint32_t session);
void em_send_result(em_write_fn write, void *ctx, uint8_t seq, uint32_t time_us,
                    uint32_t ticks, const int8_t *output, uint32_t output_len);
void em_send_bench_result(em_write_fn write, void *ctx, uint8_t seq, const em_bench_msg_t *m);
void em_send_op_times(em_write_fn write, void *ctx, uint8_t seq, uint16_t count,
                      const uint8_t *op_codes, const uint32_t *op_ticks);
void em_send_error(em_write_fn write, void *ctx, uint8_t seq, uint8_t code,
                   uint8_t request_type, int32_t detail);

#ifdef __cplusplus
}
#endif

#endif /* EDGEMB_PROTOCOL_H */
