/* edgemb native kernels: int8 operators, bit-exact with TFLite Micro's reference
 * kernels (double-rounding requantization, i.e. TFLITE_SINGLE_ROUNDING off).
 *
 * C99, no heap, no hidden state, no floating point. One function per operator and
 * data type; every parameter is passed explicitly in small structs, which the code
 * generator (edgemb/export/native.py) emits as `static const` data. Tensors are
 * NHWC. On Arm cores with the DSP extension in Thumb state (__ARM_FEATURE_DSP and
 * __thumb2__, e.g. Cortex-M4/M7/M33) the convolutions use SIMD multiply-accumulates
 * and some loops are assembly; elsewhere a portable C path computes the same integers.
 */
#ifndef EDGEMB_EM_NN_H
#define EDGEMB_EM_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EM_NN_VERSION "0.1.0"

typedef struct {
  int32_t n, h, w, c;
} em_dims_t;

/* Per-channel (or per-tensor, broadcast by the generator) requantization:
 * out = MultiplyByQuantizedMultiplier(acc, multiplier[c], shift[c]) + zero point. */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift; /* > 0: left shift, < 0: right shift */
} em_quant_t;

/* CONV_2D and FULLY_CONNECTED.
 * Filter: [out_c][k_pad] int8 with k = kh * kw * in_c in (ky, kx, ic) order and
 * k_pad = (k + 3) & ~3, the pad bytes zero. Bias: the "effective" bias
 * bias[oc] + input_offset * sum(filter[oc][:]) (never NULL), so the kernels
 * multiply raw input values; padding positions hold the input zero point. */
typedef struct {
  int32_t input_offset;  /* -input zero point */
  int32_t output_offset; /* output zero point */
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w; /* top, left */
  int32_t dilation_h, dilation_w; /* CONV_2D: input pixels between taps (1: adjacent) */
  int32_t act_min, act_max;
} em_conv_params_t;

/* Scratch bytes em_conv_s8 needs for a filter of these dimensions. */
size_t em_conv_s8_scratch_bytes(const em_dims_t *filter_dims);

/* filter_dims: n = out_c, h = kh, w = kw, c = in_c (must equal in_dims->c).
 * scratch: em_conv_s8_scratch_bytes() bytes, 4-byte aligned. */
void em_conv_s8(const em_conv_params_t *p, const em_quant_t *q, const em_dims_t *in_dims,
                const int8_t *in, const em_dims_t *filter_dims, const int8_t *filter,
                const int32_t *bias, const em_dims_t *out_dims, int8_t *out, void *scratch);

/* FULLY_CONNECTED: rows x k input, [out_c][k_pad] filter as for em_conv_s8. */
void em_fully_connected_s8(const em_conv_params_t *p, const em_quant_t *q, int32_t rows,
                           int32_t k, const int8_t *in, int32_t out_c, const int8_t *filter,
                           const int32_t *bias, int8_t *out, void *scratch);
size_t em_fully_connected_s8_scratch_bytes(int32_t k);

/* DEPTHWISE_CONV_2D. Filter in TFLite layout [kh][kw][out_c], out_c = in_c * mult.
 * bias: the plain bias (zeros if the model has none); bias_eff: bias plus
 * input_offset * sum over taps, used for pixels whose window is inside the image. */
typedef struct {
  int32_t input_offset, output_offset;
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  int32_t dilation_h, dilation_w; /* input pixels between taps (1: adjacent) */
  int32_t depth_multiplier;
  int32_t act_min, act_max;
} em_dw_params_t;

void em_depthwise_conv_s8(const em_dw_params_t *p, const em_quant_t *q, const em_dims_t *in_dims,
                          const int8_t *in, const em_dims_t *filter_dims, const int8_t *filter,
                          const int32_t *bias, const int32_t *bias_eff,
                          const em_dims_t *out_dims, int8_t *out);

/* ---- fast kernels ----------------------------------------------------------
 * Used by the generator for layers whose accumulator bounds it has proven (see
 * edgemb/export/native.py, _fast_channels): every accumulator is computed doubled,
 * acc2 = 2 * acc with |acc| < 2^30, so that
 *     SaturatingRoundingDoublingHighMul(acc, m) == (acc2 * m + 2^31) >> 32   (SMMULR)
 * and the rounding right shift by e plus the output zero point is
 *     (t + [t < 0 && signfix ? -1 : 0] + rnd) >> e,  rnd = 2^(e-1) + zero_point * 2^e,
 * both exactly TFLite Micro's MultiplyByQuantizedMultiplier (shift <= 0) plus the
 * output offset. The tie correction for negative t is skipped when the activation
 * minimum is at or above the output zero point (it cannot change a clamped result). */
typedef struct {
  int32_t bias;  /* 2 * (bias + input_offset * sum of the filter) */
  int32_t mult;  /* quantized multiplier, >= 0 */
  int32_t rnd;   /* 2^(shift-1) (0 for shift 0) + output zero point * 2^shift */
  int32_t shift; /* right shift, 0..31 */
} em_chan_t;

#define EM_FAST_SIGNFIX 1 /* round negative ties away from zero */
#define EM_FAST_CLAMP 2   /* clamp to [act_min, act_max] (narrower than int8) */

typedef struct {
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;     /* top, left */
  int32_t input_zero_point; /* the value of padding positions */
  int32_t act_min, act_max;
  int32_t flags; /* EM_FAST_* */
} em_fast_params_t;

/* CONV_2D as a GEMM over pairs of output pixels and pairs of output channels.
 * filter: [(out_c + 1) / 2][k8 / 4][2][4] int8, k8 = kh * kw * in_c rounded up to a
 * multiple of 8 (zeros), channel pairs interleaved by groups of four values; a
 * missing last channel is zeros. chan: one entry per (even-padded) output channel. */
size_t em_conv_fast_s8_scratch_bytes(const em_dims_t *filter_dims);
void em_conv_fast_s8(const em_fast_params_t *p, const em_chan_t *chan, const em_dims_t *in_dims,
                     const int8_t *in, const em_dims_t *filter_dims, const int8_t *filter,
                     const em_dims_t *out_dims, int8_t *out, void *scratch);

/* CONV_2D 3x3, stride 2, 3 input channels (the first layer of MobileNets).
 * filter: [(out_c + 1) / 2][3 rows][5][2] int16 pairs: for channels c0 = 2i,
 * c1 = 2i + 1 of kernel row r, word j of channel c holds (2w[r][2j], 2w[r][2j+1])
 * of the row's nine values in (kx, ic) order, the tenth value zero (low half first). */
size_t em_conv3x3s2c3_fast_s8_scratch_bytes(const em_dims_t *out_dims);
void em_conv3x3s2c3_fast_s8(const em_fast_params_t *p, const em_chan_t *chan,
                            const em_dims_t *in_dims, const int8_t *in, const int16_t *filter,
                            const em_dims_t *out_dims, int8_t *out, void *scratch);

/* DEPTHWISE_CONV_2D 3x3, depth multiplier 1, stride 1 or 2 (both directions equal).
 * filter: [(c + 1) / 2][3 rows][4] int16 pairs: for channels c0 = 2i, c1 = 2i + 1 of
 * row r, the words (2w[r][0][c0], 2w[r][1][c0]), (2w[r][0][c1], 2w[r][1][c1]),
 * (2w[r][1][c0], 2w[r][2][c0]), (2w[r][1][c1], 2w[r][2][c1]) (low half first). */
size_t em_dwconv3x3_fast_s8_scratch_bytes(const em_dims_t *in_dims, const em_dims_t *out_dims,
                                          int32_t stride);
void em_dwconv3x3_fast_s8(const em_fast_params_t *p, const em_chan_t *chan,
                          const em_dims_t *in_dims, const int8_t *in, const int16_t *filter,
                          const em_dims_t *out_dims, int8_t *out, void *scratch);

/* AVERAGE_POOL_2D / MAX_POOL_2D (input and output share their quantization). */
typedef struct {
  int32_t stride_h, stride_w;
  int32_t pad_h, pad_w;
  int32_t filter_h, filter_w;
  int32_t act_min, act_max;
} em_pool_params_t;

void em_avg_pool_s8(const em_pool_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                    const em_dims_t *out_dims, int8_t *out);
void em_max_pool_s8(const em_pool_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                    const em_dims_t *out_dims, int8_t *out);

/* MEAN over H and W of an NHWC tensor. multiplier/shift already include the
 * 1/(h*w) factor the way TFLM folds it in. scratch: c int32 values. */
typedef struct {
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier, shift;
} em_mean_params_t;

void em_mean_hw_s8(const em_mean_params_t *p, const em_dims_t *in_dims, const int8_t *in,
                   int8_t *out, int32_t *scratch);

/* SOFTMAX over the last dimension, int8 in, int8 out (scale 1/256, zero point -128),
 * gemmlowp fixed-point exp as in TFLM's reference kernel. */
typedef struct {
  int32_t input_multiplier, input_left_shift, diff_min;
} em_softmax_params_t;

void em_softmax_s8(const em_softmax_params_t *p, int32_t rows, int32_t depth, const int8_t *in,
                   int8_t *out);

/* Element-wise ADD / MUL with broadcasting over up to 4 dimensions: element
 * (i0,i1,i2,i3) of the output reads input k at sum(i_d * stride_k[d]); a stride of
 * 0 broadcasts. */
typedef struct {
  int32_t out_dims[4];
  int32_t stride1[4], stride2[4];
} em_broadcast_t;

typedef struct {
  int32_t input1_offset, input2_offset, output_offset;
  int32_t left_shift;
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} em_add_params_t;

void em_add_s8(const em_add_params_t *p, const em_broadcast_t *b, const int8_t *in1,
               const int8_t *in2, int8_t *out);

typedef struct {
  int32_t input1_offset, input2_offset, output_offset;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} em_mul_params_t;

void em_mul_s8(const em_mul_params_t *p, const em_broadcast_t *b, const int8_t *in1,
               const int8_t *in2, int8_t *out);

/* PAD of a 4D tensor; before/after paddings per dimension. */
typedef struct {
  int32_t before[4], after[4];
  int8_t value;
} em_pad_params_t;

void em_pad_s8(const em_pad_params_t *p, const int32_t in_dims[4], const int8_t *in, int8_t *out);

/* QUANTIZE int8 -> int8 (requantization). */
typedef struct {
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier, shift;
} em_requantize_params_t;

void em_requantize_s8(const em_requantize_params_t *p, int32_t size, const int8_t *in,
                      int8_t *out);

/* QUANTIZE at a graph's edges: uint8 -> int8 and int8 -> uint8 (the same requantization,
 * other clamps), and float32 -> int8 (round(x / scale) + zero point, as TFLite Micro's
 * AffineQuantize). Float tensors are read and written through memcpy: the caller's
 * buffers need no float alignment. */
void em_requantize_u8_s8(const em_requantize_params_t *p, int32_t size, const uint8_t *in,
                         int8_t *out);
void em_requantize_s8_u8(const em_requantize_params_t *p, int32_t size, const int8_t *in,
                         uint8_t *out);
void em_quantize_f32_s8(float scale, int32_t zero_point, int32_t size, const void *in,
                        int8_t *out);

/* DEQUANTIZE int8 -> float32: scale * (x - zero point), rounded once to float. */
void em_dequantize_s8_f32(float scale, int32_t zero_point, int32_t size, const int8_t *in,
                          void *out);

/* LOGISTIC int8 (output scale 1/256, zero point -128), gemmlowp fixed point with four
 * integer bits, as TFLite Micro's reference_integer_ops::Logistic. */
typedef struct {
  int32_t input_zero_point, input_range_radius;
  int32_t input_multiplier, input_left_shift;
} em_logistic_params_t;

void em_logistic_s8(const em_logistic_params_t *p, int32_t size, const int8_t *in, int8_t *out);

/* CONCATENATION of tensors with one quantization: for each of `outer` slices, each
 * input's `chunk[i]` bytes in turn. */
void em_concat_s8(int32_t outer, int32_t inputs, const int32_t *chunk,
                  const int8_t *const *in, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EDGEMB_EM_NN_H */
