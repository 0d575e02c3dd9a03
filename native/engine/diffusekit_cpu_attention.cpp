// GGML_OP_FLASH_ATTN_EXT on the CPU: softmax(Q K^T scale + mask) V without the score matrix.
// The engine's unfused attention writes, rescales, normalises and re-reads an L_q x L_k matrix of scores per
// head (8 x 4096 x 4096 floats, 512 MiB, for SD 1.x at 512x512), and ggml's own fused CPU kernel takes one
// query row at a time through dot products (3.5x slower than the unfused graph on an SD 1.x step). Here a
// block of query rows meets a block of keys in the shared register block (R rows x V vectors,
// diffusekit_cpu_gemm.h) under the online softmax of FlashAttention (Dao et al., 2022): per row a running
// maximum and sum, the partial output rescaled when the maximum grows, so scores never leave the caches.
// Scores are in base 2 (Q is scaled by scale * log2 e when packed). With bf16 products (diffusekit_cpu_bf16)
// Q, K, the probabilities and V are rounded to bf16 and multiplied by vdpbf16ps; sums are f32 either way.
// K and V are packed once per call (per group of heads, into the shared work buffer), then every thread
// takes (head, block of query rows) units.
#include "diffusekit_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "diffusekit_cpu_gemm.h"
#include "ggml-cpu-impl.h"
#include "ggml.h"

#if DIFFUSEKIT_CPU_VECTOR

using namespace diffusekit_cpu;

namespace {

constexpr int64_t kQueryRows    = 16 * R;                    // query rows per unit of work
constexpr int64_t kKeys         = 128;                       // keys per block: a multiple of V * L
constexpr size_t  kMaxPackBytes = size_t(64) << 20;          // packed K and V held at a time (work buffer)
constexpr int64_t kMaxHeadSize  = 1024;
constexpr float   kLog2e        = 1.44269504088896341f;
constexpr ggml_fp16_t kMinusInfinityF16 = 0xFC00;

std::atomic<uint64_t> attention_calls{0};

// The products of the two inner loops, in f32 (one K element per step) or in bf16 pairs (two per step).
struct F32Products {
    using T       = float;
    using operand = vec;
    static constexpr int64_t kPerStep = 1;
    static operand load(const T* p) { return diffusekit_cpu::load(p); }
    static operand broadcast(const T* p) { return set1(*p); }
    static vec     madd(vec acc, operand a, operand b) { return fmadd(a, b, acc); }
};

#if DIFFUSEKIT_CPU_BF16
struct Bf16Products {
    using T       = uint32_t;  // (even, odd) bf16 pair, even element in the low half
    using operand = __m512bh;
    static constexpr int64_t kPerStep = 2;
    static operand load(const T* p) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p)); }
    static operand broadcast(const T* p) { return reinterpret_cast<__m512bh>(_mm512_set1_epi32(int(*p))); }
    static vec     madd(vec acc, operand a, operand b) { return _mm512_dpbf16_ps(acc, a, b); }
};
#endif

struct Attention {
    const ggml_tensor *q, *k, *v, *mask;
    int64_t D, Dv;                    // head size; and rounded up to whole vectors (packed V, output rows)
    int64_t Lq, Lk, heads, batches;   // q: [D, Lq, heads, batches]
    int64_t kvHeads, kvBatches;       // k, v: [D, Lk, kvHeads, kvBatches], broadcast over q's heads
    int64_t keyBlocks, queryBlocks;
    float   scale;                    // times log2 e
    bool    bf16;

    int64_t depth() const { return bf16 ? (D + 1) / 2 : D; }  // K steps of a score: elements or pairs
    int64_t kvCount() const { return kvHeads * kvBatches; }
    // One K block: [depth][kKeys]; one V block: [kKeys / kPerStep][Dv]; 4-byte elements either way.
    size_t keyBlockBytes() const { return size_t(depth()) * kKeys * 4; }
    size_t valueBlockBytes() const { return size_t(bf16 ? kKeys / 2 : kKeys) * Dv * 4; }
    size_t perHead() const { return aligned(size_t(keyBlocks) * (keyBlockBytes() + valueBlockBytes())); }
    int64_t groupHeads() const { return std::clamp<int64_t>(int64_t(kMaxPackBytes / perHead()), 1, kvCount()); }
    // Packed queries, scores, bf16 probabilities, output rows, and per row the running maximum, sum and rescale.
    size_t queryBytes() const { return aligned(size_t(kQueryRows) * depth() * 4); }
    size_t scoreBytes() const { return aligned(size_t(kQueryRows) * kKeys * sizeof(float)); }
    size_t probabilityBytes() const { return bf16 ? aligned(size_t(kQueryRows) * kKeys * sizeof(uint16_t)) : 0; }
    size_t outputBytes() const { return aligned(size_t(kQueryRows) * Dv * sizeof(float)); }
    size_t perThread() const { return queryBytes() + scoreBytes() + probabilityBytes() + outputBytes() + aligned(3 * kQueryRows * sizeof(float)); }
    size_t bytes(int nth) const { return size_t(groupHeads()) * perHead() + size_t(nth) * perThread() + kAlign; }

    const float* queryRow(int64_t i, int64_t head, int64_t batch) const {
        return reinterpret_cast<const float*>(static_cast<const char*>(q->data) + i * q->nb[1] + head * q->nb[2] + batch * q->nb[3]);
    }
    const ggml_fp16_t* maskRow(int64_t i, int64_t head, int64_t batch) const {
        return reinterpret_cast<const ggml_fp16_t*>(static_cast<const char*>(mask->data) + i * mask->nb[1] +
                                                    (head % mask->ne[2]) * mask->nb[2] + (batch % mask->ne[3]) * mask->nb[3]);
    }
};

bool describe(const ggml_tensor* dst, bool bf16, Attention& a) {
    if (!diffusekit_cpu_fast_kernels()) return false;
    a.q = dst->src[0], a.k = dst->src[1], a.v = dst->src[2], a.mask = dst->src[3];
    if (dst->src[4] != nullptr) return false;  // attention sinks
    float scale, maxBias, softcap;
    std::memcpy(&scale, dst->op_params + 0, sizeof(float));
    std::memcpy(&maxBias, dst->op_params + 1, sizeof(float));
    std::memcpy(&softcap, dst->op_params + 2, sizeof(float));
    if (maxBias != 0.0f || softcap != 0.0f) return false;  // ALiBi, logit soft-capping
    const auto kvType = [](ggml_type t) { return t == GGML_TYPE_F16 || t == GGML_TYPE_F32; };
    if (a.q->type != GGML_TYPE_F32 || dst->type != GGML_TYPE_F32 || !kvType(a.k->type) || !kvType(a.v->type)) return false;
    if (a.mask != nullptr && a.mask->type != GGML_TYPE_F16) return false;
    a.D = a.q->ne[0];
    if (a.D < 1 || a.D > kMaxHeadSize || a.k->ne[0] != a.D || a.v->ne[0] != a.D || dst->ne[0] != a.D) return false;
    if (a.q->nb[0] != sizeof(float) || a.k->nb[0] != ggml_type_size(a.k->type) || a.v->nb[0] != ggml_type_size(a.v->type)) return false;
    if (!ggml_is_contiguous(dst)) return false;
    a.Lq = a.q->ne[1], a.Lk = a.k->ne[1], a.heads = a.q->ne[2], a.batches = a.q->ne[3];
    a.kvHeads = a.k->ne[2], a.kvBatches = a.k->ne[3];
    if (a.Lk < 1 || a.v->ne[1] != a.Lk || a.v->ne[2] != a.kvHeads || a.v->ne[3] != a.kvBatches) return false;
    if (a.heads % a.kvHeads != 0 || a.batches % a.kvBatches != 0) return false;
    if (dst->ne[1] != a.heads || dst->ne[2] != a.Lq || dst->ne[3] != a.batches) return false;
    if (a.mask != nullptr && (a.mask->ne[0] < a.Lk || a.mask->ne[1] < a.Lq || a.mask->nb[0] != sizeof(ggml_fp16_t))) return false;
    a.Dv          = (a.D + L - 1) / L * L;
    a.keyBlocks   = (a.Lk + kKeys - 1) / kKeys;
    a.queryBlocks = (a.Lq + kQueryRows - 1) / kQueryRows;
    a.scale       = scale * kLog2e;
    a.bf16        = bf16;
    return true;
}

float element(const void* row, ggml_type type, int64_t i) {
    return type == GGML_TYPE_F32 ? static_cast<const float*>(row)[i] : _cvtsh_ss(static_cast<const ggml_fp16_t*>(row)[i]);
}

uint32_t bf16_pair(float even, float odd) { return uint32_t(to_bf16(even)) | uint32_t(to_bf16(odd)) << 16; }

// Key block kb of kv head `kv` into keys ([depth][kKeys], lane = key) and values ([kKeys / kPerStep][Dv],
// lane = element of the head); keys past Lk and elements past D are zero.
void pack_block(const Attention& a, int64_t kv, int64_t kb, char* head) {
    const int64_t h = kv % a.kvHeads, b = kv / a.kvHeads;
    const char* kBase = static_cast<const char*>(a.k->data) + h * a.k->nb[2] + b * a.k->nb[3];
    const char* vBase = static_cast<const char*>(a.v->data) + h * a.v->nb[2] + b * a.v->nb[3];
    char* keys   = head + size_t(kb) * (a.keyBlockBytes() + a.valueBlockBytes());
    char* values = keys + a.keyBlockBytes();
    const int64_t k0 = kb * kKeys, n = std::min(kKeys, a.Lk - k0);
    std::memset(keys, 0, a.keyBlockBytes());
    std::memset(values, 0, a.valueBlockBytes());
    for (int64_t c = 0; c < n; ++c) {
        const void* kRow = kBase + (k0 + c) * a.k->nb[1];
        const void* vRow = vBase + (k0 + c) * a.v->nb[1];
        if (a.bf16) {
            uint32_t* kp = reinterpret_cast<uint32_t*>(keys);
            for (int64_t j = 0; j < a.depth(); ++j) {
                kp[j * kKeys + c] = bf16_pair(element(kRow, a.k->type, 2 * j), 2 * j + 1 < a.D ? element(kRow, a.k->type, 2 * j + 1) : 0.0f);
            }
            uint16_t* vp = reinterpret_cast<uint16_t*>(values) + (c / 2) * a.Dv * 2 + c % 2;  // this key's half of each pair
            for (int64_t d = 0; d < a.D; ++d) vp[2 * d] = to_bf16(element(vRow, a.v->type, d));
        } else {
            float* kp = reinterpret_cast<float*>(keys);
            for (int64_t d = 0; d < a.D; ++d) kp[d * kKeys + c] = element(kRow, a.k->type, d);
            float* vp = reinterpret_cast<float*>(values) + c * a.Dv;
            for (int64_t d = 0; d < a.D; d += L) store(vp + d, load_row(vRow, a.v->type, d, a.D - d));
        }
    }
}

// c[r][col] = (alpha ? alpha[r] c[r][col] : 0) + sum over j of a[r][j] b[j][col], for R rows and NV * L columns:
// scores (a = Q, b = packed K, no alpha) and the output (a = probabilities, b = packed V, the rescale alpha).
template <class P, int NV>
__attribute__((noinline)) void product_tile(const typename P::T* __restrict a, int64_t as, const typename P::T* __restrict b, int64_t bs,
                                            int64_t depth, float* __restrict c, int64_t ldc, const float* __restrict alpha) {
    vec acc[R][NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        const vec rescale = alpha != nullptr ? set1(alpha[r]) : zero();
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = alpha != nullptr ? mul(load(c + r * ldc + v * L), rescale) : zero();
    }
    for (int64_t j = 0; j < depth; ++j) {
        typename P::operand x[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) x[v] = P::load(b + j * bs + v * L);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const typename P::operand w = P::broadcast(a + r * as + j);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = P::madd(acc[r][v], w, x[v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) store(c + r * ldc + v * L, acc[r][v]);
}

template <class P>
void values_columns(int nv, const typename P::T* p, int64_t ps, const typename P::T* x, int64_t Dv, int64_t depth, float* o, const float* alpha) {
    switch (nv) {
        case 1: product_tile<P, 1>(p, ps, x, Dv, depth, o, Dv, alpha); break;
        case 2: product_tile<P, 2>(p, ps, x, Dv, depth, o, Dv, alpha); break;
#if DIFFUSEKIT_CPU_VECTOR == 512
        case 3: product_tile<P, 3>(p, ps, x, Dv, depth, o, Dv, alpha); break;
        case 4: product_tile<P, 4>(p, ps, x, Dv, depth, o, Dv, alpha); break;
#endif
    }
}

// One row's scores of a key block (`width` computed, `n` of them real keys) become probabilities in place,
// against the row's running maximum `m` and sum `l`; alpha is what the row's earlier output is rescaled by.
void softmax_row(float* s, const ggml_fp16_t* maskRow, int64_t n, int64_t width, float& m, float& l, float& alpha) {
    const vec minusInfinity = set1(-INFINITY);
    vec top = minusInfinity;
    for (int64_t c = 0; c < width; c += L) {
        const mask live = lanes(0, n - c);
        vec x = load(s + c);
        if (maskRow != nullptr && any(live)) x = fmadd(all(live) ? load_f16(maskRow + c) : load_f16(live, maskRow + c), set1(kLog2e), x);
        x = select(live, x, minusInfinity);
        store(s + c, x);
        top = max(top, x);
    }
    const float next = std::max(m, reduce_max(top));
    if (next == -INFINITY) {  // every key so far masked out: nothing to add, nothing to rescale
        for (int64_t c = 0; c < width; c += L) store(s + c, zero());
        alpha = 1.0f;
        return;
    }
    alpha = std::exp2(m - next);
    const vec shift = set1(next);
    vec sum = zero();
    for (int64_t c = 0; c < width; c += L) {
        const vec p = exp2_nonpositive(sub(load(s + c), shift));
        store(s + c, p);
        sum = add(sum, p);
    }
    m = next;
    l = l * alpha + reduce_add(sum);
}

// Whether every query row of the unit has this whole key block masked out (-inf): the engine pads keys to a
// multiple of 256 that way, so text's 77 tokens would otherwise cost 256.
bool masked_out(const Attention& a, int64_t head, int64_t batch, int64_t q0, int64_t rows, int64_t k0, int64_t n) {
    for (int64_t r = 0; r < rows; ++r) {
        const ggml_fp16_t* row = a.maskRow(q0 + r, head, batch) + k0;
        for (int64_t c = 0; c < n; ++c) {
            if (row[c] != kMinusInfinityF16) return false;
        }
    }
    return true;
}

struct Scratch {
    void*     queries;
    float*    scores;
    uint16_t* probabilities;  // bf16, when the products are
    float*    output;
    float *   maxima, *sums, *alpha;
};

Scratch scratch(const Attention& a, char* at) {
    Scratch s;
    s.queries       = at, at += a.queryBytes();
    s.scores        = reinterpret_cast<float*>(at), at += a.scoreBytes();
    s.probabilities = reinterpret_cast<uint16_t*>(at), at += a.probabilityBytes();
    s.output        = reinterpret_cast<float*>(at), at += a.outputBytes();
    s.maxima        = reinterpret_cast<float*>(at);
    s.sums          = s.maxima + kQueryRows;
    s.alpha         = s.sums + kQueryRows;
    return s;
}

// Query rows [q0, q0 + rows) of one head against every key block of its kv head (packed at `head`).
template <class P>
void attend(const Attention& a, int64_t h, int64_t batch, int64_t q0, int64_t rows, const char* head, const Scratch& s, ggml_tensor* dst) {
    using T = typename P::T;
    const int64_t depth = a.depth(), tiles = (rows + R - 1) / R;
    T* q = static_cast<T*>(s.queries);
    for (int64_t r = 0; r < tiles * R; ++r) {
        const float* row = r < rows ? a.queryRow(q0 + r, h, batch) : nullptr;
        for (int64_t j = 0; j < depth; ++j) {
            const int64_t d = j * P::kPerStep;
            const float even = row != nullptr ? row[d] * a.scale : 0.0f;
            if constexpr (P::kPerStep == 1) {
                q[r * depth + j] = even;
            } else {
                q[r * depth + j] = bf16_pair(even, row != nullptr && d + 1 < a.D ? row[d + 1] * a.scale : 0.0f);
            }
        }
    }
    std::fill(s.output, s.output + tiles * R * a.Dv, 0.0f);
    std::fill(s.maxima, s.maxima + tiles * R, -INFINITY);
    std::fill(s.sums, s.sums + tiles * R, 0.0f);
    for (int64_t kb = 0; kb < a.keyBlocks; ++kb) {
        const int64_t k0 = kb * kKeys, n = std::min(kKeys, a.Lk - k0);
        if (a.mask != nullptr && masked_out(a, h, batch, q0, rows, k0, n)) continue;
        const char* keys   = head + size_t(kb) * (a.keyBlockBytes() + a.valueBlockBytes());
        const T*    kp     = reinterpret_cast<const T*>(keys);
        const T*    vp     = reinterpret_cast<const T*>(keys + a.keyBlockBytes());
        const int64_t width = (n + V * L - 1) / (V * L) * (V * L);
        for (int64_t t = 0; t < tiles; ++t) {
            for (int64_t c = 0; c < width; c += V * L) product_tile<P, V>(q + t * R * depth, depth, kp + c, kKeys, depth, s.scores + t * R * kKeys + c, kKeys, nullptr);
        }
        for (int64_t r = 0; r < tiles * R; ++r) {
            const ggml_fp16_t* maskRow = a.mask != nullptr && r < rows ? a.maskRow(q0 + r, h, batch) + k0 : nullptr;
            softmax_row(s.scores + r * kKeys, maskRow, r < rows ? n : 0, width, s.maxima[r], s.sums[r], s.alpha[r]);
        }
        const T* p  = reinterpret_cast<const T*>(s.scores);
        int64_t  ps = kKeys;
#if DIFFUSEKIT_CPU_BF16
        if constexpr (P::kPerStep == 2) {  // probabilities to bf16, consecutive keys as pairs
            for (int64_t r = 0; r < tiles * R; ++r) {
                for (int64_t c = 0; c < width; c += 2 * L) {
                    const float* row = s.scores + r * kKeys + c;
                    _mm512_storeu_si512(s.probabilities + r * kKeys + c, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(load(row + L), load(row))));
                }
            }
            p  = reinterpret_cast<const T*>(s.probabilities);
            ps = kKeys / 2;
        }
#endif
        const int64_t steps = (n + P::kPerStep - 1) / P::kPerStep;
        for (int64_t t = 0; t < tiles; ++t) {
            for (int64_t c = 0; c < a.Dv; c += V * L) {
                const int nv = int(std::min<int64_t>(V, (a.Dv - c) / L));
                values_columns<P>(nv, p + t * R * ps, ps, vp + c, a.Dv, steps, s.output + t * R * a.Dv + c, s.alpha + t * R);
            }
        }
    }
    // dst is [D, heads, Lq, batches]: query row i of head h at row (batch * Lq + i) * heads + h.
    for (int64_t r = 0; r < rows; ++r) {
        float*    out  = reinterpret_cast<float*>(static_cast<char*>(dst->data) + ((batch * a.Lq + q0 + r) * a.heads + h) * dst->nb[1]);
        const vec norm = set1(s.sums[r] > 0.0f ? 1.0f / s.sums[r] : 0.0f);
        for (int64_t d = 0; d < a.D; d += L) store(out + d, lanes(0, a.D - d), mul(load(s.output + r * a.Dv + d), norm));
    }
}

}  // namespace

size_t diffusekit_flash_attn_work_size(const ggml_tensor* node, int n_threads) {
    Attention f32, bf16;
    if (!describe(node, false, f32)) return 0;
    size_t bytes = f32.bytes(n_threads);
    if (diffusekit_cpu_bf16_available() && describe(node, true, bf16)) bytes = std::max(bytes, bf16.bytes(n_threads));
    return bytes;
}

bool diffusekit_flash_attn(const ggml_compute_params* params, ggml_tensor* dst) {
    const int ith = params->ith, nth = params->nth;
    Attention a;
    if (!describe(dst, diffusekit_cpu_bf16(), a) || params->wsize < a.bytes(nth)) return false;
    char* work = reinterpret_cast<char*>(aligned(reinterpret_cast<uintptr_t>(params->wdata)));
    const int64_t group = a.groupHeads();
    const Scratch mine  = scratch(a, work + size_t(group) * a.perHead() + size_t(ith) * a.perThread());
    const int64_t units = a.heads * a.batches * a.queryBlocks;
    if (ith == 0) attention_calls.fetch_add(1, std::memory_order_relaxed);
    for (int64_t g0 = 0; g0 < a.kvCount(); g0 += group) {
        const int64_t g1 = std::min(a.kvCount(), g0 + group);
        if (g0 > 0) ggml_barrier(params->threadpool);  // the previous group's units are done with the buffer
        for (int64_t u = ith; u < (g1 - g0) * a.keyBlocks; u += nth) {
            pack_block(a, g0 + u / a.keyBlocks, u % a.keyBlocks, work + size_t(u / a.keyBlocks) * a.perHead());
        }
        ggml_barrier(params->threadpool);
        for (int64_t u = ith; u < units; u += nth) {
            const int64_t qb = u % a.queryBlocks, h = (u / a.queryBlocks) % a.heads, batch = u / a.queryBlocks / a.heads;
            const int64_t kv = (batch / (a.batches / a.kvBatches)) * a.kvHeads + h / (a.heads / a.kvHeads);
            if (kv < g0 || kv >= g1) continue;
            const int64_t q0 = qb * kQueryRows, rows = std::min(kQueryRows, a.Lq - q0);
            const char* head = work + size_t(kv - g0) * a.perHead();
#if DIFFUSEKIT_CPU_BF16
            if (a.bf16) {
                attend<Bf16Products>(a, h, batch, q0, rows, head, mine, dst);
                continue;
            }
#endif
            attend<F32Products>(a, h, batch, q0, rows, head, mine, dst);
        }
    }
    return true;
}

uint64_t diffusekit_cpu_attention_count(void) { return attention_calls.load(std::memory_order_relaxed); }

#else  // no AVX-512 or AVX2: ggml's own attention runs

size_t diffusekit_flash_attn_work_size(const ggml_tensor*, int) { return 0; }
bool diffusekit_flash_attn(const ggml_compute_params*, ggml_tensor*) { return false; }
uint64_t diffusekit_cpu_attention_count(void) { return 0; }

#endif
