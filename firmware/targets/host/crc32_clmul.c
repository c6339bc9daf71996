/* em_crc32_accel for x86-64 hosts: CRC-32/ISO-HDLC by carry-less multiplication.
 *
 * The pseudo-terminal moves a frame faster than the table CRC can check it
 * (about 1.3 cycles a byte), so on the host the CRC, not the link, would set
 * the upload rate. PCLMULQDQ folds 64 bytes a step instead, about ten times
 * faster. Elsewhere (another architecture, or a CPU without the instruction)
 * this takes no bytes and the tables in protocol.c do the work.
 *
 * How (the folding method of Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ", Intel, 2009): the CRC is the remainder of the
 * bit-reflected message polynomial modulo P = 0x1DB710641 (0xEDB88320
 * reflected, with its x^32 term). Four 128-bit accumulators take the message
 * 64 bytes at a time. Carrying an accumulator further along the message is a
 * multiplication of each of its 64-bit halves by a power of x modulo P (the
 * K constants), which leaves the remainder unchanged. At the end the four are
 * folded into one, its 128 bits are folded to 64 and then 32, and a Barrett
 * reduction (BARRETT_U = x^64 / P) gives the remainder. */
#include "protocol.h"

#if !EM_CRC32_ACCEL
#error "crc32_clmul.c is built with -DEM_CRC32_ACCEL=1, which makes protocol.c call it"
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

/* Powers of x modulo P that carry the two halves of an accumulator 512 bits
 * along the message. */
#define K_FOLD512_HI 0x1c6e41596ull
#define K_FOLD512_LO 0x154442bd4ull
/* The same for 1024 bits: four 256-bit accumulators (VPCLMULQDQ). */
#define K_FOLD1024_HI 0x14a7fe880ull
#define K_FOLD1024_LO 0x1e88ef372ull
/* The same for 128 bits. */
#define K_FOLD128_HI 0x0ccaa009eull
#define K_FOLD128_LO 0x1751997d0ull
/* 64 bits down to 32. */
#define K_FOLD64 0x163cd6124ull
/* Barrett reduction: u = floor(x^64 / P), and P itself (both reflected). */
#define BARRETT_U 0x1f7011641ull
#define BARRETT_P 0x1db710641ull

#define TARGET __attribute__((target("pclmul,sse4.1")))

TARGET static __m128i load(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }

/* acc moved down by the distance the constants stand for, plus next. */
TARGET static __m128i fold(__m128i acc, __m128i k, __m128i next) {
  __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
  __m128i hi = _mm_clmulepi64_si128(acc, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

TARGET static uint32_t reduce(__m128i x) {
  const __m128i k128 = _mm_set_epi64x((long long)K_FOLD128_HI, (long long)K_FOLD128_LO);
  const __m128i k64 = _mm_set_epi64x(0, (long long)K_FOLD64);
  const __m128i barrett = _mm_set_epi64x((long long)BARRETT_U, (long long)BARRETT_P);
  const __m128i low32 = _mm_set_epi32(0, 0, 0, -1);
  __m128i t;
  /* 128 bits to 64: the low half, carried along by its constant, onto the high. */
  x = _mm_xor_si128(_mm_srli_si128(x, 8), _mm_clmulepi64_si128(x, k128, 0x10));
  /* 64 bits to 32. */
  x = _mm_xor_si128(_mm_srli_si128(x, 4), _mm_clmulepi64_si128(_mm_and_si128(x, low32), k64, 0x00));
  /* Barrett: quotient estimate times u, then times P; the remainder is left in
   * the second 32-bit lane. */
  t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  return (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
}

TARGET static size_t crc32_clmul(uint32_t *reg, const uint8_t *p, size_t len) {
  const __m128i k512 = _mm_set_epi64x((long long)K_FOLD512_HI, (long long)K_FOLD512_LO);
  const __m128i k128 = _mm_set_epi64x((long long)K_FOLD128_HI, (long long)K_FOLD128_LO);
  __m128i a0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128((int)*reg));
  __m128i a1 = load(p + 16), a2 = load(p + 32), a3 = load(p + 48);
  size_t n;
  for (n = 64; n + 64 <= len; n += 64) {
    a0 = fold(a0, k512, load(p + n));
    a1 = fold(a1, k512, load(p + n + 16));
    a2 = fold(a2, k512, load(p + n + 32));
    a3 = fold(a3, k512, load(p + n + 48));
  }
  a0 = fold(fold(fold(a0, k128, a1), k128, a2), k128, a3);
  for (; n + 16 <= len; n += 16) a0 = fold(a0, k128, load(p + n));
  *reg = reduce(a0);
  return n;
}

/* The same folding, two 128-bit lanes per instruction: where the CPU has
 * VPCLMULQDQ (x86-64 since about 2019) it takes 128 bytes a step, and checks
 * an upload at twice the speed. The eight lanes are then folded into one,
 * in message order, and the rest goes as above. */
#define TARGET256 __attribute__((target("vpclmulqdq,avx2,pclmul,sse4.1")))

TARGET256 static __m256i load256(const uint8_t *p) {
  return _mm256_loadu_si256((const __m256i *)p);
}

TARGET256 static __m256i fold256(__m256i acc, __m256i k, __m256i next) {
  __m256i lo = _mm256_clmulepi64_epi128(acc, k, 0x00);
  __m256i hi = _mm256_clmulepi64_epi128(acc, k, 0x11);
  return _mm256_xor_si256(_mm256_xor_si256(lo, hi), next);
}

TARGET256 static __m128i fold_lanes(__m128i x, __m256i a, __m128i k128) {
  x = fold(x, k128, _mm256_castsi256_si128(a));
  return fold(x, k128, _mm256_extracti128_si256(a, 1));
}

TARGET256 static size_t crc32_vpclmul(uint32_t *reg, const uint8_t *p, size_t len) {
  const __m256i k1024 = _mm256_set_epi64x((long long)K_FOLD1024_HI, (long long)K_FOLD1024_LO,
                                          (long long)K_FOLD1024_HI, (long long)K_FOLD1024_LO);
  const __m128i k128 = _mm_set_epi64x((long long)K_FOLD128_HI, (long long)K_FOLD128_LO);
  __m256i a0 = _mm256_xor_si256(load256(p), _mm256_zextsi128_si256(_mm_cvtsi32_si128((int)*reg)));
  __m256i a1 = load256(p + 32), a2 = load256(p + 64), a3 = load256(p + 96);
  __m128i x;
  size_t n;
  for (n = 128; n + 128 <= len; n += 128) {
    a0 = fold256(a0, k1024, load256(p + n));
    a1 = fold256(a1, k1024, load256(p + n + 32));
    a2 = fold256(a2, k1024, load256(p + n + 64));
    a3 = fold256(a3, k1024, load256(p + n + 96));
  }
  x = fold(_mm256_castsi256_si128(a0), k128, _mm256_extracti128_si256(a0, 1));
  x = fold_lanes(fold_lanes(fold_lanes(x, a1, k128), a2, k128), a3, k128);
  for (; n + 16 <= len; n += 16) x = fold(x, k128, load(p + n));
  *reg = reduce(x);
  return n;
}

size_t em_crc32_accel(uint32_t *reg, const uint8_t *data, size_t len) {
  static int usable = -1, wide = 0;
  if (usable < 0) {
    usable = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    wide = usable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq");
  }
  if (wide && len >= 256) return crc32_vpclmul(reg, data, len);
  /* Below 64 bytes the set-up costs more than the tables. */
  if (!usable || len < 64) return 0;
  return crc32_clmul(reg, data, len);
}

#else

/* Not x86-64 (or not GCC/Clang): the tables do all of it. */
size_t em_crc32_accel(uint32_t *reg, const uint8_t *data, size_t len) {
  (void)reg;
  (void)data;
  (void)len;
  return 0;
}

#endif
