// Native self-test: runs single-layer engines through the C ABI on the GPU and compares each with a CPU
// reference (fp64 accumulation), in fp32 and fp16. Prints one line per case and "N passed, M failed".
#include "trtnative.h"
#include "selftest_jpegs.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace {

int g_pass = 0, g_fail = 0;
std::string g_last_impl;  // what the last run_layer's layer ran (trtn_context_layer_implementation)
// The reduced type of the "fp16" cases: TRTN_FLOAT16, or TRTN_BFLOAT16 in the bf16 pass (names prefixed "bf16 ",
// tolerances 8x: bf16 keeps 8 significant bits to fp16's 11).
int32_t g_reduced = TRTN_FLOAT16;

size_t elem_size(int32_t dt) { return dt == TRTN_FLOAT16 || dt == TRTN_BFLOAT16 ? 2 : 4; }
std::mt19937 rng(1234);

std::vector<float> rnd(size_t n, float lo = -1.f, float hi = 1.f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

bool ok(trtn_status* s, const char* what) {
    if (!s) return true;
    std::printf("  %s: error %d: %s\n", what, trtn_status_code(s), trtn_status_message(s));
    trtn_status_destroy(s);
    return false;
}

struct T {
    std::vector<int64_t> shape;
    std::vector<float> data;   // empty for outputs
    int32_t dtype = -1;        // -1: engine precision
    std::vector<int32_t> ints; // int32 data
    bool absent = false;       // an optional input left out: the layer gets -1 there
};

int64_t count(const std::vector<int64_t>& s) { int64_t n = 1; for (auto d : s) n *= d; return n; }

// Builds and runs one layer; tensors[0..n_in) inputs, last = output. Returns the output as float.
bool run_layer(int kind, const void* params, std::vector<T> ts, int n_in, bool fp16, std::vector<float>& out,
               bool graph_check = false, bool autotune = false) {
    trtn_engine* e = nullptr;
    if (!ok(trtn_engine_create(0, &e), "engine_create")) return false;
    int32_t act = fp16 ? g_reduced : TRTN_FLOAT32;
    std::vector<int32_t> ids;
    for (auto& t : ts) {
        int32_t id;
        if (t.absent) { ids.push_back(-1); continue; }
        if (t.dtype < 0) t.dtype = act;
        if (!ok(trtn_engine_add_tensor(e, t.dtype, (int32_t)t.shape.size(), &id), "add_tensor")) return false;
        ids.push_back(id);
    }
    std::vector<int32_t> ins(ids.begin(), ids.begin() + n_in);
    int32_t outid = ids.back();
    if (!ok(trtn_engine_add_layer(e, "layer0", kind, params, trtn_layer_params_size(kind), ins.data(), n_in, &outid, 1), "add_layer")) return false;
    trtn_build_options bo{fp16 ? 1 : 0, fp16 ? g_reduced : 0, 256ull << 20, 3};
    if (!ok(trtn_engine_build(e, &bo), "build")) return false;
    trtn_context* c = nullptr;
    if (!ok(trtn_context_create(e, &c), "context_create")) return false;
    std::vector<int64_t> dims;
    for (auto& t : ts)
        if (!t.absent) dims.insert(dims.end(), t.shape.begin(), t.shape.end());
    uint64_t ws = 0;
    if (!ok(trtn_context_set_shapes(c, dims.data(), (int64_t)dims.size(), &ws), "set_shapes")) return false;
    std::vector<void*> ptrs;
    for (auto& t : ts) {
        if (t.absent) continue;
        size_t n = (size_t)count(t.shape);
        size_t es = elem_size(t.dtype);
        void* p = nullptr;
        cudaMalloc(&p, std::max<size_t>(n * es, 256));
        if (!t.data.empty()) {
            if (t.dtype == TRTN_FLOAT16) {
                std::vector<__half> h(n);
                for (size_t i = 0; i < n; ++i) h[i] = __float2half(t.data[i]);
                cudaMemcpy(p, h.data(), n * 2, cudaMemcpyHostToDevice);
            } else if (t.dtype == TRTN_BFLOAT16) {
                std::vector<__nv_bfloat16> h(n);
                for (size_t i = 0; i < n; ++i) h[i] = __float2bfloat16(t.data[i]);
                cudaMemcpy(p, h.data(), n * 2, cudaMemcpyHostToDevice);
            } else {
                cudaMemcpy(p, t.data.data(), n * 4, cudaMemcpyHostToDevice);
            }
        } else if (!t.ints.empty()) {
            cudaMemcpy(p, t.ints.data(), n * 4, cudaMemcpyHostToDevice);
        } else {
            cudaMemset(p, 0xff, n * es);  // poison: NaN, so an unwritten output element fails the check
        }
        ptrs.push_back(p);
    }
    void* wsp = nullptr;
    if (autotune) ws = 256ull << 20;  // autotuning may try algorithms with larger scratch needs
    if (ws) cudaMalloc(&wsp, ws);
    bool good = ok(trtn_context_set_tensor_addresses(c, ptrs.data(), (int32_t)ptrs.size()), "set_addresses") &&
                ok(trtn_context_set_workspace(c, wsp, ws), "set_workspace");
    cudaStream_t s;
    cudaStreamCreate(&s);
    int runs = graph_check ? 3 : 1;
    if (autotune && good) {
        int32_t tactic = -1;
        float ms = 0;
        good = ok(trtn_context_autotune(c, s, &tactic, &ms, 1), "autotune");
        uint64_t ws2 = 0;
        if (good) good = ok(trtn_context_set_shapes(c, dims.data(), (int64_t)dims.size(), &ws2), "set_shapes after autotune");
        std::printf("  autotuned tactic=%d (%.3f ms), workspace %llu\n", tactic, ms, (unsigned long long)ws2);
        cudaMemset(ptrs.back(), 0xff, (size_t)count(ts.back().shape) * elem_size(ts.back().dtype));
    }
    for (int r = 0; r < runs && good; ++r) good = ok(trtn_context_enqueue(c, s), "enqueue");
    char impl[1024] = {};  // room for a fallback's reason
    g_last_impl = good && ok(trtn_context_layer_implementation(c, 0, impl, sizeof impl), "layer_implementation") ? impl : "";
    if (autotune) std::printf("  implementation: %s\n", impl);
    cudaError_t ce = cudaStreamSynchronize(s);
    if (ce != cudaSuccess) { std::printf("  sync: %s\n", cudaGetErrorString(ce)); good = false; }
    if (good && graph_check) {
        trtn_context_info info{};
        ok(trtn_context_get_info(c, &info), "get_info");
        std::printf("  graph_state=%d enqueues=%lld\n", info.graph_state, (long long)info.enqueue_count);
        if (info.graph_state != 1) good = false;
    }
    auto& o = ts.back();
    size_t n = (size_t)count(o.shape);
    out.assign(n, 0.f);
    if (o.dtype == TRTN_FLOAT16) {
        std::vector<__half> h(n);
        cudaMemcpy(h.data(), ptrs.back(), n * 2, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < n; ++i) out[i] = __half2float(h[i]);
    } else if (o.dtype == TRTN_BFLOAT16) {
        std::vector<__nv_bfloat16> h(n);
        cudaMemcpy(h.data(), ptrs.back(), n * 2, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < n; ++i) out[i] = __bfloat162float(h[i]);
    } else {
        cudaMemcpy(out.data(), ptrs.back(), n * 4, cudaMemcpyDeviceToHost);
    }
    for (auto p : ptrs) cudaFree(p);
    if (wsp) cudaFree(wsp);
    cudaStreamDestroy(s);
    trtn_context_destroy(c);
    trtn_engine_destroy(e);
    return good;
}

void check(const std::string& case_name, bool ran, const std::vector<float>& got, const std::vector<double>& want, double tol) {
    bool bf16 = g_reduced == TRTN_BFLOAT16;
    std::string name = bf16 ? "bf16 " + case_name : case_name;
    if (bf16) tol = tol > 0 ? tol * 8 : 8e-3;
    double num = 0, den = 0;
    bool nan = false;
    // A layer that failed before its output was read leaves got empty: compare only what exists.
    for (size_t i = 0; i < want.size() && got.size() == want.size(); ++i) {
        if (!std::isfinite(got[i])) nan = true;
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    double rel = std::sqrt(num / (den > 0 ? den : 1));
    bool pass = ran && !nan && got.size() == want.size() && rel <= tol;
    std::printf("%s %-40s rel_l2=%.3e tol=%.0e%s\n", pass ? "PASS" : "FAIL", name.c_str(), rel, tol, nan ? " (non-finite output)" : "");
    (pass ? g_pass : g_fail)++;
}


// The fused activations as the engine defines them (kernels/device.cuh), in double.
double host_act(int act, double x, double a, double b) {
    switch (act) {
        case TRTN_ACT_RELU: return x > 0 ? x : 0;
        case TRTN_ACT_CLIP: return std::min(std::max(x, a), b);
        case TRTN_ACT_SIGMOID: return 1 / (1 + std::exp(-x));
        case TRTN_ACT_SILU: return x / (1 + std::exp(-x));
        case TRTN_ACT_HARDSWISH: return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
        case TRTN_ACT_HARDSIGMOID: return std::max(0.0, std::min(1.0, a * x + b));
        case TRTN_ACT_LEAKYRELU: return x >= 0 ? x : a * x;
        case TRTN_ACT_TANH: return std::tanh(x);
        case TRTN_ACT_GELU: return 0.5 * x * (1 + std::erf(x * 0.70710678118654752));
        case TRTN_ACT_GELU_TANH: return 0.5 * x * (1 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
        default: return x;
    }
}

// Activation parameters the tests use: clip to [0, 6], leaky slope 0.1, hard sigmoid 0.2x + 0.5.
trtn_activation test_act(int act) {
    if (act == TRTN_ACT_LEAKYRELU) return {act, 0.1f, 0.f};
    if (act == TRTN_ACT_HARDSIGMOID) return {act, 0.2f, 0.5f};
    return {act, 0.f, 6.f};
}

// Tactics of cuDNN graph configurations (src/conv_graph.h): bit 30 graph, bit 29 fused epilogue, low bits a hash of
// the configuration's name. A hash that matches nothing makes the layer take the heuristics' first configuration.
constexpr int32_t kGraphTactic = 1 << 30;
constexpr int32_t kFusedGraphTactic = (1 << 30) | (1 << 29);
constexpr int32_t kDirectTactic = 1000;     // our direct kernel (cudnn.cpp)
constexpr int32_t kDepthwiseTactic = 1001;  // our depthwise kernel, 4 output columns a thread (cudnn.cpp)
constexpr int32_t kDepthwise2Tactic = 1003;  // the same, 2 columns
constexpr int32_t kDepthwise1Tactic = 1004;  // the same, 1 column
constexpr int32_t kDepthwiseNarrow2Tactic = 1005;  // the same, 2 columns of 2 channels a thread
constexpr int32_t kDepthwiseNarrow1Tactic = 1006;  // the same, 1 column of 2 channels
constexpr int32_t kSmallChannelTactic = 1002;  // our tensor-core kernel for fewer than 8 input channels (cudnn.cpp)
constexpr int32_t kPointwiseTactic = 1007;       // our tensor-core kernel for 1x1 convolutions, 64x64 tiles (cudnn.cpp)
constexpr int32_t kPointwise32x64Tactic = 1008;  // the same, 32 pixels x 64 channels a block
constexpr int32_t kPointwise32Tactic = 1009;     // the same, 32 x 32

// What the conv layer reports for a depthwise tactic, or "" for any other tactic.
std::string depthwise_impl(int32_t tactic) {
    return tactic == kDepthwiseTactic ? "depthwise conv kernel" : tactic == kDepthwise2Tactic ? "depthwise conv kernel, 2 columns"
           : tactic == kDepthwise1Tactic ? "depthwise conv kernel, 1 column"
           : tactic == kDepthwiseNarrow2Tactic ? "depthwise conv kernel, 2 columns, 2 channels"
           : tactic == kDepthwiseNarrow1Tactic ? "depthwise conv kernel, 1 column, 2 channels" : "";
}

// What the conv layer reports for a pointwise tactic, or "" for any other tactic.
std::string pointwise_impl(int32_t tactic) {
    return tactic == kPointwiseTactic ? "pointwise conv kernel, 64x64 tiles" : tactic == kPointwise32x64Tactic ? "pointwise conv kernel, 32x64 tiles"
           : tactic == kPointwise32Tactic ? "pointwise conv kernel, 32x32 tiles" : "";
}

// A 3x3 convolution, stride 1, padding 1, with bias and ReLU, its tactic left to the layer.
trtn_conv_params conv3x3_bias_relu() {
    trtn_conv_params prm{};
    prm.pad_h = prm.pad_w = 1; prm.stride_h = prm.stride_w = 1; prm.dilation_h = prm.dilation_w = 1;
    prm.groups = 1; prm.has_bias = 1; prm.act = {TRTN_ACT_RELU, 0, 0}; prm.tactic = -1;
    return prm;
}

// Two identical convolutions in one engine, autotuned: the second is tuned through the first's choice (one timing per
// distinct layer) and must run the same implementation and produce the same bits.
void test_tuned_twins(bool fp16) {
    const int N = 4, H = 28, W = 28, C = 64, K = 64;
    auto x = rnd((size_t)N * H * W * C), w = rnd((size_t)K * 3 * 3 * C), b = rnd(K);
    trtn_engine* e = nullptr;
    bool good = ok(trtn_engine_create(0, &e), "engine_create");
    int32_t dt = fp16 ? TRTN_FLOAT16 : TRTN_FLOAT32, ids[5];
    int32_t dts[5] = {dt, dt, TRTN_FLOAT32, dt, dt}, ranks[5] = {4, 4, 1, 4, 4};
    for (int i = 0; i < 5 && good; ++i) good = ok(trtn_engine_add_tensor(e, dts[i], ranks[i], &ids[i]), "add_tensor");
    trtn_conv_params prm = conv3x3_bias_relu();
    int32_t ins[4] = {ids[0], ids[1], ids[2], -1};
    if (good) good = ok(trtn_engine_add_layer(e, "conv_a", TRTN_LAYER_CONV, &prm, sizeof prm, ins, 4, &ids[3], 1), "add_layer a");
    if (good) good = ok(trtn_engine_add_layer(e, "conv_b", TRTN_LAYER_CONV, &prm, sizeof prm, ins, 4, &ids[4], 1), "add_layer b");
    trtn_build_options bo{fp16 ? 1 : 0, fp16 ? TRTN_FLOAT16 : 0, 256ull << 20, 3};
    if (good) good = ok(trtn_engine_build(e, &bo), "build");
    trtn_context* c = nullptr;
    if (good) good = ok(trtn_context_create(e, &c), "context_create");
    std::vector<int64_t> dims = {N, H, W, C, K, 3, 3, C, K, N, H, W, K, N, H, W, K};
    uint64_t ws = 0;
    if (good) good = ok(trtn_context_set_shapes(c, dims.data(), (int64_t)dims.size(), &ws), "set_shapes");
    size_t es = fp16 ? 2 : 4, nx = x.size(), nw = w.size(), ny = (size_t)N * H * W * K;
    void *px = nullptr, *pw = nullptr, *pb = nullptr, *pa = nullptr, *pz = nullptr, *wsp = nullptr;
    cudaMalloc(&px, nx * es); cudaMalloc(&pw, nw * es); cudaMalloc(&pb, K * 4); cudaMalloc(&pa, ny * es); cudaMalloc(&pz, ny * es);
    cudaMalloc(&wsp, 256ull << 20);
    auto upload = [&](void* dst, const std::vector<float>& v, bool half) {
        if (half) { std::vector<__half> h(v.size()); for (size_t i = 0; i < v.size(); ++i) h[i] = __float2half(v[i]); cudaMemcpy(dst, h.data(), v.size() * 2, cudaMemcpyHostToDevice); }
        else cudaMemcpy(dst, v.data(), v.size() * 4, cudaMemcpyHostToDevice);
    };
    upload(px, x, fp16); upload(pw, w, fp16); upload(pb, b, false);
    void* addr[5] = {px, pw, pb, pa, pz};
    cudaStream_t s;
    cudaStreamCreate(&s);
    if (good) good = ok(trtn_context_set_tensor_addresses(c, addr, 5), "set_addresses") && ok(trtn_context_set_workspace(c, wsp, 256ull << 20), "set_workspace");
    int32_t tactics[2] = {-1, -1};
    float times[2] = {0, 0};
    if (good) good = ok(trtn_context_autotune(c, s, tactics, times, 2), "autotune");
    uint64_t ws2 = 0;
    if (good) good = ok(trtn_context_set_shapes(c, dims.data(), (int64_t)dims.size(), &ws2), "set_shapes after autotune");
    if (good) good = ok(trtn_context_enqueue(c, s), "enqueue") && cudaStreamSynchronize(s) == cudaSuccess;
    char ia[256] = {}, ib[256] = {};
    if (good) good = ok(trtn_context_layer_implementation(c, 0, ia, sizeof ia), "impl a") && ok(trtn_context_layer_implementation(c, 1, ib, sizeof ib), "impl b");
    std::vector<uint8_t> ya(ny * es), yb(ny * es);
    cudaMemcpy(ya.data(), pa, ny * es, cudaMemcpyDeviceToHost);
    cudaMemcpy(yb.data(), pz, ny * es, cudaMemcpyDeviceToHost);
    bool pass = good && tactics[0] == tactics[1] && std::string(ia) == ib && std::string(ia).size() > 0 && ya == yb;
    std::printf("%s conv%s tuned twins: tactics %d / %d, '%s' / '%s', outputs %s\n", pass ? "PASS" : "FAIL", fp16 ? "16" : "32", tactics[0],
                tactics[1], ia, ib, ya == yb ? "identical" : "differ");
    (pass ? g_pass : g_fail)++;
    for (void* p : {px, pw, pb, pa, pz, wsp}) cudaFree(p);
    cudaStreamDestroy(s);
    if (c) trtn_context_destroy(c);
    if (e) trtn_engine_destroy(e);
}

// Tactics timed at several shapes (trtn_engine_set_layer_tactics): each shape set runs the tactic timed at the output
// size nearest in ratio. Batch 1 and 2 are nearer batch 1's timing (the direct kernel), batch 4 and 8 nearer batch 8's
// (-1: cuDNN's choice); tactics given after build are refused.
void test_shape_tactics() {
    if (const char* ab = std::getenv("TRTN_SHAPE_TACTICS"); ab && std::string(ab) == "0") {
        std::printf("SKIP conv16 tactics per shape: TRTN_SHAPE_TACTICS=0 runs the opt tactic at every shape\n");
        return;
    }
    const int H = 14, W = 14, C = 32, K = 32;
    trtn_engine* e = nullptr;
    bool good = ok(trtn_engine_create(0, &e), "engine_create");
    int32_t ids[4];
    int32_t dts[4] = {TRTN_FLOAT16, TRTN_FLOAT16, TRTN_FLOAT32, TRTN_FLOAT16}, ranks[4] = {4, 4, 1, 4};
    for (int i = 0; i < 4 && good; ++i) good = ok(trtn_engine_add_tensor(e, dts[i], ranks[i], &ids[i]), "add_tensor");
    trtn_conv_params prm = conv3x3_bias_relu();
    int32_t ins[4] = {ids[0], ids[1], ids[2], -1};
    if (good) good = ok(trtn_engine_add_layer(e, "conv", TRTN_LAYER_CONV, &prm, sizeof prm, ins, 4, &ids[3], 1), "add_layer");
    int64_t elements[2] = {1LL * H * W * K, 8LL * H * W * K};
    int32_t tactics[2] = {1000, -1};  // our direct kernel at batch 1, cuDNN's choice at batch 8
    if (good) good = ok(trtn_engine_set_layer_tactics(e, 0, elements, tactics, 2), "set_layer_tactics");
    trtn_build_options bo{1, TRTN_FLOAT16, 256ull << 20, 3};
    if (good) good = ok(trtn_engine_build(e, &bo), "build");
    trtn_status* late = good ? trtn_engine_set_layer_tactics(e, 0, elements, tactics, 2) : nullptr;
    bool refused = late && trtn_status_code(late) == TRTN_INVALID_ARGUMENT;
    if (late) trtn_status_destroy(late);
    trtn_context* c = nullptr;
    if (good) good = ok(trtn_context_create(e, &c), "context_create");
    std::string seen;
    bool pass = good && refused;
    for (int n : {1, 2, 4, 8}) {
        std::vector<int64_t> dims = {n, H, W, C, K, 3, 3, C, K, n, H, W, K};
        uint64_t ws = 0;
        char impl[256] = {};
        bool ran = good && ok(trtn_context_set_shapes(c, dims.data(), (int64_t)dims.size(), &ws), "set_shapes") &&
                   ok(trtn_context_layer_implementation(c, 0, impl, sizeof impl), "implementation");
        bool direct = std::string(impl) == "direct conv kernel";
        pass = pass && ran && direct == (n <= 2);
        seen += " batch " + std::to_string(n) + ": '" + impl + "';";
    }
    std::printf("%s conv16 tactics per shape (after build refused: %s):%s\n", pass ? "PASS" : "FAIL", refused ? "yes" : "no", seen.c_str());
    (pass ? g_pass : g_fail)++;
    if (c) trtn_context_destroy(c);
    if (e) trtn_engine_destroy(e);
}

// NHWC conv reference with bias, residual and an activation.
void test_conv(bool fp16, int groups, int N, int H, int W, int C, int K, int R, int pad, int stride, bool autotune = false,
               int act = TRTN_ACT_RELU, int32_t tactic = -1, bool residual = true) {
    int Cg = C / groups, P = (H + 2 * pad - R) / stride + 1, Q = (W + 2 * pad - R) / stride + 1;
    auto x = rnd((size_t)N * H * W * C), w = rnd((size_t)K * R * R * Cg), b = rnd(K), res = rnd((size_t)N * P * Q * K);
    std::vector<double> want((size_t)N * P * Q * K);
    int Kg = K / groups;
    for (int n = 0; n < N; ++n) for (int p = 0; p < P; ++p) for (int q = 0; q < Q; ++q) for (int k = 0; k < K; ++k) {
        double acc = b[k];
        int g = k / Kg;
        for (int r = 0; r < R; ++r) for (int s = 0; s < R; ++s) {
            int h = p * stride - pad + r, ww = q * stride - pad + s;
            if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
            for (int c = 0; c < Cg; ++c)
                acc += (double)x[(((size_t)n * H + h) * W + ww) * C + g * Cg + c] * w[(((size_t)k * R + r) * R + s) * Cg + c];
        }
        size_t o = (((size_t)n * P + p) * Q + q) * K + k;
        if (residual) acc += res[o];
        trtn_activation a = test_act(act);
        want[o] = host_act(act, acc, a.alpha, a.beta);
    }
    trtn_conv_params prm{};
    prm.pad_h = prm.pad_w = pad; prm.stride_h = prm.stride_w = stride; prm.dilation_h = prm.dilation_w = 1;
    prm.groups = groups; prm.has_bias = 1; prm.has_residual = residual ? 1 : 0; prm.act = test_act(act); prm.tactic = tactic;
    std::vector<T> ts = {{{N, H, W, C}, x}, {{K, R, R, Cg}, w}, {{K}, b, TRTN_FLOAT32}};
    if (residual) ts.push_back({{N, P, Q, K}, res});
    ts.push_back({{N, P, Q, K}, {}});
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_CONV, &prm, ts, residual ? 4 : 3, fp16, got, false, autotune);
    if (tactic == kFusedGraphTactic) ran = ran && g_last_impl.rfind("cudnn graph+epilogue ", 0) == 0;
    if (tactic == kGraphTactic) ran = ran && g_last_impl.rfind("cudnn graph ", 0) == 0;
    if (tactic == kDirectTactic) ran = ran && g_last_impl == "direct conv kernel";
    if (!depthwise_impl(tactic).empty()) ran = ran && g_last_impl == depthwise_impl(tactic);
    if (tactic == kSmallChannelTactic) ran = ran && g_last_impl == "small-channel conv kernel";
    if (!pointwise_impl(tactic).empty()) ran = ran && g_last_impl == pointwise_impl(tactic);
    if (tactic >= 0 && g_last_impl.empty()) ran = false;
    // A depthwise or pointwise case is named as the layer names its variant, less "conv " (the names earlier logs hold).
    const std::string depthwise = depthwise_impl(tactic), pointwise = pointwise_impl(tactic);
    const std::string kernel = !depthwise.empty() ? " depthwise kernel" + depthwise.substr(std::strlen("depthwise conv kernel"))
                               : !pointwise.empty() ? " pointwise kernel" + pointwise.substr(std::strlen("pointwise conv kernel"))
                               : tactic == kFusedGraphTactic ? " graph+epilogue" : tactic == kGraphTactic ? " graph"
                               : tactic == kSmallChannelTactic ? " small-channel kernel" : tactic == kDirectTactic ? " direct kernel" : "";
    char name[160];
    std::snprintf(name, sizeof name, "conv%s g=%d %dx%dx%dx%d k=%d r=%d s=%d%s act=%d%s%s", fp16 ? "16" : "32", groups, N, H, W, C, K, R,
                  stride, autotune ? " tuned" : "", act, kernel.c_str(), residual ? "" : " no-residual");
    check(name, ran, got, want, fp16 ? 5e-3 : 1e-5);
}

// Our pointwise kernel, forced, at each block tile (fp16 and bf16 only): MobileNetV3-L's 14x14 expansion at batch 1
// (hard-swish, no residual), its projection back to 112 channels with the residual (a partial channel tile), a
// squeeze-excitation 1x1 over [1, 1, 1, 240] (one pixel, hard sigmoid), a ResNet downsampling 1x1 with stride 2 over an
// odd size, 24 input channels (a partial stage) into 40 outputs, enough pixels for many blocks, and the last projection
// over 960 channels (many stages through the pipeline).
void test_pointwise() {
    for (int32_t tile : {kPointwiseTactic, kPointwise32x64Tactic, kPointwise32Tactic}) {
        test_conv(true, 1, 1, 14, 14, 80, 480, 1, 0, 1, false, TRTN_ACT_HARDSWISH, tile, false);
        test_conv(true, 1, 1, 14, 14, 480, 112, 1, 0, 1, false, TRTN_ACT_NONE, tile);
        test_conv(true, 1, 1, 1, 1, 240, 960, 1, 0, 1, false, TRTN_ACT_HARDSIGMOID, tile, false);
        test_conv(true, 1, 2, 15, 15, 64, 128, 1, 0, 2, false, TRTN_ACT_NONE, tile, false);
        test_conv(true, 1, 2, 9, 7, 24, 40, 1, 0, 1, false, TRTN_ACT_SILU, tile);
        test_conv(true, 1, 8, 28, 28, 64, 256, 1, 0, 1, false, TRTN_ACT_RELU, tile);
        test_conv(true, 1, 1, 7, 7, 960, 160, 1, 0, 1, false, TRTN_ACT_NONE, tile);
    }
}

// What the attention layer reports for a tensor-core tactic (attention.cpp: 2, 3, 4 = 1, 2, 4 warps a block).
std::string mma_impl(int32_t tactic) {
    int warps = 1 << (tactic - 2);
    return "attention tensor-core kernel (" + std::to_string(warps) + (warps == 1 ? " warp)" : " warps)");
}

// Fused attention over permuted views. layout 0: contiguous [N,S,D] (identity perms); 1: ViT's [S,N,D] tensors
// (torch's MultiheadAttention export) read as [N,S,D], output written as [S,N,D]; 2: [B,S,H,D] tensors read as
// [B,H,S,D] (rank 4). tactic -1: the layer's choice, 0: our kernel, 1: cuDNN's flash attention (fp16), 2-4: our
// tensor-core kernel with 1, 2, 4 warps a block (fp16); autotune: the layer times them all and keeps the fastest.
void test_attention(bool fp16, int layout, int32_t tactic, int Sq = 37, int Skv = 41, int D = 64, int Dv = 64, bool autotune = false) {
    const int B = 2, H = 3, N = B * H;
    float scale = 0.125f;
    // Tensor dims and the view permutation for each layout; views are [N,S,D] (rank 3) or [B,H,S,D] (rank 4).
    auto dims_of = [&](int S, int F) -> std::vector<int64_t> {
        if (layout == 0) return {N, S, F};
        if (layout == 1) return {S, N, F};
        return {B, S, H, F};
    };
    std::vector<int32_t> perm = layout == 0 ? std::vector<int32_t>{0, 1, 2, -1} : layout == 1 ? std::vector<int32_t>{1, 0, 2, -1}
                                                                                         : std::vector<int32_t>{0, 2, 1, 3};
    auto q = rnd((size_t)N * Sq * D), k = rnd((size_t)N * Skv * D), v = rnd((size_t)N * Skv * Dv);
    // Element offset of view element (n, s, d) in a tensor of this layout with sequence length S, feature dim F.
    auto at = [&](int n, int s, int d, int S, int F) -> size_t {
        if (layout == 0) return ((size_t)n * S + s) * F + d;
        if (layout == 1) return ((size_t)s * N + n) * F + d;
        int b = n / H, h = n % H;
        return (((size_t)b * S + s) * H + h) * F + d;
    };
    std::vector<double> want((size_t)N * Sq * Dv);
    for (int n = 0; n < N; ++n)
        for (int i = 0; i < Sq; ++i) {
            std::vector<double> sc(Skv);
            double m = -1e300;
            for (int j = 0; j < Skv; ++j) {
                double a = 0;
                for (int d = 0; d < D; ++d) a += (double)q[at(n, i, d, Sq, D)] * k[at(n, j, d, Skv, D)];
                sc[j] = a * scale;
                m = std::max(m, sc[j]);
            }
            double sum = 0;
            for (auto& x : sc) { x = std::exp(x - m); sum += x; }
            for (int d = 0; d < Dv; ++d) {
                double acc = 0;
                for (int j = 0; j < Skv; ++j) acc += sc[j] * v[at(n, j, d, Skv, Dv)];
                want[at(n, i, d, Sq, Dv)] = acc / sum;
            }
        }
    trtn_attention_params prm{};
    for (int i = 0; i < 4; ++i) prm.q_perm[i] = prm.k_perm[i] = prm.v_perm[i] = prm.o_perm[i] = perm[i];
    for (int i = 0; i < 3; ++i) prm.fixed_axis[i] = -1;
    prm.scale = scale;
    prm.tactic = tactic;
    std::vector<T> ts = {{dims_of(Sq, D), q}, {dims_of(Skv, D), k}, {dims_of(Skv, Dv), v}, {dims_of(Sq, Dv), {}}};
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_ATTENTION, &prm, ts, 3, fp16, got, true, autotune);
    if (tactic == 1) ran = ran && g_last_impl == "cudnn flash attention";
    if (tactic == 0) ran = ran && g_last_impl == "attention kernel";
    if (tactic >= 2) ran = ran && g_last_impl == mma_impl(tactic);
    // ViT-like fp16 views ([B,H,S,D] read from [B,S,H,D]) must take cuDNN's flash attention by default: the fast
    // path silently not applying is what this catches.
    if (tactic < 0 && !autotune && fp16 && layout == 2 && D % 8 == 0 && Dv % 8 == 0) ran = ran && g_last_impl == "cudnn flash attention";
    std::printf("  attention ran: %s\n", g_last_impl.c_str());
    char name[128];
    std::snprintf(name, sizeof name, "attention%s layout=%d tactic=%d%s sq=%d skv=%d d=%d dv=%d", fp16 ? "16" : "32", layout, tactic,
                  autotune ? " autotuned" : "", Sq, Skv, D, Dv);
    check(name, ran, got, want, fp16 ? 5e-3 : 1e-5);
}

// Q, K and V as slices of one packed projection output, as ViT's in-projection leaves them: the tensor is
// [S, B, 3, H, D] (dim 2 picks Q, K or V, held by fixed_axis / fixed_index), the views [B, H, S, D], the output
// [S, B, H, D]. Each input gets its own copy of the packed tensor here, which checks the offsets of all three.
void test_attention_packed(bool fp16, int32_t tactic) {
    const int S = 37, B = 2, H = 3, D = 64;
    const float scale = 0.125f;
    auto packed = rnd((size_t)S * B * 3 * H * D);
    auto at = [&](int s, int b, int which, int h, int d) { return (((((size_t)s * B + b) * 3 + which) * H + h) * D) + d; };
    std::vector<double> want((size_t)S * B * H * D);
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
            for (int i = 0; i < S; ++i) {
                std::vector<double> sc(S);
                double m = -1e300;
                for (int j = 0; j < S; ++j) {
                    double a = 0;
                    for (int d = 0; d < D; ++d) a += (double)packed[at(i, b, 0, h, d)] * packed[at(j, b, 1, h, d)];
                    sc[j] = a * scale;
                    m = std::max(m, sc[j]);
                }
                double sum = 0;
                for (auto& x : sc) { x = std::exp(x - m); sum += x; }
                for (int d = 0; d < D; ++d) {
                    double acc = 0;
                    for (int j = 0; j < S; ++j) acc += sc[j] * packed[at(j, b, 2, h, d)];
                    want[(((size_t)i * B + b) * H + h) * D + d] = acc / sum;
                }
            }
    trtn_attention_params prm{};
    const int32_t view[4] = {1, 3, 0, 4}, out[4] = {1, 2, 0, 3};
    for (int i = 0; i < 4; ++i) { prm.q_perm[i] = prm.k_perm[i] = prm.v_perm[i] = view[i]; prm.o_perm[i] = out[i]; }
    for (int i = 0; i < 3; ++i) { prm.fixed_axis[i] = 2; prm.fixed_index[i] = i; }
    prm.scale = scale;
    prm.tactic = tactic;
    std::vector<int64_t> pd = {S, B, 3, H, D};
    std::vector<T> ts = {{pd, packed}, {pd, packed}, {pd, packed}, {{S, B, H, D}, {}}};
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_ATTENTION, &prm, ts, 3, fp16, got, true);
    if (tactic == 1) ran = ran && g_last_impl == "cudnn flash attention";
    if (tactic == 0) ran = ran && g_last_impl == "attention kernel";
    if (tactic >= 2) ran = ran && g_last_impl == mma_impl(tactic);
    std::printf("  attention ran: %s\n", g_last_impl.c_str());
    char name[128];
    std::snprintf(name, sizeof name, "attention%s packed qkv tactic=%d", fp16 ? "16" : "32", tactic);
    check(name, ran, got, want, fp16 ? 5e-3 : 1e-5);
}

// Our tensor-core kernel in the GEMM layer (cublaslt.cpp: 1000 + the tile's index, 64x64, 32x64, 32x32).
constexpr int32_t kGemmMmaTactic = 1000;
std::string gemm_mma_impl(int32_t tactic) {
    static const char* kTiles[] = {"64x64", "32x64", "32x32"};
    return std::string("mma kernel, ") + kTiles[tactic - kGemmMmaTactic] + " tiles";
}

// tactic -1: the layer's choice; >= 32: a split-K variant (cublaslt.cpp: index + 32 * code, 2^code slices of K), which
// the layer must then run (its implementation names the split).
void test_gemm(bool fp16, int B, int M, int K, int N, bool trans_b, bool batched_b, int act, bool residual = false, int32_t tactic = -1,
               bool autotune = false) {
    auto a = rnd((size_t)B * M * K), b = rnd((size_t)(batched_b ? B : 1) * K * N), bias = rnd(N), res = rnd((size_t)B * M * N);
    std::vector<double> want((size_t)B * M * N);
    for (int bb = 0; bb < B; ++bb) for (int m = 0; m < M; ++m) for (int n = 0; n < N; ++n) {
        double acc = bias[n] + (residual ? res[((size_t)bb * M + m) * N + n] : 0.0);
        const float* bm = b.data() + (batched_b ? (size_t)bb * K * N : 0);
        for (int k = 0; k < K; ++k) acc += (double)a[((size_t)bb * M + m) * K + k] * (trans_b ? bm[(size_t)n * K + k] : bm[(size_t)k * N + n]);
        want[((size_t)bb * M + m) * N + n] = host_act(act, acc, 0, 0);
    }
    trtn_gemm_params prm{};
    prm.trans_b = trans_b; prm.alpha = 1.f; prm.has_bias = 1; prm.act = {act, 0, 0}; prm.tactic = tactic;
    std::vector<int64_t> bshape = trans_b ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N};
    if (batched_b) bshape.insert(bshape.begin(), B);
    std::vector<T> ts = {{{B, M, K}, a}, {bshape, b}, {{N}, bias}};
    if (residual) ts.push_back({{B, M, N}, res});
    ts.push_back({{B, M, N}, {}});
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_GEMM, &prm, ts, residual ? 4 : 3, fp16, got, residual, autotune);
    // cuBLASLt may refuse to split this shape's first result (the layer then runs it whole): say so, check the numbers.
    if (tactic >= 32 && tactic < kGemmMmaTactic && ran && g_last_impl.find("splitk") == std::string::npos)
        std::printf("  note: cuBLASLt did not accept split-K here; ran '%s'\n", g_last_impl.c_str());
    if (tactic >= kGemmMmaTactic) ran = ran && g_last_impl.rfind(gemm_mma_impl(tactic), 0) == 0;
    char name[160];
    std::snprintf(name, sizeof name, "gemm%s %dx%dx%dx%d tb=%d bb=%d act=%d%s%s%s", fp16 ? "16" : "32", B, M, K, N, trans_b, batched_b, act,
                  residual ? " +residual" : "", tactic >= 32 ? (" tactic " + std::to_string(tactic)).c_str() : "", autotune ? " tuned" : "");
    check(name, ran, got, want, fp16 ? 5e-3 : 1e-5);
}

// Our tensor-core kernel as the GEMM layer's, forced at each tile (fp16 and bf16 only): MobileNetV3-L's classifier at
// batch 1 (one row, hard-swish fused, which cuBLASLt's epilogue lacks), a ViT projection with its residual, a
// squeeze-excitation-gated projection (per-batch B, the residual), a batched A times a shared B (folded into one tall
// product; partial tiles); then a ConvNeXt MLP GEMM autotuned with it among the candidates.
void test_gemm_mma() {
    for (int32_t tactic : {kGemmMmaTactic, kGemmMmaTactic + 1, kGemmMmaTactic + 2}) {
        test_gemm(true, 1, 1, 1280, 1000, true, false, TRTN_ACT_HARDSWISH, false, tactic);
        test_gemm(true, 1, 197, 768, 768, true, false, TRTN_ACT_NONE, true, tactic);
        test_gemm(true, 2, 784, 240, 40, true, true, TRTN_ACT_NONE, true, tactic);
        test_gemm(true, 3, 17, 64, 40, true, false, TRTN_ACT_GELU, false, tactic);
    }
    test_gemm(true, 1, 196, 1536, 384, true, false, TRTN_ACT_GELU, true, -1, true);
}

// Rounds values to what the layer's type keeps (fp16, or bf16 in the bf16 pass), so a reference computed from them
// sees the layer's own inputs.
void round_to_layer_type(std::vector<float>& v, bool fp16) {
    if (!fp16) return;
    for (auto& x : v) x = g_reduced == TRTN_BFLOAT16 ? __bfloat162float(__float2bfloat16(x)) : __half2float(__float2half(x));
}

// A GEMM whose A rows are layer-normalised first (norm_a: a transformer's LayerNorm folded into its Linear layer),
// against LayerNorm then GEMM in double. tactic -1: the layer's default, cuBLASLt on a normalised copy of A in the
// workspace; 1000-1002: our kernel normalising inside the product. `offset` moves every A value by that much (a
// residual stream with a large mean: the statistics must not cancel); no shift or residual where `shift` / `residual`
// is false.
void test_gemm_norm(bool fp16, int B, int M, int K, int N, int act, bool shift, bool residual, float offset, int32_t tactic,
                    bool autotune = false) {
    auto a = rnd((size_t)B * M * K), w = rnd((size_t)N * K), bias = rnd(N), res = rnd((size_t)B * M * N);
    auto scale = rnd(K, 0.5f, 1.5f), sh = rnd(K);
    for (auto& x : a) x += offset;
    round_to_layer_type(a, fp16);
    round_to_layer_type(w, fp16);
    const float eps = 1e-6f;
    std::vector<double> want((size_t)B * M * N), row(K);
    for (int r = 0; r < B * M; ++r) {
        double mean = 0, var = 0;
        for (int k = 0; k < K; ++k) mean += a[(size_t)r * K + k];
        mean /= K;
        for (int k = 0; k < K; ++k) var += (a[(size_t)r * K + k] - mean) * (a[(size_t)r * K + k] - mean);
        double rstd = 1.0 / std::sqrt(var / K + eps);
        for (int k = 0; k < K; ++k) row[k] = (a[(size_t)r * K + k] - mean) * rstd * scale[k] + (shift ? sh[k] : 0.0);
        for (int n = 0; n < N; ++n) {
            double acc = bias[n] + (residual ? res[(size_t)r * N + n] : 0.0);
            for (int k = 0; k < K; ++k) acc += row[k] * w[(size_t)n * K + k];
            want[(size_t)r * N + n] = host_act(act, acc, 0, 0);
        }
    }
    trtn_gemm_params prm{};
    prm.trans_b = 1; prm.alpha = 1.f; prm.has_bias = 1; prm.act = {act, 0, 0}; prm.tactic = tactic;
    prm.norm_a = 1; prm.norm_epsilon = eps;
    T absent;
    absent.absent = true;
    T res_t{{B, M, N}, res};
    T shift_t{{K}, sh, TRTN_FLOAT32};
    std::vector<T> ts = {{{B, M, K}, a}, {{N, K}, w}, {{N}, bias}, residual ? res_t : absent, {{K}, scale, TRTN_FLOAT32},
                         shift ? shift_t : absent, {{B, M, N}, {}}};
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_GEMM, &prm, ts, 6, fp16, got, true, autotune);
    if (tactic >= kGemmMmaTactic) ran = ran && g_last_impl.rfind(gemm_mma_impl(tactic) + " +layernorm", 0) == 0;
    if (tactic < 0 && !autotune) ran = ran && g_last_impl.rfind("layernorm kernel + cublasLt", 0) == 0;
    std::printf("  gemm ran: %s\n", g_last_impl.c_str());
    char name[160];
    std::snprintf(name, sizeof name, "gemm%s layernorm %dx%dx%dx%d act=%d%s%s offset=%g tactic=%d%s", fp16 ? "16" : "32", B, M, K, N, act,
                  shift ? " +shift" : "", residual ? " +residual" : "", offset, tactic, autotune ? " tuned" : "");
    check(name, ran, got, want, fp16 ? 5e-3 : 1e-5);
}

// The normalising GEMM at ViT-B/16's shapes (its in-projection and the MLP's first Linear, batch 1), ConvNeXt-T's first
// MLP (96 input channels: the last stage of 64 half past the row), and a small one with a large mean, no shift and a
// residual (partial tiles everywhere), each at every tactic; then autotuned, and once in fp32 (cuBLASLt only).
void test_gemm_norm_all() {
    for (int32_t tactic : {-1, kGemmMmaTactic, kGemmMmaTactic + 1, kGemmMmaTactic + 2}) {
        test_gemm_norm(true, 1, 197, 768, 2304, TRTN_ACT_NONE, true, false, 0.f, tactic);
        test_gemm_norm(true, 1, 197, 768, 3072, TRTN_ACT_GELU_TANH, true, false, 0.f, tactic);
        test_gemm_norm(true, 2, 392, 96, 384, TRTN_ACT_GELU, true, false, 0.f, tactic);
        test_gemm_norm(true, 1, 37, 40, 24, TRTN_ACT_NONE, false, true, 8.f, tactic);
    }
    test_gemm_norm(true, 1, 197, 768, 3072, TRTN_ACT_GELU_TANH, true, false, 0.f, -1, true);
    test_gemm_norm(false, 1, 37, 40, 24, TRTN_ACT_RELU, true, true, 8.f, -1);
}

void test_softmax_ln(bool fp16) {
    int rows = 37, cols = 197;
    auto x = rnd((size_t)rows * cols, -4, 4);
    std::vector<double> want(x.size());
    for (int r = 0; r < rows; ++r) {
        double m = -1e30, s = 0;
        for (int c = 0; c < cols; ++c) m = std::max(m, (double)x[r * cols + c]);
        for (int c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
        for (int c = 0; c < cols; ++c) want[r * cols + c] = std::exp(x[r * cols + c] - m) / s;
    }
    trtn_softmax_params sp{1, 0};
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_SOFTMAX, &sp, {{{rows, cols}, x}, {{rows, cols}, {}}}, 1, fp16, got);
    check(fp16 ? "softmax16" : "softmax32", ran, got, want, fp16 ? 5e-3 : 1e-5);

    // Row lengths for both LayerNorm kernels: 197 (not a whole number of 16-byte chunks: the block kernel), the
    // channel counts of ConvNeXt and ViT's width (lanes kernel: 8, 16 and 32 lanes per row), 2048 (8 chunks per lane in
    // fp16) and 4000 (too long for the lanes kernel), with and without a bias.
    for (int ln_cols : {197, 96, 192, 384, 768, 2048, 4000}) {
        for (int with_bias : {1, 0}) {
            if (!with_bias && ln_cols != 96) continue;
            int lr = ln_cols == 96 ? 203 : rows;  // rows that leave the last block partly empty
            auto lx = rnd((size_t)lr * ln_cols, -4, 4);
            auto sc = rnd(ln_cols), bi = rnd(ln_cols);
            std::vector<double> lwant(lx.size());
            for (int r = 0; r < lr; ++r) {
                double m = 0, v = 0;
                for (int c = 0; c < ln_cols; ++c) m += lx[(size_t)r * ln_cols + c];
                m /= ln_cols;
                for (int c = 0; c < ln_cols; ++c) v += (lx[(size_t)r * ln_cols + c] - m) * (lx[(size_t)r * ln_cols + c] - m);
                v /= ln_cols;
                for (int c = 0; c < ln_cols; ++c)
                    lwant[(size_t)r * ln_cols + c] = (lx[(size_t)r * ln_cols + c] - m) / std::sqrt(v + 1e-6) * sc[c] + (with_bias ? bi[c] : 0.0);
            }
            trtn_layernorm_params lp{1, 1e-6f, with_bias};
            std::vector<T> lts = {{{lr, ln_cols}, lx}, {{ln_cols}, sc, TRTN_FLOAT32}};
            if (with_bias) lts.push_back({{ln_cols}, bi, TRTN_FLOAT32});
            lts.push_back({{lr, ln_cols}, {}});
            ran = run_layer(TRTN_LAYER_LAYERNORM, &lp, lts, with_bias ? 3 : 2, fp16, got);
            char name[64];
            std::snprintf(name, sizeof name, "layernorm%s cols=%d%s", fp16 ? "16" : "32", ln_cols, with_bias ? "" : " no-bias");
            check(name, ran, got, lwant, fp16 ? 5e-3 : 1e-5);
        }
    }
}

void test_misc(bool fp16) {
    // binary broadcast [2,3,4,5] * [3,1,1] -> mul; then copy transpose NCHW->NHWC; pool; reduce.
    auto a = rnd(2 * 3 * 4 * 5), b = rnd(3);
    std::vector<double> want(a.size());
    for (size_t i = 0; i < a.size(); ++i) want[i] = (double)a[i] * b[(i / 20) % 3];
    trtn_binary_params bp{TRTN_BINARY_MUL, {TRTN_ACT_NONE, 0, 0}};
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_BINARY, &bp, {{{2, 3, 4, 5}, a}, {{3, 1, 1}, b}, {{2, 3, 4, 5}, {}}}, 2, fp16, got);
    check(fp16 ? "binary16 broadcast" : "binary32 broadcast", ran, got, want, fp16 ? 2e-3 : 1e-6);
    {
        // Squeeze-excitation style [2,5,6,8] * [2,1,1,8] (NHWC scale per image and channel), and a rank-6 broadcast
        // [2,3,2,3,2,3] + [3,1,3,1,3] that no dims merge in (the general kernel's run-time-rank path).
        auto x = rnd(2 * 5 * 6 * 8), sc = rnd(2 * 8);
        std::vector<double> w(x.size());
        for (size_t i = 0; i < x.size(); ++i) w[i] = (double)x[i] * sc[(i / 240) * 8 + i % 8];
        std::vector<float> g;
        bool r1 = run_layer(TRTN_LAYER_BINARY, &bp, {{{2, 5, 6, 8}, x}, {{2, 1, 1, 8}, sc}, {{2, 5, 6, 8}, {}}}, 2, fp16, g);
        check(fp16 ? "binary16 per image and channel" : "binary32 per image and channel", r1, g, w, fp16 ? 2e-3 : 1e-6);
        auto u = rnd(216), v = rnd(27);
        std::vector<double> w2(u.size());
        for (size_t i = 0; i < u.size(); ++i) {
            size_t c5 = i % 3, c3 = (i / 6) % 3, c1 = (i / 36) % 3;  // u's axes 1, 3, 5 (sizes 3) meet v's
            w2[i] = (double)u[i] + v[(c1 * 3 + c3) * 3 + c5];
        }
        trtn_binary_params add{TRTN_BINARY_ADD, {TRTN_ACT_NONE, 0, 0}};
        bool r2 = run_layer(TRTN_LAYER_BINARY, &add, {{{2, 3, 2, 3, 2, 3}, u}, {{3, 1, 3, 1, 3}, v}, {{2, 3, 2, 3, 2, 3}, {}}}, 2, fp16, g);
        check(fp16 ? "binary16 rank-6 broadcast" : "binary32 rank-6 broadcast", r2, g, w2, fp16 ? 2e-3 : 1e-6);
        // The vectorized kernel with the first operand broadcast, an operation that is not symmetric and an activation:
        // relu([2,1,1,16] - [2,3,3,16]).
        auto p = rnd(2 * 16), q = rnd(2 * 3 * 3 * 16);
        std::vector<double> w3(q.size());
        for (size_t i = 0; i < q.size(); ++i) w3[i] = std::max(0.0, (double)p[(i / 144) * 16 + i % 16] - q[i]);
        trtn_binary_params sub{TRTN_BINARY_SUB, {TRTN_ACT_RELU, 0, 0}};
        bool r3 = run_layer(TRTN_LAYER_BINARY, &sub, {{{2, 1, 1, 16}, p}, {{2, 3, 3, 16}, q}, {{2, 3, 3, 16}, {}}}, 2, fp16, g);
        check(fp16 ? "binary16 broadcast first operand, relu" : "binary32 broadcast first operand, relu", r3, g, w3, fp16 ? 2e-3 : 1e-6);
    }

    trtn_copy_params cp{};
    int perm[4] = {0, 2, 3, 1};
    for (int k = 0; k < 4; ++k) { cp.perm[k] = perm[k]; cp.start[k] = 0; cp.step[k] = 1; }
    for (int n = 0; n < 2; ++n) for (int h = 0; h < 4; ++h) for (int w = 0; w < 5; ++w) for (int c = 0; c < 3; ++c)
        want[((n * 4 + h) * 5 + w) * 3 + c] = a[((n * 3 + c) * 4 + h) * 5 + w];
    ran = run_layer(TRTN_LAYER_COPY, &cp, {{{2, 3, 4, 5}, a, TRTN_FLOAT32}, {{2, 4, 5, 3}, {}}}, 1, fp16, got);
    check(fp16 ? "copy f32->f16 nchw->nhwc" : "copy nchw->nhwc", ran, got, want, fp16 ? 1e-3 : 0);
    // One image (the dims merge to [pixels, channels]) with 4 channels, pixels no multiple of 4 (the general kernel),
    // and 2 channels in the engine's precision (fp16 or bf16 in: 8-byte loads).
    for (auto [cn, cc, ch, cw, cdt] : {std::tuple{1, 4, 6, 6, (int32_t)TRTN_FLOAT32}, std::tuple{2, 3, 3, 5, (int32_t)TRTN_FLOAT32},
                                       std::tuple{2, 2, 4, 8, (int32_t)-1}}) {
        auto src = rnd((size_t)cn * cc * ch * cw);
        std::vector<double> tw(src.size());
        for (int n = 0; n < cn; ++n) for (int h = 0; h < ch; ++h) for (int w = 0; w < cw; ++w) for (int c = 0; c < cc; ++c)
            tw[(((size_t)n * ch + h) * cw + w) * cc + c] = src[(((size_t)n * cc + c) * ch + h) * cw + w];
        bool r = run_layer(TRTN_LAYER_COPY, &cp, {{{cn, cc, ch, cw}, src, cdt}, {{cn, ch, cw, cc}, {}}}, 1, fp16, got);
        char cname[96];
        std::snprintf(cname, sizeof cname, "copy%s nchw->nhwc %dx%dx%dx%d", cdt == -1 ? "" : fp16 ? " f32->f16" : "", cn, cc, ch, cw);
        check(cname, r, got, tw, fp16 ? 1e-3 : 0);
    }

    // max pool 3x3 s2 p1 on NHWC [2,9,9,8]
    auto x = rnd(2 * 9 * 9 * 8);
    int P = 5;
    std::vector<double> pw(2 * P * P * 8);
    for (int n = 0; n < 2; ++n) for (int p = 0; p < P; ++p) for (int q = 0; q < P; ++q) for (int c = 0; c < 8; ++c) {
        double m = -1e30;
        for (int r = 0; r < 3; ++r) for (int s = 0; s < 3; ++s) {
            int h = p * 2 - 1 + r, w = q * 2 - 1 + s;
            if (h >= 0 && h < 9 && w >= 0 && w < 9) m = std::max(m, (double)x[((n * 9 + h) * 9 + w) * 8 + c]);
        }
        pw[((n * P + p) * P + q) * 8 + c] = m;
    }
    trtn_pool_params pp{0, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0};
    ran = run_layer(TRTN_LAYER_POOL, &pp, {{{2, 9, 9, 8}, x}, {{2, P, P, 8}, {}}}, 1, fp16, got, true);
    check(fp16 ? "maxpool16 (graph replay)" : "maxpool32 (graph replay)", ran, got, pw, fp16 ? 1e-3 : 0);

    // Average pooling 3x3, stride 1, pads 1 (count_include_pad 0 and 1) over 16 channels: the vectorized kernel's average
    // path and its padding counts.
    for (int include : {0, 1}) {
        const int AN = 2, AH = 7, AC = 16;
        auto ax = rnd((size_t)AN * AH * AH * AC);
        std::vector<double> aw((size_t)AN * AH * AH * AC);
        for (int n = 0; n < AN; ++n) for (int p = 0; p < AH; ++p) for (int q = 0; q < AH; ++q) for (int c = 0; c < AC; ++c) {
            double sum = 0;
            int cnt = 0;
            for (int r = -1; r <= 1; ++r) for (int t = -1; t <= 1; ++t) {
                int hh = p + r, ww = q + t;
                if (hh >= 0 && hh < AH && ww >= 0 && ww < AH) { sum += ax[(((size_t)n * AH + hh) * AH + ww) * AC + c]; ++cnt; }
                else if (include) ++cnt;
            }
            aw[(((size_t)n * AH + p) * AH + q) * AC + c] = sum / cnt;
        }
        trtn_pool_params ap{1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, include};
        ran = run_layer(TRTN_LAYER_POOL, &ap, {{{AN, AH, AH, AC}, ax}, {{AN, AH, AH, AC}, {}}}, 1, fp16, got);
        check(std::string(fp16 ? "avgpool16" : "avgpool32") + " 3x3 pad 1 include_pad=" + std::to_string(include), ran, got, aw, fp16 ? 2e-3 : 1e-6);
    }

    // Global average pooling, with CUDA-graph replay: H*W in many slices (a squeeze-excitation pool at batch 1), in a
    // few (144 channels: two channel tiles in fp32), in one (many channels over 7x7), and 3 channels (no vector).
    for (auto [gn, gh, gc] : {std::tuple{1, 112, 32}, std::tuple{3, 56, 96}, std::tuple{4, 56, 144}, std::tuple{2, 7, 1280},
                              std::tuple{2, 20, 3}}) {
        auto gx = rnd((size_t)gn * gh * gh * gc);
        std::vector<double> gw((size_t)gn * gc, 0);
        for (int n = 0; n < gn; ++n)
            for (int i = 0; i < gh * gh; ++i)
                for (int c = 0; c < gc; ++c) gw[(size_t)n * gc + c] += gx[((size_t)n * gh * gh + i) * gc + c] / (double)(gh * gh);
        trtn_pool_params gp{1, gh, gh, 1, 1, 0, 0, 0, 0, 1, 1, 0};
        ran = run_layer(TRTN_LAYER_POOL, &gp, {{{gn, gh, gh, gc}, gx}, {{gn, 1, 1, gc}, {}}}, 1, fp16, got, true);
        char gname[96];
        std::snprintf(gname, sizeof gname, "globalavg%s %dx%dx%dx%d (graph replay)", fp16 ? "16" : "32", gn, gh, gh, gc);
        check(gname, ran, got, gw, fp16 ? 2e-3 : 1e-5);
    }

    std::vector<double> rw(2 * 8, 0);
    for (int n = 0; n < 2; ++n) for (int i = 0; i < 81; ++i) for (int c = 0; c < 8; ++c) rw[n * 8 + c] += x[(n * 81 + i) * 8 + c] / 81.0;
    trtn_reduce_params rp{0, 0b0110};
    ran = run_layer(TRTN_LAYER_REDUCE, &rp, {{{2, 9, 9, 8}, x}, {{2, 1, 1, 8}, {}}}, 1, fp16, got);
    check(fp16 ? "reducemean16" : "reducemean32", ran, got, rw, fp16 ? 2e-3 : 1e-6);
}


// Strided copies of every rank the copy kernel specialises (1-8; 6 is a patch stem's rows): a full reversal of the
// axes keeps every dim separate; plus a strided slice with offsets.
void test_copy_ranks(bool fp16) {
    const int64_t sizes[8] = {2, 3, 2, 3, 2, 3, 2, 3};
    for (int r = 1; r <= 8; ++r) {
        std::vector<int64_t> in(sizes, sizes + r), out(r);
        for (int k = 0; k < r; ++k) out[k] = in[r - 1 - k];
        auto x = rnd((size_t)count(in));
        std::vector<double> want(x.size());
        std::vector<int64_t> idx(r, 0);
        for (size_t o = 0; o < want.size(); ++o) {  // idx: the output's multi-index, row-major
            int64_t src = 0;
            for (int k = 0; k < r; ++k) src = src * in[k] + idx[r - 1 - k];
            want[o] = x[(size_t)src];
            for (int k = r - 1; k >= 0; --k) { if (++idx[k] < out[k]) break; idx[k] = 0; }
        }
        trtn_copy_params cp{};
        for (int k = 0; k < r; ++k) { cp.perm[k] = r - 1 - k; cp.start[k] = 0; cp.step[k] = 1; }
        std::vector<float> got;
        bool ran = run_layer(TRTN_LAYER_COPY, &cp, {{in, x, TRTN_FLOAT32}, {out, {}}}, 1, fp16, got);
        check(std::string(fp16 ? "copy f32->f16 reverse rank " : "copy reverse rank ") + std::to_string(r), ran, got, want, fp16 ? 1e-3 : 0);
    }
    auto x = rnd(4 * 6 * 8);
    std::vector<double> want(2 * 3 * 4);
    for (int i = 0; i < 2; ++i) for (int j = 0; j < 3; ++j) for (int l = 0; l < 4; ++l)
        want[(i * 3 + j) * 4 + l] = x[((1 + 2 * i) * 6 + 2 * j) * 8 + 2 + l];
    trtn_copy_params cp{};
    int64_t start[3] = {1, 0, 2}, step[3] = {2, 2, 1};
    for (int k = 0; k < 3; ++k) { cp.perm[k] = k; cp.start[k] = start[k]; cp.step[k] = step[k]; }
    std::vector<float> got;
    bool ran = run_layer(TRTN_LAYER_COPY, &cp, {{{4, 6, 8}, x, TRTN_FLOAT32}, {{2, 3, 4}, {}}}, 1, fp16, got);
    check(fp16 ? "copy f32->f16 strided slice" : "copy strided slice", ran, got, want, fp16 ? 1e-3 : 0);
}

// Batch preprocessing: per-image parameters (channel order, scale, mean, std), planar fp32 must equal the plain
// float expression bit for bit (the managed CPU path computes exactly that); fp16 interleaved must equal its
// rounding; a bad output type is refused.
void test_preprocess() {
    const int B = 3, H = 5, W = 7, C = 3;
    std::vector<uint8_t> px(B * H * W * C);
    for (auto& v : px) v = (uint8_t)(rng() & 0xff);
    std::vector<trtn_image_params> prm(B);
    for (int n = 0; n < B; ++n) {
        auto& p = prm[n];
        std::memset(&p, 0, sizeof(p));
        p.scale = n == 0 ? 1.f : n == 1 ? 0.0039f : 1.f / 255.f;
        for (int c = 0; c < 4; ++c) {
            p.mean[c] = n == 0 ? 0.f : 0.1f * (c + 1) + n;
            p.std[c] = n == 2 ? 0.229f + 0.01f * c : 1.f;
            p.src_channel[c] = n == 1 ? c : 2 - c;  // image 1 keeps RGB, the others become BGR
        }
    }
    std::vector<float> want(B * C * H * W);
    for (int n = 0; n < B; ++n) for (int c = 0; c < C; ++c) for (int i = 0; i < H * W; ++i) {
        volatile float prod = (float)px[(n * H * W + i) * C + prm[n].src_channel[c]] * prm[n].scale;
        volatile float diff = prod - prm[n].mean[c];
        want[(n * C + c) * H * W + i] = diff / prm[n].std[c];
    }
    void *dpx, *dprm, *dy;
    cudaMalloc(&dpx, px.size());
    cudaMalloc(&dprm, B * sizeof(trtn_image_params));
    cudaMalloc(&dy, want.size() * 4);
    cudaMemcpy(dpx, px.data(), px.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(dprm, prm.data(), B * sizeof(trtn_image_params), cudaMemcpyHostToDevice);
    cudaStream_t s;
    cudaStreamCreate(&s);
    std::vector<float> got(want.size());
    bool ran = ok(trtn_preprocess_images(dpx, dprm, B, H, W, C, C, TRTN_FLOAT32, TRTN_IMAGE_NCHW, dy, s), "preprocess fp32") &&
               cudaStreamSynchronize(s) == cudaSuccess;
    cudaMemcpy(got.data(), dy, got.size() * 4, cudaMemcpyDeviceToHost);
    bool exact = ran && std::memcmp(got.data(), want.data(), want.size() * 4) == 0;
    std::printf("%s %-40s %s\n", exact ? "PASS" : "FAIL", "preprocess u8->f32 NCHW (bit-exact)", ran ? "" : "(did not run)");
    (exact ? g_pass : g_fail)++;

    std::vector<__half> h(want.size());
    ran = ok(trtn_preprocess_images(dpx, dprm, B, H, W, C, C, TRTN_FLOAT16, TRTN_IMAGE_NHWC, dy, s), "preprocess fp16") &&
          cudaStreamSynchronize(s) == cudaSuccess;
    cudaMemcpy(h.data(), dy, h.size() * 2, cudaMemcpyDeviceToHost);
    exact = ran;
    for (int n = 0; n < B && exact; ++n) for (int c = 0; c < C; ++c) for (int i = 0; i < H * W; ++i) {
        __half w16 = __float2half_rn(want[(n * C + c) * H * W + i]);
        if (std::memcmp(&h[(n * H * W + i) * C + c], &w16, 2) != 0) exact = false;
    }
    std::printf("%s %-40s\n", exact ? "PASS" : "FAIL", "preprocess u8->f16 NHWC (exact rounding)");
    (exact ? g_pass : g_fail)++;

    // Grayscale: one source channel, one output channel.
    std::vector<float> g1(B * H * C * W);  // the same bytes read as B grey images of (H*C) x W
    ran = ok(trtn_preprocess_images(dpx, dprm, B, H * C, W, 1, 1, TRTN_FLOAT32, TRTN_IMAGE_NCHW, dy, s), "preprocess gray") &&
          cudaStreamSynchronize(s) == cudaSuccess;
    cudaMemcpy(g1.data(), dy, g1.size() * 4, cudaMemcpyDeviceToHost);
    exact = ran;
    for (int n = 0; n < B && exact; ++n) for (int i = 0; i < H * C * W; ++i) {
        volatile float prod = (float)px[n * H * C * W + i] * prm[n].scale;
        volatile float diff = prod - prm[n].mean[0];
        float w1 = diff / prm[n].std[0];
        if (std::memcmp(&g1[n * H * C * W + i], &w1, 4) != 0) exact = false;
    }
    std::printf("%s %-40s\n", exact ? "PASS" : "FAIL", "preprocess gray u8->f32 (bit-exact)");
    (exact ? g_pass : g_fail)++;

    trtn_status* bad = trtn_preprocess_images(dpx, dprm, B, H, W, C, C, TRTN_INT32, TRTN_IMAGE_NCHW, dy, s);
    bool refused = bad && trtn_status_code(bad) == TRTN_INVALID_ARGUMENT;
    std::printf("%s %-40s %s\n", refused ? "PASS" : "FAIL", "preprocess refuses int32 output", bad ? trtn_status_message(bad) : "(accepted)");
    if (bad) trtn_status_destroy(bad);
    (refused ? g_pass : g_fail)++;
    cudaFree(dpx); cudaFree(dprm); cudaFree(dy);
    cudaStreamDestroy(s);
}

// The server's CPU resampler (src/TrtNative.Server/Imaging/Resampler.cs), separable, in the same float order: the
// reference the resize kernel must equal.
void cpu_coeffs(int src, int dst, int mode, std::vector<int>& idx, std::vector<float>& w, int& taps) {
    double scale = (double)src / dst;
    if (mode == TRTN_INTERP_AREA && scale <= 1.0) mode = TRTN_INTERP_LINEAR;
    taps = mode == TRTN_INTERP_NEAREST ? 1 : mode == TRTN_INTERP_LINEAR ? 2 : mode == TRTN_INTERP_CUBIC ? 4
         : mode == TRTN_INTERP_LANCZOS4 ? 8 : (int)std::ceil(scale) + 1;
    idx.assign((size_t)dst * taps, 0);
    w.assign((size_t)dst * taps, 0.f);
    for (int d = 0; d < dst; ++d) {
        int b = d * taps;
        if (mode == TRTN_INTERP_NEAREST) {
            idx[b] = std::min((int)std::floor(d * scale), src - 1);
            w[b] = 1;
        } else if (mode == TRTN_INTERP_AREA) {
            double x0 = d * scale, x1 = x0 + scale;
            int first = (int)std::floor(x0);
            for (int k = 0; k < taps; ++k) {
                int sx = first + k;
                double overlap = std::max(0.0, std::min(x1, (double)(sx + 1)) - std::max(x0, (double)sx));
                idx[b + k] = std::clamp(sx, 0, src - 1);
                w[b + k] = (float)(overlap / scale);
            }
        } else {
            double fx = (d + 0.5) * scale - 0.5;
            int sx = (int)std::floor(fx);
            double f = fx - sx, sum = 0;
            int half = taps / 2;
            std::vector<double> tw(taps);
            for (int k = 0; k < taps; ++k) {
                double t = f - (k - half + 1), a = -0.75, at = std::fabs(t);
                if (mode == TRTN_INTERP_LINEAR) tw[k] = std::max(0.0, 1 - at);
                else if (mode == TRTN_INTERP_CUBIC)
                    tw[k] = at <= 1 ? ((a + 2) * at - (a + 3)) * at * at + 1 : at < 2 ? ((a * at - 5 * a) * at + 8 * a) * at - 4 * a : 0;
                else {
                    double px = M_PI * t;
                    tw[k] = at < 1e-12 ? 1 : at >= 4 ? 0 : 4 * std::sin(px) * std::sin(px / 4) / (px * px);
                }
                sum += tw[k];
            }
            for (int k = 0; k < taps; ++k) {
                idx[b + k] = std::clamp(sx + k - half + 1, 0, src - 1);
                w[b + k] = (float)(tw[k] / sum);
            }
        }
    }
}

// src: sw x sh x ch tight; returns the rw x rh resized image cropped to ow x oh at (cx, cy).
std::vector<uint8_t> cpu_resize(const std::vector<uint8_t>& src, int sw, int sh, int ch, int rw, int rh, int cx, int cy, int ow, int oh, int mode) {
    std::vector<int> xi, yi;
    std::vector<float> xw, yw;
    int xt, yt;
    cpu_coeffs(sw, rw, mode, xi, xw, xt);
    cpu_coeffs(sh, rh, mode, yi, yw, yt);
    std::vector<float> tmp((size_t)sh * rw * ch);
    for (int y = 0; y < sh; ++y)
        for (int x = 0; x < rw; ++x)
            for (int c = 0; c < ch; ++c) {
                float s = 0;
                for (int k = 0; k < xt; ++k) s += xw[x * xt + k] * (float)src[((size_t)y * sw + xi[x * xt + k]) * ch + c];
                tmp[((size_t)y * rw + x) * ch + c] = s;
            }
    std::vector<uint8_t> out((size_t)ow * oh * ch);
    for (int y = 0; y < oh; ++y)
        for (int x = 0; x < ow; ++x)
            for (int c = 0; c < ch; ++c) {
                int ry = y + cy, rx = x + cx;
                float s = 0;
                for (int k = 0; k < yt; ++k) s += yw[ry * yt + k] * tmp[((size_t)yi[ry * yt + k] * rw + rx) * ch + c];
                out[((size_t)y * ow + x) * ch + c] = (uint8_t)std::clamp((int)std::nearbyint(s), 0, 255);
            }
    return out;
}

// OpenCV's fixed-point RGB -> grey, as the server's decoder.
std::vector<uint8_t> cpu_grey(const std::vector<uint8_t>& rgb) {
    std::vector<uint8_t> g(rgb.size() / 3);
    for (size_t i = 0; i < g.size(); ++i) g[i] = (uint8_t)((rgb[3 * i] * 4899 + rgb[3 * i + 1] * 9617 + rgb[3 * i + 2] * 1868 + 8192) >> 14);
    return g;
}

// The resize kernel against the CPU resampler: shrink, enlarge and same size, each filter, RGB, RGB -> grey and grey,
// sources with row padding (pitch > width). Equal byte for byte except lanczos4 (sin() may differ by an ulp: +-1).
void test_resize() {
    const int OW = 24, OH = 20;
    struct Case { int sw, sh, rw, rh, cx, cy; };
    const Case cases[] = {{97, 61, 32, 24, 4, 2}, {13, 11, 30, 22, 3, 1}, {24, 20, 24, 20, 0, 0}, {250, 190, 26, 21, 1, 0}};
    const int n = (int)(sizeof cases / sizeof cases[0]);
    cudaStream_t s;
    cudaStreamCreate(&s);
    void* ditems = nullptr;
    cudaMalloc(&ditems, (n + 1) * sizeof(trtn_resize_item));
    for (int mode = TRTN_INTERP_NEAREST; mode <= TRTN_INTERP_LANCZOS4; ++mode)
        for (int chans : {33, 31, 11}) {
            int sc = chans / 10, oc = chans % 10;
            std::vector<void*> srcs, dsts;
            std::vector<trtn_resize_item> items(n);
            std::vector<std::vector<uint8_t>> want(n);
            for (int i = 0; i < n; ++i) {
                const Case& c = cases[i];
                std::vector<uint8_t> px((size_t)c.sw * c.sh * sc);
                for (auto& v : px) v = (uint8_t)(rng() & 0xff);
                int pitch = c.sw * sc + 5;
                void* d = nullptr;
                cudaMalloc(&d, (size_t)pitch * c.sh);
                cudaMemcpy2D(d, pitch, px.data(), (size_t)c.sw * sc, (size_t)c.sw * sc, c.sh, cudaMemcpyHostToDevice);
                void* o = nullptr;
                cudaMalloc(&o, (size_t)OW * OH * oc);
                cudaMemset(o, 0x5a, (size_t)OW * OH * oc);
                srcs.push_back(d);
                dsts.push_back(o);
                items[i] = trtn_resize_item{(uint64_t)d, (uint64_t)o, c.sw, c.sh, pitch, c.rw, c.rh, c.cx, c.cy, mode};
                want[i] = cpu_resize(sc == 3 && oc == 1 ? cpu_grey(px) : px, c.sw, c.sh, oc, c.rw, c.rh, c.cx, c.cy, OW, OH, mode);
            }
            cudaMemcpy(ditems, items.data(), n * sizeof(trtn_resize_item), cudaMemcpyHostToDevice);
            bool ran = ok(trtn_resize_images(ditems, n, sc, oc, OH, OW, s), "resize_images") && cudaStreamSynchronize(s) == cudaSuccess;
            int worst = 0;
            for (int i = 0; i < n && ran; ++i) {
                std::vector<uint8_t> got(want[i].size());
                cudaMemcpy(got.data(), dsts[i], got.size(), cudaMemcpyDeviceToHost);
                for (size_t k = 0; k < got.size(); ++k) worst = std::max(worst, std::abs((int)got[k] - (int)want[i][k]));
            }
            bool good = ran && worst <= (mode == TRTN_INTERP_LANCZOS4 ? 1 : 0);
            const char* names[] = {"nearest", "linear", "cubic", "area", "lanczos4"};
            std::printf("%s resize %-8s %d->%d channel(s), max |gpu - cpu| = %d\n", good ? "PASS" : "FAIL", names[mode], sc, oc, worst);
            (good ? g_pass : g_fail)++;
            for (void* p : srcs) cudaFree(p);
            for (void* p : dsts) cudaFree(p);
        }
    // A crop window outside the resized image: zeros, never a read out of bounds. 3 -> 4 channels is refused.
    std::vector<uint8_t> src(16 * 16 * 3, 200);
    void *d, *o;
    cudaMalloc(&d, src.size());
    cudaMalloc(&o, OW * OH * 3);
    cudaMemcpy(d, src.data(), src.size(), cudaMemcpyHostToDevice);
    trtn_resize_item bad{(uint64_t)d, (uint64_t)o, 16, 16, 48, 24, 20, 5, 0, TRTN_INTERP_LINEAR};
    cudaMemcpy(ditems, &bad, sizeof bad, cudaMemcpyHostToDevice);
    bool ran = ok(trtn_resize_images(ditems, 1, 3, 3, OH, OW, s), "resize_images bad item") && cudaStreamSynchronize(s) == cudaSuccess;
    std::vector<uint8_t> got(OW * OH * 3, 1);
    cudaMemcpy(got.data(), o, got.size(), cudaMemcpyDeviceToHost);
    bool zeros = ran && std::all_of(got.begin(), got.end(), [](uint8_t v) { return v == 0; });
    std::printf("%s %-40s\n", zeros ? "PASS" : "FAIL", "resize: a bad crop window gives zeros");
    (zeros ? g_pass : g_fail)++;
    trtn_status* refused = trtn_resize_images(ditems, 1, 3, 4, OH, OW, s);
    bool r = refused && trtn_status_code(refused) == TRTN_INVALID_ARGUMENT;
    std::printf("%s %-40s %s\n", r ? "PASS" : "FAIL", "resize refuses 3 -> 4 channels", refused ? trtn_status_message(refused) : "(accepted)");
    if (refused) trtn_status_destroy(refused);
    (r ? g_pass : g_fail)++;
    cudaFree(d); cudaFree(o); cudaFree(ditems);
    cudaStreamDestroy(s);
}

// nvJPEG: baseline (4:2:0), progressive and grey 48x32 files plus two that are not JPEGs, in one batch. The bad ones
// fail alone (status != OK); the others decode to the picture they were encoded from (selftest_jpegs.h) within
// what two JPEG decoders may differ by (mean |d| <= 2, max <= 16 levels; libjpeg-turbo itself: mean 0.7, max 5).
// Generated with: cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 95] (+ [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])).
void test_jpeg_decode() {
    trtn_jpeg_decoder* dec = nullptr;
    trtn_status* st = trtn_jpeg_decoder_create(0, 8, &dec);
    if (st) {
        bool unsupported = trtn_status_code(st) == TRTN_UNSUPPORTED;
        std::printf("%s %-40s %s\n", unsupported ? "SKIP" : "FAIL", "jpeg decoder", trtn_status_message(st));
        trtn_status_destroy(st);
        if (!unsupported) g_fail++;
        return;
    }
    std::printf("  jpeg decoder: %s backend\n", trtn_jpeg_decoder_is_hardware(dec) ? "hardware + CUDA" : "CUDA");
    static const uint8_t not_jpeg[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0};
    std::vector<uint8_t> truncated(kJpegBaseline, kJpegBaseline + 40);
    const void* data[] = {kJpegBaseline, not_jpeg, kJpegProgressive, truncated.data(), kJpegGrey};
    uint64_t sizes[] = {sizeof kJpegBaseline, sizeof not_jpeg, sizeof kJpegProgressive, truncated.size(), sizeof kJpegGrey};
    const bool should_decode[] = {true, false, true, false, true};
    trtn_jpeg_image images[5] = {};
    cudaStream_t s;
    cudaStreamCreate(&s);
    bool hw_at_start = trtn_jpeg_decoder_is_hardware(dec) != 0;
    // Later batches reuse the decoder's buffers and batched states, at batch sizes that change as a server's do (the
    // first files of the list, so the hardware's share changes too; TRTN_JPEG_PREALLOCATE=1 pre-allocates before the
    // first). A hardware path that fails every batch (its files then decode alone, so each file still passes)
    // makes the decoder leave the hardware after the third, which the line after the loop shows.
    const int counts[] = {5, 3, 5, 1, 5};
    for (int round = 0; round < 5; ++round) {
        int count = counts[round];
        bool ran = ok(trtn_jpeg_decoder_decode(dec, data, sizes, count, s, images), "jpeg decode") && cudaStreamSynchronize(s) == cudaSuccess;
        for (int i = 0; i < count; ++i) {
            bool good = ran && (images[i].status == TRTN_OK) == should_decode[i];
            double mean = 0;
            int worst = 0;
            if (good && should_decode[i]) {
                good = images[i].width == 48 && images[i].height == 32 && images[i].pitch >= 48 * 3 && images[i].pixels != 0;
                std::vector<uint8_t> px(48 * 32 * 3);
                if (good)
                    cudaMemcpy2D(px.data(), 48 * 3, (const void*)images[i].pixels, images[i].pitch, 48 * 3, 32, cudaMemcpyDeviceToHost);
                for (int y = 0; y < 32 && good; ++y)
                    for (int x = 0; x < 48; ++x)
                        for (int c = 0; c < 3; ++c) {
                            // The grey fixture's 4x + 3y was stored as 8-bit, so it wraps past 255 (OpenCV decodes it so too).
                            int want = i == 4 ? (4 * x + 3 * y) & 255 : c == 0 ? 5 * x : c == 1 ? 7 * y : 3 * (x + y);
                            int d = std::abs((int)px[(y * 48 + x) * 3 + c] - want);
                            mean += d;
                            worst = std::max(worst, d);
                        }
                mean /= 48 * 32 * 3;
                good = good && mean <= 2 && worst <= 16;
            }
            std::printf("%s jpeg decode round %d file %d: status %d (nvjpeg %d), %dx%d, mean |d| %.2f, max %d\n", good ? "PASS" : "FAIL",
                        round, i, images[i].status, images[i].nvjpeg_status, images[i].width, images[i].height, mean, worst);
            (good ? g_pass : g_fail)++;
        }
    }
    if (hw_at_start)
        std::printf("  jpeg decoder after 5 batches: %s\n", trtn_jpeg_decoder_is_hardware(dec)
                        ? "still hardware + CUDA (no three hardware batches failed in a row)"
                        : "CUDA only: every hardware batch failed and its files decoded alone (hardware path broken)");
    trtn_status* bad = trtn_jpeg_decoder_decode(dec, data, sizes, 9, s, images);
    bool refused = bad && trtn_status_code(bad) == TRTN_INVALID_ARGUMENT;
    std::printf("%s %-40s %s\n", refused ? "PASS" : "FAIL", "jpeg decode refuses 9 > max_batch", bad ? trtn_status_message(bad) : "(accepted)");
    if (bad) trtn_status_destroy(bad);
    (refused ? g_pass : g_fail)++;
    cudaStreamDestroy(s);
    trtn_jpeg_decoder_destroy(dec);
}

// A context alternating between two batch sizes keeps both set-ups and graphs: after each shape has been run
// twice (plain, then captured), switching back replays at once, with correct outputs each time.
void test_shape_slots() {
    trtn_engine* e = nullptr;
    if (!ok(trtn_engine_create(0, &e), "engine_create")) { g_fail++; return; }
    int32_t x, y;
    trtn_unary_params up{TRTN_ACT_RELU, 0, 0};
    bool good = ok(trtn_engine_add_tensor(e, TRTN_FLOAT32, 2, &x), "add_tensor") && ok(trtn_engine_add_tensor(e, TRTN_FLOAT32, 2, &y), "add_tensor") &&
                ok(trtn_engine_add_layer(e, "relu", TRTN_LAYER_UNARY, &up, sizeof(up), &x, 1, &y, 1), "add_layer");
    trtn_build_options bo{0, 0, 1 << 20, 3};
    trtn_context* c = nullptr;
    good = good && ok(trtn_engine_build(e, &bo), "build") && ok(trtn_context_create(e, &c), "context_create");
    const int maxn = 9, cols = 16;
    auto xs = rnd(maxn * cols);
    void *dx, *dy;
    cudaMalloc(&dx, maxn * cols * 4);
    cudaMalloc(&dy, maxn * cols * 4);
    cudaMemcpy(dx, xs.data(), xs.size() * 4, cudaMemcpyHostToDevice);
    void* addr[2] = {dx, dy};
    good = good && ok(trtn_context_set_tensor_addresses(c, addr, 2), "set_addresses") && ok(trtn_context_set_workspace(c, nullptr, 0), "set_workspace");
    cudaStream_t s;
    cudaStreamCreate(&s);
    int sizes[] = {2, 2, 9, 9, 2, 9, 2, 7, 2};
    int states[] = {0, 1, 0, 1, 1, 1, 1, 0, 1};  // graph state expected after each enqueue
    std::string trace;
    for (int k = 0; k < 9 && good; ++k) {
        int n = sizes[k];
        int64_t dims[4] = {n, cols, n, cols};
        uint64_t ws = 0;
        cudaMemset(dy, 0xff, maxn * cols * 4);
        good = ok(trtn_context_set_shapes(c, dims, 4, &ws), "set_shapes") && ok(trtn_context_enqueue(c, s), "enqueue") &&
               cudaStreamSynchronize(s) == cudaSuccess;
        trtn_context_info info{};
        good = good && ok(trtn_context_get_info(c, &info), "get_info");
        std::vector<float> out(n * cols);
        cudaMemcpy(out.data(), dy, out.size() * 4, cudaMemcpyDeviceToHost);
        for (int i = 0; i < n * cols && good; ++i) good = out[i] == (xs[i] > 0 ? xs[i] : 0.f);
        trace += std::to_string(n) + ":" + std::to_string(info.graph_state) + " ";
        if (info.graph_state != states[k]) good = false;
    }
    std::printf("%s %-40s %s\n", good ? "PASS" : "FAIL", "shape slots: graphs kept per batch size", trace.c_str());
    (good ? g_pass : g_fail)++;
    cudaFree(dx); cudaFree(dy);
    cudaStreamDestroy(s);
    trtn_context_destroy(c);
    trtn_engine_destroy(e);
}

// trtn_context_profile: refused before shapes are set and with a wrong layer count; then one time per layer,
// each finite and >= 0, the layers really ran (output = relu(relu(x)) * 2), and a plain enqueue still works after.
void test_profile() {
    trtn_engine* e = nullptr;
    if (!ok(trtn_engine_create(0, &e), "engine_create")) { g_fail++; return; }
    int32_t x, y, z;
    trtn_unary_params relu{TRTN_ACT_RELU, 0, 0};
    trtn_binary_params twice{};
    twice.op = TRTN_BINARY_ADD;  // y + y
    bool good = ok(trtn_engine_add_tensor(e, TRTN_FLOAT32, 2, &x), "add_tensor") && ok(trtn_engine_add_tensor(e, TRTN_FLOAT32, 2, &y), "add_tensor") &&
                ok(trtn_engine_add_tensor(e, TRTN_FLOAT32, 2, &z), "add_tensor") &&
                ok(trtn_engine_add_layer(e, "relu", TRTN_LAYER_UNARY, &relu, sizeof(relu), &x, 1, &y, 1), "add_layer");
    int32_t yy[2] = {y, y};
    good = good && ok(trtn_engine_add_layer(e, "double", TRTN_LAYER_BINARY, &twice, sizeof(twice), yy, 2, &z, 1), "add_layer");
    trtn_build_options bo{0, 0, 1 << 20, 3};
    trtn_context* c = nullptr;
    good = good && ok(trtn_engine_build(e, &bo), "build") && ok(trtn_context_create(e, &c), "context_create");
    cudaStream_t s;
    cudaStreamCreate(&s);
    float times[2] = {-1, -1};
    std::string why;
    trtn_status* early = good ? trtn_context_profile(c, s, times, 2) : nullptr;
    if (good && (!early || trtn_status_code(early) != TRTN_INVALID_ARGUMENT)) { good = false; why = "profile before set_shapes was not refused"; }
    if (early) trtn_status_destroy(early);
    const int rows = 512, cols = 1024;
    auto xs = rnd(rows * cols);
    void *dx, *dy, *dz;
    cudaMalloc(&dx, xs.size() * 4); cudaMalloc(&dy, xs.size() * 4); cudaMalloc(&dz, xs.size() * 4);
    cudaMemcpy(dx, xs.data(), xs.size() * 4, cudaMemcpyHostToDevice);
    cudaMemset(dz, 0xff, xs.size() * 4);
    void* addr[3] = {dx, dy, dz};
    int64_t dims[6] = {rows, cols, rows, cols, rows, cols};
    uint64_t ws = 0;
    good = good && ok(trtn_context_set_shapes(c, dims, 6, &ws), "set_shapes") && ok(trtn_context_set_tensor_addresses(c, addr, 3), "set_addresses") &&
           ok(trtn_context_set_workspace(c, nullptr, 0), "set_workspace");
    trtn_status* wrong = good ? trtn_context_profile(c, s, times, 1) : nullptr;
    if (good && (!wrong || trtn_status_code(wrong) != TRTN_INVALID_ARGUMENT)) { good = false; why = "a wrong layer count was not refused"; }
    if (wrong) trtn_status_destroy(wrong);
    good = good && ok(trtn_context_profile(c, s, times, 2), "profile");
    for (float t : times) if (good && !(t >= 0 && t < 1e4f)) { good = false; why = "time out of range"; }
    std::vector<float> out(xs.size());
    auto matches = [&] {
        cudaMemcpy(out.data(), dz, out.size() * 4, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < out.size(); ++i) if (out[i] != 2 * (xs[i] > 0 ? xs[i] : 0.f)) return false;
        return true;
    };
    if (good && !matches()) { good = false; why = "profiled run gave wrong output"; }
    cudaMemset(dz, 0xff, xs.size() * 4);
    good = good && ok(trtn_context_enqueue(c, s), "enqueue after profile") && cudaStreamSynchronize(s) == cudaSuccess;
    if (good && !matches()) { good = false; why = "enqueue after profile gave wrong output"; }
    char info[96];
    std::snprintf(info, sizeof info, "relu %.4f ms, add %.4f ms %s", times[0], times[1], why.c_str());
    std::printf("%s %-40s %s\n", good ? "PASS" : "FAIL", "profile: a time per layer", info);
    (good ? g_pass : g_fail)++;
    cudaFree(dx); cudaFree(dy); cudaFree(dz);
    cudaStreamDestroy(s);
    if (c) trtn_context_destroy(c);
    trtn_engine_destroy(e);
}

}  // namespace

int main() {
    std::printf("%s abi=%d\n", trtn_version(), trtn_abi_version());
    trtn_device_info di{};
    if (!ok(trtn_device_get_info(0, &di), "device_get_info")) { std::printf("0 passed, 1 failed\n"); return 1; }
    std::printf("device: %s cc %d.%d sms=%d cuda runtime %d driver %d cudnn %d cublasLt %d mem %.1f GiB\n", di.name, di.cc_major,
                di.cc_minor, di.multiprocessors, di.cuda_runtime_version, di.cuda_driver_version, di.cudnn_version, di.cublaslt_version,
                di.total_memory / 1073741824.0);
    for (bool fp16 : {false, true}) {
        test_conv(fp16, 1, 2, 14, 14, 16, 32, 3, 1, 1);
        test_conv(fp16, 1, 2, 15, 15, 8, 16, 1, 0, 2);
        test_conv(fp16, 16, 2, 14, 14, 16, 16, 3, 1, 2);   // depthwise
        test_conv(fp16, 4, 1, 7, 7, 16, 32, 3, 1, 1);      // grouped
        // Our direct kernel, forced, where it gives each output a warp (at least 256 products an output over at least
        // 32 channels): a squeeze-excitation 1x1 convolution over [2, 1, 1, 672] (16-byte loads), a 3x3 over 34 channels
        // (no multiple of 4 or 8: one value a load), and a grouped 3x3 stride 2 (two groups of 32 channels).
        test_conv(fp16, 1, 2, 1, 1, 672, 28, 1, 0, 1, false, TRTN_ACT_SILU, kDirectTactic, false);
        test_conv(fp16, 1, 2, 5, 5, 34, 24, 3, 1, 1, false, TRTN_ACT_RELU, kDirectTactic);
        test_conv(fp16, 2, 1, 6, 6, 64, 32, 3, 1, 2, false, TRTN_ACT_NONE, kDirectTactic);
        // Our depthwise kernel, forced: ConvNeXt's 7x7, a stride-2 3x3 whose output width is no multiple of the 4
        // columns a thread computes, 240 channels (two or four channel tiles), and 136 channels, whose last tile is
        // narrower (9 + 8 vectors in fp16, 12 + 12 + 10 in fp32: the weights' zero fill past the last channel).
        test_conv(fp16, 96, 2, 56, 56, 96, 96, 7, 3, 1, false, TRTN_ACT_NONE, kDepthwiseTactic);
        test_conv(fp16, 24, 1, 15, 13, 24, 24, 3, 1, 2, false, TRTN_ACT_CLIP, kDepthwiseTactic);
        test_conv(fp16, 240, 1, 28, 28, 240, 240, 5, 2, 1, false, TRTN_ACT_RELU, kDepthwiseTactic);
        test_conv(fp16, 136, 1, 14, 14, 136, 136, 3, 1, 1, false, TRTN_ACT_RELU, kDepthwiseTactic);
        // Its other compiled shapes (3x3 stride 1 without a residual, 5x5 stride 2 over odd sizes, 7x7 stride 2) and the
        // general form (3x3 stride 3).
        test_conv(fp16, 64, 2, 56, 56, 64, 64, 3, 1, 1, false, TRTN_ACT_HARDSWISH, kDepthwiseTactic, false);
        test_conv(fp16, 40, 2, 29, 27, 40, 40, 5, 2, 2, false, TRTN_ACT_SIGMOID, kDepthwiseTactic);
        test_conv(fp16, 32, 1, 23, 23, 32, 32, 7, 3, 2, false, TRTN_ACT_NONE, kDepthwiseTactic);
        test_conv(fp16, 16, 1, 20, 25, 16, 16, 3, 1, 3, false, TRTN_ACT_RELU, kDepthwiseTactic);
        // 144 channels: two channel tiles of 9 vectors (fp16) or three of 12 (fp32), EfficientNet's SE-block width.
        test_conv(fp16, 144, 2, 28, 28, 144, 144, 3, 1, 1, false, TRTN_ACT_SILU, kDepthwiseTactic, false);
        // Its 2- and 1-column variants, of a 16-byte vector of channels and of 2 (the narrow split): ConvNeXt's 7x7 at
        // batch 1, a 3x3 stride 2 over an odd width (a partial last group at 2 columns), 5x5 over 136 channels (a
        // narrower last tile), the general form (3x3 stride 3), and ConvNeXt's 1x14x14x384 7x7 (many narrow tiles).
        for (int32_t variant : {kDepthwise2Tactic, kDepthwise1Tactic, kDepthwiseNarrow2Tactic, kDepthwiseNarrow1Tactic}) {
            test_conv(fp16, 96, 1, 56, 56, 96, 96, 7, 3, 1, false, TRTN_ACT_NONE, variant);
            test_conv(fp16, 24, 2, 15, 13, 24, 24, 3, 1, 2, false, TRTN_ACT_CLIP, variant);
            test_conv(fp16, 136, 1, 14, 14, 136, 136, 5, 2, 1, false, TRTN_ACT_SILU, variant, false);
            test_conv(fp16, 16, 1, 20, 25, 16, 16, 3, 1, 3, false, TRTN_ACT_RELU, variant);
            if (variant == kDepthwiseNarrow1Tactic) test_conv(fp16, 384, 1, 14, 14, 384, 384, 7, 3, 1, false, TRTN_ACT_NONE, variant);
        }
        // Our kernel for few input channels, forced (fp16 and bf16 only):
        // ResNet's 7x7 stride-2 stem, 3x3 stride-2 stems with 16 and 32 outputs over odd sizes (partial tiles,
        // borders), one grey channel with 48 outputs; then the stem autotuned, the kernel among the candidates.
        if (fp16) {
            test_conv(fp16, 1, 2, 56, 56, 3, 64, 7, 3, 2, false, TRTN_ACT_RELU, kSmallChannelTactic);
            test_conv(fp16, 1, 1, 15, 13, 3, 16, 3, 1, 2, false, TRTN_ACT_CLIP, kSmallChannelTactic);
            test_conv(fp16, 1, 3, 17, 17, 3, 32, 3, 1, 2, false, TRTN_ACT_NONE, kSmallChannelTactic);
            test_conv(fp16, 1, 1, 9, 11, 1, 48, 5, 2, 1, false, TRTN_ACT_RELU, kSmallChannelTactic);
            // Enough output pixels for four warps a block: 8 x 56 x 56 (whole tiles, one a block), then 32 x 57 x 57
            // (more tiles than blocks fit on an H100, so blocks loop over several; a partial last tile).
            test_conv(fp16, 1, 8, 112, 112, 3, 64, 7, 3, 2, false, TRTN_ACT_RELU, kSmallChannelTactic);
            test_conv(fp16, 1, 32, 113, 113, 3, 64, 7, 3, 2, false, TRTN_ACT_RELU, kSmallChannelTactic);
            test_conv(fp16, 1, 4, 56, 56, 3, 64, 7, 3, 2, true, TRTN_ACT_RELU);
            test_pointwise();
            test_gemm_mma();
            test_gemm_norm_all();
        }
        // MobileNetV2 / EfficientNet-like depthwise and pointwise convolutions, heuristics and autotuned.
        for (bool tuned : {false, true}) {
            test_conv(fp16, 32, 1, 112, 112, 32, 32, 3, 1, 1, tuned, TRTN_ACT_CLIP);
            test_conv(fp16, 96, 2, 112, 112, 96, 96, 3, 1, 2, tuned, TRTN_ACT_CLIP);
            test_conv(fp16, 144, 1, 56, 56, 144, 144, 3, 1, 1, tuned, TRTN_ACT_NONE);
            test_conv(fp16, 240, 1, 28, 28, 240, 240, 5, 2, 1, tuned, TRTN_ACT_NONE);
            test_conv(fp16, 1, 1, 7, 7, 320, 1280, 1, 0, 1, tuned, TRTN_ACT_CLIP);
            test_conv(fp16, 1, 2, 56, 56, 24, 144, 1, 0, 1, tuned, TRTN_ACT_NONE);
        }
        // cuDNN graph API: with TRTN_CONV_GRAPH=force a graph tactic that cannot be built fails the layer instead of
        // falling back, so these check the graph path itself: plain convolution + our epilogue, and (fp16) the
        // epilogue fused into the graph for every activation it can express.
        setenv("TRTN_CONV_GRAPH", "force", 1);
        test_conv(fp16, 1, 2, 14, 14, 32, 64, 3, 1, 1, false, TRTN_ACT_RELU, kGraphTactic);
        test_conv(fp16, 1, 2, 28, 28, 64, 64, 1, 0, 1, false, TRTN_ACT_SILU, kGraphTactic);
        if (fp16)
            for (int act : {TRTN_ACT_NONE, TRTN_ACT_RELU, TRTN_ACT_CLIP, TRTN_ACT_LEAKYRELU, TRTN_ACT_SIGMOID, TRTN_ACT_SILU, TRTN_ACT_TANH,
                            TRTN_ACT_GELU, TRTN_ACT_GELU_TANH, TRTN_ACT_HARDSIGMOID, TRTN_ACT_HARDSWISH})
                test_conv(fp16, 1, 2, 14, 14, 32, 64, 3, 1, 1, false, act, kFusedGraphTactic);
        unsetenv("TRTN_CONV_GRAPH");
        test_tuned_twins(fp16);
        if (fp16 && g_reduced == TRTN_FLOAT16) test_shape_tactics();
        // ResNet-like convolutions autotuned with every tactic family competing (graph configurations included).
        test_conv(fp16, 1, 8, 56, 56, 64, 64, 3, 1, 1, true, TRTN_ACT_RELU);
        test_conv(fp16, 1, 8, 28, 28, 128, 512, 1, 0, 1, true, TRTN_ACT_RELU);
        test_gemm(fp16, 1, 64, 128, 96, true, false, TRTN_ACT_RELU);
        test_gemm(fp16, 3, 17, 64, 40, false, false, TRTN_ACT_GELU);
        // tanh-GELU in cuBLASLt's epilogue (ViT/ConvNeXt MLPs in fp16); with a residual it runs in our kernel.
        test_gemm(fp16, 1, 197, 768, 3072, true, false, TRTN_ACT_GELU_TANH);
        test_gemm(fp16, 3, 17, 64, 40, false, false, TRTN_ACT_GELU_TANH, true);
        test_gemm(fp16, 4, 33, 24, 33, false, true, TRTN_ACT_NONE);
        test_gemm(fp16, 2, 197, 768, 768, true, false, TRTN_ACT_NONE, true);   // ViT's projections + residual
        // ViT-B/16's second MLP GEMM at batch 1 (197 x 768 outputs, K = 3072): heuristic 0 cut into 4 slices of K,
        // then autotuned with the split variants competing.
        test_gemm(fp16, 1, 197, 3072, 768, true, false, TRTN_ACT_NONE, true, 0 + 32 * 2);
        test_gemm(fp16, 1, 197, 3072, 768, true, false, TRTN_ACT_NONE, true, -1, true);
        test_gemm(fp16, 1, 64, 128, 96, true, false, TRTN_ACT_RELU, true);
        // A squeeze-excitation gate moved onto the weights: per-sample B, transposed, with bias and residual.
        test_gemm(fp16, 3, 196, 96, 24, true, true, TRTN_ACT_NONE, true);
        for (int layout : {0, 1, 2}) {
            test_attention(fp16, layout, -1);
            test_attention(fp16, layout, 0);
            if (fp16) test_attention(fp16, layout, 1);
        }
        test_attention_packed(fp16, 0);
        test_attention_packed(fp16, -1);
        if (fp16) test_attention_packed(fp16, 1);
        // Long key sequences: the kernel's scores need more than 48 KiB of shared memory per block; V's feature dim
        // differs from Q's.
        test_attention(fp16, 1, 0, 19, 2048, 64, 32);
        if (fp16) {
            // The tensor-core kernel: keys padded to 16 (41, 197), every warp count, V's feature dim differing from Q's,
            // a query tail shorter than a warp's 16 rows, the packed projection's slices; then autotuned at ViT-B/16's
            // batch-1 shape (197 tokens, 64 features) with every tactic competing.
            for (int layout : {0, 1, 2})
                for (int32_t tactic : {2, 3, 4}) test_attention(fp16, layout, tactic);
            test_attention(fp16, 2, 2, 197, 197, 64, 64);
            test_attention(fp16, 1, 3, 19, 100, 64, 32);
            test_attention(fp16, 0, 4, 5, 16, 32, 128);
            for (int32_t tactic : {2, 4}) test_attention_packed(fp16, tactic);
            test_attention(fp16, 2, -1, 197, 197, 64, 64, true);
        }
        test_softmax_ln(fp16);
        test_misc(fp16);
        test_copy_ranks(fp16);
    }
    // bf16 (reduced_type TRTN_BFLOAT16) on the same layers: our kernels, cuDNN (legacy and graph) and cuBLASLt in bf16;
    // attention: our kernel and cuDNN's flash attention (bf16 io) in every layout, and the packed Q/K/V views.
    g_reduced = TRTN_BFLOAT16;
    test_conv(true, 1, 2, 14, 14, 16, 32, 3, 1, 1);
    test_conv(true, 16, 2, 14, 14, 16, 16, 3, 1, 2);
    test_conv(true, 1, 8, 56, 56, 64, 64, 3, 1, 1, true, TRTN_ACT_RELU);
    test_conv(true, 64, 2, 56, 56, 64, 64, 3, 1, 1, false, TRTN_ACT_HARDSWISH, kDepthwiseTactic, false);
    test_conv(true, 40, 2, 29, 27, 40, 40, 5, 2, 2, false, TRTN_ACT_CLIP, kDepthwiseTactic);
    // The depthwise kernel's other variants in bf16 (2 and 1 columns, of 8 channels a thread and of 2): ConvNeXt's 7x7,
    // a 3x3 stride 2 over an odd width, EfficientNet's 3x3 over 144 channels.
    for (int32_t variant : {kDepthwise2Tactic, kDepthwise1Tactic, kDepthwiseNarrow2Tactic, kDepthwiseNarrow1Tactic}) {
        test_conv(true, 96, 2, 28, 28, 96, 96, 7, 3, 1, false, TRTN_ACT_NONE, variant);
        test_conv(true, 24, 1, 15, 13, 24, 24, 3, 1, 2, false, TRTN_ACT_CLIP, variant);
        test_conv(true, 144, 2, 28, 28, 144, 144, 3, 1, 1, false, TRTN_ACT_SILU, variant, false);
    }
    test_conv(true, 1, 2, 1, 1, 672, 28, 1, 0, 1, false, TRTN_ACT_SILU, kDirectTactic, false);
    test_conv(true, 1, 2, 56, 56, 24, 144, 1, 0, 1, true, TRTN_ACT_NONE);
    test_conv(true, 1, 2, 56, 56, 3, 64, 7, 3, 2, false, TRTN_ACT_RELU, kSmallChannelTactic);
    test_conv(true, 1, 1, 15, 13, 3, 16, 3, 1, 2, false, TRTN_ACT_CLIP, kSmallChannelTactic);
    test_conv(true, 1, 8, 112, 112, 3, 32, 3, 1, 2, false, TRTN_ACT_HARDSWISH, kSmallChannelTactic);
    // A stem as models have it: bias and activation, no residual (every case above adds one).
    test_conv(true, 1, 2, 56, 56, 3, 64, 7, 3, 2, false, TRTN_ACT_RELU, kSmallChannelTactic, false);
    test_pointwise();
    test_gemm_mma();
    test_gemm_norm_all();
    setenv("TRTN_CONV_GRAPH", "force", 1);
    test_conv(true, 1, 2, 14, 14, 32, 64, 3, 1, 1, false, TRTN_ACT_RELU, kGraphTactic);
    unsetenv("TRTN_CONV_GRAPH");
    test_gemm(true, 1, 64, 128, 96, true, false, TRTN_ACT_RELU);
    test_gemm(true, 3, 17, 64, 40, false, false, TRTN_ACT_GELU);
    test_gemm(true, 1, 197, 768, 3072, true, false, TRTN_ACT_GELU_TANH);  // cuBLASLt's GELU epilogue in bf16
    test_gemm(true, 2, 197, 768, 768, true, false, TRTN_ACT_NONE, true);
    for (int layout : {0, 1, 2}) test_attention(true, layout, -1);
    test_attention_packed(true, -1);
    for (int layout : {0, 1, 2}) { test_attention(true, layout, 0); test_attention(true, layout, 1); test_attention(true, layout, 2); }
    test_attention_packed(true, 1);
    test_attention_packed(true, 4);
    test_attention(true, 2, -1, 197, 197, 64, 64, true);
    test_softmax_ln(true);
    test_misc(true);
    test_copy_ranks(true);
    g_reduced = TRTN_FLOAT16;
    test_preprocess();
    test_resize();
    test_jpeg_decode();
    test_shape_slots();
    test_profile();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
