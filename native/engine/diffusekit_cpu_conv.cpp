// GGML_OP_CONV_2D on the CPU as an implicit GEMM over the shared register-blocked kernel
// (diffusekit_cpu_gemm.h): out[oc][p] = sum over k = (ic, kh, kw) of W[oc][k] * x[ic][tap(p, kh, kw)], all in
// f32 (the engine rounds activations to f16 first). Three ways to feed the kernel its right-hand side:
//   direct:  stride 1 and rows of at least L (16 or 8) pixels: taps read the input in place, borders by load masks.
//   flat:    1x1, stride 1, no padding: the input planes already are the GEMM's right-hand matrix.
//   im2col:  everything else (strided, small planes): f32 im2col of a bounded column chunk, then the GEMM.
#include "diffusekit_cpu.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "diffusekit_cpu_gemm.h"
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

// f32 im2col of output columns [p0, p0 + n) into b (row k of K, `ld` floats apart); rows split over threads.
void im2col(const Conv& c, const float* x, int64_t p0, int64_t n, int64_t ld, float* b, int ith, int nth) {
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

size_t diffusekit_conv_2d_work_size(const ggml_tensor* node, int n_threads) {
    Conv c;
    if (!describe(node, c)) return 0;
    const size_t winograd = c.mode == Conv::Mode::direct ? diffusekit_winograd_work_size(node, n_threads) : 0;
    return std::max(winograd, c.im2colBytes() + size_t(c.blocks()) * c.packBytes() + kAlign);
}

bool diffusekit_conv_2d(const ggml_compute_params* params, ggml_tensor* dst) {
    Conv c;
    if (!describe(dst, c)) return false;
    if (c.mode == Conv::Mode::direct && diffusekit_winograd_enabled() && diffusekit_winograd_conv_2d(params, dst)) return true;
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
        // (block3x3 makes three passes over a slice's input rows: 32 KiB of them stay in L1)
        const int64_t perSlice = std::max<int64_t>(
            4, std::min<int64_t>({(24 << 10) / (taps * R * 4), (1 << 20) / (blocks * R * taps * 4),
                                  taps == 9 ? (32 << 10) / (3 * (V * L + 2) * 4) : nIC, nIC}));
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

#else  // no AVX-512 or AVX2: ggml's own convolution runs

size_t diffusekit_conv_2d_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_conv_2d(const ggml_compute_params*, ggml_tensor*) { return false; }

#endif
