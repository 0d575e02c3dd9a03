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

#if DIFFUSEKIT_CPU_VECTOR

using namespace diffusekit_cpu;

namespace {

constexpr int64_t kBandColumns = 128;  // tiles per band (whole tile rows)

struct Winograd {
    int64_t IC, OC, IW, IH, OW, OH, N, px, py;
    int64_t tw, th, rowsPerBand, cols, ld, blocks;  // ld: row stride of V and M, past a half-used last vector
    bool    bf16;    // U and V in bf16 pairs of input channels (diffusekit_cpu_gemm.h), M in f32
    int64_t pairs;   // (IC + 1) / 2
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
    // multiple of L/2 tiles (L-tile vectors, a row's last one maybe half used), transformed weights of at
    // most 16 x 640 x 640 floats (26 MiB).
    if (w.OW < 32 || w.OH < 32 || w.OW % L != 0 || w.OH % 2 != 0) return false;
    if (w.IC * w.OC > 640 * 640 || w.px > 2 || w.py > 2) return false;
    w.tw = w.OW / 2, w.th = w.OH / 2;
    w.rowsPerBand = std::max<int64_t>(1, kBandColumns / w.tw);
    w.cols   = w.rowsPerBand * w.tw;
    w.ld     = (w.cols + L - 1) / L * L + (w.tw % L ? L : 0);
    w.blocks = (w.OC + R - 1) / R;
    w.bf16   = diffusekit_cpu_bf16();
    w.pairs  = (w.IC + 1) / 2;
    return true;
}

// U = G g G^T for every (oc, ic), packed per transform point like pack(): u[((xi * blocks + blk) * IC + ic) * R + r]
// in f32, or in bf16 pairs of input channels: u16[(((xi * blocks + blk) * pairs + ic / 2) * R + r) * 2 + ic % 2].
void transform_weights(const ggml_tensor* kernel, const Winograd& w, int64_t blk, void* out) {
    float*    u   = static_cast<float*>(out);
    uint16_t* u16 = static_cast<uint16_t*>(out);
    if (w.bf16 && w.IC % 2 != 0) {  // the odd channel count's last pair has a zero partner
        for (int xi = 0; xi < 16; ++xi)
            for (int r = 0; r < R; ++r) u16[(((xi * w.blocks + blk) * w.pairs + w.pairs - 1) * R + r) * 2 + 1] = 0;
    }
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
                for (int j = 0; j < 4; ++j) {
                    const int64_t xi = i * 4 + j;
                    if (w.bf16) u16[(((xi * w.blocks + blk) * w.pairs + ic / 2) * R + r) * 2 + ic % 2] = to_bf16(row[j]);
                    else u[((xi * w.blocks + blk) * w.IC + ic) * R + r] = row[j];
                }
            }
        }
    }
}

// d[j] for L consecutive tiles: input row `row` at columns ix0 + 2 l + j (l = 0..L-1), zeros outside.
inline void patch_row(const float* plane, const Winograd& w, int64_t iy, int64_t ix0, vec (&d)[4]) {
    if (iy < 0 || iy >= w.IH) {
        for (auto& v : d) v = zero();
        return;
    }
    const float* row = plane + iy * w.IW;
    for (int shift = 0; shift < 2; ++shift) {
        const int64_t s  = ix0 + 2 * shift;
        const vec     lo = load(lanes(-s, w.IW - s), row + s);
        const vec     hi = load(lanes(-(s + L), w.IW - (s + L)), row + s + L);
        deinterleave(lo, hi, d[2 * shift], d[2 * shift + 1]);
    }
}

// B^T d B of L consecutive tiles of one input plane: out[xi] for transform point xi = 4 i + j.
inline void transform_tiles(const float* plane, const Winograd& w, int64_t ty, int64_t tx, vec (&out)[16]) {
    vec d[4][4], t[4][4];
    for (int i = 0; i < 4; ++i) patch_row(plane, w, 2 * ty - w.py + i, 2 * tx - w.px, d[i]);
    for (int j = 0; j < 4; ++j) {
        t[0][j] = sub(d[0][j], d[2][j]);
        t[1][j] = add(d[1][j], d[2][j]);
        t[2][j] = sub(d[2][j], d[1][j]);
        t[3][j] = sub(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; ++i) {
        out[i * 4 + 0] = sub(t[i][0], t[i][2]);
        out[i * 4 + 1] = add(t[i][1], t[i][2]);
        out[i * 4 + 2] = sub(t[i][2], t[i][1]);
        out[i * 4 + 3] = sub(t[i][1], t[i][3]);
    }
}

// V = B^T d B of the band's tiles: v[(xi * IC + ic) * ld + column] in f32, or in bf16 pairs of input channels
// as 32-bit lanes v32[(xi * pairs + ic / 2) * ld + column].
void transform_input(const float* x, const Winograd& w, int64_t ty0, void* out) {
    const int64_t ty1 = std::min(w.th, ty0 + w.rowsPerBand);
    const int64_t planeSize = w.IW * w.IH;
    const int64_t step = w.bf16 ? 2 : 1;
    for (int64_t ic = 0; ic < w.IC; ic += step) {
        const float* plane = x + ic * planeSize;
        for (int64_t ty = ty0; ty < ty1; ++ty) {
            for (int64_t tx = 0; tx < w.tw; tx += L) {
                const int64_t column = (ty - ty0) * w.tw + tx;
                vec even[16];
                transform_tiles(plane, w, ty, tx, even);
                if (!w.bf16) {
                    float* v = static_cast<float*>(out);
                    for (int xi = 0; xi < 16; ++xi) store(v + (xi * w.IC + ic) * w.ld + column, even[xi]);
                    continue;
                }
#if DIFFUSEKIT_CPU_BF16
                __m512 odd[16];
                if (ic + 1 < w.IC) transform_tiles(plane + planeSize, w, ty, tx, odd);
                else for (auto& o : odd) o = _mm512_setzero_ps();
                uint32_t* v32 = static_cast<uint32_t*>(out);
                for (int xi = 0; xi < 16; ++xi) {
                    _mm512_storeu_si512(v32 + (xi * w.pairs + ic / 2) * w.ld + column, pair_bf16(even[xi], odd[xi]));
                }
#endif
            }
        }
    }
}

// Y = A^T M A into the destination: m[(xi * OC + oc) * ld + column].
void transform_output(const float* m, const Winograd& w, int64_t ty0, float* y) {
    const int64_t ty1 = std::min(w.th, ty0 + w.rowsPerBand);
    for (int64_t oc = 0; oc < w.OC; ++oc) {
        float* plane = y + oc * w.OW * w.OH;
        for (int64_t ty = ty0; ty < ty1; ++ty) {
            for (int64_t tx = 0; tx < w.tw; tx += L) {
                const int64_t column = (ty - ty0) * w.tw + tx;
                vec s[2][4];
                for (int j = 0; j < 4; ++j) {
                    const float* at = m + (j * w.OC + oc) * w.ld + column;
                    const vec m0 = load(at), m1 = load(at + 4 * w.OC * w.ld);
                    const vec m2 = load(at + 8 * w.OC * w.ld), m3 = load(at + 12 * w.OC * w.ld);
                    s[0][j] = add(add(m0, m1), m2);
                    s[1][j] = sub(sub(m1, m2), m3);
                }
                const mask first = lanes(0, w.OW - 2 * tx), second = lanes(0, w.OW - 2 * tx - L);
                for (int i = 0; i < 2; ++i) {
                    const vec y0 = add(add(s[i][0], s[i][1]), s[i][2]);
                    const vec y1 = sub(sub(s[i][1], s[i][2]), s[i][3]);
                    float* row = plane + (2 * ty + i) * w.OW + 2 * tx;
                    vec lo, hi;
                    interleave(y0, y1, lo, hi);
                    store(row, first, lo);
                    store(row + L, second, hi);
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
    float* m    = v + 16 * w.IC * w.ld;  // (V in bf16 uses half of its room)
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
                    float* mb = m + (xi * w.OC + blk * R) * w.ld;
#if DIFFUSEKIT_CPU_BF16
                    if (w.bf16) {
                        block_bf16(reinterpret_cast<const uint32_t*>(u) + (xi * w.blocks + blk) * w.pairs * R, 1, R,
                                   reinterpret_cast<const uint32_t*>(v) + xi * w.pairs * w.ld, w.ld, w.pairs, tile, mb, w.ld, rows, false);
                        continue;
                    }
#endif
                    run_block(u + (xi * w.blocks + blk) * w.IC * R, v + xi * w.IC * w.ld, w.ld, w.IC, 1, tile, mb, w.ld, rows, false);
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
