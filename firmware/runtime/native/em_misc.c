/* Pooling, MEAN, SOFTMAX, ADD, MUL, PAD and requantization, int8, with the integer
 * semantics of TFLite Micro's reference kernels. */
#include <string.h>

#include "em_nn.h"
#include "em_nn_support.h"

/* ---- pooling ------------------------------------------------------------ */

typedef struct {
  int32_t fy0, fy1, fx0, fx1;
  const int8_t *base;
} em_window_t;

static em_window_t pool_window(const em_pool_params_t *p, const em_dims_t *in_dims,
                               const int8_t *image, int32_t oy, int32_t ox) {
  em_window_t w;
  const int32_t y0 = oy * p->stride_h - p->pad_h;
  const int32_t x0 = ox * p->stride_w - p->pad_w;
  w.fy0 = y0 < 0 ? -y0 : 0;
  w.fy1 = p->filter_h < in_dims->h - y0 ? p->filter_h : in_dims->h - y0;
  w.fx0 = x0 < 0 ? -x0 : 0;
  w.fx1 = p->filter_w < in_dims->w - x0 ? p->filter_w : in_dims->w - x0;
  w.base = image + ((ptrdiff_t)y0 * in_dims->w + x0) * in_dims->c;
  return w;
}

void em_avg_pool_s8(const em_pool_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                    const em_dims_t *out_dims, int8_t *out) {
  const int32_t c_n = in_dims->c;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * c_n;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *image = in + (size_t)b * in_image;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const em_window_t w = pool_window(p, in_dims, image, oy, ox);
        const int32_t count = (w.fy1 - w.fy0) * (w.fx1 - w.fx0);
        for (int32_t c = 0; c < c_n; ++c) {
          int32_t acc = 0;
          for (int32_t fy = w.fy0; fy < w.fy1; ++fy) {
            for (int32_t fx = w.fx0; fx < w.fx1; ++fx) {
              acc += w.base[((ptrdiff_t)fy * in_dims->w + fx) * c_n + c];
            }
          }
          if (count > 0) {
            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          }
          *out++ = (int8_t)em_clamp(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void em_max_pool_s8(const em_pool_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                    const em_dims_t *out_dims, int8_t *out) {
  const int32_t c_n = in_dims->c;
  const size_t in_image = (size_t)in_dims->h * in_dims->w * c_n;
  for (int32_t b = 0; b < out_dims->n; ++b) {
    const int8_t *image = in + (size_t)b * in_image;
    for (int32_t oy = 0; oy < out_dims->h; ++oy) {
      for (int32_t ox = 0; ox < out_dims->w; ++ox) {
        const em_window_t w = pool_window(p, in_dims, image, oy, ox);
        for (int32_t c = 0; c < c_n; ++c) {
          int32_t m = -128;
          for (int32_t fy = w.fy0; fy < w.fy1; ++fy) {
            for (int32_t fx = w.fx0; fx < w.fx1; ++fx) {
              const int32_t v = w.base[((ptrdiff_t)fy * in_dims->w + fx) * c_n + c];
              if (v > m) m = v;
            }
          }
          *out++ = (int8_t)em_clamp(m, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* ---- MEAN over H, W --------------------------------------------------------- */

void em_mean_hw_s8(const em_mean_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                   int8_t *out, int32_t *scratch) {
  const int32_t c_n = in_dims->c;
  const int32_t n = in_dims->h * in_dims->w;
  for (int32_t b = 0; b < in_dims->n; ++b) {
    for (int32_t c = 0; c < c_n; ++c) scratch[c] = 0;
    for (int32_t i = 0; i < n; ++i) {
      for (int32_t c = 0; c < c_n; ++c) scratch[c] += in[c];
      in += c_n;
    }
    for (int32_t c = 0; c < c_n; ++c) {
      const int32_t shifted = scratch[c] - p->input_zero_point * n;
      const int32_t v = em_mbqm(shifted, p->multiplier, p->shift) + p->output_zero_point;
      *out++ = (int8_t)em_clamp(v, -128, 127);
    }
  }
}

/* ---- SOFTMAX (gemmlowp fixed point) ------------------------------------- */

/* Saturating multiply by 2^s, s > 0. */
static int32_t em_sat_shl(int32_t x, int s) {
  const int32_t threshold = (int32_t)((1u << (31 - s)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return em_wrap_shl(x, s);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out. */
static int32_t em_exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668;    /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883; /* 1/3 */
  const int32_t x = em_wrap_add(a, 1 << 28);
  const int32_t x2 = em_srdhm(x, x);
  const int32_t x3 = em_srdhm(x2, x);
  const int32_t x4 = em_srdhm(x2, x2);
  const int32_t x4_over_4 = em_rdbpot(x4, 2);
  const int32_t t =
      em_rdbpot(em_wrap_add(em_srdhm(em_wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
  return em_wrap_add(constant_term, em_srdhm(constant_term, em_wrap_add(x, t)));
}

/* exp(a) for a <= 0 with integer_bits (4 or 5) integer bits, result Q0.31: gemmlowp's
 * barrel shifter over the bits of -a above one quarter. */
static int32_t em_exp_on_negative_values(int32_t a, int integer_bits) {
  const int fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = 1 << (fractional_bits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
  int32_t result = em_exp_quarter(em_sat_shl(a_mod_quarter_minus_one_quarter, integer_bits));
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                         39332535,   720401,     242};
  for (int i = 0; i < integer_bits + 2; ++i) {  /* exponents -2 .. integer_bits - 1 */
    const int shift_amount = fractional_bits - 2 + i;
    if (remainder & (int32_t)(1u << shift_amount)) result = em_srdhm(result, multipliers[i]);
  }
  return a == 0 ? INT32_MAX : result;
}

static int32_t em_exp_on_negative_values_q5(int32_t a) { return em_exp_on_negative_values(a, 5); }

static int32_t em_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  const int64_t sign = sum >= 0 ? 1 : -1;
  return (int32_t)((sum + sign) / 2);
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static int32_t em_one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator = em_rounding_half_sum(a, INT32_MAX);
  const int32_t constant_48_over_17 = 1515870810;
  const int32_t constant_neg_32_over_17 = -1010580540;
  const int32_t one_q2 = 1 << 29;
  int32_t x = em_wrap_add(constant_48_over_17, em_srdhm(half_denominator, constant_neg_32_over_17));
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = em_srdhm(half_denominator, x);
    const int32_t one_minus = one_q2 - half_denominator_times_x;
    x = em_wrap_add(x, em_sat_shl(em_srdhm(x, one_minus), 2));
  }
  return em_sat_shl(x, 1);
}

static int em_clz32(uint32_t x) {
#if defined(__GNUC__)
  return x == 0 ? 32 : __builtin_clz(x);
#else
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
#endif
}

void em_softmax_s8(const em_softmax_params_t *p, int32_t rows, int32_t depth, const int8_t *in,
                   int8_t *out) {
  for (int32_t r = 0; r < rows; ++r) {
    int32_t max_in_row = -128;
    for (int32_t c = 0; c < depth; ++c) {
      if (in[c] > max_in_row) max_in_row = in[c];
    }
    int32_t sum_of_exps = 0; /* Q12.19 */
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = in[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t rescaled =
            em_srdhm(em_wrap_shl(diff, p->input_left_shift), p->input_multiplier);
        sum_of_exps = em_wrap_add(sum_of_exps, em_rdbpot(em_exp_on_negative_values_q5(rescaled), 12));
      }
    }
    const int headroom_plus_one = em_clz32((uint32_t)sum_of_exps);
    const int num_bits_over_unit = 12 - headroom_plus_one;
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
    const int32_t shifted_scale = em_one_over_one_plus_x(shifted_sum_minus_one);
    const int exponent = num_bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = in[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t rescaled =
            em_srdhm(em_wrap_shl(diff, p->input_left_shift), p->input_multiplier);
        const int32_t e = em_exp_on_negative_values_q5(rescaled);
        const int32_t unsat = em_rdbpot(em_srdhm(shifted_scale, e), exponent);
        out[c] = (int8_t)em_clamp(unsat - 128, -128, 127);
      } else {
        out[c] = -128;
      }
    }
    in += depth;
    out += depth;
  }
}

/* ---- ADD / MUL ----------------------------------------------------------- */

#define EM_BROADCAST_LOOP(b, BODY)                                              \
  do {                                                                          \
    int32_t _o = 0;                                                             \
    for (int32_t i0 = 0; i0 < (b)->out_dims[0]; ++i0) {                         \
      for (int32_t i1 = 0; i1 < (b)->out_dims[1]; ++i1) {                       \
        for (int32_t i2 = 0; i2 < (b)->out_dims[2]; ++i2) {                     \
          int32_t _a = i0 * (b)->stride1[0] + i1 * (b)->stride1[1] + i2 * (b)->stride1[2]; \
          int32_t _c = i0 * (b)->stride2[0] + i1 * (b)->stride2[1] + i2 * (b)->stride2[2]; \
          for (int32_t i3 = 0; i3 < (b)->out_dims[3]; ++i3) {                   \
            const int32_t x = in1[_a], y = in2[_c];                             \
            out[_o++] = (int8_t)(BODY);                                         \
            _a += (b)->stride1[3];                                              \
            _c += (b)->stride2[3];                                              \
          }                                                                     \
        }                                                                       \
      }                                                                         \
    }                                                                           \
  } while (0)

static int32_t add_one(const em_add_params_t *p, int32_t x, int32_t y) {
  const int32_t v1 = em_wrap_shl(p->input1_offset + x, p->left_shift);
  const int32_t v2 = em_wrap_shl(p->input2_offset + y, p->left_shift);
  const int32_t s1 = em_mbqm(v1, p->input1_multiplier, p->input1_shift);
  const int32_t s2 = em_mbqm(v2, p->input2_multiplier, p->input2_shift);
  const int32_t raw = em_mbqm(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
  return em_clamp(raw, p->act_min, p->act_max);
}

void em_add_s8(const em_add_params_t *p, const em_broadcast_t *b, const int8_t *in1,
               const int8_t *in2, int8_t *out) {
  EM_BROADCAST_LOOP(b, add_one(p, x, y));
}

static int32_t mul_one(const em_mul_params_t *p, int32_t x, int32_t y) {
  const int32_t prod = (p->input1_offset + x) * (p->input2_offset + y);
  const int32_t raw = p->output_offset + em_mbqm(prod, p->output_multiplier, p->output_shift);
  return em_clamp(raw, p->act_min, p->act_max);
}

void em_mul_s8(const em_mul_params_t *p, const em_broadcast_t *b, const int8_t *in1,
               const int8_t *in2, int8_t *out) {
  EM_BROADCAST_LOOP(b, mul_one(p, x, y));
}

/* ---- PAD ------------------------------------------------------------------ */

void em_pad_s8(const em_pad_params_t *p, const int32_t in_dims[4], const int8_t *in, int8_t *out) {
  int32_t od[4];
  for (int d = 0; d < 4; ++d) od[d] = p->before[d] + in_dims[d] + p->after[d];
  for (int32_t i0 = 0; i0 < od[0]; ++i0) {
    const int in0 = i0 >= p->before[0] && i0 < p->before[0] + in_dims[0];
    for (int32_t i1 = 0; i1 < od[1]; ++i1) {
      const int in1 = in0 && i1 >= p->before[1] && i1 < p->before[1] + in_dims[1];
      for (int32_t i2 = 0; i2 < od[2]; ++i2) {
        const int in2 = in1 && i2 >= p->before[2] && i2 < p->before[2] + in_dims[2];
        if (!in2) {
          memset(out, p->value, (size_t)od[3]);
          out += od[3];
          continue;
        }
        const size_t src = (((size_t)(i0 - p->before[0]) * in_dims[1] + (i1 - p->before[1])) *
                                in_dims[2] + (i2 - p->before[2])) * in_dims[3];
        memset(out, p->value, (size_t)p->before[3]);
        memcpy(out + p->before[3], in + src, (size_t)in_dims[3]);
        memset(out + p->before[3] + in_dims[3], p->value, (size_t)p->after[3]);
        out += od[3];
      }
    }
  }
}

/* ---- QUANTIZE int8 -> int8 ------------------------------------------------ */

void em_requantize_s8(const em_requantize_params_t *p, int32_t size, const int8_t *in,
                      int8_t *out) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t v = em_mbqm(in[i] - p->input_zero_point, p->multiplier, p->shift) +
                      p->output_zero_point;
    out[i] = (int8_t)em_clamp(v, -128, 127);
  }
}

/* ---- QUANTIZE / DEQUANTIZE at the graph's edges --------------------------- */

void em_requantize_u8_s8(const em_requantize_params_t *p, int32_t size, const uint8_t *in,
                         int8_t *out) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t v = em_mbqm((int32_t)in[i] - p->input_zero_point, p->multiplier, p->shift) +
                      p->output_zero_point;
    out[i] = (int8_t)em_clamp(v, -128, 127);
  }
}

void em_requantize_s8_u8(const em_requantize_params_t *p, int32_t size, const int8_t *in,
                         uint8_t *out) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t v = em_mbqm(in[i] - p->input_zero_point, p->multiplier, p->shift) +
                      p->output_zero_point;
    out[i] = (uint8_t)em_clamp(v, 0, 255);
  }
}

/* std::round for floats, without libm: |x| >= 2^23 is already whole, and below that
 * the difference from the truncated value is exact. */
static float em_round_half_away(float x) {
  if (!(x > -8388608.0f && x < 8388608.0f)) return x;
  const float t = (float)(int32_t)x;
  const float d = x - t;
  return d >= 0.5f ? t + 1.0f : d <= -0.5f ? t - 1.0f : t;
}

void em_quantize_f32_s8(float scale, int32_t zero_point, int32_t size, const void *in,
                        int8_t *out) {
  const unsigned char *bytes = (const unsigned char *)in;
  for (int32_t i = 0; i < size; ++i) {
    float x;
    memcpy(&x, bytes + 4 * i, sizeof x);
    float q = em_round_half_away(x / scale);
    /* Saturate before converting: far out of range (and NaN) must not overflow int32. */
    q = q > 1e6f ? 1e6f : q < -1e6f ? -1e6f : q != q ? 0.0f : q;
    out[i] = (int8_t)em_clamp((int32_t)q + zero_point, -128, 127);
  }
}

void em_dequantize_s8_f32(float scale, int32_t zero_point, int32_t size, const int8_t *in,
                          void *out) {
  unsigned char *bytes = (unsigned char *)out;
  for (int32_t i = 0; i < size; ++i) {
    /* |x - zero point| < 2^9 and scale has 24 significant bits: the product is exact in
     * double, so one float rounding gives TFLite Micro's (float)(double scale * int). */
    const float y = scale * (float)(in[i] - zero_point);
    memcpy(bytes + 4 * i, &y, sizeof y);
  }
}

/* ---- LOGISTIC --------------------------------------------------------------- */

/* logistic(a), a in Q4.27, result Q0.31 (gemmlowp::logistic). */
static int32_t em_logistic_q4(int32_t a) {
  if (a == 0) return 1 << 30;
  const int32_t abs_a = a > 0 ? a : -a;
  const int32_t positive = em_one_over_one_plus_x(em_exp_on_negative_values(-abs_a, 4));
  return a > 0 ? positive : INT32_MAX - positive;
}

void em_logistic_s8(const em_logistic_params_t *p, int32_t size, const int8_t *in, int8_t *out) {
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x = in[i] - p->input_zero_point;
    if (x <= -p->input_range_radius) {
      out[i] = -128;
    } else if (x >= p->input_range_radius) {
      out[i] = 127;
    } else {
      const int32_t q4 = em_mbqm(x, p->input_multiplier, p->input_left_shift);
      const int32_t q23 = em_rdbpot(em_logistic_q4(q4), 23) - 128;
      out[i] = (int8_t)em_clamp(q23, -128, 127);
    }
  }
}

/* ---- CONCATENATION ---------------------------------------------------------- */

void em_concat_s8(int32_t outer, int32_t inputs, const int32_t *chunk,
                  const int8_t *const *in, int8_t *out) {
  for (int32_t o = 0; o < outer; ++o) {
    for (int32_t i = 0; i < inputs; ++i) {
      memcpy(out, in[i] + (size_t)o * (size_t)chunk[i], (size_t)chunk[i]);
      out += chunk[i];
    }
  }
}
