// GGML_OP_CONV_2D for the CPU backend as a register-blocked implicit GEMM (see diffusekit_cpu.h).
//
// out[oc][p] = sum over k = (ic, kh, kw) of W[oc][k] * x[ic][tap(p, kh, kw)]. A block of R output channels
// times V vectors of 16 output pixels stays in 24 AVX-512 registers for the whole sum; the weights of the
// block are converted once per block to f32 and laid out k-major, so each step is V vector loads of input,
// R broadcasts and R*V FMAs. Accumulation is in f32 (the engine rounds activations to f16 first).
//   direct:  stride 1 and rows of at least 16 pixels: taps read the input in place, borders by load masks.
//   flat:    1x1, stride 1, no padding: the input planes already are the GEMM's right-hand matrix.
//   im2col:  everything else (strided, small planes): f32 im2col of a bounded column chunk, then the GEMM.
#include "diffusekit_cpu.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ggml-cpu-impl.h"
#include "ggml.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#endif

bool diffusekit_cpu_fast_kernels(void) {
    static const bool fast = [] {
        const char* mode = std::getenv("DIFFUSEKIT_CPU_KERNELS");
        return !(mode != nullptr && std::strcmp(mode, "reference") == 0);
    }();
    return fast;
}

bool diffusekit_cpu_conv_kernels(void) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    return diffusekit_cpu_fast_kernels();
#else
    return false;
#endif
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)

namespace {

constexpr int R = 6;                               // output channels per register block
constexpr int V = 4;                               // 16-pixel vectors per register block
constexpr int L = 16;                              // lanes of a vector
constexpr int64_t kIm2colBudget = 16 * 1024 * 1024;  // bytes of im2col per pass
constexpr size_t kAlign = 64;

size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Conv {
    int64_t KW, KH, IC, OC, IW, IH, OW, OH, N;
    int sx, sy, px, py, dx, dy;
    enum class Mode { direct, flat, im2col } mode;
    int64_t chunk;  // im2col columns per pass

    int64_t taps() const { return KW * KH; }
    int64_t K() const { return IC * KW * KH; }
    int64_t P() const { return OW * OH; }
    int64_t blocks() const { return (OC + R - 1) / R; }
    size_t packBytes() const { return aligned(size_t(K()) * R * sizeof(float)); }
    size_t im2colBytes() const { return mode == Mode::im2col ? aligned(size_t(K()) * chunk * sizeof(float)) : 0; }
};

bool describe(const ggml_tensor* dst, Conv& c) {
    const ggml_tensor* kernel = dst->src[0];
    const ggml_tensor* src    = dst->src[1];
    if (!diffusekit_cpu_fast_kernels() || kernel == nullptr || src == nullptr) return false;
    if (kernel->type != GGML_TYPE_F16 && kernel->type != GGML_TYPE_F32) return false;
    if (src->type != GGML_TYPE_F32 || dst->type != GGML_TYPE_F32) return false;
    if (!ggml_is_contiguous(kernel) || !ggml_is_contiguous(src) || !ggml_is_contiguous(dst)) return false;

    c.KW = kernel->ne[0], c.KH = kernel->ne[1], c.IC = kernel->ne[2], c.OC = kernel->ne[3];
    c.IW = src->ne[0], c.IH = src->ne[1], c.N = src->ne[3];
    c.OW = dst->ne[0], c.OH = dst->ne[1];
    c.sx = dst->op_params[0], c.sy = dst->op_params[1];
    c.px = dst->op_params[2], c.py = dst->op_params[3];
    c.dx = dst->op_params[4], c.dy = dst->op_params[5];
    if (src->ne[2] != c.IC || dst->ne[2] != c.OC || dst->ne[3] != c.N) return false;
    // offsets below are 32-bit-safe per plane only if a plane fits; keep to sizes diffusion models use
    if (c.IW * c.IH > (int64_t(1) << 30) || c.taps() > 64) return false;

    if (c.KW == 1 && c.KH == 1 && c.sx == 1 && c.sy == 1 && c.px == 0 && c.py == 0) {
        c.mode = Conv::Mode::flat;
    } else if (c.sx == 1 && c.sy == 1 && c.OW >= L) {
        c.mode = Conv::Mode::direct;
    } else {
        c.mode = Conv::Mode::im2col;
    }
    const int64_t columns = std::max<int64_t>(V * L, kIm2colBudget / (c.K() * int64_t(sizeof(float))) / (V * L) * (V * L));
    c.chunk = std::min<int64_t>(columns, (c.P() + V * L - 1) / (V * L) * (V * L));
    return true;
}

// 16 consecutive values of one row (f16 or f32), in f32 (zeros past `n`).
inline __m512 load16(const void* data, ggml_type type, int64_t offset, int64_t n) {
    const __mmask16 m = __mmask16(n >= L ? 0xFFFF : (1u << n) - 1u);
    if (type == GGML_TYPE_F32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(data) + offset);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const ggml_fp16_t*>(data) + offset));
}

// wp[k * R + r] = W[oc0 + r][k] in f32 (row oc `ld` elements apart); rows past `rows` are zero.
// Transposed through a 16-column stack tile so that the stores are sequential.
void pack(const void* data, ggml_type type, int64_t ld, int64_t oc0, int64_t rows, int64_t K, float* wp) {
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
};

inline __mmask16 lanes(int64_t lo, int64_t hi) {  // bits [lo, hi) of 16
    lo = std::max<int64_t>(lo, 0);
    hi = std::min<int64_t>(hi, L);
    if (hi <= lo) return 0;
    return __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// The block's sum over nIC input planes (plane stride `stride`) and T taps; T = 0: `taps` at run time.
template <int T>
__attribute__((noinline)) void block(const float* __restrict wp, const float* __restrict x, int64_t stride, int64_t nIC, int taps,
           const Tile& tile, float* __restrict out, int64_t ldc, int64_t rows, bool accumulate) {
    // Every index into acc must be a compile-time constant after unrolling, or GCC keeps acc in memory.
    const int nt = T > 0 ? T : taps;
    __m512 acc[R][V];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) {
            acc[r][v] = accumulate && r < rows ? _mm512_maskz_loadu_ps(tile.store[v], out + r * ldc + tile.out[v])
                                               : _mm512_setzero_ps();
        }
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
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        if (r < rows) {
#pragma GCC unroll 4
            for (int v = 0; v < V; ++v) _mm512_mask_storeu_ps(out + r * ldc + tile.out[v], tile.store[v], acc[r][v]);
        }
    }
}

void run_block(const float* wp, const float* x, int64_t stride, int64_t nIC, int taps, const Tile& tile, float* out,
               int64_t ldc, int64_t rows, bool accumulate) {
    if (taps == 9) block<9>(wp, x, stride, nIC, taps, tile, out, ldc, rows, accumulate);
    else if (taps == 1) block<1>(wp, x, stride, nIC, taps, tile, out, ldc, rows, accumulate);
    else block<0>(wp, x, stride, nIC, taps, tile, out, ldc, rows, accumulate);
}

// Direct tiles: vectors are 16-pixel runs of output rows, taps read the input plane in place.
void direct_tile(const Conv& c, int64_t index, Tile& tile) {
    const int64_t perRow = (c.OW + L - 1) / L;
    for (int v = 0; v < V; ++v) {
        const int64_t s = index * V + v;
        const bool    live = s < c.OH * perRow;
        const int64_t oy = live ? s / perRow : 0, ox = live ? (s % perRow) * L : 0;
        const int64_t width = live ? std::min<int64_t>(L, c.OW - ox) : 0;
        tile.out[v]   = oy * c.OW + ox;
        tile.store[v] = lanes(0, width);
        for (int64_t kh = 0, t = 0; kh < c.KH; ++kh) {
            const int64_t iy = oy - c.py + kh * c.dy;
            for (int64_t kw = 0; kw < c.KW; ++kw, ++t) {
                const int64_t ix = ox - c.px + kw * c.dx;
                const bool    row = live && iy >= 0 && iy < c.IH;
                tile.in[t][v]   = row ? iy * c.IW + ix : 0;
                tile.load[t][v] = row ? lanes(-ix, std::min<int64_t>(width, c.IW - ix)) : 0;
            }
        }
    }
}

// GEMM tiles over a matrix whose rows are `columns` wide: vectors are 16-column runs.
void gemm_tile(int64_t index, int64_t columns, int64_t firstColumn, Tile& tile) {
    for (int v = 0; v < V; ++v) {
        const int64_t col = (index * V + v) * L;
        const __mmask16 m = lanes(0, columns - col);
        tile.in[0][v]   = m ? col : 0;
        tile.load[0][v] = m;
        tile.out[v]     = firstColumn + col;
        tile.store[v]   = m;
    }
}

// f32 im2col of output columns [p0, p0 + n) into b (row k of K, `ld` floats apart); rows split over threads.
__attribute__((noinline)) void im2col(const Conv& c, const float* x, int64_t p0, int64_t n, int64_t ld, float* b, int ith, int nth) {
    const int64_t K = c.K();
    for (int64_t k = ith; k < K; k += nth) {
        const int64_t ic = k / c.taps(), t = k % c.taps(), kh = t / c.KW, kw = t % c.KW;
        const float*  plane = x + ic * c.IW * c.IH;
        float*        row = b + k * ld;
        for (int64_t j = 0; j < n; ++j) {
            const int64_t p = p0 + j, oy = p / c.OW, ox = p % c.OW;
            const int64_t iy = oy * c.sy - c.py + kh * c.dy, ix = ox * c.sx - c.px + kw * c.dx;
            row[j] = (iy >= 0 && iy < c.IH && ix >= 0 && ix < c.IW) ? plane[iy * c.IW + ix] : 0.0f;
        }
        for (int64_t j = n; j < ld; ++j) row[j] = 0.0f;
    }
}

}  // namespace

size_t diffusekit_conv_2d_work_size(const ggml_tensor* node, int /*n_threads*/) {
    Conv c;
    if (!describe(node, c)) return 0;
    return c.im2colBytes() + size_t(c.blocks()) * c.packBytes() + kAlign;
}

bool diffusekit_conv_2d(const ggml_compute_params* params, ggml_tensor* dst) {
    Conv c;
    if (!describe(dst, c)) return false;
    const int ith = params->ith, nth = params->nth;
    const int64_t K = c.K(), blocks = c.blocks(), planeIn = c.IW * c.IH, planeOut = c.P();
    if (params->wsize < c.im2colBytes() + size_t(blocks) * c.packBytes() + kAlign) return false;

    char*  work   = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata)));
    float* packed = reinterpret_cast<float*>(work);
    float* b      = reinterpret_cast<float*>(work + size_t(blocks) * c.packBytes());
    const ggml_tensor* kernel = dst->src[0];
    const float* src = static_cast<const float*>(dst->src[1]->data);
    float*       out = static_cast<float*>(dst->data);
    const size_t blockFloats = c.packBytes() / sizeof(float);

    // All weights, converted once per op and shared by the threads.
    for (int64_t blk = ith; blk < blocks; blk += nth) pack(kernel->data, kernel->type, K, blk * R, std::min<int64_t>(R, c.OC - blk * R), K, packed + blk * blockFloats);
    ggml_barrier(params->threadpool);

    // Cache blocking: a slice of input channels whose weights (one block: L1; all blocks: L2) stay cached
    // while a group of tiles (its outputs in L2) runs through every channel block; then the next slice.
    // Work units are (tile group, run of channel blocks), split evenly over the threads.
    auto gemm = [&](int64_t tiles, auto&& describeTile, const float* x, int64_t stride, int64_t nIC, int taps, float* y) {
        const int64_t perSlice = std::max<int64_t>(
            4, std::min<int64_t>({(24 << 10) / (taps * R * 4), (1 << 20) / (blocks * R * taps * 4), nIC}));
        const int64_t perGroup = std::clamp<int64_t>((512 << 10) / (blocks * R * V * L * 4), 1, tiles);
        const int64_t groups = (tiles + perGroup - 1) / perGroup;
        const int64_t splits = std::clamp<int64_t>((2 * nth + groups - 1) / groups, 1, blocks);
        const int64_t units = groups * splits, u0 = units * ith / nth, u1 = units * (ith + 1) / nth;
        std::vector<Tile> group(perGroup);
        for (int64_t u = u0; u < u1; ++u) {
            const int64_t g = u / splits, split = u % splits;
            const int64_t t0 = g * perGroup, t1 = std::min(tiles, t0 + perGroup);
            const int64_t b0 = blocks * split / splits, b1 = blocks * (split + 1) / splits;
            for (int64_t t = t0; t < t1; ++t) describeTile(t, group[t - t0]);
            for (int64_t ic0 = 0; ic0 < nIC; ic0 += perSlice) {
                const int64_t n = std::min(perSlice, nIC - ic0);
                for (int64_t blk = b0; blk < b1; ++blk) {
                    const int64_t oc0 = blk * R, rows = std::min<int64_t>(R, c.OC - oc0);
                    const float*  wp = packed + blk * blockFloats + ic0 * taps * R;
                    for (int64_t t = t0; t < t1; ++t) {
                        run_block(wp, x + ic0 * stride, stride, n, taps, group[t - t0], y + oc0 * planeOut, planeOut, rows, ic0 > 0);
                    }
                }
            }
        }
    };

    for (int64_t n = 0; n < c.N; ++n) {
        const float* x = src + n * c.IC * planeIn;
        float*       y = out + n * c.OC * planeOut;
        if (c.mode == Conv::Mode::direct) {
            const int64_t tiles = (c.OH * ((c.OW + L - 1) / L) + V - 1) / V;
            gemm(tiles, [&](int64_t i, Tile& t) { direct_tile(c, i, t); }, x, planeIn, c.IC, int(c.taps()), y);
        } else if (c.mode == Conv::Mode::flat) {
            const int64_t tiles = (planeOut + V * L - 1) / (V * L);
            gemm(tiles, [&](int64_t i, Tile& t) { gemm_tile(i, planeOut, 0, t); }, x, planeIn, K, 1, y);
        } else {
            for (int64_t p0 = 0; p0 < planeOut; p0 += c.chunk) {
                const int64_t n_cols = std::min<int64_t>(c.chunk, planeOut - p0);
                const int64_t ld = (n_cols + L - 1) / L * L;
                im2col(c, x, p0, n_cols, ld, b, ith, nth);
                ggml_barrier(params->threadpool);
                const int64_t tiles = (n_cols + V * L - 1) / (V * L);
                gemm(tiles, [&](int64_t i, Tile& t) { gemm_tile(i, n_cols, p0, t); }, b, ld, K, 1, y);
                ggml_barrier(params->threadpool);
            }
        }
    }
    return true;
}

// ---- GGML_OP_MUL_MAT, f32 x f32 with a row length tinyBLAS does not take (not a multiple of 16) ----
// Attention in SD 1.x has 40-, 80- and 160-wide heads and 77 text tokens: those products fell back to
// ggml's dot products. dst[i1][i0] = sum_k src0[i0][k] * src1[i1][k] is the GEMM above with src1 as the
// packed left-hand side and src0 transposed as the right-hand side; threads take whole matrices.
namespace {

struct MatMul {
    int64_t K, M, N, batches;  // M = src0 rows (dst row length), N = src1 rows
    int64_t ld() const { return (M + L - 1) / L * L; }
    size_t  perThread() const {
        return aligned(size_t(K) * ld() * sizeof(float)) + aligned(size_t((N + R - 1) / R) * R * K * sizeof(float));
    }
};

bool describe_mul_mat(const ggml_tensor* dst, MatMul& m) {
    const ggml_tensor* a = dst->src[0];
    const ggml_tensor* b = dst->src[1];
    if (!diffusekit_cpu_fast_kernels() || a == nullptr || b == nullptr) return false;
    if (a->type != GGML_TYPE_F32 || b->type != GGML_TYPE_F32 || dst->type != GGML_TYPE_F32) return false;
    if (a->ne[0] % L == 0 || a->nb[0] != sizeof(float) || b->nb[0] != sizeof(float) || dst->nb[0] != sizeof(float)) return false;
    if (b->ne[2] % a->ne[2] != 0 || b->ne[3] % a->ne[3] != 0) return false;
    m.K = a->ne[0], m.M = a->ne[1], m.N = b->ne[1], m.batches = b->ne[2] * b->ne[3];
    return m.M >= V * L && m.N >= R;
}

}  // namespace

size_t diffusekit_mul_mat_work_size(const ggml_tensor* node, int n_threads) {
    MatMul m;
    if (!describe_mul_mat(node, m)) return 0;
    return size_t(std::max(n_threads, 1)) * m.perThread() + kAlign;
}

bool diffusekit_mul_mat(const ggml_compute_params* params, ggml_tensor* dst) {
    MatMul m;
    if (!describe_mul_mat(dst, m)) return false;
    const int ith = params->ith, nth = params->nth;
    if (m.batches < nth || params->wsize < size_t(nth) * m.perThread() + kAlign) return false;

    const ggml_tensor* a = dst->src[0];
    const ggml_tensor* b = dst->src[1];
    char*  work = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata))) + size_t(ith) * m.perThread();
    float* xt   = reinterpret_cast<float*>(work);
    float* wp   = reinterpret_cast<float*>(work + aligned(size_t(m.K) * m.ld() * sizeof(float)));
    const int64_t ld = m.ld(), blocks = (m.N + R - 1) / R, tiles = (m.M + V * L - 1) / (V * L);
    const int64_t r2 = b->ne[2] / a->ne[2], r3 = b->ne[3] / a->ne[3];
    const int64_t ldc = dst->nb[1] / sizeof(float);
    Tile tile;
    for (int64_t batch = ith; batch < m.batches; batch += nth) {
        const int64_t i12 = batch % b->ne[2], i13 = batch / b->ne[2];
        const char* A = static_cast<const char*>(a->data) + (i12 / r2) * a->nb[2] + (i13 / r3) * a->nb[3];
        const char* B = static_cast<const char*>(b->data) + i12 * b->nb[2] + i13 * b->nb[3];
        float*      D = reinterpret_cast<float*>(static_cast<char*>(dst->data) + i12 * dst->nb[2] + i13 * dst->nb[3]);
        for (int64_t i = 0; i < m.M; ++i) {
            const float* row = reinterpret_cast<const float*>(A + i * a->nb[1]);
            for (int64_t k = 0; k < m.K; ++k) xt[k * ld + i] = row[k];
        }
        for (int64_t blk = 0; blk < blocks; ++blk) {
            pack(B, GGML_TYPE_F32, b->nb[1] / sizeof(float), blk * R, std::min<int64_t>(R, m.N - blk * R), m.K, wp + blk * R * m.K);
        }
        for (int64_t blk = 0; blk < blocks; ++blk) {
            const int64_t rows = std::min<int64_t>(R, m.N - blk * R);
            for (int64_t t = 0; t < tiles; ++t) {
                gemm_tile(t, m.M, 0, tile);
                run_block(wp + blk * R * m.K, xt, ld, m.K, 1, tile, D + blk * R * ldc, ldc, rows, false);
            }
        }
    }
    return true;
}

#else  // no AVX-512: ggml's own convolution runs

size_t diffusekit_conv_2d_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_conv_2d(const ggml_compute_params*, ggml_tensor*) { return false; }
size_t diffusekit_mul_mat_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_mul_mat(const ggml_compute_params*, ggml_tensor*) { return false; }

#endif
