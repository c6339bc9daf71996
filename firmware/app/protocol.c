/* The edgemb serial protocol: COBS framing, CRC-32, message layouts.
 * See protocol.h and docs/protocol.md. */
#include "protocol.h"

#include <string.h>

/* ---- CRC-32/ISO-HDLC --------------------------------------------------- */

/* Reflected polynomial 0xEDB88320, one entry per byte value: 1 KiB of flash buys
 * one table look-up per byte, which keeps up with any UART. */
static const uint32_t crc32_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

#if EM_CRC32_SLICES == 8
/* crc32_slices[k][b]: the CRC of byte b followed by k zero bytes. */
static uint32_t crc32_slices[8][256];

static void crc32_make_slices(void) {
  unsigned b, k;
  for (b = 0; b < 256u; b++) {
    uint32_t c = crc32_table[b];
    crc32_slices[0][b] = c;
    for (k = 1; k < 8u; k++) {
      c = crc32_table[c & 0xFFu] ^ (c >> 8);
      crc32_slices[k][b] = c;
    }
  }
}

static uint32_t crc32_eight(uint32_t c, const uint8_t *p) {
  uint32_t lo = c ^ ((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24));
  return crc32_slices[7][lo & 0xFFu] ^ crc32_slices[6][(lo >> 8) & 0xFFu] ^
         crc32_slices[5][(lo >> 16) & 0xFFu] ^ crc32_slices[4][lo >> 24] ^
         crc32_slices[3][p[4]] ^ crc32_slices[2][p[5]] ^ crc32_slices[1][p[6]] ^
         crc32_slices[0][p[7]];
}
#elif EM_CRC32_SLICES != 1
#error "EM_CRC32_SLICES must be 1 or 8"
#endif

uint32_t em_crc32_update(uint32_t crc, const uint8_t *data, size_t len) {
  uint32_t c = ~crc;
  size_t i = 0;
#if EM_CRC32_SLICES == 8
  static int ready;
  if (!ready) {
    crc32_make_slices();
    ready = 1;
  }
  for (; i + 8u <= len; i += 8u) c = crc32_eight(c, data + i);
#endif
  for (; i < len; i++) {
    c = crc32_table[(c ^ data[i]) & 0xFFu] ^ (c >> 8);
  }
  return ~c;
}

/* ---- Little-endian fields ---------------------------------------------- */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- Decoding ---------------------------------------------------------- */

static void decoder_restart(em_decoder_t *dec) {
  dec->len = 0;
  dec->remaining = 0;
  dec->block_code = 0;
  dec->overflow = 0;
}

void em_decoder_init(em_decoder_t *dec, uint8_t *buf, size_t cap) {
  dec->buf = buf;
  dec->cap = cap;
  decoder_restart(dec);
}

static void decoder_append(em_decoder_t *dec, uint8_t byte) {
  if (dec->len >= dec->cap) {
    dec->overflow = 1; /* keep swallowing until the delimiter resynchronises us */
    return;
  }
  dec->buf[dec->len++] = byte;
}

/* Best-effort header of a damaged frame, so an ERROR can name it. */
static void frame_header_guess(const em_decoder_t *dec, em_frame_t *frame) {
  frame->type = dec->len >= 1 ? dec->buf[0] : 0;
  frame->seq = dec->len >= 2 ? dec->buf[1] : 0;
  frame->payload = NULL;
  frame->payload_len = 0;
  frame->crc = 0;
}

static em_decode_result_t decoder_check(const em_decoder_t *dec, em_frame_t *frame) {
  size_t body;
  uint32_t crc;
  if (dec->overflow) return EM_DECODE_TOO_LONG;
  if (dec->remaining != 0) return EM_DECODE_BAD_FRAME; /* block cut short */
  if (dec->len < EM_FRAME_OVERHEAD) return EM_DECODE_BAD_FRAME;
  body = dec->len - 4u;
  crc = em_crc32_update(0, dec->buf, body);
  if (crc != get_u32(dec->buf + body)) return EM_DECODE_BAD_CRC;
  frame->type = dec->buf[0];
  frame->seq = dec->buf[1];
  frame->payload = dec->buf + 2;
  frame->payload_len = body - 2u;
  frame->crc = crc;
  return EM_DECODE_FRAME;
}

static em_decode_result_t decoder_finish(em_decoder_t *dec, em_frame_t *frame) {
  em_decode_result_t result = EM_DECODE_NONE;
  /* Back-to-back delimiters are an empty frame: padding the host may send to
   * flush a partial frame out of our buffer. Ignore it. */
  if (dec->block_code != 0 || dec->overflow) {
    result = decoder_check(dec, frame);
    if (result != EM_DECODE_FRAME) frame_header_guess(dec, frame);
  }
  decoder_restart(dec);
  return result;
}

/* A code byte. The block before it stood for "data, then a zero" unless it
 * was a full 0xFF block; the zero of the last block of a frame is never
 * written, which is why it is added here and not at the end of a block. */
static void decoder_code(em_decoder_t *dec, uint8_t code) {
  if (dec->block_code != 0 && dec->block_code != 0xFFu) decoder_append(dec, 0);
  dec->block_code = code;
  dec->remaining = (uint8_t)(code - 1u);
}

/* Data bytes of the current block: copied in one go, up to the end of the
 * block, of the input, or a delimiter, whichever comes first. */
static size_t decoder_data(em_decoder_t *dec, const uint8_t *data, size_t len) {
  size_t run = dec->remaining < len ? dec->remaining : len;
  const uint8_t *zero = (const uint8_t *)memchr(data, 0, run);
  if (zero != NULL) run = (size_t)(zero - data);
  if (run > dec->cap - dec->len) {
    dec->overflow = 1;
  } else {
    memcpy(dec->buf + dec->len, data, run);
    dec->len += run;
  }
  dec->remaining = (uint8_t)(dec->remaining - run);
  return run;
}

size_t em_decoder_feed(em_decoder_t *dec, const uint8_t *data, size_t len, em_frame_t *frame,
                       em_decode_result_t *result) {
  size_t i = 0;
  *result = EM_DECODE_NONE;
  while (i < len) {
    if (data[i] == 0) {
      *result = decoder_finish(dec, frame);
      return i + 1;
    }
    if (dec->overflow) {
      /* Dropping this frame: skip to its delimiter. */
      const uint8_t *zero = (const uint8_t *)memchr(data + i, 0, len - i);
      if (zero == NULL) return len;
      i = (size_t)(zero - data);
    } else if (dec->remaining == 0) {
      decoder_code(dec, data[i++]);
    } else {
      i += decoder_data(dec, data + i, len - i);
    }
  }
  return i;
}

em_decode_result_t em_decoder_push(em_decoder_t *dec, uint8_t byte, em_frame_t *frame) {
  em_decode_result_t result;
  em_decoder_feed(dec, &byte, 1, frame, &result);
  return result;
}

/* ---- Encoding ---------------------------------------------------------- */

static void encoder_flush_block(em_encoder_t *enc, uint8_t code) {
  enc->block[0] = code;
  enc->write(enc->ctx, enc->block, (size_t)enc->block_len + 1u);
  enc->block_len = 0;
  enc->after_full = (uint8_t)(code == 0xFFu);
}

static void encoder_byte(em_encoder_t *enc, uint8_t byte) {
  if (byte == 0) {
    encoder_flush_block(enc, (uint8_t)(enc->block_len + 1u));
    return;
  }
  enc->block[++enc->block_len] = byte;
  if (enc->block_len == 254u) encoder_flush_block(enc, 0xFFu);
}

void em_frame_begin(em_encoder_t *enc, em_write_fn write, void *ctx, uint8_t type, uint8_t seq) {
  uint8_t header[2];
  enc->write = write;
  enc->ctx = ctx;
  enc->crc = 0;
  enc->block_len = 0;
  enc->after_full = 0;
  header[0] = type;
  header[1] = seq;
  em_frame_put(enc, header, sizeof header);
}

/* Runs of non-zero bytes go into the block by memcpy, up to the next zero or
 * the end of the block: the same bytes as encoder_byte() one at a time, at the
 * speed of memchr and memcpy (the host's Python client encodes its uploads
 * with this too). One search finds the next zero for all the blocks before
 * it, and a whole block of the caller's bytes goes to the sink as it is,
 * without a copy into enc->block. */
void em_frame_put(em_encoder_t *enc, const void *data, size_t len) {
  static const uint8_t full_block_code = 0xFFu;
  const uint8_t *bytes = (const uint8_t *)data;
  const uint8_t *end = bytes + len;
  enc->crc = em_crc32_update(enc->crc, bytes, len);
  while (bytes < end) {
    const uint8_t *zero = (const uint8_t *)memchr(bytes, 0, (size_t)(end - bytes));
    const uint8_t *run_end = zero != NULL ? zero : end;
    while (bytes < run_end) {
      size_t room = 254u - (size_t)enc->block_len;
      size_t run = (size_t)(run_end - bytes) < room ? (size_t)(run_end - bytes) : room;
      if (run == 254u) { /* then the block was empty, and stays so */
        enc->write(enc->ctx, &full_block_code, 1u);
        enc->write(enc->ctx, bytes, 254u);
        enc->after_full = 1;
      } else {
        memcpy(enc->block + 1u + enc->block_len, bytes, run);
        enc->block_len = (uint8_t)(enc->block_len + run);
        if (enc->block_len == 254u) encoder_flush_block(enc, 0xFFu);
      }
      bytes += run;
    }
    if (zero != NULL) {
      encoder_byte(enc, 0);
      bytes++;
    }
  }
}

void em_frame_put_u8(em_encoder_t *enc, uint8_t v) { em_frame_put(enc, &v, 1); }

void em_frame_put_u16(em_encoder_t *enc, uint16_t v) {
  uint8_t b[2];
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  em_frame_put(enc, b, sizeof b);
}

void em_frame_put_u32(em_encoder_t *enc, uint32_t v) {
  uint8_t b[4];
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
  em_frame_put(enc, b, sizeof b);
}

void em_frame_put_u64(em_encoder_t *enc, uint64_t v) {
  em_frame_put_u32(enc, (uint32_t)v);
  em_frame_put_u32(enc, (uint32_t)(v >> 32));
}

void em_frame_end(em_encoder_t *enc) {
  static const uint8_t delimiter = 0;
  uint32_t crc = enc->crc;
  int i;
  for (i = 0; i < 4; i++) encoder_byte(enc, (uint8_t)(crc >> (8 * i)));
  /* A frame that ends exactly on a full block needs no final empty block. */
  if (!(enc->after_full && enc->block_len == 0)) {
    encoder_flush_block(enc, (uint8_t)(enc->block_len + 1u));
  }
  enc->write(enc->ctx, &delimiter, 1);
}

void em_frame_write(em_write_fn write, void *ctx, uint8_t type, uint8_t seq,
                    const uint8_t *payload, size_t len) {
  em_encoder_t enc;
  em_frame_begin(&enc, write, ctx, type, seq);
  em_frame_put(&enc, payload, len);
  em_frame_end(&enc);
}

/* ---- Requests ---------------------------------------------------------- */

static int expect_len(const em_frame_t *f, size_t len, uint32_t *expected_len) {
  if (f->payload_len == len) return 0;
  *expected_len = (uint32_t)len;
  return EM_ERR_BAD_LENGTH;
}

int em_parse_hello(const em_frame_t *f, uint16_t *host_version, uint32_t *session,
                   uint32_t *expected_len) {
  /* Longer HELLOs are accepted: a newer host may append fields. So are the
   * 2-byte HELLOs of hosts before version 3, without a session: the INFO reply
   * must reach every host so that it can tell the user to update. */
  if (f->payload_len < 2u) {
    *expected_len = 2u;
    return EM_ERR_BAD_LENGTH;
  }
  *host_version = get_u16(f->payload);
  *session = f->payload_len >= 6u ? get_u32(f->payload + 2) : 0u;
  return 0;
}

int em_parse_load(const em_frame_t *f, uint32_t *total_len, uint32_t *offset,
                  const uint8_t **data, size_t *data_len, uint32_t *expected_len) {
  if (f->payload_len < 8u) {
    *expected_len = 8u;
    return EM_ERR_BAD_LENGTH;
  }
  *total_len = get_u32(f->payload);
  *offset = get_u32(f->payload + 4);
  *data = f->payload + 8;
  *data_len = f->payload_len - 8u;
  return 0;
}

int em_parse_bench(const em_frame_t *f, uint16_t *count, uint32_t *expected_len) {
  if (expect_len(f, 2u, expected_len)) return EM_ERR_BAD_LENGTH;
  *count = get_u16(f->payload);
  return 0;
}

int em_parse_empty(const em_frame_t *f, uint32_t *expected_len) {
  return expect_len(f, 0u, expected_len);
}

/* ---- Replies ----------------------------------------------------------- */

static void put_f32(em_encoder_t *enc, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits); /* IEEE 754 binary32 on every supported target */
  em_frame_put_u32(enc, bits);
}

static void put_tensor(em_encoder_t *enc, const em_tensor_desc_t *t) {
  uint8_t ndims = t->ndims <= EM_MAX_DIMS ? t->ndims : (uint8_t)EM_MAX_DIMS;
  uint8_t i;
  em_frame_put_u8(enc, t->type);
  em_frame_put_u8(enc, ndims);
  for (i = 0; i < ndims; i++) em_frame_put_u32(enc, t->dims[i]);
  put_f32(enc, t->scale);
  em_frame_put_u32(enc, (uint32_t)t->zero_point);
  em_frame_put_u32(enc, t->bytes);
}

static void put_string(em_encoder_t *enc, const char *s) {
  size_t len = s != NULL ? strlen(s) : 0u;
  if (len > 255u) len = 255u;
  em_frame_put_u8(enc, (uint8_t)len);
  em_frame_put(enc, s, len);
}

void em_send_info(em_write_fn write, void *ctx, uint8_t seq, const em_info_msg_t *m) {
  em_encoder_t enc;
  em_frame_begin(&enc, write, ctx, EM_MSG_INFO, seq);
  em_frame_put_u16(&enc, m->protocol_version);
  em_frame_put_u8(&enc, m->status);
  em_frame_put_u32(&enc, (uint32_t)m->status_detail);
  em_frame_put_u32(&enc, m->max_payload);
  em_frame_put_u16(&enc, m->window);
  em_frame_put_u32(&enc, m->cpu_hz);
  em_frame_put_u32(&enc, m->tick_hz);
  em_frame_put_u8(&enc, m->tick_kind);
  em_frame_put_u32(&enc, m->arena_bytes);
  em_frame_put_u16(&enc, m->op_count);
  em_frame_put_u16(&enc, m->num_labels);
  em_frame_put(&enc, m->fingerprint, sizeof m->fingerprint);
  put_tensor(&enc, &m->input);
  put_tensor(&enc, &m->output);
  put_string(&enc, m->target);
  put_string(&enc, m->runtime);
  put_string(&enc, m->runtime_version);
  em_frame_put_u32(&enc, m->arena_request);
  em_frame_put_u32(&enc, m->largest_free_internal);
  em_frame_put_u32(&enc, m->largest_free_psram);
  em_frame_end(&enc);
}

void em_send_ack(em_write_fn write, void *ctx, uint8_t seq, uint32_t offset, uint32_t length,
                 uint8_t begin_seq, uint32_t session) {
  em_encoder_t enc;
  em_frame_begin(&enc, write, ctx, EM_MSG_ACK, seq);
  em_frame_put_u32(&enc, offset);
  em_frame_put_u32(&enc, length);
  em_frame_put_u8(&enc, begin_seq);
  em_frame_put_u32(&enc, session);
  em_frame_end(&enc);
}

void em_send_result(em_write_fn write, void *ctx, uint8_t seq, uint32_t time_us,
                    uint32_t ticks, const int8_t *output, uint32_t output_len) {
  em_encoder_t enc;
  em_frame_begin(&enc, write, ctx, EM_MSG_RESULT, seq);
  em_frame_put_u32(&enc, time_us);
  em_frame_put_u32(&enc, ticks);
  em_frame_put_u32(&enc, output_len);
  em_frame_put(&enc, output, output_len);
  em_frame_end(&enc);
}

void em_send_bench_result(em_write_fn write, void *ctx, uint8_t seq, const em_bench_msg_t *m) {
  em_encoder_t enc;
  em_frame_begin(&enc, write, ctx, EM_MSG_BENCH_RESULT, seq);
  em_frame_put_u32(&enc, m->count);
  em_frame_put_u32(&enc, m->min_ticks);
  em_frame_put_u32(&enc, m->mean_ticks);
  em_frame_put_u32(&enc, m->max_ticks);
  em_frame_put_u32(&enc, m->min_us);
  em_frame_put_u32(&enc, m->mean_us);
  em_frame_put_u32(&enc, m->max_us);
  em_frame_put_u64(&enc, m->total_ticks);
  em_frame_end(&enc);
}

void em_send_op_times(em_write_fn write, void *ctx, uint8_t seq, uint16_t count,
                      const uint8_t *op_codes, const uint32_t *op_ticks) {
  em_encoder_t enc;
  uint16_t i;
  em_frame_begin(&enc, write, ctx, EM_MSG_OP_TIMES_RESULT, seq);
  em_frame_put_u16(&enc, count);
  for (i = 0; i < count; i++) {
    em_frame_put_u8(&enc, op_codes[i]);
    em_frame_put_u32(&enc, op_ticks[i]);
  }
  em_frame_end(&enc);
}

void em_send_error(em_write_fn write, void *ctx, uint8_t seq, uint8_t code,
                   uint8_t request_type, int32_t detail) {
  em_encoder_t enc;
  em_frame_begin(&enc, write, ctx, EM_MSG_ERROR, seq);
  em_frame_put_u8(&enc, code);
  em_frame_put_u8(&enc, request_type);
  em_frame_put_u32(&enc, (uint32_t)detail);
  em_frame_end(&enc);
}
