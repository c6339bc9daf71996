/* Internal helpers of the edgemb native kernels: fixed-point arithmetic with the
 * exact integer semantics of gemmlowp / TFLite's reference kernels. */
#ifndef EDGEMB_EM_NN_SUPPORT_H
#define EDGEMB_EM_NN_SUPPORT_H

#include <stdint.h>
#include <string.h>

/* The assembly assumes Thumb-2 (register pairs of LDRD are free there, not in Arm
 * state), so a DSP core running Arm code (Cortex-A) takes the portable path. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__) && \
    !defined(EM_NN_PORTABLE)
#define EM_NN_DSP 1
#include <arm_acle.h>
#else
#define EM_NN_DSP 0
#endif

/* Whole kernel loops as assembly functions (the DSP path only) */
#define EM_NN_ASM EM_NN_DSP

#if defined(__GNUC__)
#define EM_INLINE static inline __attribute__((always_inline))
#else
#define EM_INLINE static inline
#endif

/* Two's complement wrap-around arithmetic without undefined behaviour. */
EM_INLINE int32_t em_wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
EM_INLINE int32_t em_wrap_shl(int32_t a, int s) { return (int32_t)((uint32_t)a << s); }

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), ties up, with
 * INT32_MIN * INT32_MIN saturated. (a*b + 2^30) >> 31 with an arithmetic (floor)
 * shift equals gemmlowp's truncating division with its sign-dependent nudge. */
EM_INLINE int32_t em_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero. */
EM_INLINE int32_t em_rdbpot(int32_t x, int e) {
  const int32_t mask = (int32_t)((1u << e) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding). */
EM_INLINE int32_t em_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return em_rdbpot(em_srdhm(em_wrap_shl(x, left), multiplier), right);
}

#if EM_NN_DSP
/* A 32-bit word that may alias any other type (scratch and arena accesses). */
typedef uint32_t __attribute__((may_alias, aligned(4))) em_word_t;
/* The same at any address (Cortex-M4 LDR/STR allow unaligned accesses). */
typedef uint32_t __attribute__((may_alias, aligned(1))) em_uword_t;

/* em_srdhm for b >= 0 (requantization multipliers): round((a * b) / 2^31) as
 * (a*b) >> 31 plus bit 30 of the low word, in three instructions. */
EM_INLINE int32_t em_srdhm_pos(int32_t a, int32_t b) {
  int32_t hi = a, lo = b;
  __asm__("smull %1, %0, %0, %1\n\t"
          "lsrs %1, %1, #31\n\t"
          "adc %0, %1, %0, lsl #1"
          : "+r"(hi), "+r"(lo)
          :
          : "cc");
  return hi;
}

/* Bytes 1 and 3 of x sign-extended into two halfwords. */
EM_INLINE uint32_t em_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
/* (lo & 0xFFFF) | hi << 16 and (hi & 0xFFFF0000) | lo >> 16 */
EM_INLINE uint32_t em_pkhbt16(uint32_t lo, uint32_t hi) {
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}
EM_INLINE uint32_t em_pkhtb16(uint32_t hi, uint32_t lo) {
  uint32_t r;
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
  return r;
}
EM_INLINE uint32_t em_read_u32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
#endif

EM_INLINE int32_t em_clamp(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

EM_INLINE int8_t em_requant(int32_t acc, int32_t multiplier, int32_t shift, int32_t out_offset,
                            int32_t act_min, int32_t act_max) {
#if EM_NN_DSP
  /* multiplier >= 0 always holds for requantization multipliers */
  int32_t v;
  if (shift > 0) {
    v = em_srdhm_pos(em_wrap_shl(acc, shift), multiplier);
  } else {
    v = em_rdbpot(em_srdhm_pos(acc, multiplier), -shift);
  }
  v += out_offset;
  v = v < act_min ? act_min : v;
  return (int8_t)(v > act_max ? act_max : v);
#else
  return (int8_t)em_clamp(em_mbqm(acc, multiplier, shift) + out_offset, act_min, act_max);
#endif
}


/* Requantization of the fast kernels (em_chan_t, see em_nn.h) of a doubled
 * accumulator, saturated to int8 but not yet clamped to the activation range. */
EM_INLINE int32_t em_fast_rq(int32_t acc2, int32_t mult, int32_t rnd, int32_t shift,
                             int signfix) {
#if EM_NN_DSP
  int32_t t;
  __asm__("smmulr %0, %1, %2" : "=r"(t) : "r"(acc2), "r"(mult));
  if (signfix) t += t >> 31;
  return __ssat((t + rnd) >> shift, 8);
#else
  int32_t t = (int32_t)(((int64_t)acc2 * mult + ((int64_t)1 << 31)) >> 32);
  if (signfix) t += t >> 31;
  return em_clamp((t + rnd) >> shift, -128, 127);
#endif
}



#endif /* EDGEMB_EM_NN_SUPPORT_H */
