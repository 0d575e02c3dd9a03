// GGML_OP_MUL_MAT where ours beats what ggml would run, dst[i1][i0] = sum_k src0[i0][k] * src1[i1][k]:
// - f16 weights (linear layers): a dot-product kernel that converts the weights as it loads them and keeps
//   the activations in f32 (ggml rounds them to f16, then tinyBLAS converts both sides on every load); in
//   bf16, over many activation rows, the bf16 product convolutions use (diffusekit_cpu_paired.h);
// - f32 x f32 with a row length tinyBLAS does not take (SD 1.x attention: 40-, 80- and 160-wide heads and
//   77 text tokens fell back to ggml's dot products): the shared register-blocked GEMM
//   (diffusekit_cpu_gemm.h), src1 rows packed as its left-hand side, src0 transposed as its right-hand side.
// Accumulation is in f32 throughout.
#include "diffusekit_cpu.h"

#include <algorithm>
#include <cstdint>

#include "diffusekit_cpu_gemm.h"
#include "diffusekit_cpu_paired.h"
#include "ggml-cpu-impl.h"
#include "ggml.h"

#if DIFFUSEKIT_CPU_VECTOR

using namespace diffusekit_cpu;

namespace {

constexpr int64_t kRowsPerPass = 40 * R;  // src1 rows packed at a time

// ---- f16 weights: dot-product form ----
// Both operands are read along K as they lie: weights f16 (converted as they are loaded, so no conversion
// pass per call), activations f32 (tinyBLAS would first round them to f16 and then convert both sides on
// every load). DM weight rows x DN activation rows of L-lane partial sums stay in registers (AVX-512:
// 4 x 6 of 32; AVX2: 3 x 4 of 16).
constexpr int     DM = DIFFUSEKIT_CPU_VECTOR == 512 ? 4 : 3;
constexpr int     DN = DIFFUSEKIT_CPU_VECTOR == 512 ? 6 : 4;
constexpr int64_t kDotRowsPerPass = 8 * DN;  // activation rows kept in L2 while the weights stream by

// One L-wide step of K at k; the last, partial one under lanes m.
template <bool Masked>
__attribute__((always_inline)) inline void dot_step(vec (&acc)[DM][DN], const ggml_fp16_t* const (&a)[DM], const float* const (&b)[DN],
                                                    int64_t k, mask m) {
    vec w[DM];
#pragma GCC unroll 8
    for (int i = 0; i < DM; ++i) w[i] = Masked ? load_f16(m, a[i] + k) : load_f16(a[i] + k);
#pragma GCC unroll 8
    for (int j = 0; j < DN; ++j) {
        const vec x = Masked ? load(m, b[j] + k) : load(b[j] + k);
#pragma GCC unroll 8
        for (int i = 0; i < DM; ++i) acc[i][j] = fmadd(w[i], x, acc[i][j]);
    }
}

__attribute__((noinline)) void dot_tile(const ggml_fp16_t* const (&a)[DM], const float* const (&b)[DN], int64_t K, float* c,
                                        int64_t ldc, int mr, int nr) {
    vec acc[DM][DN];
#pragma GCC unroll 8
    for (int i = 0; i < DM; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < DN; ++j) acc[i][j] = zero();
    int64_t k = 0;
    for (; k + L <= K; k += L) dot_step<false>(acc, a, b, k, no_lanes());
    if (k < K) dot_step<true>(acc, a, b, k, lanes(0, K - k));
#pragma GCC unroll 8
    for (int j = 0; j < DN; ++j)
#pragma GCC unroll 8
        for (int i = 0; i < DM; ++i)
            if (i < mr && j < nr) c[j * ldc + i] = reduce_add(acc[i][j]);
}

// dst[n][m] = sum_k A[m][k] * B[n][k] for one matrix; this thread's share of the weight rows. (Converting
// a block of weight rows to f32 once per pass instead is slower: the f32 rows no longer fit L1 beside the
// activation rows at K = 1280.)
void dot_f16(const ggml_tensor* a, const char* A, const char* B, size_t ldb, float* D, int64_t ldc, int64_t K, int64_t M,
             int64_t N, int ith, int nth) {
    const int64_t blocks = (M + DM - 1) / DM, b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
    for (int64_t n0 = 0; n0 < N; n0 += kDotRowsPerPass) {
        const int64_t n1 = std::min(N, n0 + kDotRowsPerPass);
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t m0 = blk * DM;
            const int     mr = int(std::min<int64_t>(DM, M - m0));
            const ggml_fp16_t* rows[DM];
            for (int i = 0; i < DM; ++i) rows[i] = reinterpret_cast<const ggml_fp16_t*>(A + (m0 + std::min(i, mr - 1)) * a->nb[1]);
            for (int64_t n = n0; n < n1; n += DN) {
                const int    nr = int(std::min<int64_t>(DN, n1 - n));
                const float* cols[DN];
                for (int j = 0; j < DN; ++j) cols[j] = reinterpret_cast<const float*>(B + (n + std::min(j, nr - 1)) * ldb);
                dot_tile(rows, cols, K, D + n * ldc + m0, ldc, mr, nr);
            }
        }
    }
}

#if DIFFUSEKIT_CPU_BF16
// ---- f16 weights in bf16 (AVX512_BF16): the same dot-product form, each vdpbf16ps taking 32 products ----
// A pass's activation rows and a block's weight rows are first rounded to bf16 rows (zero-padded to 32), in
// this thread's work buffer, so the tiles load plain bf16 rows: 32 consecutive K values a register, the
// pairs vdpbf16ps sums lying side by side in both operands.
constexpr int64_t kPairLanes = 2 * L;

inline int64_t padded_k(int64_t K) { return (K + kPairLanes - 1) / kPairLanes * kPairLanes; }

__attribute__((noinline)) void dot_tile_bf16(const uint16_t* a, const uint16_t* b, int64_t Kp, float* c, int64_t ldc, int mr, int nr) {
    __m512 acc[DM][DN];
#pragma GCC unroll 8
    for (int i = 0; i < DM; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < DN; ++j) acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < Kp; k += kPairLanes) {
        __m512bh w[DM];
#pragma GCC unroll 8
        for (int i = 0; i < DM; ++i) w[i] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(a + i * Kp + k));
#pragma GCC unroll 8
        for (int j = 0; j < DN; ++j) {
            const __m512bh x = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + j * Kp + k));
#pragma GCC unroll 8
            for (int i = 0; i < DM; ++i) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], w[i], x);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < DN; ++j)
#pragma GCC unroll 8
        for (int i = 0; i < DM; ++i)
            if (i < mr && j < nr) c[j * ldc + i] = _mm512_reduce_add_ps(acc[i][j]);
}

// dot_f16 in bf16; `work`: (kDotRowsPerPass + DM) rows of padded_k(K) bf16 for this thread.
void dot_bf16(const ggml_tensor* a, const char* A, const char* B, size_t ldb, float* D, int64_t ldc, int64_t K, int64_t M, int64_t N,
              int ith, int nth, uint16_t* work) {
    const int64_t Kp = padded_k(K);
    uint16_t* xb = work;
    uint16_t* wb = work + kDotRowsPerPass * Kp;
    const int64_t blocks = (M + DM - 1) / DM, b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
    for (int64_t n0 = 0; n0 < N; n0 += kDotRowsPerPass) {
        const int64_t n1 = std::min(N, n0 + kDotRowsPerPass);
        for (int64_t n = n0; n < n1; ++n) round_row(B + n * ldb, GGML_TYPE_F32, K, Kp, xb + (n - n0) * Kp);
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t m0 = blk * DM;
            const int     mr = int(std::min<int64_t>(DM, M - m0));
            for (int i = 0; i < DM; ++i) round_row(A + (m0 + std::min(i, mr - 1)) * a->nb[1], a->type, K, Kp, wb + i * Kp);
            for (int64_t n = n0; n < n1; n += DN) {
                const int nr = int(std::min<int64_t>(DN, n1 - n));
                // rows past nr repeat the last one (their sums are not stored)
                if (nr < DN) {
                    for (int j = nr; j < DN; ++j) std::copy_n(xb + (n - n0 + nr - 1) * Kp, Kp, xb + (n - n0 + j) * Kp);
                }
                dot_tile_bf16(wb, xb + (n - n0) * Kp, Kp, D + n * ldc + m0, ldc, mr, nr);
            }
        }
    }
}

// ---- f16 weights in bf16 over many activation rows: the shared bf16 product ----
// dst[n][m] = sum_k X[n][k] W[m][k] with the activation rows X as the product's rows and the weight rows
// transposed into its pair planes, once per op: dot_bf16 converts each weight row again for every 48
// activation rows, and its tiles end in 24 horizontal sums, as much work as the products at K = 320.
// Under 256 rows (SD 1.x's 8x8 level, text encoders) the transposition costs more than that saves.
constexpr int64_t kPairedMinRows = 256;

// Sixteen vectors of sixteen 32-bit lanes, transposed: lane i of v[r] becomes lane r of v[i].
inline void transpose16(__m512i (&v)[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {  // 32-bit lanes of row pairs, within each 128-bit quarter
        t[i]     = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {  // then 64-bit pairs: u[i + e], quarter q, holds element 4q + e of rows i..i+3
        u[i]     = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int e = 0; e < 4; ++e) {  // then the quarters: element 4q + e gathers quarter q of u[e], u[4 + e], u[8 + e], u[12 + e]
        const __m512i x0 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x44), x1 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xEE);
        const __m512i x2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x44), x3 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xEE);
        v[e]      = _mm512_shuffle_i32x4(x0, x2, 0x88);
        v[4 + e]  = _mm512_shuffle_i32x4(x0, x2, 0xDD);
        v[8 + e]  = _mm512_shuffle_i32x4(x1, x3, 0x88);
        v[12 + e] = _mm512_shuffle_i32x4(x1, x3, 0xDD);
    }
}

// Pair planes of weight rows [p0, p0 + cols) (rows `ldw` bytes apart, f16 or f32): lane m - p0 of plane j holds
// W[m][2j] and W[m][2j + 1] in bf16; zeros past K and past cols up to `ld`. Sixteen rows by sixteen pairs at a
// time, rounded as round_row rounds and transposed in registers; the threads share the 16-row groups.
void transpose_pairs(const char* W, ggml_type type, size_t ldw, const Paired& p, int64_t p0, int64_t cols, int64_t ld, uint32_t* planes,
                     int ith, int nth) {
    for (int64_t g = ith; g * L < ld; g += nth) {
        for (int64_t j0 = 0; j0 < p.pairs; j0 += L) {
            __m512i v[16];
            const int64_t k = 2 * j0;
            for (int r = 0; r < 16; ++r) {
                const int64_t m = g * L + r;
                if (m >= cols) {
                    v[r] = _mm512_setzero_si512();
                    continue;
                }
                const void* row = W + (p0 + m) * ldw;
                v[r] = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(load_row(row, type, k + L, p.K - k - L), load_row(row, type, k, p.K - k)));
            }
            transpose16(v);
            const int64_t n = std::min<int64_t>(L, p.pairs - j0);
            for (int64_t i = 0; i < n; ++i) _mm512_storeu_si512(planes + (j0 + i) * ld + g * L, v[i]);
        }
    }
}

// The paired path over every matrix of the op: a weight matrix's planes are made once per column run (once per
// op when one run holds them all, as for every linear layer of SD 1.x), the activation rows once per matrix.
void mul_mat_paired(const ggml_compute_params* params, ggml_tensor* dst, const Paired& p, int64_t batches) {
    const ggml_tensor* a = dst->src[0];
    const ggml_tensor* b = dst->src[1];
    char*     work   = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata)));
    uint16_t* rows   = reinterpret_cast<uint16_t*>(work);
    uint32_t* planes = reinterpret_cast<uint32_t*>(work + p.rowBytes());
    const int64_t r2 = b->ne[2] / a->ne[2], r3 = b->ne[3] / a->ne[3], ldc = dst->nb[1] / sizeof(float);
    const char* madeFor = nullptr;  // the weight matrix whose only run the planes hold
    for (int64_t batch = 0; batch < batches; ++batch) {
        const int64_t i12 = batch % b->ne[2], i13 = batch / b->ne[2];
        const char* W = static_cast<const char*>(a->data) + (i12 / r2) * a->nb[2] + (i13 / r3) * a->nb[3];
        const char* X = static_cast<const char*>(b->data) + i12 * b->nb[2] + i13 * b->nb[3];
        float*      D = reinterpret_cast<float*>(static_cast<char*>(dst->data) + i12 * dst->nb[2] + i13 * dst->nb[3]);
        auto activationRow = [&](int64_t n) { return std::pair{static_cast<const void*>(X + n * b->nb[1]), GGML_TYPE_F32}; };
        if (p.oneRange()) round_rows(params, p, 0, p.blocks(), activationRow, rows);
        for (int64_t p0 = 0; p0 < p.columns; p0 += p.chunk) {
            const int64_t cols = std::min<int64_t>(p.chunk, p.columns - p0), ld = (cols + L - 1) / L * L;
            const bool    whole = cols == p.columns;
            if (!whole || madeFor != W) {
                transpose_pairs(W, a->type, a->nb[1], p, p0, cols, ld, planes, params->ith, params->nth);
                ggml_barrier(params->threadpool);
                madeFor = whole ? W : nullptr;
            }
            paired_product(params, p, rows, p.oneRange(), activationRow, planes, ld, p0, cols, D, ldc);
        }
    }
}
#endif

struct MatMul {
    int64_t K, M, N, batches;  // M = src0 rows (dst row length), N = src1 rows
    int64_t splits, cols;      // each matrix's dst columns in `splits` runs of `cols` (a multiple of 16)
    bool    bf16 = false;      // f16 weights through dot_bf16
#if DIFFUSEKIT_CPU_BF16
    bool    paired = false;    // f16 weights in bf16 through the shared bf16 product (mul_mat_paired)
    Paired  p;
#endif
    size_t  perThread() const {
#if DIFFUSEKIT_CPU_BF16
        if (bf16) return aligned(size_t(kDotRowsPerPass + DN + DM) * padded_k(K) * sizeof(uint16_t));
#endif
        if (cols == 0) return 0;
        return aligned(size_t(K) * cols * sizeof(float)) + aligned(size_t(kRowsPerPass) * K * sizeof(float));
    }
    size_t bytes(int nth) const {
#if DIFFUSEKIT_CPU_BF16
        if (paired) return p.bytes();
#endif
        const size_t each = perThread();
        return each == 0 ? 0 : size_t(nth) * each + kAlign;
    }
};

// `bf16`: whether the op would run its products in bf16.
bool describe_mul_mat(const ggml_tensor* dst, int nth, bool bf16, MatMul& m) {
    const ggml_tensor* a = dst->src[0];
    const ggml_tensor* b = dst->src[1];
    if (!diffusekit_cpu_fast_kernels() || a == nullptr || b == nullptr || nth < 1) return false;
    if (b->type != GGML_TYPE_F32 || dst->type != GGML_TYPE_F32) return false;
    if (a->nb[0] != ggml_type_size(a->type) || b->nb[0] != sizeof(float) || dst->nb[0] != sizeof(float)) return false;
    if (b->ne[2] % a->ne[2] != 0 || b->ne[3] % a->ne[3] != 0) return false;
    m.K = a->ne[0], m.M = a->ne[1], m.N = b->ne[1], m.batches = b->ne[2] * b->ne[3];
    if (a->type == GGML_TYPE_F16) {
        m.splits = m.cols = 0;  // dot-product form: no work buffer in f32, bf16 rows of its own in bf16
        m.bf16   = bf16;
#if DIFFUSEKIT_CPU_BF16
        if (bf16 && m.N >= kPairedMinRows && m.M >= V * L) {
            m.bf16 = false, m.paired = true;
            m.p    = Paired(m.N, m.K, m.M);
        }
#endif
        return true;
    }
    if (a->type != GGML_TYPE_F32 || m.K % L == 0) return false;  // tinyBLAS takes f32 rows of 16k
    if (m.M < L) return false;
    m.splits = std::min<int64_t>((nth + m.batches - 1) / m.batches, (m.M + L - 1) / L);
    m.cols   = ((m.M + m.splits - 1) / m.splits + L - 1) / L * L;
    return true;
}

// xt[k * ld + (i - i0)] = A[i][k] in f32 for rows i in [i0, i1) of A (`lda` bytes apart).
void transpose(const char* A, ggml_type type, size_t lda, int64_t i0, int64_t i1, int64_t K, int64_t ld, float* xt) {
    alignas(64) float tmp[L];
    for (int64_t i = i0; i < i1; ++i) {
        const void* row = A + i * lda;
        for (int64_t k0 = 0; k0 < K; k0 += L) {
            const int64_t n = std::min<int64_t>(L, K - k0);
            store(tmp, load_row(row, type, k0, n));
            for (int64_t k = 0; k < n; ++k) xt[(k0 + k) * ld + (i - i0)] = tmp[k];
        }
    }
}

}  // namespace

size_t diffusekit_mul_mat_work_size(const ggml_tensor* node, int n_threads) {
    // sized for bf16 whenever it is available: a compute may ask for it after the plan
    MatMul f32, bf16;
    const size_t plain = describe_mul_mat(node, n_threads, false, f32) ? f32.bytes(n_threads) : 0;
    const size_t paired = diffusekit_cpu_bf16_available() && describe_mul_mat(node, n_threads, true, bf16) ? bf16.bytes(n_threads) : 0;
    return std::max(plain, paired);
}

bool diffusekit_mul_mat(const ggml_compute_params* params, ggml_tensor* dst) {
    const int ith = params->ith, nth = params->nth;
    MatMul m;
    if (!describe_mul_mat(dst, nth, diffusekit_cpu_bf16(), m)) return false;
    if (params->wsize < m.bytes(nth)) return false;
    const ggml_tensor* a = dst->src[0];
    const ggml_tensor* b = dst->src[1];
#if DIFFUSEKIT_CPU_BF16
    if (m.paired) {
        mul_mat_paired(params, dst, m.p, m.batches);
        return true;
    }
#endif
    if (a->type == GGML_TYPE_F16) {
        const int64_t r2 = b->ne[2] / a->ne[2], r3 = b->ne[3] / a->ne[3];
#if DIFFUSEKIT_CPU_BF16
        uint16_t* rows = reinterpret_cast<uint16_t*>(reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata))) +
                                                     size_t(ith) * m.perThread());
#endif
        for (int64_t batch = 0; batch < m.batches; ++batch) {
            const int64_t i12 = batch % b->ne[2], i13 = batch / b->ne[2];
#if DIFFUSEKIT_CPU_BF16
            if (m.bf16) {
                dot_bf16(a, static_cast<const char*>(a->data) + (i12 / r2) * a->nb[2] + (i13 / r3) * a->nb[3],
                         static_cast<const char*>(b->data) + i12 * b->nb[2] + i13 * b->nb[3], b->nb[1],
                         reinterpret_cast<float*>(static_cast<char*>(dst->data) + i12 * dst->nb[2] + i13 * dst->nb[3]),
                         dst->nb[1] / sizeof(float), m.K, m.M, m.N, ith, nth, rows);
                continue;
            }
#endif
            dot_f16(a, static_cast<const char*>(a->data) + (i12 / r2) * a->nb[2] + (i13 / r3) * a->nb[3],
                    static_cast<const char*>(b->data) + i12 * b->nb[2] + i13 * b->nb[3], b->nb[1],
                    reinterpret_cast<float*>(static_cast<char*>(dst->data) + i12 * dst->nb[2] + i13 * dst->nb[3]),
                    dst->nb[1] / sizeof(float), m.K, m.M, m.N, ith, nth);
        }
        return true;
    }
    char*  work = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata))) + size_t(ith) * m.perThread();
    float* xt   = reinterpret_cast<float*>(work);
    float* wp   = reinterpret_cast<float*>(work + aligned(size_t(m.K) * m.cols * sizeof(float)));
    const int64_t r2 = b->ne[2] / a->ne[2], r3 = b->ne[3] / a->ne[3];
    const int64_t ldb = b->nb[1] / sizeof(float), ldc = dst->nb[1] / sizeof(float);
    Tile tile;
    // Units are (matrix, run of dst columns); a thread transposes only the src0 rows of its own runs.
    for (int64_t u = ith; u < m.batches * m.splits; u += nth) {
        const int64_t batch = u / m.splits, c0 = (u % m.splits) * m.cols, c1 = std::min(m.M, c0 + m.cols);
        if (c0 >= c1) continue;
        const int64_t i12 = batch % b->ne[2], i13 = batch / b->ne[2];
        const char* A = static_cast<const char*>(a->data) + (i12 / r2) * a->nb[2] + (i13 / r3) * a->nb[3];
        const char* B = static_cast<const char*>(b->data) + i12 * b->nb[2] + i13 * b->nb[3];
        float*      D = reinterpret_cast<float*>(static_cast<char*>(dst->data) + i12 * dst->nb[2] + i13 * dst->nb[3]);
        transpose(A, a->type, a->nb[1], c0, c1, m.K, m.cols, xt);
        const int64_t tiles = (c1 - c0 + V * L - 1) / (V * L);
        for (int64_t n0 = 0; n0 < m.N; n0 += kRowsPerPass) {
            const int64_t n1 = std::min(m.N, n0 + kRowsPerPass);
            for (int64_t r0 = n0; r0 < n1; r0 += R) {
                pack(B, GGML_TYPE_F32, ldb, r0, std::min<int64_t>(R, n1 - r0), m.K, wp + (r0 - n0) * m.K);
            }
            for (int64_t r0 = n0; r0 < n1; r0 += R) {
                for (int64_t t = 0; t < tiles; ++t) {
                    gemm_tile(t, c1 - c0, c0, tile);
                    run_block(wp + (r0 - n0) * m.K, xt, m.cols, m.K, 1, tile, D + r0 * ldc, ldc, std::min<int64_t>(R, n1 - r0), false);
                }
            }
        }
    }
    return true;
}

#else  // no AVX-512 or AVX2: ggml's own products run

size_t diffusekit_mul_mat_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_mul_mat(const ggml_compute_params*, ggml_tensor*) { return false; }

#endif
