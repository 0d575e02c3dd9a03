// GGML_OP_GROUP_NORM on the CPU in vector lanes. ggml's own adds every element into a double one at a time,
// which no compiler vectorizes (3% of an SD 1.x step at 512, as much as a large convolution). Here each row is
// summed in f32 lanes and the row sums in double, with ggml's passes: the mean, then the variance of x - mean
// (written to dst), then the scale.
//
// The engine's GroupNorm layers are a group norm, a multiply by the per-channel weight and an add of the
// per-channel bias, each in place, and in resnet blocks a SiLU in place after them: four passes over an
// activation that at the VAE decoder's full size is tens of MB, far past the caches. Where the graph has that
// chain with nothing computed in between, the group norm's last pass also applies the weight, the bias and
// the SiLU (ggml's own, row by row while the row is in L1), and the chain's other nodes are skipped.
#include "diffusekit_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "diffusekit_cpu_simd.h"
#include "ggml-cpu-impl.h"
#include "ggml-impl.h"
#include "ggml.h"
#include "vec.h"

#if DIFFUSEKIT_CPU_VECTOR

using namespace diffusekit_cpu;

namespace {

std::atomic<uint64_t> fused_norms{0};

// A group norm and the in-place per-channel multiply, add and SiLU that follow it (any of them absent).
struct Chain {
    ggml_tensor* norm  = nullptr;
    ggml_tensor* scale = nullptr;  // GGML_OP_MUL by a [1, 1, C, 1] weight
    ggml_tensor* shift = nullptr;  // GGML_OP_ADD of a [1, 1, C, 1] bias
    ggml_tensor* silu  = nullptr;  // GGML_UNARY_OP_SILU
    int          last  = -1;       // graph index of the chain's last node
};

bool takes(const ggml_tensor* dst) {
    const ggml_tensor* src = dst->src[0];
    return src->type == GGML_TYPE_F32 && dst->type == GGML_TYPE_F32 && ggml_are_same_shape(src, dst) &&
           src->nb[0] == sizeof(float) && dst->nb[0] == sizeof(float);
}

// The next node after `i` that computes something (views and reshapes compute nothing), or -1.
int next_computed(const ggml_cgraph* graph, int i) {
    for (int j = i + 1; j < graph->n_nodes; ++j) {
        if (!ggml_op_is_empty(graph->nodes[j]->op)) return (graph->nodes[j]->flags & GGML_TENSOR_FLAG_COMPUTE) ? j : -1;
    }
    return -1;
}

// `node` works in place on `prev`'s data, element by element over the same shape.
bool in_place_on(const ggml_tensor* node, const ggml_tensor* prev) {
    return node->src[0] == prev && node->data == prev->data && node->type == GGML_TYPE_F32 && ggml_are_same_shape(node, prev) &&
           ggml_are_same_stride(node, prev);
}

// `node` is an in-place multiply or add of `prev` by a contiguous f32 [1, 1, C, 1] per-channel vector.
bool per_channel(const ggml_tensor* node, const ggml_tensor* prev, ggml_op op) {
    const ggml_tensor* v = node->src[1];
    return node->op == op && in_place_on(node, prev) && v != nullptr && v->type == GGML_TYPE_F32 && v->ne[0] == 1 && v->ne[1] == 1 &&
           v->ne[2] == prev->ne[2] && v->ne[3] == 1 && ggml_is_contiguous(v);
}

// The chain that starts at graph node `i`; a chain of the group norm alone when nothing follows it that fuses.
Chain chain_at(const ggml_cgraph* graph, int i) {
    Chain c;
    ggml_tensor* norm = graph->nodes[i];
    if (norm->op != GGML_OP_GROUP_NORM || !takes(norm)) return c;
    c.norm = norm, c.last = i;
    int j = next_computed(graph, i);
    if (j < 0 || !per_channel(graph->nodes[j], norm, GGML_OP_MUL)) return c;
    c.scale = graph->nodes[j], c.last = j;
    j = next_computed(graph, j);
    if (j < 0 || !per_channel(graph->nodes[j], c.scale, GGML_OP_ADD)) return c;
    c.shift = graph->nodes[j], c.last = j;
    j = next_computed(graph, j);
    if (j < 0) return c;
    ggml_tensor* act = graph->nodes[j];
    if (act->op == GGML_OP_UNARY && ggml_get_unary_op(act) == GGML_UNARY_OP_SILU && in_place_on(act, c.shift)) c.silu = act, c.last = j;
    return c;
}

const float* channel_values(const ggml_tensor* node) {
    return node ? static_cast<const float*>(node->src[1]->data) : nullptr;
}

void group_norm(const ggml_compute_params* params, const Chain& chain) {
    const ggml_tensor* dst = chain.norm;
    const ggml_tensor* src = dst->src[0];
    float eps;
    std::memcpy(&eps, dst->op_params + 1, sizeof(float));
    const int64_t W = src->ne[0], H = src->ne[1], C = src->ne[2], N = src->ne[3];
    const int64_t groups = dst->op_params[0], perGroup = (C + groups - 1) / groups;
    const float* weight = channel_values(chain.scale);
    const float* bias   = channel_values(chain.shift);
    auto row = [](const ggml_tensor* t, int64_t y, int64_t c, int64_t n) {
        return reinterpret_cast<float*>(static_cast<char*>(t->data) + y * t->nb[1] + c * t->nb[2] + n * t->nb[3]);
    };
    for (int64_t u = params->ith; u < groups * N; u += params->nth) {
        const int64_t g = u % groups, n = u / groups, c0 = g * perGroup, c1 = std::min(C, c0 + perGroup);
        if (c0 >= c1) continue;
        const double count = double(W) * double(H) * double(c1 - c0);
        double sum = 0.0;
        for (int64_t c = c0; c < c1; ++c) {
            for (int64_t y = 0; y < H; ++y) {
                const float* in = row(src, y, c, n);
                vec s = zero();
                for (int64_t x = 0; x < W; x += L) s = add(s, load(lanes(0, W - x), in + x));
                sum += reduce_add(s);
            }
        }
        const vec mean = set1(float(sum / count));
        double squares = 0.0;
        for (int64_t c = c0; c < c1; ++c) {
            for (int64_t y = 0; y < H; ++y) {
                const float* in  = row(src, y, c, n);
                float*       out = row(dst, y, c, n);
                vec s = zero();
                for (int64_t x = 0; x < W; x += L) {
                    const mask live = lanes(0, W - x);
                    const vec  d    = select(live, sub(load(live, in + x), mean), zero());
                    store(out + x, live, d);
                    s = fmadd(d, d, s);
                }
                squares += reduce_add(s);
            }
        }
        const vec scale = set1(1.0f / std::sqrt(float(squares / count) + eps));
        for (int64_t c = c0; c < c1; ++c) {
            const vec w = set1(weight ? weight[c] : 1.0f), b = set1(bias ? bias[c] : 0.0f);
            for (int64_t y = 0; y < H; ++y) {
                float* out = row(dst, y, c, n);
                for (int64_t x = 0; x < W; x += L) {
                    const mask live = lanes(0, W - x);
                    vec v = mul(load(live, out + x), scale);
                    if (weight) v = mul(v, w);
                    if (bias) v = add(v, b);
                    store(out + x, live, v);
                }
                if (chain.silu) ggml_vec_silu_f32(int(W), out, out);
            }
        }
    }
}

}  // namespace

bool diffusekit_group_norm(const ggml_compute_params* params, ggml_tensor* dst) {
    if (!diffusekit_cpu_fast_kernels() || !takes(dst)) return false;
    Chain alone;
    alone.norm = dst;
    group_norm(params, alone);
    return true;
}

bool diffusekit_graph_node(const ggml_compute_params* params, const ggml_cgraph* graph, int i) {
    if (!diffusekit_cpu_fast_kernels()) return false;
    const ggml_op op = graph->nodes[i]->op;
    if (op == GGML_OP_GROUP_NORM) {
        const Chain chain = chain_at(graph, i);
        if (chain.last <= i) return false;  // nothing to fuse: the op's own hook runs it
        group_norm(params, chain);
        if (params->ith == 0) fused_norms.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    if (op != GGML_OP_MUL && op != GGML_OP_ADD && op != GGML_OP_UNARY) return false;
    // A multiply, add or SiLU that the group norm up to three computed nodes back already applied.
    for (int j = i - 1, seen = 0; j >= 0 && seen < 3; --j) {
        if (ggml_op_is_empty(graph->nodes[j]->op)) continue;
        ++seen;
        if (graph->nodes[j]->op == GGML_OP_GROUP_NORM) return chain_at(graph, j).last >= i;
    }
    return false;
}

uint64_t diffusekit_cpu_fused_norm_count(void) { return fused_norms.load(std::memory_order_relaxed); }

#else  // no AVX-512 or AVX2: ggml's own group norm runs

bool diffusekit_group_norm(const ggml_compute_params*, ggml_tensor*) { return false; }
bool diffusekit_graph_node(const ggml_compute_params*, const ggml_cgraph*, int) { return false; }
uint64_t diffusekit_cpu_fused_norm_count(void) { return 0; }

#endif
