// The register-blocked GEMM shared by diffusekit's CPU kernels (AVX-512; see diffusekit_cpu.h).
//
// out[oc][p] = sum over k of W[oc][k] * x[k][p]: a block of R output rows times V vectors of 16 columns
// stays in 24 registers for the whole sum. W is packed once per call to f32, k-major per block of R rows,
// so each step is V vector loads of x, R broadcasts of W and R*V FMAs. x is addressed through a Tile: for
// each tap (a convolution's kernel position; 1 for a plain GEMM) and vector, an offset and a load mask,
// which is how convolutions read their input in place and how borders and ragged edges read zeros.
#pragma once

#include "diffusekit_cpu.h"

#if DIFFUSEKIT_CPU_AVX512

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ggml.h"

namespace diffusekit_cpu {

inline constexpr int R = 6;                               // output channels per register block
inline constexpr int V = 4;                               // 16-pixel vectors per register block
inline constexpr int L = 16;                              // lanes of a vector
inline constexpr size_t kAlign = 64;

inline size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// 16 consecutive values of one row (f16 or f32), in f32 (zeros past `n`).
inline __m512 load16(const void* data, ggml_type type, int64_t offset, int64_t n) {
    const __mmask16 m = __mmask16(n >= L ? 0xFFFF : (1u << n) - 1u);
    if (type == GGML_TYPE_F32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(data) + offset);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const ggml_fp16_t*>(data) + offset));
}

// wp[k * R + r] = W[oc0 + r][k] in f32 (row oc `ld` elements apart); rows past `rows` are zero.
// Transposed through a 16-column stack tile so that the stores are sequential.
inline void pack(const void* data, ggml_type type, int64_t ld, int64_t oc0, int64_t rows, int64_t K, float* wp) {
    alignas(64) float tmp[R][L];
    for (int64_t k0 = 0; k0 < K; k0 += L) {
        const int64_t n = std::min<int64_t>(L, K - k0);
        for (int r = 0; r < R; ++r) {
            _mm512_store_ps(tmp[r], r < rows ? load16(data, type, (oc0 + r) * ld + k0, n) : _mm512_setzero_ps());
        }
        for (int64_t j = 0; j < n; ++j)
            for (int r = 0; r < R; ++r) wp[(k0 + j) * R + r] = tmp[r][j];
    }
}

// Where one vector of a register block reads the input for each tap, and where it writes.
struct Tile {
    int64_t  in[64][V];
    __mmask16 load[64][V];
    int64_t  out[V];
    __mmask16 store[V];
    // 3x3 convolutions, when the vectors are one run of an output row and every tap row lies inside the
    // input: tap (kh, kw) of vector v reads at base[0] + 16 v + kh * rowStep + kw * colStep under
    // cols[kw][v], and block3x3 runs instead.
    bool     inside = false;
    int64_t  base[V];
    __mmask16 cols[3][V];
    int64_t  rowStep = 0, colStep = 0;
};

inline __mmask16 lanes(int64_t lo, int64_t hi) {  // bits [lo, hi) of 16
    lo = std::max<int64_t>(lo, 0);
    hi = std::min<int64_t>(hi, L);
    if (hi <= lo) return 0;
    return __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// A block's accumulators: zero, or the partial sums already in `out` (a later slice of input channels).
__attribute__((always_inline)) inline void start(__m512 (&acc)[R][V], const Tile& tile, const float* out, int64_t ldc, int64_t rows,
                                                 bool accumulate) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            acc[r][v] = accumulate && r < rows ? _mm512_maskz_loadu_ps(tile.store[v], out + r * ldc + tile.out[v])
                                               : _mm512_setzero_ps();
        }
}

// Stores the block's live rows and lanes.
__attribute__((always_inline)) inline void finish(const __m512 (&acc)[R][V], const Tile& tile, float* out, int64_t ldc, int64_t rows) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        if (r < rows) {
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) _mm512_mask_storeu_ps(out + r * ldc + tile.out[v], tile.store[v], acc[r][v]);
        }
    }
}

// The block's sum over nIC input planes (plane stride `stride`) and T taps; T = 0: `taps` at run time.
template <int T>
__attribute__((noinline)) inline void block(const float* __restrict wp, const float* __restrict x, int64_t stride, int64_t nIC, int taps,
           const Tile& tile, float* __restrict out, int64_t ldc, int64_t rows, bool accumulate) {
    // Every index into acc must be a compile-time constant after unrolling, or GCC keeps acc in memory.
    const int nt = T > 0 ? T : taps;
    __m512 acc[R][V];
    start(acc, tile, out, ldc, rows, accumulate);
    for (int64_t ic = 0; ic < nIC; ++ic) {
        const float* plane = x + ic * stride;
        for (int t = 0; t < nt; ++t) {
            __m512 b[V];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) b[v] = _mm512_maskz_loadu_ps(tile.load[t][v], plane + tile.in[t][v]);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const __m512 w = _mm512_set1_ps(wp[r]);
#pragma GCC unroll 4
                for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(w, b[v], acc[r][v]);
            }
            wp += R;
        }
    }
    finish(acc, tile, out, ldc, rows);
}

// One kernel column of block3x3 over all input channels, for a tile whose vectors are one run of a row:
// three row pointers, vector v at +16 v. A masked load costs an extra uop on the FMA ports, so a column
// whose vectors are all inside loads unmasked.
template <bool Masked>
__attribute__((always_inline)) inline void column3(__m512 (&acc)[R][V], const float* in, const __mmask16 (&m)[V],
                                                   const float* __restrict w, int64_t stride, int64_t rowStep, int64_t nIC) {
    const float* row0 = in;
    const float* row1 = in + rowStep;
    const float* row2 = in + 2 * rowStep;
    for (int64_t ic = 0; ic < nIC; ++ic) {
#pragma GCC unroll 3
        for (int kh = 0; kh < 3; ++kh) {
            const float* row = kh == 0 ? row0 : kh == 1 ? row1 : row2;
            __m512 b[V];
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) b[v] = Masked ? _mm512_maskz_loadu_ps(m[v], row + v * L) : _mm512_loadu_ps(row + v * L);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const __m512 wr = _mm512_set1_ps(w[r]);
#pragma GCC unroll 4
                for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(wr, b[v], acc[r][v]);
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
    __m512 acc[R][V];
    start(acc, tile, out, ldc, rows, accumulate);
    for (int kw = 0; kw < 3; ++kw) {
        __mmask16 m[V];
        bool full = true;
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            m[v] = tile.cols[kw][v];
            full = full && m[v] == 0xFFFF;
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

// GEMM tiles over a matrix whose rows are `columns` wide: vectors are 16-column runs.
inline void gemm_tile(int64_t index, int64_t columns, int64_t firstColumn, Tile& tile) {
    for (int v = 0; v < V; ++v) {
        const int64_t col = (index * V + v) * L;
        const __mmask16 m = lanes(0, columns - col);
        tile.in[0][v]   = m ? col : 0;
        tile.load[0][v] = m;
        tile.out[v]     = firstColumn + col;
        tile.store[v]   = m;
    }
}


}  // namespace diffusekit_cpu

#endif
