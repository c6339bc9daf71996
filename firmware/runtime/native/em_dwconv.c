/* DEPTHWISE_CONV_2D, int8, per-channel requantization, any depth multiplier.
 *
 * Depth multiplier 1 (MobileNets): four channels at a time; on a DSP core one
 * 32-bit load of inputs and one of weights per tap, SXTB16 / SXTB16 ROR #8 and four
 * SMLABB/SMLATT. Windows inside the image start from the effective bias (bias +
 * input_offset * sum of taps) and multiply raw inputs; windows clipped by the
 * border skip the outside taps like the reference and add the input offset
 * (SADD16). Other multipliers, and dilated windows, use the reference loop.
 */
#include "em_nn.h"
#include "em_nn_support.h"

static void border_pixel(const em_dw_params_t *p, const em_quant_t *q, const em_dims_t *in_dims,
                         const int8_t *in, const em_dims_t *fd, const int8_t *filter,
                         const int32_t *bias, int32_t oy, int32_t ox, int8_t *out, int32_t out_c) {
  const int32_t y0 = oy * p->stride_h - p->pad_h;
  const int32_t x0 = ox * p->stride_w - p->pad_w;
  const int32_t ic_n = in_dims->c, mult = p->depth_multiplier;
  for (int32_t ic = 0; ic < ic_n; ++ic) {
    for (int32_t m = 0; m < mult; ++m) {
      const int32_t oc = ic * mult + m;
      int32_t acc = bias[oc];
      for (int32_t ky = 0; ky < fd->h; ++ky) {
        const int32_t y = y0 + ky * p->dilation_h;
        if (y < 0 || y >= in_dims->h) continue;
        for (int32_t kx = 0; kx < fd->w; ++kx) {
          const int32_t x = x0 + kx * p->dilation_w;
          if (x < 0 || x >= in_dims->w) continue;
          const int32_t v = in[((size_t)y * in_dims->w + x) * ic_n + ic] + p->input_offset;
          acc += filter[((size_t)ky * fd->w + kx) * out_c + oc] * v;
        }
      }
      out[oc] = em_requant(acc, q->multiplier[oc], q->shift[oc], p->output_offset, p->act_min,
                           p->act_max);
    }
  }
}

/* Depth multiplier 1: the taps [ky0, ky1) x [kx0, kx1) inside the image. A window
 * entirely inside starts from the effective bias and multiplies raw inputs; a
 * clipped one starts from the plain bias and adds the input offset to each input. */
EM_INLINE int32_t dw_taps_1(const int8_t *x, const int8_t *w, int32_t c_n, size_t row_stride,
                            int32_t kw, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                            int32_t acc, int32_t offset) {
  for (int32_t ky = ky0; ky < ky1; ++ky) {
    const int8_t *xr = x + (size_t)ky * row_stride;
    const int8_t *wr = w + (size_t)ky * kw * c_n;
    for (int32_t kx = kx0; kx < kx1; ++kx) {
      acc += wr[(size_t)kx * c_n] * (xr[(size_t)kx * c_n] + offset);
    }
  }
  return acc;
}

#if EM_NN_DSP
EM_INLINE void dw_taps_4(const int8_t *x, const int8_t *w, int32_t c_n, size_t row_stride,
                         int32_t kw, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                         int32_t acc[4], int with_offset, uint32_t offset2) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  const size_t w_row = (size_t)kw * c_n;
  for (int32_t ky = ky0; ky < ky1; ++ky) {
    const int8_t *xp = x + (size_t)ky * row_stride + (size_t)kx0 * c_n;
    const int8_t *wp = w + (size_t)ky * w_row + (size_t)kx0 * c_n;
    for (int32_t kx = kx0; kx < kx1; ++kx) {
      const uint32_t xv = *(const em_uword_t *)xp;
      const uint32_t wv = *(const em_uword_t *)wp;
      uint32_t xa = (uint32_t)__sxtb16(xv), xb = em_sxtb16_ror8(xv);
      if (with_offset) {
        xa = (uint32_t)__sadd16(xa, offset2);
        xb = (uint32_t)__sadd16(xb, offset2);
      }
      const uint32_t wa = (uint32_t)__sxtb16(wv), wb = em_sxtb16_ror8(wv);
      a0 = __smlabb(xa, wa, a0);
      a2 = __smlatt(xa, wa, a2);
      a1 = __smlabb(xb, wb, a1);
      a3 = __smlatt(xb, wb, a3);
      xp += c_n;
      wp += c_n;
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

static void pixel_mult1(const em_dw_params_t *p, const em_quant_t *q, const em_dims_t *in_dims,
                        const int8_t *image, const em_dims_t *fd, const int8_t *filter,
                        const int32_t *bias, const int32_t *bias_eff, int32_t oy, int32_t ox,
                        int8_t *restrict out) {
  const int32_t *restrict mult = q->multiplier;
  const int32_t *restrict shift = q->shift;
  const int32_t c_n = in_dims->c;
  const size_t row_stride = (size_t)in_dims->w * c_n;
  const int32_t kh = fd->h, kw = fd->w;
  const int32_t y0 = oy * p->stride_h - p->pad_h;
  const int32_t x0 = ox * p->stride_w - p->pad_w;
  const int32_t ky0 = y0 < 0 ? -y0 : 0, kx0 = x0 < 0 ? -x0 : 0;
  const int32_t ky1 = kh < in_dims->h - y0 ? kh : in_dims->h - y0;
  const int32_t kx1 = kw < in_dims->w - x0 ? kw : in_dims->w - x0;
  const int inside = ky0 == 0 && kx0 == 0 && ky1 == kh && kx1 == kw;
  const int32_t *b = inside ? bias_eff : bias;
  const int32_t offset = inside ? 0 : p->input_offset;
  /* may point outside the image; only the taps inside are read */
  const int8_t *base = image + (ptrdiff_t)y0 * (ptrdiff_t)row_stride + (ptrdiff_t)x0 * c_n;
  const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
  int32_t c = 0;
#if EM_NN_DSP
  const uint32_t offset2 = ((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16);
  for (; c + 3 < c_n; c += 4) {
    int32_t acc[4] = {b[c], b[c + 1], b[c + 2], b[c + 3]};
    if (inside) {
      dw_taps_4(base + c, filter + c, c_n, row_stride, kw, 0, kh, 0, kw, acc, 0, 0);
    } else {
      dw_taps_4(base + c, filter + c, c_n, row_stride, kw, ky0, ky1, kx0, kx1, acc, 1, offset2);
    }
    const int8_t r0 = em_requant(acc[0], mult[c], shift[c], off, lo, hi);
    const int8_t r1 = em_requant(acc[1], mult[c + 1], shift[c + 1], off, lo, hi);
    const int8_t r2 = em_requant(acc[2], mult[c + 2], shift[c + 2], off, lo, hi);
    const int8_t r3 = em_requant(acc[3], mult[c + 3], shift[c + 3], off, lo, hi);
    *(em_uword_t *)(void *)(out + c) = (uint32_t)(uint8_t)r0 | ((uint32_t)(uint8_t)r1 << 8) |
                                      ((uint32_t)(uint8_t)r2 << 16) | ((uint32_t)(uint8_t)r3 << 24);
  }
#endif
  for (; c < c_n; ++c) {
    const int32_t acc = dw_taps_1(base + c, filter + c, c_n, row_stride, kw, ky0, ky1, kx0, kx1,
                                  b[c], offset);
    out[c] = em_requant(acc, mult[c], shift[c], off, lo, hi);
  }
}

void em_depthwise_conv_s8(const em_dw_params_t *p, const em_quant_t *q, const em_dims_t *in_dims,
                          const int8_t *in, const em_dims_t *filter_dims, const int8_t *filter,
                          const int32_t *bias, const int32_t *bias_eff,
                          const em_dims_t *out_dims, int8_t *out) {
  const int32_t out_c = out_dims->c;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * in_dims->c;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *image = in + (size_t)b * in_image;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        if (p->depth_multiplier == 1 && p->dilation_h == 1 && p->dilation_w == 1) {
          pixel_mult1(p, q, in_dims, image, filter_dims, filter, bias, bias_eff, oy, ox, out);
        } else {
          border_pixel(p, q, in_dims, image, filter_dims, filter, bias, oy, ox, out, out_c);
        }
        out += out_c;
      }
    }
  }
}

/* ---- fast 3x3 DEPTHWISE_CONV_2D (em_dwconv3x3_fast_s8) ----------------------------
 * The filter holds 2 * w as int16 pairs of horizontally adjacent taps (W01 =
 * (w0, w1), W12 = (w1, w2) per kernel row and channel). Each input row the window
 * needs is turned once into a "pair row" in the scratch buffer: for channel pair
 * cp and pair index i, two words (one per channel) holding the int16 values of
 * columns j and j + 1, j = i * step - pad_w (step 1 for stride 1, 2 for stride 2),
 * columns and rows outside the image holding the input zero point. With the
 * effective bias (input offset folded in for all nine taps) this is exactly the
 * reference's skipping of outside taps. One output then needs per kernel row one
 * SMLAD (W01 with pair i) and one SMLATB (w2 with the low half of the next pair);
 * at stride 1 two neighbouring outputs share the loads of pairs i and i + 2:
 *     out[x]   += W01 . P(x)          + w2 * lo(P(x + 2))
 *     out[x+1] += w0 * hi(P(x))       + W12 . P(x + 2)
 * and at stride 2 the load of pair x + 1:
 *     out[x]   += W01 . P(x)          + w2 * lo(P(x + 1))
 *     out[x+1] += W01 . P(x + 1)      + w2 * lo(P(x + 2))
 * Three pair rows are kept in a ring. */

static int32_t dw_npairs(int32_t out_w, int32_t stride) {
  return stride == 1 ? out_w + 2 : out_w + 1;
}

size_t em_dwconv3x3_fast_s8_scratch_bytes(const em_dims_t *in_dims, const em_dims_t *out_dims,
                                          int32_t stride) {
  (void)in_dims;
  const int32_t c2 = (out_dims->c + 1) / 2;
  return (size_t)3 * (size_t)c2 * (size_t)dw_npairs(out_dims->w, stride) * 8u;
}

EM_INLINE uint32_t dw_pair(int32_t lo, int32_t hi) {
  return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/* Builds the pair row of input row y (any integer) into dst. */
EM_INLINE void dw_build_row(const em_fast_params_t *p, const em_dims_t *in_dims, const int8_t *image,
                         int32_t y, int32_t npairs, int32_t step, uint32_t *dst) {
  const int32_t w_n = in_dims->w, c_n = in_dims->c;
  const int32_t zp = p->input_zero_point;
  const size_t plane = (size_t)npairs * 2; /* words per channel pair */
  const int32_t c2 = (c_n + 1) / 2;
  if (y < 0 || y >= in_dims->h) {
    const uint32_t v = dw_pair(zp, zp);
    for (size_t i = 0; i < (size_t)c2 * plane; ++i) dst[i] = v;
    if (c_n & 1) { /* the missing last channel */
      uint32_t *d = dst + (size_t)(c2 - 1) * plane + 1;
      for (int32_t i = 0; i < npairs; ++i) d[2 * i] = 0;
    }
    return;
  }
  const int8_t *src = image + (size_t)y * w_n * c_n;
  int32_t c = 0;
#if EM_NN_DSP
  const uint32_t zp4 = (uint32_t)(uint8_t)zp * 0x01010101u;
  const uint32_t zpa = (uint32_t)__sxtb16(zp4);
  for (; c + 3 < c_n; c += 4) {
    uint32_t *d0 = dst + (size_t)(c / 2) * plane;
    uint32_t *d1 = d0 + plane;
    const int8_t *s = src + c;
    int32_t j = -p->pad_w;
    uint32_t x0 = (uint32_t)j < (uint32_t)w_n ? *(const em_uword_t *)(const void *)(s + j * c_n)
                                              : zp4;
    uint32_t a0 = (uint32_t)__sxtb16(x0), b0 = em_sxtb16_ror8(x0);
    for (int32_t i = 0; i < npairs; ++i) {
      if (step == 1 && j >= -1 && j + 1 < w_n) {
        /* the second column inside the image: one load per pair, no bounds checks */
        int32_t stop = i + (w_n - 1 - j);
        if (stop > npairs) stop = npairs;
        const int8_t *sp = s + (j + 1) * c_n;
        j += stop - i;
        for (; i < stop; ++i, sp += c_n, d0 += 2, d1 += 2) {
          const uint32_t x1 = *(const em_uword_t *)(const void *)sp;
          const uint32_t a1 = (uint32_t)__sxtb16(x1), b1 = em_sxtb16_ror8(x1);
          d0[0] = em_pkhbt16(a0, a1);
          d0[1] = em_pkhbt16(b0, b1);
          d1[0] = em_pkhtb16(a1, a0);
          d1[1] = em_pkhtb16(b1, b0);
          a0 = a1;
          b0 = b1;
        }
        if (i == npairs) break;
      }
      const int32_t j1 = j + 1;
      uint32_t a1 = zpa, b1 = zpa;
      if ((uint32_t)j1 < (uint32_t)w_n) {
        const uint32_t x1 = *(const em_uword_t *)(const void *)(s + j1 * c_n);
        a1 = (uint32_t)__sxtb16(x1);
        b1 = em_sxtb16_ror8(x1);
      }
      d0[0] = em_pkhbt16(a0, a1);
      d0[1] = em_pkhbt16(b0, b1);
      d1[0] = em_pkhtb16(a1, a0);
      d1[1] = em_pkhtb16(b1, b0);
      d0 += 2;
      d1 += 2;
      j += step;
      if (step == 1) {
        a0 = a1;
        b0 = b1;
      } else if ((uint32_t)j < (uint32_t)w_n) {
        x0 = *(const em_uword_t *)(const void *)(s + j * c_n);
        a0 = (uint32_t)__sxtb16(x0);
        b0 = em_sxtb16_ror8(x0);
      } else {
        a0 = b0 = zpa;
      }
    }
  }
#endif
  for (; c < c_n; ++c) {
    uint32_t *d = dst + (size_t)(c / 2) * plane + (c & 1);
    int32_t j = -p->pad_w;
    for (int32_t i = 0; i < npairs; ++i, j += step) {
      const int32_t lo = (uint32_t)j < (uint32_t)w_n ? src[(size_t)j * c_n + c] : zp;
      const int32_t hi = (uint32_t)(j + 1) < (uint32_t)w_n ? src[(size_t)(j + 1) * c_n + c] : zp;
      d[2 * i] = dw_pair(lo, hi);
    }
  }
  if (c_n & 1) {
    uint32_t *d = dst + (size_t)(c2 - 1) * plane + 1;
    for (int32_t i = 0; i < npairs; ++i) d[2 * i] = 0;
  }
}

/* dw_build_row compiled once per step, so that neither tests the step per pair */
static void dw_build_row_any(const em_fast_params_t *p, const em_dims_t *in_dims,
                             const int8_t *image, int32_t y, int32_t npairs, int32_t step,
                             uint32_t *dst) {
  if (step == 1) {
    dw_build_row(p, in_dims, image, y, npairs, 1, dst);
  } else {
    dw_build_row(p, in_dims, image, y, npairs, 2, dst);
  }
}

#if EM_NN_DSP
#define DW_SMLAD(a, b, acc) __smlad((a), (b), (acc))
#define DW_SMLABT(a, b, acc) __smlabt((a), (b), (acc))
#define DW_SMLATB(a, b, acc) __smlatb((a), (b), (acc))
#else
EM_INLINE int32_t dw_lo(uint32_t v) { return (int16_t)(v & 0xFFFFu); }
EM_INLINE int32_t dw_hi(uint32_t v) { return (int16_t)(v >> 16); }
#define DW_SMLAD(a, b, acc) ((acc) + dw_lo(a) * dw_lo(b) + dw_hi(a) * dw_hi(b))
#define DW_SMLABT(a, b, acc) ((acc) + dw_lo(a) * dw_hi(b))
#define DW_SMLATB(a, b, acc) ((acc) + dw_hi(a) * dw_lo(b))
#endif

EM_INLINE int8_t dw_out(int32_t acc2, const em_chan_t *ch, int mode, int32_t lo, int32_t hi) {
  int32_t v = em_fast_rq(acc2, ch->mult, ch->rnd, ch->shift, mode & EM_FAST_SIGNFIX);
  if (mode & EM_FAST_CLAMP) v = em_clamp(v, lo, hi);
  return (int8_t)v;
}

/* Two neighbouring stride-1 outputs of channel pair (c0, c1): a00/a01 for x, a10/a11
 * for x + 1; r0..r2 advance by two pairs. */
#define DW_ROW_S1(r, k)                                              \
  do {                                                               \
    const uint32_t p0 = (r)[0], p1 = (r)[1], q0 = (r)[4], q1 = (r)[5]; \
    const uint32_t wa = w[4 * (k)], wb = w[4 * (k) + 1];             \
    const uint32_t wc = w[4 * (k) + 2], wd = w[4 * (k) + 3];         \
    a00 = DW_SMLAD(wa, p0, a00);                                     \
    a01 = DW_SMLAD(wb, p1, a01);                                     \
    a10 = DW_SMLABT(wa, p0, a10);                                    \
    a11 = DW_SMLABT(wb, p1, a11);                                    \
    a00 = DW_SMLATB(wc, q0, a00);                                    \
    a01 = DW_SMLATB(wd, q1, a01);                                    \
    a10 = DW_SMLAD(wc, q0, a10);                                     \
    a11 = DW_SMLAD(wd, q1, a11);                                     \
    (r) += 4;                                                        \
  } while (0)

EM_INLINE void dw_mac_s1(const uint32_t **pr0, const uint32_t **pr1, const uint32_t **pr2,
                         const uint32_t *w, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  const uint32_t *r0 = *pr0, *r1 = *pr1, *r2 = *pr2;
#if EM_NN_DSP
  uint32_t p0, p1, wa, wb;
#define DW_ASM_ROW(R, OFF_A, OFF_B)                           \
  "ldrd %[p0], %[p1], [%[" R "]], #16\n\t"                     \
  "ldrd %[wa], %[wb], [%[w], #" OFF_A "]\n\t"                  \
  "smlad %[a00], %[wa], %[p0], %[a00]\n\t"                     \
  "smlad %[a01], %[wb], %[p1], %[a01]\n\t"                     \
  "smlatb %[a10], %[p0], %[wa], %[a10]\n\t"                    \
  "smlatb %[a11], %[p1], %[wb], %[a11]\n\t"                    \
  "ldrd %[p0], %[p1], [%[" R "]]\n\t"                          \
  "ldrd %[wa], %[wb], [%[w], #" OFF_B "]\n\t"                  \
  "smlatb %[a00], %[wa], %[p0], %[a00]\n\t"                    \
  "smlatb %[a01], %[wb], %[p1], %[a01]\n\t"                    \
  "smlad %[a10], %[wa], %[p0], %[a10]\n\t"                     \
  "smlad %[a11], %[wb], %[p1], %[a11]\n\t"
  __asm__ volatile(DW_ASM_ROW("r0", "0", "8") DW_ASM_ROW("r1", "16", "24")
                       DW_ASM_ROW("r2", "32", "40")
                   : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                     [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [p0] "=&r"(p0),
                     [p1] "=&r"(p1), [wa] "=&r"(wa), [wb] "=&r"(wb)
                   : [w] "r"(w)
                   : "memory");
#undef DW_ASM_ROW
#else
  DW_ROW_S1(r0, 0);
  DW_ROW_S1(r1, 1);
  DW_ROW_S1(r2, 2);
#endif
  *pr0 = r0;
  *pr1 = r1;
  *pr2 = r2;
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* Two neighbouring stride-2 outputs x, x + 1 of channel pair (c0, c1), acc as for
 * dw_mac_s1; pair x + 1 serves both (w2 of x, W01 of x + 1), so per kernel row
 * three pair loads feed eight multiplies. r0..r2 advance by two pairs. */
#define DW_ROW_S2(r, k)                                              \
  do {                                                               \
    const uint32_t p0 = (r)[0], p1 = (r)[1], q0 = (r)[2], q1 = (r)[3]; \
    const uint32_t s0 = (r)[4], s1 = (r)[5];                         \
    const uint32_t wa = w[4 * (k)], wb = w[4 * (k) + 1];             \
    const uint32_t wc = w[4 * (k) + 2], wd = w[4 * (k) + 3];         \
    a00 = DW_SMLAD(wa, p0, a00);                                     \
    a01 = DW_SMLAD(wb, p1, a01);                                     \
    a10 = DW_SMLAD(wa, q0, a10);                                     \
    a11 = DW_SMLAD(wb, q1, a11);                                     \
    a00 = DW_SMLATB(wc, q0, a00);                                    \
    a01 = DW_SMLATB(wd, q1, a01);                                    \
    a10 = DW_SMLATB(wc, s0, a10);                                    \
    a11 = DW_SMLATB(wd, s1, a11);                                    \
    (r) += 4;                                                        \
  } while (0)

EM_INLINE void dw_mac_s2(const uint32_t **pr0, const uint32_t **pr1, const uint32_t **pr2,
                         const uint32_t *w, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  const uint32_t *r0 = *pr0, *r1 = *pr1, *r2 = *pr2;
#if EM_NN_DSP
  uint32_t p0, p1, wa, wb;
#define DW_ASM_ROW(R, OFF_A, OFF_B)                           \
  "ldrd %[p0], %[p1], [%[" R "]]\n\t"                          \
  "ldrd %[wa], %[wb], [%[w], #" OFF_A "]\n\t"                  \
  "smlad %[a00], %[wa], %[p0], %[a00]\n\t"                     \
  "smlad %[a01], %[wb], %[p1], %[a01]\n\t"                     \
  "ldrd %[p0], %[p1], [%[" R "], #8]\n\t"                      \
  "smlad %[a10], %[wa], %[p0], %[a10]\n\t"                     \
  "smlad %[a11], %[wb], %[p1], %[a11]\n\t"                     \
  "ldrd %[wa], %[wb], [%[w], #" OFF_B "]\n\t"                  \
  "smlatb %[a00], %[wa], %[p0], %[a00]\n\t"                    \
  "smlatb %[a01], %[wb], %[p1], %[a01]\n\t"                    \
  "ldrd %[p0], %[p1], [%[" R "], #16]!\n\t"                    \
  "smlatb %[a10], %[wa], %[p0], %[a10]\n\t"                    \
  "smlatb %[a11], %[wb], %[p1], %[a11]\n\t"
  __asm__ volatile(DW_ASM_ROW("r0", "0", "8") DW_ASM_ROW("r1", "16", "24")
                       DW_ASM_ROW("r2", "32", "40")
                   : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                     [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [p0] "=&r"(p0),
                     [p1] "=&r"(p1), [wa] "=&r"(wa), [wb] "=&r"(wb)
                   : [w] "r"(w)
                   : "memory");
#undef DW_ASM_ROW
#else
  DW_ROW_S2(r0, 0);
  DW_ROW_S2(r1, 1);
  DW_ROW_S2(r2, 2);
#endif
  *pr0 = r0;
  *pr1 = r1;
  *pr2 = r2;
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* One output of channel pair (c0, c1); the single's pair is `next` words after
 * the window's pair; r0..r2 advance by one pair. */
EM_INLINE void dw_mac_1(const uint32_t **pr0, const uint32_t **pr1, const uint32_t **pr2,
                        const uint32_t *w, int32_t next, int32_t acc[2]) {
  int32_t a0 = acc[0], a1 = acc[1];
  const uint32_t *r0 = *pr0, *r1 = *pr1, *r2 = *pr2;
#define DW_ROW_1(r, k)                                 \
  do {                                                 \
    a0 = DW_SMLAD(w[4 * (k)], (r)[0], a0);             \
    a1 = DW_SMLAD(w[4 * (k) + 1], (r)[1], a1);         \
    a0 = DW_SMLATB(w[4 * (k) + 2], (r)[next], a0);     \
    a1 = DW_SMLATB(w[4 * (k) + 3], (r)[next + 1], a1); \
    (r) += 2;                                          \
  } while (0)
  DW_ROW_1(r0, 0);
  DW_ROW_1(r1, 1);
  DW_ROW_1(r2, 2);
#undef DW_ROW_1
  *pr0 = r0;
  *pr1 = r1;
  *pr2 = r2;
  acc[0] = a0;
  acc[1] = a1;
}

#if EM_NN_ASM
/* The pairs of outputs of dw_cp for requantization mode 0 and two real channels,
 * one function per stride in assembly: the products of dw_mac_s1 / dw_mac_s2 take
 * twelve registers, and compiled C spills the requantization state around them;
 * here the output pointer and its stride stay in r12 / lr and the channel
 * parameters are read from *ch, about 70 instructions per four outputs. */
typedef struct {
  const uint32_t *r0, *r1, *r2, *w; /* pair rows of the kernel rows, filter */
  int8_t *o;                        /* advanced by 2 * c_n per pair of outputs */
  int32_t c_n;
  const em_chan_t *ch;
  int8_t *end; /* o after the last pair */
} em_dw_job_t;

void em_dw_pairs_s1_mode0(const em_dw_job_t *job);
void em_dw_pairs_s2_mode0(const em_dw_job_t *job);

/* r0 a00, r1 a01, r2 a10, r3 a11 (output, channel), r4-r6 pair rows, r7 filter,
 * r8/r9 pair words, r10/r11 filter words, r12 output, lr c_n; [sp] ch, end. */
__asm__(
    "  .syntax unified\n"
    "  .thumb\n"
    ".macro em_dw_row_s1 R, OA, OB\n"
    "  ldrd r8, r9, [\\R], #16\n"
    "  ldrd r10, r11, [r7, #\\OA]\n"
    "  smlad r0, r10, r8, r0\n"
    "  smlad r1, r11, r9, r1\n"
    "  smlatb r2, r8, r10, r2\n"
    "  smlatb r3, r9, r11, r3\n"
    "  ldrd r8, r9, [\\R]\n"
    "  ldrd r10, r11, [r7, #\\OB]\n"
    "  smlatb r0, r10, r8, r0\n"
    "  smlatb r1, r11, r9, r1\n"
    "  smlad r2, r10, r8, r2\n"
    "  smlad r3, r11, r9, r3\n"
    ".endm\n"
    ".macro em_dw_row_s2 R, OA, OB\n"
    "  ldrd r8, r9, [\\R]\n"
    "  ldrd r10, r11, [r7, #\\OA]\n"
    "  smlad r0, r10, r8, r0\n"
    "  smlad r1, r11, r9, r1\n"
    "  ldrd r8, r9, [\\R, #8]\n"
    "  smlad r2, r10, r8, r2\n"
    "  smlad r3, r11, r9, r3\n"
    "  ldrd r10, r11, [r7, #\\OB]\n"
    "  smlatb r0, r10, r8, r0\n"
    "  smlatb r1, r11, r9, r1\n"
    "  ldrd r8, r9, [\\R, #16]!\n"
    "  smlatb r2, r10, r8, r2\n"
    "  smlatb r3, r11, r9, r3\n"
    ".endm\n"
    ".macro em_dw_pairs NAME, ROW\n"
    "  .pushsection .text.\\NAME,\"ax\",%progbits\n"
    "  .p2align 2\n"
    "  .global \\NAME\n"
    "  .type \\NAME, %function\n"
    "  .thumb_func\n"
    "\\NAME:\n"
    "  push {r4-r11, lr}\n"
    "  ldm r0, {r4-r7}\n"
    "  ldr r12, [r0, #16]\n"
    "  ldr lr, [r0, #20]\n"
    "  ldrd r8, r9, [r0, #24]\n"
    "  sub sp, sp, #8\n"
    "  strd r8, r9, [sp]\n"
    "1:\n"
    "  ldr r8, [sp]\n"
    "  ldr r0, [r8]\n"
    "  ldr r1, [r8, #16]\n"
    "  mov r2, r0\n"
    "  mov r3, r1\n"
    "  \\ROW r4, 0, 8\n"
    "  \\ROW r5, 16, 24\n"
    "  \\ROW r6, 32, 40\n"
    "  ldr r11, [sp]\n"
    "  ldrd r8, r9, [r11, #4]\n"
    "  ldr r10, [r11, #12]\n"
    "  smmulr r0, r0, r8\n"
    "  smmulr r2, r2, r8\n"
    "  add r0, r0, r9\n"
    "  add r2, r2, r9\n"
    "  asr r0, r0, r10\n"
    "  asr r2, r2, r10\n"
    "  ssat r0, #8, r0\n"
    "  ssat r2, #8, r2\n"
    "  ldrd r8, r9, [r11, #20]\n"
    "  ldr r10, [r11, #28]\n"
    "  smmulr r1, r1, r8\n"
    "  smmulr r3, r3, r8\n"
    "  add r1, r1, r9\n"
    "  add r3, r3, r9\n"
    "  asr r1, r1, r10\n"
    "  asr r3, r3, r10\n"
    "  ssat r1, #8, r1\n"
    "  ssat r3, #8, r3\n"
    "  strb r0, [r12]\n"
    "  strb r1, [r12, #1]\n"
    "  add r12, r12, lr\n"
    "  strb r2, [r12]\n"
    "  strb r3, [r12, #1]\n"
    "  add r12, r12, lr\n"
    "  ldr r8, [sp, #4]\n"
    "  cmp r12, r8\n"
    "  bne 1b\n"
    "  add sp, sp, #8\n"
    "  pop {r4-r11, pc}\n"
    "  .size \\NAME, .-\\NAME\n"
    "  .popsection\n"
    ".endm\n"
    "  em_dw_pairs em_dw_pairs_s1_mode0, em_dw_row_s1\n"
    "  em_dw_pairs em_dw_pairs_s2_mode0, em_dw_row_s2\n");
#endif

/* All outputs of one output row for channel pair cp (two_c: both channels exist). */
EM_INLINE void dw_cp(const em_fast_params_t *p, const em_chan_t *ch, int32_t c_n, int32_t out_w,
                     int32_t stride, const uint32_t *r0, const uint32_t *r1, const uint32_t *r2,
                     const uint32_t *w, int8_t *o, int mode, int two_c) {
  const int32_t lo = p->act_min, hi = p->act_max;
  int32_t ox = 0;
#if EM_NN_ASM
  if (mode == 0 && two_c && out_w >= 2) {
    const int32_t pairs = out_w / 2;
    const em_dw_job_t job = {r0, r1, r2, w, o, c_n, ch, o + (size_t)2 * c_n * pairs};
    if (stride == 1) {
      em_dw_pairs_s1_mode0(&job);
    } else {
      em_dw_pairs_s2_mode0(&job);
    }
    r0 += 4 * pairs;
    r1 += 4 * pairs;
    r2 += 4 * pairs;
    o += (size_t)2 * c_n * pairs;
    ox = 2 * pairs;
  }
#endif
  /* one loop per stride, each with its own constant (a shared loop costs more
   * spills than the branch it saves) */
#define DW_PAIRS(MAC)                                                        \
  for (; ox + 1 < out_w; ox += 2) {                                          \
    int32_t acc[4] = {ch[0].bias, ch[1].bias, ch[0].bias, ch[1].bias};      \
    MAC(&r0, &r1, &r2, w, acc);                                              \
    o[0] = dw_out(acc[0], &ch[0], mode, lo, hi);                             \
    o[c_n] = dw_out(acc[2], &ch[0], mode, lo, hi);                           \
    if (two_c) {                                                             \
      o[1] = dw_out(acc[1], &ch[1], mode, lo, hi);                           \
      o[c_n + 1] = dw_out(acc[3], &ch[1], mode, lo, hi);                     \
    }                                                                        \
    o += 2 * c_n;                                                            \
  }
  if (stride == 1) {
    DW_PAIRS(dw_mac_s1)
  } else {
    DW_PAIRS(dw_mac_s2)
  }
#undef DW_PAIRS
  const int32_t next = stride == 1 ? 4 : 2;
  for (; ox < out_w; ++ox) {
    int32_t acc[2] = {ch[0].bias, ch[1].bias};
    dw_mac_1(&r0, &r1, &r2, w, next, acc);
    o[0] = dw_out(acc[0], &ch[0], mode, lo, hi);
    if (two_c) o[1] = dw_out(acc[1], &ch[1], mode, lo, hi);
    o += c_n;
  }
}

/* One output row: rows[k] are the pair rows of the window's kernel rows. */
EM_INLINE void dw_out_row(const em_fast_params_t *p, const em_chan_t *chan, int32_t c_n,
                          int32_t out_w, int32_t stride, int32_t npairs, const uint32_t *rows[3],
                          const uint32_t *filter, int8_t *out, int mode) {
  const size_t plane = (size_t)npairs * 2;
  const int32_t full = c_n / 2;
  int32_t cp = 0;
  for (; cp < full; ++cp) {
    dw_cp(p, chan + 2 * cp, c_n, out_w, stride, rows[0] + (size_t)cp * plane,
          rows[1] + (size_t)cp * plane, rows[2] + (size_t)cp * plane, filter + (size_t)cp * 12,
          out + 2 * cp, mode, 1);
  }
  if (c_n & 1) {
    dw_cp(p, chan + 2 * cp, c_n, out_w, stride, rows[0] + (size_t)cp * plane,
          rows[1] + (size_t)cp * plane, rows[2] + (size_t)cp * plane, filter + (size_t)cp * 12,
          out + 2 * cp, mode, 0);
  }
}

void em_dwconv3x3_fast_s8(const em_fast_params_t *p, const em_chan_t *chan,
                          const em_dims_t *in_dims, const int8_t *in, const int16_t *filter,
                          const em_dims_t *out_dims, int8_t *out, void *scratch) {
  const int32_t stride = p->stride_w;
  const int32_t step = stride == 1 ? 1 : 2;
  const int32_t out_w = out_dims->w, c_n = out_dims->c;
  const int32_t npairs = dw_npairs(out_w, stride);
  const size_t row_words = (size_t)((c_n + 1) / 2) * (size_t)npairs * 2;
  uint32_t *ring = (uint32_t *)scratch;
  const uint32_t *w = (const uint32_t *)(const void *)filter;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * in_dims->c;
  const size_t out_row = (size_t)out_w * c_n;
  const int mode = p->flags & (EM_FAST_SIGNFIX | EM_FAST_CLAMP);
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *image = in + (size_t)b * in_image;
    int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN}; /* input row in each ring slot */
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      const uint32_t *rows[3];
      const int32_t y0 = oy * p->stride_h - p->pad_h;
      for (int32_t k = 0; k < 3; ++k) {
        const int32_t y = y0 + k;
        const int32_t slot = (y + 3 + p->pad_h) % 3;
        uint32_t *dst = ring + (size_t)slot * row_words;
        if (held[slot] != y) {
          dw_build_row_any(p, in_dims, image, y, npairs, step, dst);
          held[slot] = y;
        }
        rows[k] = dst;
      }
      int8_t *o = out + ((size_t)b * out_dims->h + oy) * out_row;
      switch (mode) {
        case 0:
          dw_out_row(p, chan, c_n, out_w, stride, npairs, rows, w, o, 0);
          break;
        case EM_FAST_SIGNFIX:
          dw_out_row(p, chan, c_n, out_w, stride, npairs, rows, w, o, EM_FAST_SIGNFIX);
          break;
        case EM_FAST_CLAMP:
          dw_out_row(p, chan, c_n, out_w, stride, npairs, rows, w, o, EM_FAST_CLAMP);
          break;
        default:
          dw_out_row(p, chan, c_n, out_w, stride, npairs, rows, w, o,
                     EM_FAST_SIGNFIX | EM_FAST_CLAMP);
          break;
      }
    }
  }
}
