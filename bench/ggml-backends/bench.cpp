// bench.cpp - SD 1.5 UNet graph pieces on ggml: [OpenVINO, CPU] sched vs CPU alone.
// Built by build.sh against the pinned ggml (stable-diffusion.cpp 0.4.7 vendor tree).
//
// Pieces (batch N=2, latent HxW in {32x32, 64x64}, C=320, 8 heads x 40):
//   xf_fa_sd    : transformer block (LN, q/k/v/out 320->320, self-attn, GEGLU FF 320->2x1280->320,
//                 residuals) built exactly like sd.cpp's ggml_ext_attention_ext with flash attn
//                 (reshape/permute/cont q,k; cast k,v to f16; FLASH_ATTN_EXT) and sd.cpp's GEGLU
//                 (chunk views + cont + GELU + MUL).
//   xf_mm_sd    : same block, attention via mul_mat + scale + soft_max + mul_mat (sd.cpp default,
//                 no --diffusion-fa), sd.cpp GEGLU.
//   xf_fa_ovpat : same math, but graph written the way ggml-openvino's supports_op wants it:
//                 q/k/v = PERMUTE(VIEW(linear output)) fed straight to FLASH_ATTN_EXT, fused
//                 GGML_OP_GLU (geglu_swapped), all-zero f16 KQ mask. The OpenVINO-friendliest form.
//   xf_fa_ovpat_nomask : as xf_fa_ovpat without the mask (what sd.cpp passes: no mask).
//   conv_im2col : 3x3 conv 320->320 pad 1 via ggml_conv_2d (IM2COL + MUL_MAT), f16 kernel, + bias
//   conv_direct : 3x3 conv 320->320 via ggml_conv_2d_direct (CONV_2D), f16 kernel, + bias
//   conv_im2col_f32 : as conv_im2col with an f32 kernel (so MUL_MAT is f32 x f32)
//
// Paths: "ov+cpu" = ggml_backend_sched over [OpenVINO, CPU]; "cpu" = sched over [CPU] only.
// Weights for the ov+cpu path live in the OpenVINO buffer (usage WEIGHTS) except 4D conv kernels,
// which live in a CPU buffer (OpenVINO takes no conv op). Same random data in both paths.
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml-openvino.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

static int N = 2;  // batch, -n
static const int C = 320, NH = 8, DH = 40, FF = 1280;

struct Weights {
    std::vector<ggml_tensor *> ts;           // all weights
    std::vector<bool> cpu_only;              // keep in CPU buffer even on the OV path
};

struct Model {
    ggml_context * wctx = nullptr;           // weights ctx
    ggml_context * gctx = nullptr;           // graph ctx
    ggml_backend_buffer_t wbuf_main = nullptr, wbuf_cpu = nullptr;
    ggml_context * wctx_cpu = nullptr;
    ggml_cgraph * gf = nullptr;
    ggml_tensor * x = nullptr, * out = nullptr;
    ggml_backend_sched_t sched = nullptr;
};

// random data, deterministic per (piece,tensor name)
static std::vector<float> rnd(size_t n, float scale, uint32_t seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> v(n);
    for (auto & f : v) f = d(g) * scale;
    return v;
}

static uint32_t hash_str(const std::string & s) {
    uint32_t h = 2166136261u;
    for (char c : s) { h ^= (uint8_t) c; h *= 16777619u; }
    return h;
}

static void set_from_f32(ggml_tensor * t, const std::vector<float> & v) {
    if (t->type == GGML_TYPE_F32) {
        ggml_backend_tensor_set(t, v.data(), 0, ggml_nbytes(t));
    } else {
        std::vector<ggml_fp16_t> h(v.size());
        ggml_fp32_to_fp16_row(v.data(), h.data(), (int64_t) v.size());
        ggml_backend_tensor_set(t, h.data(), 0, ggml_nbytes(t));
    }
}

// ---------------------------------------------------------------------------------------------
// weight declaration helpers
struct WB {
    ggml_context * ctx_main; ggml_context * ctx_cpu;
    ggml_tensor * w2(const char * name, ggml_type t, int64_t a, int64_t b) {
        auto * x = ggml_new_tensor_2d(ctx_main, t, a, b); ggml_set_name(x, name); return x;
    }
    ggml_tensor * w1(const char * name, int64_t a) {
        auto * x = ggml_new_tensor_1d(ctx_main, GGML_TYPE_F32, a); ggml_set_name(x, name); return x;
    }
    ggml_tensor * w4cpu(const char * name, ggml_type t, int64_t a, int64_t b, int64_t c, int64_t d) {
        auto * x = ggml_new_tensor_4d(ctx_cpu, t, a, b, c, d); ggml_set_name(x, name); return x;
    }
};

static ggml_tensor * layer_norm(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b) {
    x = ggml_norm(ctx, x, 1e-5f);
    x = ggml_mul_inplace(ctx, x, w);
    x = ggml_add_inplace(ctx, x, b);
    return x;
}
static ggml_tensor * linear(ggml_context * ctx, ggml_tensor * x, ggml_tensor * w, ggml_tensor * b) {
    x = ggml_mul_mat(ctx, w, x);
    if (b) x = ggml_add_inplace(ctx, x, b);
    return x;
}

// sd.cpp ggml_ext_attention_ext (skip_reshape=false, no mask, kv_scale=1), L % 256 == 0 so no kv pad
static ggml_tensor * sd_attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v, bool fa) {
    int64_t L_q = q->ne[1], L_k = k->ne[1], Nb = q->ne[2];
    q = ggml_reshape_4d(ctx, q, DH, NH, L_q, Nb);
    q = ggml_cont(ctx, ggml_permute(ctx, q, 0, 2, 1, 3));
    q = ggml_reshape_3d(ctx, q, DH, L_q, NH * Nb);
    k = ggml_reshape_4d(ctx, k, DH, NH, L_k, Nb);
    k = ggml_cont(ctx, ggml_permute(ctx, k, 0, 2, 1, 3));
    k = ggml_reshape_3d(ctx, k, DH, L_k, NH * Nb);
    v = ggml_reshape_4d(ctx, v, DH, NH, L_k, Nb);
    float scale = 1.0f / sqrtf((float) DH);
    ggml_tensor * kqv;
    if (fa) {
        k = ggml_cast(ctx, k, GGML_TYPE_F16);
        v = ggml_cont(ctx, ggml_permute(ctx, v, 0, 2, 1, 3));
        v = ggml_reshape_3d(ctx, v, DH, L_k, NH * Nb);
        v = ggml_cast(ctx, v, GGML_TYPE_F16);
        kqv = ggml_flash_attn_ext(ctx, q, k, v, nullptr, scale, 0, 0);
        ggml_flash_attn_ext_set_prec(kqv, GGML_PREC_F32);
        if (Nb == 1) {
            // exactly sd.cpp (which runs cond/uncond as separate batch-1 graphs)
            kqv = ggml_view_3d(ctx, kqv, DH, NH, L_q, kqv->nb[1], kqv->nb[2], 0);
        } else {
            // FA result is [DH, NH*N, L_q]; sd.cpp's view_3d assumes N == 1, so un-fold the batch
            kqv = ggml_reshape_4d(ctx, kqv, DH, NH, Nb, L_q);
            kqv = ggml_permute(ctx, kqv, 0, 1, 3, 2);  // -> [DH, NH, L_q, N]
        }
    } else {
        v = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));
        v = ggml_reshape_3d(ctx, v, L_k, DH, NH * Nb);
        auto * kq = ggml_mul_mat(ctx, k, q);
        ggml_mul_mat_set_prec(kq, GGML_PREC_F32);
        kq = ggml_scale_inplace(ctx, kq, scale);
        kq = ggml_soft_max_inplace(ctx, kq);
        kqv = ggml_mul_mat(ctx, v, kq);
        kqv = ggml_reshape_4d(ctx, kqv, DH, L_q, NH, Nb);
        kqv = ggml_permute(ctx, kqv, 0, 2, 1, 3);
    }
    kqv = ggml_cont(ctx, kqv);
    kqv = ggml_reshape_3d(ctx, kqv, DH * NH, L_q, Nb);
    return kqv;
}

// attention shaped the way ggml-openvino's is_supported_flash_attn_pattern wants:
// each of q,k,v is PERMUTE(VIEW(t)) with t->view_src == nullptr
// ggml-openvino's FLASH_ATTN_EXT translator does num_inputs_check(4,4): it needs a mask although
// supports_op accepts mask == nullptr (conversion then fails with "Got less inputs than expected").
// with_mask: pass an all-zero f16 mask [L_k, L_q] (graph input g_mask).
static ggml_tensor * g_mask = nullptr;
static ggml_tensor * ov_pattern_attention(ggml_context * ctx, ggml_tensor * q, ggml_tensor * k, ggml_tensor * v,
                                          bool with_mask) {
    int64_t L_q = q->ne[1], L_k = k->ne[1], Nb = q->ne[2];
    auto pv = [&](ggml_tensor * t, int64_t L) {
        auto * vv = ggml_view_4d(ctx, t, DH, NH, L, Nb, t->nb[0] * DH, t->nb[1], t->nb[2], 0);
        return ggml_permute(ctx, vv, 0, 2, 1, 3);  // [DH, L, NH, N]
    };
    float scale = 1.0f / sqrtf((float) DH);
    ggml_tensor * mask = nullptr;
    if (with_mask) {
        mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, L_k, L_q);
        ggml_set_name(mask, "KQ_mask");
        ggml_set_input(mask);
        ggml_set_output(mask);  // see m.x
        g_mask = mask;
    }
    // the OV translator converts q to f16 and requires k/v already f16 (llama's f16 KV cache);
    // f32 k/v fail with "ScaledDotProductAttention ... Mixed input types are not supported."
    k = ggml_cast(ctx, k, GGML_TYPE_F16);
    v = ggml_cast(ctx, v, GGML_TYPE_F16);
    auto * kqv = ggml_flash_attn_ext(ctx, pv(q, L_q), pv(k, L_k), pv(v, L_k), mask, scale, 0, 0);
    ggml_flash_attn_ext_set_prec(kqv, GGML_PREC_F32);
    // result [DH, NH, L_q, N] contiguous
    return ggml_reshape_3d(ctx, kqv, DH * NH, L_q, Nb);
}

struct XfW {
    ggml_tensor *n1w, *n1b, *wq, *wk, *wv, *wo, *bo, *n3w, *n3b, *w1, *b1, *w2, *b2;
};
static XfW decl_xf(WB & wb) {
    XfW w;
    w.n1w = wb.w1("norm1.w", C); w.n1b = wb.w1("norm1.b", C);
    w.wq = wb.w2("to_q.w", GGML_TYPE_F16, C, C);
    w.wk = wb.w2("to_k.w", GGML_TYPE_F16, C, C);
    w.wv = wb.w2("to_v.w", GGML_TYPE_F16, C, C);
    w.wo = wb.w2("to_out.w", GGML_TYPE_F16, C, C); w.bo = wb.w1("to_out.b", C);
    w.n3w = wb.w1("norm3.w", C); w.n3b = wb.w1("norm3.b", C);
    w.w1 = wb.w2("ff.proj.w", GGML_TYPE_F16, C, 2 * FF); w.b1 = wb.w1("ff.proj.b", 2 * FF);
    w.w2 = wb.w2("ff.out.w", GGML_TYPE_F16, FF, C); w.b2 = wb.w1("ff.out.b", C);
    return w;
}

// variant: 0 = fa_sd, 1 = mm_sd, 2 = fa_ovpat (zero mask), 3 = fa_ovpat without mask
static ggml_tensor * build_xf(ggml_context * ctx, const XfW & w, ggml_tensor * x, int variant) {
    auto * r = x;
    auto * h = layer_norm(ctx, x, w.n1w, w.n1b);
    auto * q = linear(ctx, h, w.wq, nullptr);
    auto * k = linear(ctx, h, w.wk, nullptr);
    auto * v = linear(ctx, h, w.wv, nullptr);
    ggml_tensor * a = variant >= 2 ? ov_pattern_attention(ctx, q, k, v, variant == 2)
                                    : sd_attention(ctx, q, k, v, variant == 0);
    a = linear(ctx, a, w.wo, w.bo);
    x = ggml_add(ctx, a, r);
    r = x;
    h = layer_norm(ctx, x, w.n3w, w.n3b);
    h = linear(ctx, h, w.w1, w.b1);  // [2*FF, L, N]
    if (variant >= 2) {
        h = ggml_geglu_swapped(ctx, h);  // x * gelu(gate), x = first half, gate = second half
    } else {
        // sd.cpp GEGLU: ggml_ext_chunk(x, 2, 0, false) -> views; gate = cont(view); gelu; mul
        auto * xa = ggml_view_3d(ctx, h, FF, h->ne[1], h->ne[2], h->nb[1], h->nb[2], 0);
        auto * gt = ggml_view_3d(ctx, h, FF, h->ne[1], h->ne[2], h->nb[1], h->nb[2], FF * h->nb[0]);
        gt = ggml_cont(ctx, gt);
        gt = ggml_gelu_inplace(ctx, gt);
        h = ggml_mul(ctx, xa, gt);
    }
    h = linear(ctx, h, w.w2, w.b2);
    return ggml_add(ctx, h, r);
}

struct PieceDef {
    std::string name;
    bool conv;
    int variant;  // xf: 0/1/2 ; conv: 0 im2col f16, 1 direct f16, 2 im2col f32
};

// build one model for one path
static bool build_model(Model & m, const PieceDef & p, int S, ggml_backend_t main_be, ggml_backend_t cpu_be,
                        std::vector<ggml_backend_t> backends) {
    ggml_init_params wp = { 64 * ggml_tensor_overhead(), nullptr, true };
    m.wctx = ggml_init(wp);
    m.wctx_cpu = ggml_init(wp);
    WB wb{ m.wctx, m.wctx_cpu };
    ggml_init_params gp = { 4096 * ggml_tensor_overhead() + ggml_graph_overhead_custom(4096, false), nullptr, true };
    m.gctx = ggml_init(gp);
    ggml_context * ctx = m.gctx;
    const int L = S * S;

    XfW xw{};
    ggml_tensor * cw = nullptr, * cb = nullptr;
    if (!p.conv) {
        xw = decl_xf(wb);
        m.x = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, C, L, N);
    } else {
        cw = wb.w4cpu("conv.w", p.variant == 2 ? GGML_TYPE_F32 : GGML_TYPE_F16, 3, 3, C, C);
        cb = wb.w1("conv.b", C);
        m.x = ggml_new_tensor_4d(ctx, GGML_TYPE_F32, S, S, C, N);
    }
    ggml_set_name(m.x, "x");
    ggml_set_input(m.x);
    ggml_set_output(m.x);  // keep gallocr from reusing the input's memory: inputs are set once, graph run many times

    g_mask = nullptr;
    if (!p.conv && p.variant >= 10) {
        g_mask = nullptr;
        // micro pieces: 10 = one linear 320->320 (f16 W, no bias); 11 = linear + bias; 12 = LN (norm,mul,add)
        if (p.variant == 10) m.out = linear(ctx, m.x, xw.wq, nullptr);
        if (p.variant == 11) m.out = linear(ctx, m.x, xw.wo, xw.bo);
        if (p.variant == 12) m.out = linear(ctx, layer_norm(ctx, m.x, xw.n1w, xw.n1b), xw.wq, nullptr);
        if (p.variant == 13 || p.variant == 15) {  // attention half, ov pattern (13: with residual, 15: without)
            auto * h = layer_norm(ctx, m.x, xw.n1w, xw.n1b);
            auto * a = ov_pattern_attention(ctx, linear(ctx, h, xw.wq, nullptr), linear(ctx, h, xw.wk, nullptr),
                                            linear(ctx, h, xw.wv, nullptr), true);
            a = linear(ctx, a, xw.wo, xw.bo);
            m.out = p.variant == 13 ? ggml_add(ctx, a, m.x) : a;
        }
        if (p.variant == 14) {  // FF half with fused GEGLU + residual
            auto * h = layer_norm(ctx, m.x, xw.n3w, xw.n3b);
            h = ggml_geglu_swapped(ctx, linear(ctx, h, xw.w1, xw.b1));
            m.out = ggml_add(ctx, linear(ctx, h, xw.w2, xw.b2), m.x);
        }
    } else if (!p.conv) {
        m.out = build_xf(ctx, xw, m.x, p.variant);
    } else {
        ggml_tensor * y = p.variant == 1 ? ggml_conv_2d_direct(ctx, cw, m.x, 1, 1, 1, 1, 1, 1)
                                         : ggml_conv_2d(ctx, cw, m.x, 1, 1, 1, 1, 1, 1);
        auto * b4 = ggml_reshape_4d(ctx, cb, 1, 1, C, 1);
        m.out = ggml_add_inplace(ctx, y, b4);
    }
    ggml_set_name(m.out, "out");
    ggml_set_output(m.out);
    m.gf = ggml_new_graph_custom(ctx, 4096, false);
    ggml_build_forward_expand(m.gf, m.out);
    if (getenv("BENCH_DEBUG_NAN") || getenv("BENCH_CMP_NODES"))
        for (int i = 0; i < ggml_graph_n_nodes(m.gf); i++) ggml_set_output(ggml_graph_node(m.gf, i));

    // allocate weights
    m.wbuf_main = ggml_backend_alloc_ctx_tensors(m.wctx, main_be);
    if (m.wbuf_main) ggml_backend_buffer_set_usage(m.wbuf_main, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    if (ggml_get_first_tensor(m.wctx_cpu)) {
        m.wbuf_cpu = ggml_backend_alloc_ctx_tensors(m.wctx_cpu, cpu_be);
        ggml_backend_buffer_set_usage(m.wbuf_cpu, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    }
    for (ggml_context * wc : { m.wctx, m.wctx_cpu }) {
        for (ggml_tensor * t = ggml_get_first_tensor(wc); t; t = ggml_get_next_tensor(wc, t)) {
            std::string nm = ggml_get_name(t);
            float sc = 1.0f / sqrtf((float) (t->ne[0] * (t->ne[1] > 1 && ggml_n_dims(t) == 4 ? 9 : 1)));
            if (ggml_n_dims(t) == 4) sc = 1.0f / sqrtf((float) (t->ne[0] * t->ne[1] * t->ne[2]));
            if (ggml_n_dims(t) == 1) sc = 0.1f;
            // seed depends on tensor name only: all xf_* pieces share weights/input, all conv_* too
            auto v = rnd(ggml_nelements(t), sc, hash_str(nm));
            if (nm.find("norm") != std::string::npos && nm.find(".w") != std::string::npos)
                for (auto & f : v) f += 1.0f;
            set_from_f32(t, v);
        }
    }

    m.sched = ggml_backend_sched_new(backends.data(), nullptr, (int) backends.size(), 4096, false, true);
    if (!ggml_backend_sched_alloc_graph(m.sched, m.gf)) {
        fprintf(stderr, "sched_alloc_graph failed for %s\n", p.name.c_str());
        return false;
    }
    auto xin = rnd(ggml_nelements(m.x), 1.0f, hash_str(std::string(p.conv ? "conv" : "xf") + "x" + std::to_string(S)));
    ggml_backend_tensor_set(m.x, xin.data(), 0, ggml_nbytes(m.x));
    if (g_mask) {
        std::vector<ggml_fp16_t> z(ggml_nelements(g_mask), ggml_fp32_to_fp16(0.0f));
        ggml_backend_tensor_set(g_mask, z.data(), 0, ggml_nbytes(g_mask));
    }
    return true;
}

static void free_model(Model & m) {
    if (m.sched) ggml_backend_sched_free(m.sched);
    if (m.wbuf_main) ggml_backend_buffer_free(m.wbuf_main);
    if (m.wbuf_cpu) ggml_backend_buffer_free(m.wbuf_cpu);
    ggml_free(m.wctx); ggml_free(m.wctx_cpu); ggml_free(m.gctx);
    m = Model{};
}

static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static double cpu_ms() {
    timespec ts; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void describe_assignment(Model & m, ggml_backend_t ov) {
    std::map<std::string, std::pair<int, int>> ops;  // op -> (on ov, on cpu)
    int n_ov = 0, n_cpu = 0;
    for (int i = 0; i < ggml_graph_n_nodes(m.gf); i++) {
        ggml_tensor * t = ggml_graph_node(m.gf, i);
        if (ggml_is_empty(t) || t->op == GGML_OP_NONE) continue;
        ggml_backend_t b = ggml_backend_sched_get_tensor_backend(m.sched, t);
        std::string op = ggml_op_desc(t);
        if (b == ov) { ops[op].first++; n_ov++; } else { ops[op].second++; n_cpu++; }
    }
    printf("    sched: %d splits, %d copies; nodes on OpenVINO=%d, on CPU=%d\n", ggml_backend_sched_get_n_splits(m.sched),
           ggml_backend_sched_get_n_copies(m.sched), n_ov, n_cpu);
    std::string s_ov, s_cpu;
    for (auto & kv : ops) {
        if (kv.second.first) s_ov += " " + kv.first + "x" + std::to_string(kv.second.first);
        if (kv.second.second) s_cpu += " " + kv.first + "x" + std::to_string(kv.second.second);
    }
    printf("    on OpenVINO:%s\n    on CPU     :%s\n", s_ov.empty() ? " (none)" : s_ov.c_str(), s_cpu.c_str());
}

int main(int argc, char ** argv) {
    int n_runs = 7, n_threads = 2;
    std::vector<int> sizes = { 32, 64 };
    std::string only;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-r" && i + 1 < argc) n_runs = atoi(argv[++i]);
        else if (a == "-t" && i + 1 < argc) n_threads = atoi(argv[++i]);
        else if (a == "-s" && i + 1 < argc) sizes = { atoi(argv[++i]) };
        else if (a == "-p" && i + 1 < argc) only = argv[++i];
        else if (a == "-n" && i + 1 < argc) N = atoi(argv[++i]);
    }
    ggml_backend_load_all();  // no-op with static registration, harmless

    // device list
    printf("registered backends/devices:\n");
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        auto * d = ggml_backend_dev_get(i);
        printf("  [%zu] %s : %s\n", i, ggml_backend_dev_name(d), ggml_backend_dev_description(d));
    }
    ggml_backend_t ov = ggml_backend_openvino_init(0);
    if (!ov) { fprintf(stderr, "ggml_backend_openvino_init(0) returned NULL\n"); return 1; }
    ggml_backend_t cpu = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(cpu, n_threads);
    printf("OpenVINO backend: %s, CPU threads: %d, runs: %d (+1 warm-up... first run includes OV compile)\n",
           ggml_backend_name(ov), n_threads, n_runs);

    std::vector<PieceDef> pieces = {
        { "xf_fa_sd", false, 0 }, { "xf_mm_sd", false, 1 }, { "xf_fa_ovpat", false, 2 }, { "xf_fa_ovpat_nomask", false, 3 },
        { "conv_im2col", true, 0 },
        { "micro_linear", false, 10 }, { "micro_linear_bias", false, 11 }, { "micro_ln_linear", false, 12 },
        { "micro_attn_ovpat", false, 13 }, { "micro_ff_geglu", false, 14 }, { "micro_attn_ovpat_nores", false, 15 }, { "conv_direct", true, 1 }, { "conv_im2col_f32", true, 2 },
    };

    printf("\nRESULT columns: piece | latent | wall ms ov+cpu (median) | wall ms cpu | process-CPU ms ov+cpu | "
           "process-CPU ms cpu | ov+cpu first run ms (incl. OV convert+compile) | rel L2 err\n");
    for (int S : sizes) {
        for (auto & p : pieces) {
            if (!only.empty() && p.name != only) continue;
            printf("\n== %s  latent %dx%d (tokens %d), batch %d\n", p.name.c_str(), S, S, S * S, N);
            fflush(stdout);
            Model mo, mc;
            if (!build_model(mo, p, S, ov, cpu, { ov, cpu })) { printf("  ov+cpu: build failed\n"); continue; }
            if (!build_model(mc, p, S, cpu, cpu, { cpu })) { printf("  cpu: build failed\n"); continue; }
            describe_assignment(mo, ov);
            if (getenv("BENCH_DEBUG_NAN") || getenv("BENCH_CMP_NODES")) {
                ggml_backend_sched_graph_compute(mc.sched, mc.gf);
                for (int i = 0; i < ggml_graph_n_nodes(mc.gf); i++) {
                    ggml_tensor * t = ggml_graph_node(mc.gf, i);
                    if (t->type != GGML_TYPE_F32 || !ggml_is_contiguous(t)) continue;
                    std::vector<float> b(ggml_nelements(t));
                    ggml_backend_tensor_get(t, b.data(), 0, ggml_nbytes(t));
                    size_t bad = 0; for (float f : b) bad += !std::isfinite(f);
                    printf("    node %d %s %s: %zu non-finite\n", i, ggml_op_desc(t), t->name, bad);
                }
            }
            fflush(stdout);

            if (getenv("BENCH_CMP_NODES")) {  // per-node comparison ov+cpu vs cpu (all nodes marked output)
                ggml_backend_sched_graph_compute(mo.sched, mo.gf);
                ggml_backend_sched_graph_compute(mc.sched, mc.gf);
                for (int i = 0; i < ggml_graph_n_nodes(mc.gf); i++) {
                    ggml_tensor * a = ggml_graph_node(mo.gf, i), * b = ggml_graph_node(mc.gf, i);
                    if (b->type != GGML_TYPE_F32 || !ggml_is_contiguous(b) || ggml_is_view(b)) continue;
                    std::vector<float> va(ggml_nelements(a)), vb(ggml_nelements(b));
                    ggml_backend_tensor_get(a, va.data(), 0, ggml_nbytes(a));
                    ggml_backend_tensor_get(b, vb.data(), 0, ggml_nbytes(b));
                    double n = 0, d = 0;
                    for (size_t j = 0; j < va.size(); j++) { double e = va[j] - vb[j]; n += e * e; d += vb[j] * vb[j]; }
                    ggml_backend_t be = ggml_backend_sched_get_tensor_backend(mo.sched, a);
                    printf("    node %2d %-16s on %-8s rel %.3e\n", i, ggml_op_desc(a), be ? ggml_backend_name(be) : "?", sqrt(n / d));
                }
            }
            // warm-up (first OV run converts + compiles the OV model)
            double t0 = now_ms();
            ggml_status st = ggml_backend_sched_graph_compute(mo.sched, mo.gf);
            double first_ov = now_ms() - t0;
            const bool ov_ok = st == GGML_STATUS_SUCCESS;
            if (!ov_ok) printf("  ov+cpu: graph_compute failed, status %d (CPU-only path still timed)\n", (int) st);
            ggml_backend_sched_graph_compute(mc.sched, mc.gf);

            std::vector<double> to, tc, co, cc;
            bool ok = true;
            for (int r = 0; r < n_runs && ok; r++) {
                double c0 = cpu_ms(); t0 = now_ms();
                if (ov_ok) {
                    ok &= ggml_backend_sched_graph_compute(mo.sched, mo.gf) == GGML_STATUS_SUCCESS;
                    to.push_back(now_ms() - t0); co.push_back(cpu_ms() - c0);
                } else { to.push_back(NAN); co.push_back(NAN); }
                c0 = cpu_ms(); t0 = now_ms();
                ok &= ggml_backend_sched_graph_compute(mc.sched, mc.gf) == GGML_STATUS_SUCCESS;
                tc.push_back(now_ms() - t0); cc.push_back(cpu_ms() - c0);
            }
            if (!ok) printf("  a timed compute failed\n");

            std::vector<float> yo(ggml_nelements(mo.out)), yc(ggml_nelements(mc.out));
            ggml_backend_tensor_get(mo.out, yo.data(), 0, ggml_nbytes(mo.out));
            ggml_backend_tensor_get(mc.out, yc.data(), 0, ggml_nbytes(mc.out));
            double num = 0, den = 0, maxabs = 0; size_t nonfinite = 0, nf_o = 0, nf_c = 0;
            for (size_t i = 0; i < yo.size(); i++) {
                nf_o += !std::isfinite(yo[i]); nf_c += !std::isfinite(yc[i]);
                if (!std::isfinite(yo[i]) || !std::isfinite(yc[i])) { nonfinite++; continue; }
                double d = (double) yo[i] - yc[i];
                num += d * d; den += (double) yc[i] * yc[i]; maxabs = std::max(maxabs, std::fabs(d));
            }
            double rel = den > 0 ? sqrt(num / den) : -1;
            // cross-check vs the CPU-only output of the first piece of the same kind (same weights/input)
            static std::map<std::string, std::vector<float>> refs;
            std::string rk = std::string(p.conv ? "conv" : "xf") + std::to_string(S);
            auto relv = [](const std::vector<float> & a, const std::vector<float> & b) {
                double n = 0, d = 0;
                for (size_t i = 0; i < a.size(); i++) { double e = (double) a[i] - b[i]; n += e * e; d += (double) b[i] * b[i]; }
                return sqrt(n / d);
            };
            if (!refs.count(rk)) refs[rk] = yc;
            printf("  vs reference (%s CPU-only, first piece of this kind): ov+cpu rel %.3e, cpu rel %.3e\n",
                   rk.c_str(), relv(yo, refs[rk]), relv(yc, refs[rk]));
            printf("  ov+cpu runs ms:");
            for (double t : to) printf(" %.1f", t);
            printf("\n  cpu    runs ms:");
            for (double t : tc) printf(" %.1f", t);
            printf("\n  rel L2 err %.3e, max abs diff %.3e, non-finite %zu (ov+cpu %zu, cpu %zu) of %zu\n", rel, maxabs,
                   nonfinite, nf_o, nf_c, yo.size());
            printf("RESULT %s | %dx%d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2e\n", p.name.c_str(), S, S, median(to),
                   median(tc), median(co), median(cc), first_ov, rel);
            fflush(stdout);
            free_model(mo); free_model(mc);
        }
    }
    ggml_backend_free(ov);
    ggml_backend_free(cpu);
    return 0;
}
