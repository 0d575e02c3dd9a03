// The vector operations diffusekit's CPU kernels are written in, for the instruction set the file is compiled
// for (each CPU variant of a prebuilt addon is compiled for its own): AVX-512 (16 f32 lanes, mask registers)
// or AVX2 with FMA and F16C (8 lanes; masks are lane vectors, masked loads and stores vmaskmov). A lane mask
// is always a run of lanes [lo, hi), which is all the kernels need: borders and ragged edges.
#pragma once

#include "diffusekit_cpu.h"

#if DIFFUSEKIT_CPU_VECTOR

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ggml.h"

namespace diffusekit_cpu {

#if DIFFUSEKIT_CPU_VECTOR == 512

inline constexpr int L = 16;  // f32 lanes of a vector
using vec  = __m512;
using mask = __mmask16;

inline mask lanes(int64_t lo, int64_t hi) {  // lanes [lo, hi)
    lo = lo < 0 ? 0 : lo;
    hi = hi > L ? L : hi;
    if (hi <= lo) return 0;
    return mask(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}
inline mask no_lanes() { return 0; }
inline bool any(mask m) { return m != 0; }
inline bool all(mask m) { return m == 0xFFFF; }

inline vec zero() { return _mm512_setzero_ps(); }
inline vec set1(float f) { return _mm512_set1_ps(f); }
inline vec load(const float* p) { return _mm512_loadu_ps(p); }
inline vec load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
inline void store(float* p, mask m, vec v) { _mm512_mask_storeu_ps(p, m, v); }
inline vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
inline vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
inline vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
inline vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
inline vec max(vec a, vec b) { return _mm512_max_ps(a, b); }
inline vec select(mask m, vec a, vec b) { return _mm512_mask_blend_ps(m, b, a); }  // a in lanes m, else b
inline float reduce_add(vec v) { return _mm512_reduce_add_ps(v); }
inline float reduce_max(vec v) { return _mm512_reduce_max_ps(v); }
inline vec round_nearest(vec x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// p * 2^n for whole n >= -126, and 0 where x < -126.
inline vec scale_by_exp2(vec p, vec n, vec x) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, set1(-126.0f), _CMP_GE_OQ), _mm512_scalef_ps(p, n));
}
inline vec load_f16(mask m, const ggml_fp16_t* p) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
inline vec load_f16(const ggml_fp16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

// even = (a0 a2 ... b0 b2 ...), odd = (a1 a3 ... b1 b3 ...): the even and odd elements of the 2L values a, b.
inline void deinterleave(vec a, vec b, vec& even, vec& odd) {
    const __m512i e = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i o = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    even = _mm512_permutex2var_ps(a, e, b);
    odd  = _mm512_permutex2var_ps(a, o, b);
}
// The inverse: first = (a0 b0 a1 b1 ...) for the low half of the lanes, second for the high half.
inline void interleave(vec a, vec b, vec& first, vec& second) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    first  = _mm512_permutex2var_ps(a, lo, b);
    second = _mm512_permutex2var_ps(a, hi, b);
}

#else  // AVX2 + FMA + F16C

inline constexpr int L = 8;
using vec  = __m256;
using mask = __m256i;  // all-ones lanes are on

inline mask lanes(int64_t lo, int64_t hi) {
    lo = lo < 0 ? 0 : lo;
    hi = hi > L ? L : hi;
    if (hi <= lo) return _mm256_setzero_si256();
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i from  = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(lo)), index);  // index < lo
    const __m256i below = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(hi)), index);  // index < hi
    return _mm256_andnot_si256(from, below);
}
inline mask no_lanes() { return _mm256_setzero_si256(); }
inline bool any(mask m) { return !_mm256_testz_si256(m, m); }
inline bool all(mask m) { return _mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xFF; }

inline vec zero() { return _mm256_setzero_ps(); }
inline vec set1(float f) { return _mm256_set1_ps(f); }
inline vec load(const float* p) { return _mm256_loadu_ps(p); }
inline vec load(mask m, const float* p) { return _mm256_maskload_ps(p, m); }
inline void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
inline void store(float* p, mask m, vec v) { _mm256_maskstore_ps(p, m, v); }
inline vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
inline vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
inline vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
inline vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
inline vec max(vec a, vec b) { return _mm256_max_ps(a, b); }
inline vec select(mask m, vec a, vec b) { return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m)); }  // a in lanes m, else b
inline float reduce_max(vec v) {
    const __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}
inline vec round_nearest(vec x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// p * 2^n for whole n >= -126 (built in the exponent field), and 0 where x < -126.
inline vec scale_by_exp2(vec p, vec n, vec x) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), _mm256_cmp_ps(x, set1(-126.0f), _CMP_GE_OQ));
}
inline float reduce_add(vec v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
// No 16-bit masked load in AVX2: a partial vector goes through a zeroed stack copy.
inline vec load_f16(mask m, const ggml_fp16_t* p) {
    const int n = __builtin_popcount(unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(m))));
    const int first = n == 0 ? 0 : __builtin_ctz(unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(m))));
    alignas(16) ggml_fp16_t tmp[L] = {};
    std::memcpy(tmp + first, p + first, size_t(n) * sizeof(ggml_fp16_t));
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
}
inline vec load_f16(const ggml_fp16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

inline void deinterleave(vec a, vec b, vec& even, vec& odd) {
    // per 128-bit half: (a0 a2 b0 b2 | a4 a6 b4 b6); then the 64-bit pairs in order 0 2 1 3
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    odd  = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}
inline void interleave(vec a, vec b, vec& first, vec& second) {
    const __m256 lo = _mm256_unpacklo_ps(a, b);  // a0 b0 a1 b1 | a4 b4 a5 b5
    const __m256 hi = _mm256_unpackhi_ps(a, b);  // a2 b2 a3 b3 | a6 b6 a7 b7
    first  = _mm256_permute2f128_ps(lo, hi, 0x20);
    second = _mm256_permute2f128_ps(lo, hi, 0x31);
}

#endif

// 2^x for x <= 0 (scores minus their running maximum), within about 2e-7 relative; 0 below 2^-126 and for -inf.
// x = n + f with whole n and |f| <= 1/2; 2^f by its Taylor series in f ln 2 to degree 6.
inline vec exp2_nonpositive(vec x) {
    const vec clamped = max(x, set1(-126.0f));
    const vec n = round_nearest(clamped);
    const vec f = sub(clamped, n);
    vec p = set1(1.5403530e-4f);
    p = fmadd(p, f, set1(1.3333558e-3f));
    p = fmadd(p, f, set1(9.6181291e-3f));
    p = fmadd(p, f, set1(5.5504109e-2f));
    p = fmadd(p, f, set1(2.4022651e-1f));
    p = fmadd(p, f, set1(6.9314718e-1f));
    p = fmadd(p, f, set1(1.0f));
    return scale_by_exp2(p, n, x);
}

// L consecutive values of one row (f16 or f32) from `offset`, in f32 (zeros past `n`).
inline vec load_row(const void* data, ggml_type type, int64_t offset, int64_t n) {
    if (type == GGML_TYPE_F32) {
        const float* p = static_cast<const float*>(data) + offset;
        return n >= L ? load(p) : load(lanes(0, n), p);
    }
    const ggml_fp16_t* p = static_cast<const ggml_fp16_t*>(data) + offset;
    return n >= L ? load_f16(p) : load_f16(lanes(0, n), p);
}

}  // namespace diffusekit_cpu

#endif
