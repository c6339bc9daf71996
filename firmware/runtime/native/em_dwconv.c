/* DEPTHWISE_CONV_2D, int8, per-channel requantization, any depth multiplier.
 *
 * Depth multiplier 1 (MobileNets): four channels at a time; on a DSP core one
 * 32-bit load of inputs and one of weights per tap, SXTB16 / SXTB16 ROR #8 and four
 * SMLABB/SMLATT. Windows inside the image start from the effective bias (bias +
 * input_offset * sum of taps) and multiply raw inputs; windows clipped by the
 * border skip the outside taps like the reference and add the input offset
 * (SADD16). Other multipliers use the reference loop.
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
        const int32_t y = y0 + ky;
        if (y < 0 || y >= in_dims->h) continue;
        for (int32_t kx = 0; kx < fd->w; ++kx) {
          const int32_t x = x0 + kx;
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
        if (p->depth_multiplier == 1) {
          pixel_mult1(p, q, in_dims, image, filter_dims, filter, bias, bias_eff, oy, ox, out);
        } else {
          border_pixel(p, q, in_dims, image, filter_dims, filter, bias, oy, ox, out, out_c);
        }
        out += out_c;
      }
    }
  }
}
