// The register-blocked GEMM shared by diffusekit's CPU kernels (AVX-512 or AVX2; see diffusekit_cpu.h).
//
// out[oc][p] = sum over k of W[oc][k] * x[k][p]: a block of R output rows times V vectors of L columns
// stays in registers for the whole sum (AVX-512: 6 x 4 of the 32 registers; AVX2: 6 x 2 of the 16). W is packed once per call to f32, k-major per block of R rows,
// so each step is V vector loads of x, R broadcasts of W and R*V FMAs. x is addressed through a Tile: for
// each tap (a convolution's kernel position; 1 for a plain GEMM) and vector, an offset and a load mask,
// which is how convolutions read their input in place and how borders and ragged edges read zeros.
#pragma once

#include "diffusekit_cpu.h"
#include "diffusekit_cpu_simd.h"

#if DIFFUSEKIT_CPU_VECTOR

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ggml.h"

namespace diffusekit_cpu {

inline constexpr int R = 6;                                       // output channels per register block
inline constexpr int V = DIFFUSEKIT_CPU_VECTOR == 512 ? 4 : 2;    // L-pixel vectors per register block
inline constexpr size_t kAlign = 64;

inline size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// wp[k * R + r] = W[oc0 + r][k] in f32 (row oc `ld` elements apart); rows past `rows` are zero.
// Transposed through an L-column stack tile so that the stores are sequential.
inline void pack(const void* data, ggml_type type, int64_t ld, int64_t oc0, int64_t rows, int64_t K, float* wp) {
    alignas(64) float tmp[R][L];
    for (int64_t k0 = 0; k0 < K; k0 += L) {
        const int64_t n = std::min<int64_t>(L, K - k0);
        for (int r = 0; r < R; ++r) store(tmp[r], r < rows ? load_row(data, type, (oc0 + r) * ld + k0, n) : zero());
        for (int64_t j = 0; j < n; ++j)
            for (int r = 0; r < R; ++r) wp[(k0 + j) * R + r] = tmp[r][j];
    }
}

// Where one vector of a register block reads the input for each tap, and where it writes.
struct Tile {
    int64_t in[64][V];
    mask    load[64][V];
    int64_t out[V];
    mask    store[V];
    // 3x3 convolutions, when the vectors are one run of an output row and every tap row lies inside the
    // input: tap (kh, kw) of vector v reads at base[0] + L v + kh * rowStep + kw * colStep under
    // cols[kw][v], and block3x3 runs instead.
    bool    inside = false;
    int64_t base[V];
    mask    cols[3][V];
    int64_t rowStep = 0, colStep = 0;
};

// A block's accumulators: zero, or the partial sums already in `out` (a later slice of input channels).
__attribute__((always_inline)) inline void start(vec (&acc)[R][V], const Tile& tile, const float* out, int64_t ldc, int64_t rows,
                                                 bool accumulate) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            acc[r][v] = accumulate && r < rows ? load(tile.store[v], out + r * ldc + tile.out[v]) : zero();
        }
}

// Stores the block's live rows and lanes.
__attribute__((always_inline)) inline void finish(const vec (&acc)[R][V], const Tile& tile, float* out, int64_t ldc, int64_t rows) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        if (r < rows) {
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) store(out + r * ldc + tile.out[v], tile.store[v], acc[r][v]);
        }
    }
}

// The block's sum over nIC input planes (plane stride `stride`) and T taps; T = 0: `taps` at run time.
template <int T>
__attribute__((noinline)) inline void block(const float* __restrict wp, const float* __restrict x, int64_t stride, int64_t nIC, int taps,
           const Tile& tile, float* __restrict out, int64_t ldc, int64_t rows, bool accumulate) {
    // Every index into acc must be a compile-time constant after unrolling, or GCC keeps acc in memory.
    const int nt = T > 0 ? T : taps;
    vec acc[R][V];
    start(acc, tile, out, ldc, rows, accumulate);
    for (int64_t ic = 0; ic < nIC; ++ic) {
        const float* plane = x + ic * stride;
        for (int t = 0; t < nt; ++t) {
            vec b[V];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) b[v] = load(tile.load[t][v], plane + tile.in[t][v]);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const vec w = set1(wp[r]);
#pragma GCC unroll 4
                for (int v = 0; v < V; ++v) acc[r][v] = fmadd(w, b[v], acc[r][v]);
            }
            wp += R;
        }
    }
    finish(acc, tile, out, ldc, rows);
}

// One kernel column of block3x3 over all input channels, for a tile whose vectors are one run of a row:
// three row pointers, vector v at +L v. A masked load costs extra uops, so a column whose vectors are all
// inside loads unmasked.
template <bool Masked>
__attribute__((always_inline)) inline void column3(vec (&acc)[R][V], const float* in, const mask (&m)[V],
                                                   const float* __restrict w, int64_t stride, int64_t rowStep, int64_t nIC) {
    const float* row0 = in;
    const float* row1 = in + rowStep;
    const float* row2 = in + 2 * rowStep;
    for (int64_t ic = 0; ic < nIC; ++ic) {
#pragma GCC unroll 3
        for (int kh = 0; kh < 3; ++kh) {
            const float* row = kh == 0 ? row0 : kh == 1 ? row1 : row2;
            vec b[V];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) b[v] = Masked ? load(m[v], row + v * L) : load(row + v * L);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const vec wr = set1(w[r]);
#pragma GCC unroll 4
                for (int v = 0; v < V; ++v) acc[r][v] = fmadd(wr, b[v], acc[r][v]);
            }
            w += 3 * R;
        }
        row0 += stride, row1 += stride, row2 += stride;
    }
}

// block<9> for a Tile that is `inside`: one pass over the input channels per kernel column, so the
// column masks of that pass stay in mask registers instead of being reloaded for every load.
__attribute__((noinline)) inline void block3x3(const float* __restrict wp, const float* __restrict x, int64_t stride, int64_t nIC,
                                               const Tile& tile, float* __restrict out, int64_t ldc, int64_t rows, bool accumulate) {
    vec acc[R][V];
    start(acc, tile, out, ldc, rows, accumulate);
    for (int kw = 0; kw < 3; ++kw) {
        mask m[V];
        bool full = true;
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            m[v] = tile.cols[kw][v];
            full = full && all(m[v]);
        }
        const float* in = x + tile.base[0] + kw * tile.colStep;
        if (full) column3<false>(acc, in, m, wp + kw * R, stride, tile.rowStep, nIC);
        else column3<true>(acc, in, m, wp + kw * R, stride, tile.rowStep, nIC);
    }
    finish(acc, tile, out, ldc, rows);
}

inline void run_block(const float* wp, const float* x, int64_t stride, int64_t nIC, int taps, const Tile& tile, float* out,
               int64_t ldc, int64_t rows, bool accumulate) {
    if (taps == 9 && tile.inside) block3x3(wp, x, stride, nIC, tile, out, ldc, rows, accumulate);
    else if (taps == 9) block<9>(wp, x, stride, nIC, taps, tile, out, ldc, rows, accumulate);
    else if (taps == 1) block<1>(wp, x, stride, nIC, taps, tile, out, ldc, rows, accumulate);
    else block<0>(wp, x, stride, nIC, taps, tile, out, ldc, rows, accumulate);
}

// One value rounded to bf16 (nearest even), as vcvtne2ps2bf16 rounds; for packing weights.
inline uint16_t to_bf16(float f) {
    uint32_t bits;
    __builtin_memcpy(&bits, &f, sizeof bits);
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

#if DIFFUSEKIT_CPU_BF16
// ---- bf16 products (AVX512_BF16) ----
// vdpbf16ps multiplies pairs of bf16 and adds both products to one f32 lane, so K is consumed two at a time:
// a 32-bit lane of a right-hand vector holds (x[2j][p], x[2j + 1][p]) and a broadcast weight
// (W[oc][2j], W[oc][2j + 1]), the even element in the low half. Twice the FMA's multiplies per instruction,
// accumulation still in f32; operands rounded to nearest even.

// Lanes of (bf16(even[i]), bf16(odd[i])).
inline __m512i pair_bf16(__m512 even, __m512 odd) {
    alignas(64) static const uint16_t interleave[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                        8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(odd, even));  // even low, odd high
    return _mm512_permutexvar_epi16(_mm512_load_si512(interleave), both);
}

// block<1> over bf16 pairs: nPairs pairs of input planes (`stride` lanes apart). Weight pair j of row r is
// wp[r * rowStride + j * pairStride]: packed per block (rowStride 1, pairStride R) or plain bf16 rows
// (rowStride = the row's pairs, pairStride 1).
__attribute__((noinline)) inline void block_bf16(const uint32_t* __restrict wp, int64_t rowStride, int64_t pairStride,
                                                 const uint32_t* __restrict x, int64_t stride, int64_t nPairs, const Tile& tile,
                                                 float* __restrict out, int64_t ldc, int64_t rows, bool accumulate) {
    __m512 acc[R][V];
    start(acc, tile, out, ldc, rows, accumulate);
    const uint32_t* w[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) w[r] = wp + r * rowStride;
    for (int64_t j = 0; j < nPairs; ++j) {
        const uint32_t* plane = x + j * stride;
        __m512bh b[V];
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) b[v] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi32(tile.load[0][v], plane + tile.in[0][v]));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512bh wr = reinterpret_cast<__m512bh>(_mm512_set1_epi32(int(w[r][j * pairStride])));
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], wr, b[v]);
        }
    }
    finish(acc, tile, out, ldc, rows);
}

// Row of `n` values (f16 or f32) as `Kp` bf16 (Kp a multiple of 2L), zeros past n: consecutive pairs side by side.
inline void round_row(const void* row, ggml_type type, int64_t n, int64_t Kp, uint16_t* dst) {
    for (int64_t k = 0; k < Kp; k += 2 * L) {
        const __m512 lo = load_row(row, type, k, n - k), hi = load_row(row, type, k + L, n - k - L);
        _mm512_storeu_si512(dst + k, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
    }
}
#endif

// GEMM tiles over a matrix whose rows are `columns` wide: vectors are L-column runs.
inline void gemm_tile(int64_t index, int64_t columns, int64_t firstColumn, Tile& tile) {
    for (int v = 0; v < V; ++v) {
        const int64_t col = (index * V + v) * L;
        const mask    m = lanes(0, columns - col);
        tile.in[0][v]   = any(m) ? col : 0;
        tile.load[0][v] = m;
        tile.out[v]     = firstColumn + col;
        tile.store[v]   = m;
    }
}


}  // namespace diffusekit_cpu

#endif
