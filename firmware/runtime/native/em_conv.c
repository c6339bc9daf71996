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
    const int32_t y = y0 + ky;
    for (int32_t kx = 0; kx < fd->w; ++kx) {
      const int32_t x = x0 + kx;
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
