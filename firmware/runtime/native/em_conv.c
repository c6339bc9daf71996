/* CONV_2D and FULLY_CONNECTED, int8, per-channel requantization.
 *
 * Both are a matrix product of the filter ([out_c][k_pad] int8) with columns of
 * the input: one column per output pixel, k = kh * kw * in_c values in (ky, kx, ic)
 * order, padding positions filled with the input zero point (so they contribute
 * nothing once the effective bias has absorbed input_offset * sum(filter)).
 *
 * Output pixels are taken two at a time. Their columns are widened to int16 into
 * the scratch buffer, interleaved by groups of four values:
 *     [p0: k0 k2 k1 k3][p1: k0 k2 k1 k3][p0: k4 k6 k5 k7]...
 * which is the order SXTB16 / SXTB16 ROR #8 produce from one 32-bit load, so on
 * a DSP core the filter is widened on the fly with the same two instructions and
 * each SMLAD does two multiply-accumulates; every filter word loaded serves both
 * pixels. The portable path reads the same layout with plain C.
 */
#include "em_nn.h"
#include "em_nn_support.h"

static int32_t k_pad_of(int32_t k) { return (k + 3) & ~3; }

size_t em_conv_s8_scratch_bytes(const em_dims_t *filter_dims) {
  const int32_t k_pad = k_pad_of(filter_dims->h * filter_dims->w * filter_dims->c);
  /* two int16 columns plus one int8 gather row */
  return (size_t)(2 * k_pad) * sizeof(int16_t) + (size_t)k_pad;
}

size_t em_fully_connected_s8_scratch_bytes(int32_t k) {
  return (size_t)(2 * k_pad_of(k)) * sizeof(int16_t) + (size_t)k_pad_of(k);
}

/* Widens groups of 4 int8 values into slot (0 or 1) of the interleaved column. */
static void widen_row(const int8_t *row, int32_t groups, int16_t *col, int slot) {
  int16_t *dst = col + 4 * slot;
  for (int32_t g = 0; g < groups; ++g) {
#if EM_NN_DSP
    const uint32_t w = em_read_u32(row);
    ((em_word_t *)dst)[0] = (uint32_t)__sxtb16(w);
    ((em_word_t *)dst)[1] = em_sxtb16_ror8(w);
#else
    dst[0] = row[0];
    dst[1] = row[2];
    dst[2] = row[1];
    dst[3] = row[3];
#endif
    row += 4;
    dst += 8;
  }
}

/* Gathers the k values of output pixel (oy, ox) into row (k_pad bytes). */
static void gather(const em_conv_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                   const em_dims_t *fd, int32_t oy, int32_t ox, int8_t *row, int32_t k_pad) {
  const int32_t ic = in_dims->c;
  const int8_t pad_value = (int8_t)(-p->input_offset);
  const int32_t y0 = oy * p->stride_h - p->pad_h;
  const int32_t x0 = ox * p->stride_w - p->pad_w;
  int8_t *dst = row;
  for (int32_t ky = 0; ky < fd->h; ++ky) {
    const int32_t y = y0 + ky * p->dilation_h;
    for (int32_t kx = 0; kx < fd->w; ++kx) {
      const int32_t x = x0 + kx * p->dilation_w;
      if (y < 0 || y >= in_dims->h || x < 0 || x >= in_dims->w) {
        memset(dst, pad_value, (size_t)ic);
      } else {
        memcpy(dst, in + ((size_t)y * in_dims->w + x) * ic, (size_t)ic);
      }
      dst += ic;
    }
  }
  const int32_t k = fd->h * fd->w * ic;
  if (k_pad > k) memset(row + k, 0, (size_t)(k_pad - k));
}

/* Dot products of two filter rows with the two columns. */
static void dot_2x2(const int16_t *col, const int8_t *w0, const int8_t *w1, int32_t groups,
                    int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if EM_NN_DSP
  const em_word_t *x = (const em_word_t *)col;
  const em_word_t *wp0 = (const em_word_t *)w0;
  const em_word_t *wp1 = (const em_word_t *)w1;
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t x0a = x[0], x0b = x[1], x1a = x[2], x1b = x[3];
    x += 4;
    uint32_t w = *wp0++;
    uint32_t wa = (uint32_t)__sxtb16(w);
    uint32_t wb = em_sxtb16_ror8(w);
    a00 = __smlad(x0a, wa, a00);
    a10 = __smlad(x1a, wa, a10);
    a00 = __smlad(x0b, wb, a00);
    a10 = __smlad(x1b, wb, a10);
    w = *wp1++;
    wa = (uint32_t)__sxtb16(w);
    wb = em_sxtb16_ror8(w);
    a01 = __smlad(x0a, wa, a01);
    a11 = __smlad(x1a, wa, a11);
    a01 = __smlad(x0b, wb, a01);
    a11 = __smlad(x1b, wb, a11);
  }
#else
  const int16_t *x = col;
  for (int32_t g = 0; g < groups; ++g) {
    a00 += w0[0] * x[0] + w0[2] * x[1] + w0[1] * x[2] + w0[3] * x[3];
    a10 += w0[0] * x[4] + w0[2] * x[5] + w0[1] * x[6] + w0[3] * x[7];
    a01 += w1[0] * x[0] + w1[2] * x[1] + w1[1] * x[2] + w1[3] * x[3];
    a11 += w1[0] * x[4] + w1[2] * x[5] + w1[1] * x[6] + w1[3] * x[7];
    x += 8;
    w0 += 4;
    w1 += 4;
  }
#endif
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* Dot products of one filter row with the columns in slots 0 and 1. */
static void dot_2x1(const int16_t *col, const int8_t *w0, int32_t groups, int32_t acc[2]) {
  int32_t a0 = acc[0], a1 = acc[1];
#if EM_NN_DSP
  const em_word_t *x = (const em_word_t *)col;
  const em_word_t *wp0 = (const em_word_t *)w0;
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t w = *wp0++;
    const uint32_t wa = (uint32_t)__sxtb16(w);
    const uint32_t wb = em_sxtb16_ror8(w);
    a0 = __smlad(x[0], wa, a0);
    a0 = __smlad(x[1], wb, a0);
    a1 = __smlad(x[2], wa, a1);
    a1 = __smlad(x[3], wb, a1);
    x += 4;
  }
#else
  const int16_t *x = col;
  for (int32_t g = 0; g < groups; ++g) {
    a0 += w0[0] * x[0] + w0[2] * x[1] + w0[1] * x[2] + w0[3] * x[3];
    a1 += w0[0] * x[4] + w0[2] * x[5] + w0[1] * x[6] + w0[3] * x[7];
    x += 8;
    w0 += 4;
  }
#endif
  acc[0] = a0;
  acc[1] = a1;
}

/* Multiplies the filter with the column pair; writes out_c values for pixel 0 to
 * out0 and, when out1 is not NULL, for pixel 1 to out1. */
static void matmul_columns(const em_conv_params_t *p, const em_quant_t *q, int32_t out_c,
                           int32_t k_pad, const int8_t *filter, const int32_t *bias,
                           const int16_t *col, int8_t *restrict out0, int8_t *restrict out1) {
  const int32_t groups = k_pad / 4;
  const int32_t *restrict mult = q->multiplier;
  const int32_t *restrict shift = q->shift;
  const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t oc = 0;
  for (; oc + 1 < out_c; oc += 2) {
    const int8_t *w0 = filter + (size_t)oc * k_pad;
    int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
    dot_2x2(col, w0, w0 + k_pad, groups, acc);
    const int32_t m0 = mult[oc], s0 = shift[oc];
    const int32_t m1 = mult[oc + 1], s1 = shift[oc + 1];
    out0[oc] = em_requant(acc[0], m0, s0, off, lo, hi);
    out0[oc + 1] = em_requant(acc[1], m1, s1, off, lo, hi);
    if (out1) {
      out1[oc] = em_requant(acc[2], m0, s0, off, lo, hi);
      out1[oc + 1] = em_requant(acc[3], m1, s1, off, lo, hi);
    }
  }
  if (oc < out_c) {
    int32_t acc[2] = {bias[oc], bias[oc]};
    dot_2x1(col, filter + (size_t)oc * k_pad, groups, acc);
    out0[oc] = em_requant(acc[0], mult[oc], shift[oc], off, lo, hi);
    if (out1) out1[oc] = em_requant(acc[1], mult[oc], shift[oc], off, lo, hi);
  }
}

void em_conv_s8(const em_conv_params_t *p, const em_quant_t *q, const em_dims_t *in_dims,
                const int8_t *in, const em_dims_t *filter_dims, const int8_t *filter,
                const int32_t *bias, const em_dims_t *out_dims, int8_t *out, void *scratch) {
  const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
  const int32_t k_pad = k_pad_of(k);
  const int32_t groups = k_pad / 4;
  const int32_t out_c = out_dims->c;
  int16_t *col = (int16_t *)scratch;
  int8_t *row = (int8_t *)(col + 2 * k_pad);
  /* A 1x1 window without padding reads input rows in place when they need no
   * zero padding to a multiple of four. */
  const int direct = filter_dims->h == 1 && filter_dims->w == 1 && p->pad_h == 0 &&
                     p->pad_w == 0 && (k & 3) == 0;
  const int32_t pixels = out_dims->n * out_dims->h * out_dims->w;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * in_dims->c;
  int32_t b = 0, oy = 0, ox = 0; /* position of the next pixel */
  for (int32_t pix = 0; pix < pixels; pix += 2) {
    const int two = pix + 1 < pixels;
    for (int s = 0; s <= two; ++s) {
      const int8_t *image = in + (size_t)b * in_image;
      const int8_t *src;
      if (direct) {
        src = image + ((size_t)(oy * p->stride_h) * in_dims->w + (size_t)(ox * p->stride_w)) *
                          in_dims->c;
      } else {
        gather(p, in_dims, image, filter_dims, oy, ox, row, k_pad);
        src = row;
      }
      widen_row(src, groups, col, s);
      if (++ox == out_dims->w) {
        ox = 0;
        if (++oy == out_dims->h) {
          oy = 0;
          ++b;
        }
      }
    }
    matmul_columns(p, q, out_c, k_pad, filter, bias, col, out + (size_t)pix * out_c,
                   two ? out + (size_t)(pix + 1) * out_c : NULL);
  }
}

void em_fully_connected_s8(const em_conv_params_t *p, const em_quant_t *q, int32_t rows,
                           int32_t k, const int8_t *in, int32_t out_c, const int8_t *filter,
                           const int32_t *bias, int8_t *out, void *scratch) {
  const int32_t k_pad = k_pad_of(k);
  const int32_t groups = k_pad / 4;
  int16_t *col = (int16_t *)scratch;
  int8_t *row = (int8_t *)(col + 2 * k_pad);
  for (int32_t r = 0; r < rows; r += 2) {
    const int two = r + 1 < rows;
    for (int s = 0; s <= two; ++s) {
      memcpy(row, in + (size_t)(r + s) * k, (size_t)k);
      if (k_pad > k) memset(row + k, 0, (size_t)(k_pad - k));
      widen_row(row, groups, col, s);
    }
    matmul_columns(p, q, out_c, k_pad, filter, bias, col, out + (size_t)r * out_c,
                   two ? out + (size_t)(r + 1) * out_c : NULL);
  }
}

/* ---- fast CONV_2D (em_conv_fast_s8) ---------------------------------------------
 * Two output pixels at a time: their k8 input values are doubled and widened to
 * int16 into the scratch column, interleaved by groups of four values as
 *     [p0: 2k0 2k2 | 2k1 2k3][p1: 2k0 2k2 | 2k1 2k3][p0: 2k4 2k6 | ...]...
 * (the order SXTB16 / SXTB16 ROR #8 produce). Each pair of output channels then
 * takes one pass over the column: per four values, one load of the column (four
 * words), one load of both channels' filter words, four SXTB16 and eight SMLAD. */

static int32_t k8_of(int32_t k) { return (k + 7) & ~7; }

size_t em_conv_fast_s8_scratch_bytes(const em_dims_t *filter_dims) {
  const int32_t k8 = k8_of(filter_dims->h * filter_dims->w * filter_dims->c);
  return (size_t)(2 * k8) * sizeof(int16_t) + (size_t)k8;
}

/* Doubles and widens k8 values into slot (0 or 1) of the column. */
static void fast_widen(const int8_t *src, int32_t k8, int16_t *col, int slot) {
  int16_t *dst = col + 4 * slot;
#if EM_NN_DSP
  for (int32_t g = 0; g < k8; g += 4) {
    const uint32_t w = *(const em_uword_t *)(const void *)src;
    const uint32_t a = (uint32_t)__sxtb16(w), b = em_sxtb16_ror8(w);
    ((em_word_t *)(void *)dst)[0] = (uint32_t)__sadd16(a, a);
    ((em_word_t *)(void *)dst)[1] = (uint32_t)__sadd16(b, b);
    src += 4;
    dst += 8;
  }
#else
  for (int32_t g = 0; g < k8; g += 4) {
    dst[0] = (int16_t)(2 * src[0]);
    dst[1] = (int16_t)(2 * src[2]);
    dst[2] = (int16_t)(2 * src[1]);
    dst[3] = (int16_t)(2 * src[3]);
    src += 4;
    dst += 8;
  }
#endif
}

/* Short fills and copies inline: GCC would otherwise turn the loops into calls of
 * memset / memmove, which newlib-nano implements a byte at a time. */
#if defined(__GNUC__) && !defined(__clang__)
#define EM_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define EM_NO_LIBCALLS
#endif

EM_NO_LIBCALLS static void fill_bytes(int8_t *dst, int8_t v, int32_t n) {
  const uint32_t v4 = (uint32_t)(uint8_t)v * 0x01010101u;
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) memcpy(dst + i, &v4, 4);
  for (; i < n; ++i) dst[i] = v;
}

EM_NO_LIBCALLS static void copy_bytes(int8_t *restrict dst, const int8_t *restrict src,
                                      int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) memcpy(dst + i, src + i, 4);
  for (; i < n; ++i) dst[i] = src[i];
}

/* The k8 input values of output pixel (oy, ox): padding holds the input zero point,
 * the values past k are zero. */
EM_NO_LIBCALLS static void fast_gather(const em_fast_params_t *p, const em_dims_t *in_dims, const int8_t *image,
                        const em_dims_t *fd, int32_t oy, int32_t ox, int8_t *row, int32_t k8) {
  const int32_t ic = in_dims->c;
  const int8_t zp = (int8_t)p->input_zero_point;
  const int32_t y0 = oy * p->stride_h - p->pad_h;
  const int32_t x0 = ox * p->stride_w - p->pad_w;
  const int32_t kx0 = x0 < 0 ? -x0 : 0;
  const int32_t kx1 = fd->w < in_dims->w - x0 ? fd->w : in_dims->w - x0;
  const int32_t seg = fd->w * ic;
  int8_t *dst = row;
  for (int32_t ky = 0; ky < fd->h; ++ky, dst += seg) {
    const int32_t y = y0 + ky;
    if (y < 0 || y >= in_dims->h || kx1 <= kx0) {
      fill_bytes(dst, zp, seg);
      continue;
    }
    if (kx0 > 0) fill_bytes(dst, zp, kx0 * ic);
    copy_bytes(dst + kx0 * ic, image + ((size_t)y * in_dims->w + (x0 + kx0)) * ic,
               (kx1 - kx0) * ic);
    if (kx1 < fd->w) fill_bytes(dst + kx1 * ic, zp, (fd->w - kx1) * ic);
  }
  const int32_t k = fd->h * seg;
  fill_bytes(row + k, 0, k8 - k);
}

/* acc[0..3] (pixel 0 channel 0, p0 c1, p1 c0, p1 c1) += column . filter pair. */
EM_INLINE void fast_dot_2x2(const int16_t *col, const int8_t *w, int32_t k8, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if EM_NN_DSP
  const int16_t *x = col;
  const int16_t *end = col + 2 * k8;
  uint32_t w0, w1, t;
  __asm__ volatile(
      "1:\n\t"
      "ldm %[x]!, {r8, r9, r10, r11}\n\t"
      "ldrd %[w0], %[w1], [%[w]], #8\n\t"
      "sxtb16 %[t], %[w0]\n\t"
      "smlad %[a00], r8, %[t], %[a00]\n\t"
      "smlad %[a10], r10, %[t], %[a10]\n\t"
      "sxtb16 %[w0], %[w0], ror #8\n\t"
      "smlad %[a00], r9, %[w0], %[a00]\n\t"
      "smlad %[a10], r11, %[w0], %[a10]\n\t"
      "sxtb16 %[t], %[w1]\n\t"
      "smlad %[a01], r8, %[t], %[a01]\n\t"
      "smlad %[a11], r10, %[t], %[a11]\n\t"
      "sxtb16 %[w1], %[w1], ror #8\n\t"
      "smlad %[a01], r9, %[w1], %[a01]\n\t"
      "smlad %[a11], r11, %[w1], %[a11]\n\t"
      "ldm %[x]!, {r8, r9, r10, r11}\n\t"
      "ldrd %[w0], %[w1], [%[w]], #8\n\t"
      "sxtb16 %[t], %[w0]\n\t"
      "smlad %[a00], r8, %[t], %[a00]\n\t"
      "smlad %[a10], r10, %[t], %[a10]\n\t"
      "sxtb16 %[w0], %[w0], ror #8\n\t"
      "smlad %[a00], r9, %[w0], %[a00]\n\t"
      "smlad %[a10], r11, %[w0], %[a10]\n\t"
      "sxtb16 %[t], %[w1]\n\t"
      "smlad %[a01], r8, %[t], %[a01]\n\t"
      "smlad %[a11], r10, %[t], %[a11]\n\t"
      "sxtb16 %[w1], %[w1], ror #8\n\t"
      "smlad %[a01], r9, %[w1], %[a01]\n\t"
      "smlad %[a11], r11, %[w1], %[a11]\n\t"
      "cmp %[x], %[end]\n\t"
      "bne 1b\n\t"
      : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [x] "+r"(x),
        [w] "+r"(w), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
      : [end] "r"(end)
      : "r8", "r9", "r10", "r11", "cc", "memory");
#else
  const int16_t *x = col;
  for (int32_t g = 0; g < k8; g += 4) {
    const int8_t *w0 = w, *w1 = w + 4;
    a00 += w0[0] * x[0] + w0[2] * x[1] + w0[1] * x[2] + w0[3] * x[3];
    a10 += w0[0] * x[4] + w0[2] * x[5] + w0[1] * x[6] + w0[3] * x[7];
    a01 += w1[0] * x[0] + w1[2] * x[1] + w1[1] * x[2] + w1[3] * x[3];
    a11 += w1[0] * x[4] + w1[2] * x[5] + w1[1] * x[6] + w1[3] * x[7];
    x += 8;
    w += 8;
  }
#endif
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

EM_INLINE int8_t fast_out(int32_t acc2, const em_chan_t *ch, int mode, int32_t lo, int32_t hi) {
  int32_t v = em_fast_rq(acc2, ch->mult, ch->rnd, ch->shift, mode & EM_FAST_SIGNFIX);
  if (mode & EM_FAST_CLAMP) v = em_clamp(v, lo, hi);
  return (int8_t)v;
}

/* All output channels of the two pixels in the column. For a lone last pixel both
 * slots hold it and out1 == out0 (the same values are stored twice). */
EM_INLINE void fast_channels(const em_fast_params_t *p, const em_chan_t *chan, int32_t out_c,
                             int32_t k8, const int8_t *filter, const int16_t *col, int8_t *out0,
                             int8_t *out1, int mode) {
  const int32_t lo = p->act_min, hi = p->act_max;
  const int8_t *w = filter;
  const em_chan_t *ch = chan;
  const em_chan_t *end = chan + (out_c & ~1);
  for (; ch != end; ch += 2, w += 2 * k8, out0 += 2, out1 += 2) {
    int32_t acc[4] = {ch[0].bias, ch[1].bias, ch[0].bias, ch[1].bias};
    fast_dot_2x2(col, w, k8, acc);
    out0[0] = fast_out(acc[0], &ch[0], mode, lo, hi);
    out0[1] = fast_out(acc[1], &ch[1], mode, lo, hi);
    out1[0] = fast_out(acc[2], &ch[0], mode, lo, hi);
    out1[1] = fast_out(acc[3], &ch[1], mode, lo, hi);
  }
  if (out_c & 1) { /* the last channel pair has one real channel */
    int32_t acc[4] = {ch[0].bias, 0, ch[0].bias, 0};
    fast_dot_2x2(col, w, k8, acc);
    out0[0] = fast_out(acc[0], &ch[0], mode, lo, hi);
    out1[0] = fast_out(acc[2], &ch[0], mode, lo, hi);
  }
}

#if EM_NN_ASM
/* The full channel pairs of fast_channels for requantization mode 0, as one
 * function in assembly: the products take all fourteen free registers, so the
 * loop state lives in a stack frame laid out like this job, and the per-pair
 * work around the products (bias, requantization, four stores) stays at about
 * forty instructions, where compiled C spills and reloads twice as many. */
typedef struct {
  const int16_t *col, *col_end; /* the column of two pixels, 4 * k8 bytes */
  int8_t *out0, *out1;          /* advanced by two bytes per channel pair */
  const em_chan_t *ch_end;      /* chan + number of channels in full pairs */
  const em_chan_t *ch;
  const int8_t *w; /* the first pair's filter; pairs follow each other */
} em_pw_job_t;

void em_pw_pairs_mode0(const em_pw_job_t *job);

/* Four k values (two 16-bit pairs) of both pixels against both channels'
 * filters: the body of the loop over k below. */
#define EM_PW_FOUR_K \
    "  ldm r4!, {r8, r9, r10, r11}\n" \
    "  ldrd r7, r12, [r5], #8\n" \
    "  sxtb16 lr, r7\n" \
    "  smlad r0, r8, lr, r0\n" \
    "  smlad r2, r10, lr, r2\n" \
    "  sxtb16 r7, r7, ror #8\n" \
    "  smlad r0, r9, r7, r0\n" \
    "  smlad r2, r11, r7, r2\n" \
    "  sxtb16 lr, r12\n" \
    "  smlad r1, r8, lr, r1\n" \
    "  smlad r3, r10, lr, r3\n" \
    "  sxtb16 r12, r12, ror #8\n" \
    "  smlad r1, r9, r12, r1\n" \
    "  smlad r3, r11, r12, r3\n"

/* Register use in the loop over k: r0 a00, r1 a01, r2 a10, r3 a11 (pixel, channel),
 * r4 column, r5 filter, r6 column end, r7 / r12 filter words, lr temporary,
 * r8-r11 column words. Frame: [sp] col, col_end, out0, out1, ch_end, ch. */
__asm__(
    "  .pushsection .text.em_pw_pairs_mode0,\"ax\",%progbits\n"
    "  .syntax unified\n"
    "  .thumb\n"
    "  .p2align 2\n"
    "  .global em_pw_pairs_mode0\n"
    "  .type em_pw_pairs_mode0, %function\n"
    "  .thumb_func\n"
    "em_pw_pairs_mode0:\n"
    "  push {r4-r11, lr}\n"
    "  sub sp, sp, #24\n"
    "  ldm r0, {r1-r7}\n"
    "  stm sp, {r1-r6}\n"
    "  mov lr, r6\n"
    "  mov r5, r7\n"
    "1:\n"
    "  ldr r0, [lr]\n"
    "  ldr r1, [lr, #16]\n"
    "  mov r2, r0\n"
    "  mov r3, r1\n"
    "  ldrd r4, r6, [sp]\n"
    "2:\n"
    EM_PW_FOUR_K EM_PW_FOUR_K /* unrolled twice: eight k values an iteration */
    "  cmp r4, r6\n"
    "  bne 2b\n"
    /* requantization */
    "  ldr lr, [sp, #20]\n"
    "  ldrd r7, r12, [lr, #4]\n"
    "  ldr r6, [lr, #12]\n"
    "  smmulr r0, r0, r7\n"
    "  smmulr r2, r2, r7\n"
    "  add r0, r0, r12\n"
    "  add r2, r2, r12\n"
    "  asr r0, r0, r6\n"
    "  asr r2, r2, r6\n"
    "  ssat r0, #8, r0\n"
    "  ssat r2, #8, r2\n"
    "  ldrd r7, r12, [lr, #20]\n"
    "  ldr r6, [lr, #28]\n"
    "  smmulr r1, r1, r7\n"
    "  smmulr r3, r3, r7\n"
    "  add r1, r1, r12\n"
    "  add r3, r3, r12\n"
    "  asr r1, r1, r6\n"
    "  asr r3, r3, r6\n"
    "  ssat r1, #8, r1\n"
    "  ssat r3, #8, r3\n"
    "  add lr, lr, #32\n"
    "  str lr, [sp, #20]\n"
    "  ldrd r7, r12, [sp, #8]\n"
    "  strb r0, [r7], #1\n"
    "  strb r1, [r7], #1\n"
    "  strb r2, [r12], #1\n"
    "  strb r3, [r12], #1\n"
    "  strd r7, r12, [sp, #8]\n"
    "  ldr r6, [sp, #16]\n"
    "  cmp lr, r6\n"
    "  bne 1b\n"
    "  add sp, sp, #24\n"
    "  pop {r4-r11, pc}\n"
    "  .size em_pw_pairs_mode0, .-em_pw_pairs_mode0\n"
    "  .popsection\n");
#endif

static void fast_channels_any(const em_fast_params_t *p, const em_chan_t *chan, int32_t out_c,
                              int32_t k8, const int8_t *filter, const int16_t *col,
                              int8_t *out0, int8_t *out1) {
  switch (p->flags & (EM_FAST_SIGNFIX | EM_FAST_CLAMP)) {
    case 0:
#if EM_NN_ASM
      if (out_c >= 2) {
        const int32_t pairs = out_c / 2;
        const em_pw_job_t job = {col, col + 2 * k8, out0, out1, chan + 2 * pairs, chan, filter};
        em_pw_pairs_mode0(&job);
        if (!(out_c & 1)) break;
        /* the last channel alone */
        chan += 2 * pairs;
        filter += (size_t)pairs * 2 * k8;
        out0 += 2 * pairs;
        out1 += 2 * pairs;
        out_c = 1;
      }
#endif
      fast_channels(p, chan, out_c, k8, filter, col, out0, out1, 0);
      break;
    case EM_FAST_SIGNFIX:
      fast_channels(p, chan, out_c, k8, filter, col, out0, out1, EM_FAST_SIGNFIX);
      break;
    case EM_FAST_CLAMP:
      fast_channels(p, chan, out_c, k8, filter, col, out0, out1, EM_FAST_CLAMP);
      break;
    default:
      fast_channels(p, chan, out_c, k8, filter, col, out0, out1,
                    EM_FAST_SIGNFIX | EM_FAST_CLAMP);
      break;
  }
}

void em_conv_fast_s8(const em_fast_params_t *p, const em_chan_t *chan, const em_dims_t *in_dims,
                     const int8_t *in, const em_dims_t *filter_dims, const int8_t *filter,
                     const em_dims_t *out_dims, int8_t *out, void *scratch) {
  const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
  const int32_t k8 = k8_of(k);
  const int32_t out_c = out_dims->c;
  int16_t *col = (int16_t *)scratch;
  int8_t *row = (int8_t *)(col + 2 * k8);
  const int direct = filter_dims->h == 1 && filter_dims->w == 1 && p->pad_h == 0 &&
                     p->pad_w == 0 && k == k8;
  const int32_t pixels = out_dims->n * out_dims->h * out_dims->w;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * in_dims->c;
  int32_t b = 0, oy = 0, ox = 0; /* position of the next pixel */
  for (int32_t pix = 0; pix < pixels; pix += 2) {
    const int two = pix + 1 < pixels;
    for (int s = 0; s <= two; ++s) {
      const int8_t *image = in + (size_t)b * in_image;
      const int8_t *src;
      if (direct) {
        src = image + ((size_t)(oy * p->stride_h) * in_dims->w + (size_t)(ox * p->stride_w)) *
                          in_dims->c;
      } else {
        fast_gather(p, in_dims, image, filter_dims, oy, ox, row, k8);
        src = row;
      }
      fast_widen(src, k8, col, s);
      if (!two) fast_widen(src, k8, col, 1); /* a lone last pixel: slot 1 computes it again */
      if (++ox == out_dims->w) {
        ox = 0;
        if (++oy == out_dims->h) {
          oy = 0;
          ++b;
        }
      }
    }
    fast_channels_any(p, chan, out_c, k8, filter, col, out + (size_t)pix * out_c,
                      out + (size_t)(pix + two) * out_c);
  }
}

/* ---- CONV_2D 3x3 stride 2 over 3 channels (em_conv3x3s2c3_fast_s8) -------------------
 * With three input channels, one kernel row of the window of output column x is nine
 * consecutive bytes of an input row, starting at byte 6x (counted from the first
 * padding column). Each input row the windows need is widened once to int16 in
 * natural order, padding columns holding the input zero point, so that kernel row
 * is the five words at word 3x of the widened row, read in place: no gather per
 * pixel, and ten multiplies per nine values where the k8 GEMM spends 32 per 27.
 * Two output columns share words 3x + 3 and 3x + 4 and both channels of a pair
 * share every loaded input word. Three widened rows are kept in a ring. */

/* 6 * out_w + 3 values, then room for the unused second column of a lone last one */
static int32_t c3_row_words(int32_t out_w) { return 3 * out_w + 6; }

size_t em_conv3x3s2c3_fast_s8_scratch_bytes(const em_dims_t *out_dims) {
  return (size_t)3 * (size_t)c3_row_words(out_dims->w) * 4u;
}

/* Widens input row y (any integer) into dst: value h is byte h - 3 * pad_w of the
 * row, or the input zero point outside the image. */
EM_NO_LIBCALLS static void c3_build_row(const em_fast_params_t *p, const em_dims_t *in_dims,
                                        const int8_t *image, int32_t y, int32_t n,
                                        int16_t *dst) {
  const int16_t zp = (int16_t)p->input_zero_point;
  int32_t h = 0;
  if (y < 0 || y >= in_dims->h) {
    for (; h < n; ++h) dst[h] = zp;
    return;
  }
  const int8_t *row = image + (size_t)y * (size_t)(3 * in_dims->w);
  const int32_t off = 3 * p->pad_w;
  const int32_t end = off + 3 * in_dims->w < n ? off + 3 * in_dims->w : n;
  for (; h < off && h < n; ++h) dst[h] = zp;
#if EM_NN_DSP
  if ((h & 1) && h < end) { /* word-align the destination */
    dst[h] = row[h - off];
    ++h;
  }
  for (; h + 4 <= end; h += 4) {
    const uint32_t v = *(const em_uword_t *)(const void *)(row + (h - off));
    const uint32_t a = (uint32_t)__sxtb16(v), b = em_sxtb16_ror8(v);
    ((em_word_t *)(void *)(dst + h))[0] = em_pkhbt16(a, b);
    ((em_word_t *)(void *)(dst + h))[1] = em_pkhtb16(b, a);
  }
#endif
  for (; h < end; ++h) dst[h] = row[h - off];
  for (; h < n; ++h) dst[h] = zp;
}

/* acc (column 0 channel 0, c0 c1, c1 c0, c1 c1) += one kernel row: words r[0..4]
 * (column 0) and r[3..7] (column 1) with the ten filter words w (word j of
 * channel c at 2j + c). */
EM_INLINE void c3_row(const int16_t *r, const int16_t *w, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if EM_NN_DSP
  uint32_t wa, wb;
  /* column 1 word 3 + j pairs with filter word j: R3/R4 serve both columns */
  __asm__(
      "ldm %[r], {r8, r9, r10, r11}\n\t"
      "ldrd %[wa], %[wb], [%[w]]\n\t"
      "smlad %[a00], r8, %[wa], %[a00]\n\t"
      "smlad %[a01], r8, %[wb], %[a01]\n\t"
      "smlad %[a10], r11, %[wa], %[a10]\n\t"
      "smlad %[a11], r11, %[wb], %[a11]\n\t"
      "ldr r8, [%[r], #16]\n\t"
      "ldrd %[wa], %[wb], [%[w], #8]\n\t"
      "smlad %[a00], r9, %[wa], %[a00]\n\t"
      "smlad %[a01], r9, %[wb], %[a01]\n\t"
      "smlad %[a10], r8, %[wa], %[a10]\n\t"
      "smlad %[a11], r8, %[wb], %[a11]\n\t"
      "ldr r9, [%[r], #24]\n\t"
      "ldrd %[wa], %[wb], [%[w], #24]\n\t"
      "smlad %[a00], r11, %[wa], %[a00]\n\t"
      "smlad %[a01], r11, %[wb], %[a01]\n\t"
      "smlad %[a10], r9, %[wa], %[a10]\n\t"
      "smlad %[a11], r9, %[wb], %[a11]\n\t"
      "ldr r11, [%[r], #28]\n\t"
      "ldrd %[wa], %[wb], [%[w], #32]\n\t"
      "smlad %[a00], r8, %[wa], %[a00]\n\t"
      "smlad %[a01], r8, %[wb], %[a01]\n\t"
      "smlad %[a10], r11, %[wa], %[a10]\n\t"
      "smlad %[a11], r11, %[wb], %[a11]\n\t"
      "ldr r8, [%[r], #20]\n\t"
      "ldrd %[wa], %[wb], [%[w], #16]\n\t"
      "smlad %[a00], r10, %[wa], %[a00]\n\t"
      "smlad %[a01], r10, %[wb], %[a01]\n\t"
      "smlad %[a10], r8, %[wa], %[a10]\n\t"
      "smlad %[a11], r8, %[wb], %[a11]\n\t"
      : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
        [wa] "=&r"(wa), [wb] "=&r"(wb)
      : [r] "r"(r), [w] "r"(w)
      : "r8", "r9", "r10", "r11", "memory");
#else
  for (int32_t j = 0; j < 5; ++j) {
    const int16_t *x0 = r + 2 * j, *x1 = r + 6 + 2 * j, *f0 = w + 4 * j, *f1 = w + 4 * j + 2;
    a00 += f0[0] * x0[0] + f0[1] * x0[1];
    a01 += f1[0] * x0[0] + f1[1] * x0[1];
    a10 += f0[0] * x1[0] + f0[1] * x1[1];
    a11 += f1[0] * x1[0] + f1[1] * x1[1];
  }
#endif
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* One output row from the widened rows of its three kernel rows. */
EM_INLINE void c3_out_row(const em_fast_params_t *p, const em_chan_t *chan, int32_t out_c,
                          int32_t out_w, const int16_t *rows[3], const int16_t *filter,
                          int8_t *o, int mode) {
  const int32_t lo = p->act_min, hi = p->act_max;
  for (int32_t x = 0; x < out_w; x += 2, o += 2 * out_c) {
    /* a lone last column stores its (unused) second column first, then over it */
    int8_t *o1 = x + 1 < out_w ? o + out_c : o;
    const int16_t *r0 = rows[0] + 6 * x, *r1 = rows[1] + 6 * x, *r2 = rows[2] + 6 * x;
    const int16_t *w = filter;
    const em_chan_t *ch = chan;
    int32_t c = 0;
    for (; c + 1 < out_c; c += 2, ch += 2, w += 60) {
      int32_t acc[4] = {ch[0].bias, ch[1].bias, ch[0].bias, ch[1].bias};
      c3_row(r0, w, acc);
      c3_row(r1, w + 20, acc);
      c3_row(r2, w + 40, acc);
      o1[c] = fast_out(acc[2], &ch[0], mode, lo, hi);
      o1[c + 1] = fast_out(acc[3], &ch[1], mode, lo, hi);
      o[c] = fast_out(acc[0], &ch[0], mode, lo, hi);
      o[c + 1] = fast_out(acc[1], &ch[1], mode, lo, hi);
    }
    if (c < out_c) { /* the last channel pair has one real channel */
      int32_t acc[4] = {ch[0].bias, 0, ch[0].bias, 0};
      c3_row(r0, w, acc);
      c3_row(r1, w + 20, acc);
      c3_row(r2, w + 40, acc);
      o1[c] = fast_out(acc[2], &ch[0], mode, lo, hi);
      o[c] = fast_out(acc[0], &ch[0], mode, lo, hi);
    }
  }
}

void em_conv3x3s2c3_fast_s8(const em_fast_params_t *p, const em_chan_t *chan,
                            const em_dims_t *in_dims, const int8_t *in, const int16_t *filter,
                            const em_dims_t *out_dims, int8_t *out, void *scratch) {
  const int32_t out_w = out_dims->w, out_c = out_dims->c;
  const int32_t n = 2 * c3_row_words(out_w);
  int16_t *ring = (int16_t *)scratch;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * 3;
  const size_t out_row = (size_t)out_w * out_c;
  const int mode = p->flags & (EM_FAST_SIGNFIX | EM_FAST_CLAMP);
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *image = in + (size_t)b * in_image;
    int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN}; /* input row in each ring slot */
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const int16_t *rows[3];
      const int32_t y0 = 2 * oy - p->pad_h;
      for (int32_t k = 0; k < 3; ++k) {
        const int32_t y = y0 + k;
        const int32_t slot = (y + p->pad_h) % 3;
        int16_t *dst = ring + (size_t)slot * (size_t)n;
        if (held[slot] != y) {
          c3_build_row(p, in_dims, image, y, n, dst);
          held[slot] = y;
        }
        rows[k] = dst;
      }
      int8_t *o = out + ((size_t)b * out_dims->h + oy) * out_row;
      switch (mode) {
        case 0:
          c3_out_row(p, chan, out_c, out_w, rows, filter, o, 0);
          break;
        case EM_FAST_SIGNFIX:
          c3_out_row(p, chan, out_c, out_w, rows, filter, o, EM_FAST_SIGNFIX);
          break;
        case EM_FAST_CLAMP:
          c3_out_row(p, chan, out_c, out_w, rows, filter, o, EM_FAST_CLAMP);
          break;
        default:
          c3_out_row(p, chan, out_c, out_w, rows, filter, o, EM_FAST_SIGNFIX | EM_FAST_CLAMP);
          break;
      }
    }
  }
}
