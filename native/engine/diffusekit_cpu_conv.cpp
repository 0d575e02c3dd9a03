// GGML_OP_CONV_2D on the CPU as an implicit GEMM over the shared register-blocked kernel
// (diffusekit_cpu_gemm.h): out[oc][p] = sum over k = (ic, kh, kw) of W[oc][k] * x[ic][tap(p, kh, kw)], all in
// f32 (the engine rounds activations to f16 first). Three ways to feed the kernel its right-hand side:
//   direct:  stride 1 and rows of at least L (16 or 8) pixels: taps read the input in place, borders by load masks.
//   flat:    1x1, stride 1, no padding: the input planes already are the GEMM's right-hand matrix.
//   im2col:  everything else (strided, small planes): f32 im2col of a bounded column chunk, then the GEMM.
#include "diffusekit_cpu.h"

#include <algorithm>
#include <cstdint>

#include "diffusekit_cpu_gemm.h"
#include "diffusekit_cpu_paired.h"
#include "diffusekit_cpu_winograd.h"
#include "ggml-cpu-impl.h"
#include "ggml.h"

#if DIFFUSEKIT_CPU_VECTOR

using namespace diffusekit_cpu;

namespace {

constexpr int64_t kIm2colBudget = 16 * 1024 * 1024;  // bytes of im2col per pass
constexpr int64_t kMinPixels    = 256;               // smallest output plane taken
constexpr size_t  kMaxPackBytes = 32 << 20;          // largest f32 copy of the weights (work buffer, so RSS)

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

// The op's geometry, for shapes and types the kernels take at all.
bool shape(const ggml_tensor* dst, Conv& c) {
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
    return true;
}

// The f32 path: whether it takes the op, and how.
bool describe(const ggml_tensor* dst, Conv& c) {
    if (!shape(dst, c)) return false;
    // Below 16x16 outputs, converting the weights costs more than the product; ggml's tiled im2col then
    // tinyBLAS reads f16 weights as they are and wins (4x4 x 1280 channels: 5 ms against 38).
    if (c.OW * c.OH < kMinPixels) return false;
    if (c.KW == 1 && c.KH == 1 && c.sx == 1 && c.sy == 1 && c.px == 0 && c.py == 0) {
        c.mode = Conv::Mode::flat;
    } else if (c.sx == 1 && c.sy == 1 && c.OW >= L) {
        c.mode = Conv::Mode::direct;
    } else {
        c.mode = Conv::Mode::im2col;
    }
    // 1280 x 11520 and larger (SD 1.x's 1280-channel levels at 16x16): tinyBLAS is as fast on those
    // planes and reads the f16 weights in place, where our f32 copy would add up to 118 MB of RSS.
    if (size_t(c.blocks()) * c.packBytes() > kMaxPackBytes) return false;
    const int64_t columns = std::max<int64_t>(V * L, kIm2colBudget / (c.K() * int64_t(sizeof(float))) / (V * L) * (V * L));
    c.chunk = std::min<int64_t>(columns, (c.P() + V * L - 1) / (V * L) * (V * L));
    return true;
}

// Direct tiles: vectors are L-pixel runs of output rows, taps read the input plane in place.
void direct_tile(const Conv& c, int64_t index, Tile& tile) {
    const int64_t perRow = (c.OW + L - 1) / L;
    tile.inside  = c.KH == 3 && c.KW == 3;
    tile.rowStep = c.dy * c.IW;
    tile.colStep = c.dx;
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
                tile.load[t][v] = row ? lanes(-ix, std::min<int64_t>(width, c.IW - ix)) : no_lanes();
                if (kh == 0 && kw < 3) tile.cols[kw][v] = lanes(-ix, std::min<int64_t>(width, c.IW - ix));
            }
        }
        const int64_t top = oy - c.py, bottom = top + (c.KH - 1) * c.dy;
        tile.base[v] = live ? top * c.IW + ox - c.px : 0;
        if (live && (top < 0 || bottom >= c.IH)) tile.inside = false;
        if (v > 0 && live && tile.base[v] != tile.base[0] + v * L) tile.inside = false;
    }
}

// Row k = (ic, kh, kw) of the im2col matrix for output columns [p0, p0 + n), zeros to `ld`.
void im2col_row(const Conv& c, const float* x, int64_t k, int64_t p0, int64_t n, int64_t ld, float* row) {
    const int64_t ic = k / c.taps(), t = k % c.taps(), kh = t / c.KW, kw = t % c.KW;
    const float*  plane = x + ic * c.IW * c.IH;
    for (int64_t j = 0; j < n;) {  // one run of an output row at a time
        const int64_t p = p0 + j, oy = p / c.OW, ox = p % c.OW, run = std::min(c.OW - ox, n - j);
        const int64_t iy = oy * c.sy - c.py + kh * c.dy;
        if (iy < 0 || iy >= c.IH) {
            std::fill(row + j, row + j + run, 0.0f);
        } else {
            const float* in = plane + iy * c.IW;
            for (int64_t e = 0; e < run; ++e) {
                const int64_t ix = (ox + e) * c.sx - c.px + kw * c.dx;
                row[j + e] = ix >= 0 && ix < c.IW ? in[ix] : 0.0f;
            }
        }
        j += run;
    }
    std::fill(row + n, row + ld, 0.0f);
}

// f32 im2col of output columns [p0, p0 + n) into b (row k of K, `ld` floats apart); rows split over threads.
void im2col(const Conv& c, const float* x, int64_t p0, int64_t n, int64_t ld, float* b, int ith, int nth) {
    for (int64_t k = ith; k < c.K(); k += nth) im2col_row(c, x, k, p0, n, ld, b + k * ld);
}

#if DIFFUSEKIT_CPU_BF16
// ---- bf16 (AVX512_BF16): every convolution Winograd does not take, from 8x8 planes up ----
// An im2col in bf16 pairs of K is the pair planes of the shared bf16 product (diffusekit_cpu_paired.h), the
// weights its rows: twice the products per instruction of the f32 path, and small planes, which the f32
// path leaves to tinyBLAS (f32 FMA on converted f16), run here too.
struct Bf16Conv {
    Conv    c;
    Paired  p;
    bool    flat;  // 1x1, stride 1, no padding: pair planes are two input planes side by side
    size_t  perThread() const { return aligned(size_t(2) * p.chunk * sizeof(float)); }  // two f32 im2col rows
    size_t  bytes(int nth) const { return p.bytes() + size_t(nth) * perThread(); }
};

bool describe_bf16(const ggml_tensor* dst, bool bf16, Bf16Conv& b) {
    Conv& c = b.c;
    if (!bf16 || !shape(dst, c) || c.P() < V * L) return false;  // under 8x8, a tile's vectors would be mostly empty
    b.flat = c.KW == 1 && c.KH == 1 && c.sx == 1 && c.sy == 1 && c.px == 0 && c.py == 0;
    b.p    = Paired(c.OC, c.K(), c.P());
    return true;
}

bool conv_2d_bf16(const ggml_compute_params* params, ggml_tensor* dst, const Bf16Conv& b) {
    const int ith = params->ith, nth = params->nth;
    if (params->wsize < b.bytes(nth)) return false;
    const Conv&   c = b.c;
    const Paired& p = b.p;
    char*     work    = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata)));
    uint16_t* weights = reinterpret_cast<uint16_t*>(work);
    uint32_t* x2      = reinterpret_cast<uint32_t*>(work + p.rowBytes());
    float*    rows    = reinterpret_cast<float*>(work + p.rowBytes() + p.planeBytes() + size_t(ith) * b.perThread());
    const ggml_tensor* kernel = dst->src[0];
    const float* src = static_cast<const float*>(dst->src[1]->data);
    float*       out = static_cast<float*>(dst->data);
    const int64_t planeOut = c.P();
    const size_t  rowBytes = size_t(c.K()) * ggml_type_size(kernel->type);
    auto weightRow = [&](int64_t oc) { return std::pair{static_cast<const void*>(static_cast<const char*>(kernel->data) + oc * rowBytes), kernel->type}; };
    if (p.oneRange()) round_rows(params, p, 0, p.blocks(), weightRow, weights);
    for (int64_t n = 0; n < c.N; ++n) {
        const float* x = src + n * c.IC * c.IW * c.IH;
        float*       y = out + n * c.OC * planeOut;
        for (int64_t p0 = 0; p0 < planeOut; p0 += p.chunk) {
            const int64_t cols = std::min<int64_t>(p.chunk, planeOut - p0), ld = (cols + L - 1) / L * L;
            for (int64_t j = ith; j < p.pairs; j += nth) {
                if (b.flat) {
                    const float* even = x + 2 * j * planeOut + p0;
                    const float* odd  = 2 * j + 1 < c.K() ? even + planeOut : nullptr;
                    for (int64_t q = 0; q < ld; q += L) {
                        const mask m = lanes(0, cols - q);
                        _mm512_storeu_si512(x2 + j * ld + q, pair_bf16(load(m, even + q), odd != nullptr ? load(m, odd + q) : zero()));
                    }
                    continue;
                }
                im2col_row(c, x, 2 * j, p0, cols, ld, rows);
                if (2 * j + 1 < c.K()) im2col_row(c, x, 2 * j + 1, p0, cols, ld, rows + ld);
                else std::fill(rows + ld, rows + 2 * ld, 0.0f);
                for (int64_t q = 0; q < ld; q += L) _mm512_storeu_si512(x2 + j * ld + q, pair_bf16(load(rows + q), load(rows + ld + q)));
            }
            ggml_barrier(params->threadpool);
            paired_product(params, p, weights, p.oneRange(), weightRow, x2, ld, p0, cols, y, planeOut);
        }
    }
    return true;
}
#endif

}  // namespace

size_t diffusekit_conv_2d_work_size(const ggml_tensor* node, int n_threads) {
    size_t bytes = 0;
#if DIFFUSEKIT_CPU_BF16
    Bf16Conv b;  // sized whenever bf16 is available: a compute may ask for it after the plan
    if (describe_bf16(node, diffusekit_cpu_bf16_available(), b)) bytes = b.bytes(n_threads);
#endif
    Conv c;
    if (!describe(node, c)) return bytes;
    const size_t winograd = c.mode == Conv::Mode::direct ? diffusekit_winograd_work_size(node, n_threads) : 0;
    return std::max({bytes, winograd, c.im2colBytes() + size_t(c.blocks()) * c.packBytes() + kAlign});
}

bool diffusekit_conv_2d(const ggml_compute_params* params, ggml_tensor* dst) {
    Conv c;
    const bool f32 = describe(dst, c);
    if (f32 && c.mode == Conv::Mode::direct && diffusekit_winograd_enabled() && diffusekit_winograd_conv_2d(params, dst)) return true;
#if DIFFUSEKIT_CPU_BF16
    Bf16Conv paired;
    if (describe_bf16(dst, diffusekit_cpu_bf16(), paired) && conv_2d_bf16(params, dst, paired)) return true;
#endif
    if (!f32) return false;
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

    auto gemm = [&](int64_t tiles, auto&& describeTile, const float* x, int64_t stride, int64_t nIC, int taps, float* y) {
        // (block3x3 makes three passes over a slice's input rows: 32 KiB of them stay in L1)
        const int64_t perSlice = std::max<int64_t>(
            4, std::min<int64_t>({(24 << 10) / (taps * R * 4), (1 << 20) / (blocks * R * taps * 4),
                                  taps == 9 ? (32 << 10) / (3 * (V * L + 2) * 4) : nIC, nIC}));
        sweep(tiles, 0, blocks, nIC, perSlice, describeTile,
              [&](int64_t blk, int64_t ic0, int64_t n, const Tile& tile, bool accumulate) {
                  const int64_t oc0 = blk * R;
                  run_block(packed + blk * blockFloats + ic0 * taps * R, x + ic0 * stride, stride, n, taps, tile, y + oc0 * planeOut, planeOut,
                            std::min<int64_t>(R, c.OC - oc0), accumulate);
              },
              ith, nth);
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

#else  // no AVX-512 or AVX2: ggml's own convolution runs

size_t diffusekit_conv_2d_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_conv_2d(const ggml_compute_params*, ggml_tensor*) { return false; }

#endif
