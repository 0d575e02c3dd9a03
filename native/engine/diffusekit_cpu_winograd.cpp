// 3x3 stride-1 convolutions as Winograd F(2x2, 3x3) over the shared GEMM (diffusekit_cpu_gemm.h):
// 16 products of 4x4-transformed weights and inputs take 16 multiplies per 2x2 outputs where the direct
// form takes 36. Transforms and sums are in f32 (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016). Tiles of 2x2 outputs are processed a band of tile rows at a time per thread: input
// transform of the band (16 tiles per vector), then for each of the 16 transform points the GEMM over all
// output channels, then the output transform into the destination.
#include "diffusekit_cpu_winograd.h"

#include <algorithm>
#include <cstdint>

#include "diffusekit_cpu_gemm.h"
#include "ggml-cpu-impl.h"

#if DIFFUSEKIT_CPU_AVX512

using namespace diffusekit_cpu;

namespace {

constexpr int64_t kBandColumns = 128;  // tiles per band (whole tile rows)

struct Winograd {
    int64_t IC, OC, IW, IH, OW, OH, N, px, py;
    int64_t tw, th, rowsPerBand, cols, ld, blocks;  // ld: row stride of V and M, past a half-used last vector
    size_t weightsBytes() const { return aligned(size_t(16) * blocks * R * IC * sizeof(float)); }
    size_t perThread() const { return aligned((size_t(16) * (IC + blocks * R) * ld + L) * sizeof(float)); }
};

bool describe(const ggml_tensor* dst, Winograd& w) {
    const ggml_tensor* kernel = dst->src[0];
    const ggml_tensor* src    = dst->src[1];
    const int32_t* op = dst->op_params;
    if (kernel->ne[0] != 3 || kernel->ne[1] != 3 || op[0] != 1 || op[1] != 1 || op[4] != 1 || op[5] != 1) return false;
    w.IC = kernel->ne[2], w.OC = kernel->ne[3], w.IW = src->ne[0], w.IH = src->ne[1], w.N = src->ne[3];
    w.OW = dst->ne[0], w.OH = dst->ne[1], w.px = op[2], w.py = op[3];
    // Planes of at least 32x32 (below, transforming the weights costs more than it saves), tile rows of a
    // multiple of 8 tiles (16-tile vectors, a row's last one maybe half used), transformed weights of at
    // most 16 x 640 x 640 floats (26 MiB).
    if (w.OW < 2 * L || w.OH < 2 * L || w.OW % L != 0 || w.OH % 2 != 0) return false;
    if (w.IC * w.OC > 640 * 640 || w.px > 2 || w.py > 2) return false;
    w.tw = w.OW / 2, w.th = w.OH / 2;
    w.rowsPerBand = std::max<int64_t>(1, kBandColumns / w.tw);
    w.cols   = w.rowsPerBand * w.tw;
    w.ld     = (w.cols + L - 1) / L * L + (w.tw % L ? L : 0);
    w.blocks = (w.OC + R - 1) / R;
    return true;
}

// U = G g G^T for every (oc, ic), packed per transform point like pack(): u[((xi * blocks + blk) * IC + ic) * R + r].
void transform_weights(const ggml_tensor* kernel, const Winograd& w, int64_t blk, float* u) {
    for (int r = 0; r < R; ++r) {
        const int64_t oc = blk * R + r;
        for (int64_t ic = 0; ic < w.IC; ++ic) {
            float g[9] = {};
            if (oc < w.OC) {
                const int64_t at = (oc * w.IC + ic) * 9;
                for (int k = 0; k < 9; ++k) {
                    g[k] = kernel->type == GGML_TYPE_F32 ? static_cast<const float*>(kernel->data)[at + k]
                                                         : _cvtsh_ss(static_cast<const ggml_fp16_t*>(kernel->data)[at + k]);
                }
            }
            float a[4][3];  // G g
            for (int j = 0; j < 3; ++j) {
                a[0][j] = g[j];
                a[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                a[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                a[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; ++i) {
                const float row[4] = {a[i][0], 0.5f * (a[i][0] + a[i][1] + a[i][2]), 0.5f * (a[i][0] - a[i][1] + a[i][2]), a[i][2]};
                for (int j = 0; j < 4; ++j) u[(((i * 4 + j) * w.blocks + blk) * w.IC + ic) * R + r] = row[j];
            }
        }
    }
}

// d[j] for 16 consecutive tiles: input row `row` at columns ix0 + 2 l + j (l = 0..15), zeros outside.
inline void patch_row(const float* plane, const Winograd& w, int64_t iy, int64_t ix0, __m512 (&d)[4]) {
    if (iy < 0 || iy >= w.IH) {
        for (auto& v : d) v = _mm512_setzero_ps();
        return;
    }
    const float*  row  = plane + iy * w.IW;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd  = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int shift = 0; shift < 2; ++shift) {
        const int64_t s  = ix0 + 2 * shift;
        const __m512  lo = _mm512_maskz_loadu_ps(lanes(-s, w.IW - s), row + s);
        const __m512  hi = _mm512_maskz_loadu_ps(lanes(-(s + L), w.IW - (s + L)), row + s + L);
        d[2 * shift]     = _mm512_permutex2var_ps(lo, even, hi);
        d[2 * shift + 1] = _mm512_permutex2var_ps(lo, odd, hi);
    }
}

// V = B^T d B of the band's tiles: v[(xi * IC + ic) * ld + column].
void transform_input(const float* x, const Winograd& w, int64_t ty0, float* v) {
    const int64_t ty1 = std::min(w.th, ty0 + w.rowsPerBand);
    for (int64_t ic = 0; ic < w.IC; ++ic) {
        const float* plane = x + ic * w.IW * w.IH;
        for (int64_t ty = ty0; ty < ty1; ++ty) {
            for (int64_t tx = 0; tx < w.tw; tx += L) {
                __m512 d[4][4], t[4][4];
                for (int i = 0; i < 4; ++i) patch_row(plane, w, 2 * ty - w.py + i, 2 * tx - w.px, d[i]);
                for (int j = 0; j < 4; ++j) {
                    t[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
                    t[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
                    t[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
                    t[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
                }
                const int64_t column = (ty - ty0) * w.tw + tx;
                for (int i = 0; i < 4; ++i) {
                    const __m512 out[4] = {_mm512_sub_ps(t[i][0], t[i][2]), _mm512_add_ps(t[i][1], t[i][2]),
                                           _mm512_sub_ps(t[i][2], t[i][1]), _mm512_sub_ps(t[i][1], t[i][3])};
                    for (int j = 0; j < 4; ++j) _mm512_storeu_ps(v + ((i * 4 + j) * w.IC + ic) * w.ld + column, out[j]);
                }
            }
        }
    }
}

// Y = A^T M A into the destination: m[(xi * OC + oc) * ld + column].
void transform_output(const float* m, const Winograd& w, int64_t ty0, float* y) {
    const int64_t ty1 = std::min(w.th, ty0 + w.rowsPerBand);
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int64_t oc = 0; oc < w.OC; ++oc) {
        float* plane = y + oc * w.OW * w.OH;
        for (int64_t ty = ty0; ty < ty1; ++ty) {
            for (int64_t tx = 0; tx < w.tw; tx += L) {
                const int64_t column = (ty - ty0) * w.tw + tx;
                __m512 s[2][4];
                for (int j = 0; j < 4; ++j) {
                    const float* at = m + (j * w.OC + oc) * w.ld + column;
                    const __m512 m0 = _mm512_loadu_ps(at), m1 = _mm512_loadu_ps(at + 4 * w.OC * w.ld);
                    const __m512 m2 = _mm512_loadu_ps(at + 8 * w.OC * w.ld), m3 = _mm512_loadu_ps(at + 12 * w.OC * w.ld);
                    s[0][j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                    s[1][j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
                }
                const __mmask16 first = lanes(0, w.OW - 2 * tx), second = lanes(0, w.OW - 2 * tx - L);
                for (int i = 0; i < 2; ++i) {
                    const __m512 y0 = _mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]);
                    const __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]);
                    float* row = plane + (2 * ty + i) * w.OW + 2 * tx;
                    _mm512_mask_storeu_ps(row, first, _mm512_permutex2var_ps(y0, lo, y1));
                    _mm512_mask_storeu_ps(row + L, second, _mm512_permutex2var_ps(y0, hi, y1));
                }
            }
        }
    }
}

}  // namespace

size_t diffusekit_winograd_work_size(const ggml_tensor* node, int n_threads) {
    Winograd w;
    if (!describe(node, w)) return 0;
    return w.weightsBytes() + size_t(n_threads) * w.perThread() + kAlign;
}

bool diffusekit_winograd_conv_2d(const ggml_compute_params* params, ggml_tensor* dst) {
    Winograd w;
    if (!describe(dst, w)) return false;
    const int ith = params->ith, nth = params->nth;
    if (params->wsize < w.weightsBytes() + size_t(nth) * w.perThread() + kAlign) return false;

    char*  work = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata)));
    float* u    = reinterpret_cast<float*>(work);
    float* v    = reinterpret_cast<float*>(work + w.weightsBytes() + size_t(ith) * w.perThread());
    float* m    = v + 16 * w.IC * w.ld;
    for (int64_t blk = ith; blk < w.blocks; blk += nth) transform_weights(dst->src[0], w, blk, u);
    ggml_barrier(params->threadpool);

    const int64_t bands = (w.th + w.rowsPerBand - 1) / w.rowsPerBand;
    const float* src = static_cast<const float*>(dst->src[1]->data);
    float*       out = static_cast<float*>(dst->data);
    Tile tile;
    for (int64_t job = ith; job < w.N * bands; job += nth) {
        const int64_t n = job / bands, ty0 = (job % bands) * w.rowsPerBand;
        transform_input(src + n * w.IC * w.IW * w.IH, w, ty0, v);
        const int64_t live = (std::min(w.th, ty0 + w.rowsPerBand) - ty0) * w.tw, tiles = (live + V * L - 1) / (V * L);
        for (int xi = 0; xi < 16; ++xi) {
            for (int64_t blk = 0; blk < w.blocks; ++blk) {
                const int64_t rows = std::min<int64_t>(R, w.OC - blk * R);
                for (int64_t t = 0; t < tiles; ++t) {
                    gemm_tile(t, live, 0, tile);
                    run_block(u + (xi * w.blocks + blk) * w.IC * R, v + xi * w.IC * w.ld, w.ld, w.IC, 1, tile,
                              m + (xi * w.OC + blk * R) * w.ld, w.ld, rows, false);
                }
            }
        }
        transform_output(m, w, ty0, out + n * w.OC * w.OW * w.OH);
    }
    return true;
}

#else

size_t diffusekit_winograd_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_winograd_conv_2d(const ggml_compute_params*, ggml_tensor*) { return false; }

#endif
