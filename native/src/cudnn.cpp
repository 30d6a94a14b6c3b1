// Convolution layer (NHWC, fp32, fp16 or bf16, grouped/depthwise): cuDNN's graph API with bias, residual and activation
// fused into the graph where an engine supports it, cuDNN's legacy API with the epilogue applied by our own kernel, or
// one of our convolution kernels (direct, depthwise, few input channels, pointwise) with it fused; autotuning times
// them all. fp32 convolutions run with CUDNN_FMA_MATH: TF32 tensor cores are never used. fp16 and bf16 convolutions
// accumulate in fp32 (CUDNN_DATA_FLOAT compute type) and may use tensor cores.
#include "conv_graph.h"
#include "engine.h"
#include "kernels/kernels.h"
#include "timing.h"

#include <cudnn.h>

#include <algorithm>
#include <optional>

namespace trtn {

#define TRTN_CUDNN_CHECK(call)                                                                               \
    do {                                                                                                     \
        cudnnStatus_t trtn_s_ = (call);                                                                      \
        if (trtn_s_ != CUDNN_STATUS_SUCCESS)                                                                 \
            ::trtn::fail(trtn_s_ == CUDNN_STATUS_ALLOC_FAILED ? TRTN_OUT_OF_MEMORY : TRTN_CUDA_ERROR,         \
                         std::string(#call) + " failed: " + cudnnGetErrorString(trtn_s_));                   \
    } while (0)

cudnnContext* create_cudnn() {
    cudnnHandle_t h = nullptr;
    TRTN_CUDNN_CHECK(cudnnCreate(&h));
    return h;
}

void destroy_cudnn(cudnnContext* h) { cudnnDestroy(h); }

int32_t cudnn_version() { return static_cast<int32_t>(cudnnGetVersion()); }

namespace {

// How a convolution runs: one of our kernels (direct, depthwise, few input channels, pointwise), the legacy
// cudnnConvolutionForward with one algorithm, or a cuDNN graph (plain, or with bias, residual and activation fused into it).
enum class ConvImpl { Direct, Depthwise, SmallChannel, Pointwise, Legacy, Graph };

// Our kernels and their variants, each a tactic of its own (cuDNN algorithm ids are 0..7; graph tactics:
// conv_graph.h). The numbers stay what plans and timing caches hold: 1001 is the 4-column depthwise kernel's.
struct OwnKernel {
    ConvImpl impl;
    int32_t tactic;
    kernels::DepthwiseSplit depthwise;  // ConvImpl::Depthwise's
    kernels::PointwiseTile pointwise;   // ConvImpl::Pointwise's
};
constexpr OwnKernel kOwnKernels[] = {
    {ConvImpl::Direct, 1000, {}, {}},
    {ConvImpl::Depthwise, 1001, {4, false}, {}},
    {ConvImpl::SmallChannel, 1002, {}, {}},
    {ConvImpl::Depthwise, 1003, {2, false}, {}},
    {ConvImpl::Depthwise, 1004, {1, false}, {}},
    {ConvImpl::Depthwise, 1005, {2, true}, {}},
    {ConvImpl::Depthwise, 1006, {1, true}, {}},
    {ConvImpl::Pointwise, 1007, {}, kernels::kPointwiseTiles[0]},
    {ConvImpl::Pointwise, 1008, {}, kernels::kPointwiseTiles[1]},
    {ConvImpl::Pointwise, 1009, {}, kernels::kPointwiseTiles[2]},
};
// Whether two of our kernels' variants are the same (the fields that do not apply to `impl` are ignored).
bool same_variant(const OwnKernel& a, ConvImpl impl, kernels::DepthwiseSplit depthwise, kernels::PointwiseTile pointwise) {
    if (a.impl != impl) return false;
    if (impl == ConvImpl::Depthwise) return a.depthwise.columns == depthwise.columns && a.depthwise.narrow == depthwise.narrow;
    if (impl == ConvImpl::Pointwise) return a.pointwise.pixels == pointwise.pixels && a.pointwise.channels == pointwise.channels;
    return true;
}

// The entry of one of our kernels' tactics, or none for any other tactic.
const OwnKernel* own_kernel(int32_t tactic) {
    for (const OwnKernel& k : kOwnKernels)
        if (k.tactic == tactic) return &k;
    return nullptr;
}

// How profiles and the autotuning log name a depthwise variant: "depthwise conv kernel" for the 4-column one, then
// ", 2 columns" or ", 1 column", and ", 2 channels" for the narrow split.
std::string depthwise_name(kernels::DepthwiseSplit split) {
    std::string name = "depthwise conv kernel";
    if (split.columns != 4) name += ", " + std::to_string(split.columns) + (split.columns == 1 ? " column" : " columns");
    if (split.narrow) name += ", 2 channels";
    return name;
}

std::string pointwise_name(kernels::PointwiseTile tile) {
    return "pointwise conv kernel, " + kernels::tile_text(tile) + " tiles";
}

// How many graph configurations autotuning builds per graph (heuristics order), and how many of them may be
// runtime-compiled ones, whose plans take far longer to build: set by the build's optimization level.
struct GraphSearch {
    size_t candidates;
    size_t runtime_compiled;
};

GraphSearch graph_search(int32_t optimization_level) {
    if (optimization_level <= 1) return {1, 0};
    if (optimization_level == 2) return {4, 0};
    if (optimization_level == 3) return {12, 3};
    return {32, 8};
}

class ConvLayer : public Layer {
public:
    explicit ConvLayer(const LayerDesc& d) : Layer(d) {
        TRTN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
        TRTN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
        TRTN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
        TRTN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
    }
    ~ConvLayer() override {
        cudnnDestroyTensorDescriptor(x_);
        cudnnDestroyTensorDescriptor(y_);
        cudnnDestroyFilterDescriptor(w_);
        cudnnDestroyConvolutionDescriptor(conv_);
    }

    bool tunable() const override { return true; }
    int32_t tactic() const override {
        switch (impl_) {
            case ConvImpl::Graph: return graphs_[graph_fused_]->candidate_tactic(graph_index_);
            case ConvImpl::Legacy: return static_cast<int32_t>(algo_);
            default:
                for (const OwnKernel& k : kOwnKernels)
                    if (same_variant(k, impl_, depthwise_split_, pointwise_tile_)) return k.tactic;
                fail(TRTN_INTERNAL, "conv: no tactic for the kernel adopted, " + implementation());
        }
    }

    std::string implementation() const override { return name_of(adopted()); }

    size_t setup(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_conv_params>();
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        require(x.rank == 4 && w.rank == 4 && y.rank == 4, TRTN_UNSUPPORTED,
                "conv: only 2-D convolutions over NHWC tensors are supported, got input " + x.shape_string() + ", weights " + w.shape_string());
        require(x.dtype == w.dtype && x.dtype == y.dtype && (x.dtype == TRTN_FLOAT32 || x.dtype == TRTN_FLOAT16 || x.dtype == TRTN_BFLOAT16),
                TRTN_UNSUPPORTED, "conv: input, weights and output must share float32/float16/bfloat16 type");
        int64_t N = x.dims[0], H = x.dims[1], W = x.dims[2], C = x.dims[3];
        int64_t K = w.dims[0], R = w.dims[1], S = w.dims[2], Cg = w.dims[3];
        require(p.groups >= 1 && C == Cg * p.groups && K % p.groups == 0, TRTN_SHAPE_MISMATCH,
                "conv: input channels " + std::to_string(C) + " do not match weights " + w.shape_string() + " with " + std::to_string(p.groups) + " groups");
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        require(!p.has_bias || (b && b->dtype == TRTN_FLOAT32 && b->count() == K), TRTN_SHAPE_MISMATCH, "conv: bias must be float32 with " + std::to_string(K) + " elements");
        require(!p.has_residual || (r && r->dtype == y.dtype && r->count() == y.count()), TRTN_SHAPE_MISMATCH, "conv: residual must have the output's shape " + y.shape_string());
        cudnnDataType_t dt = x.dtype == TRTN_FLOAT16 ? CUDNN_DATA_HALF : x.dtype == TRTN_BFLOAT16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
        TRTN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NHWC, dt, (int)N, (int)C, (int)H, (int)W));
        TRTN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, dt, CUDNN_TENSOR_NHWC, (int)K, (int)Cg, (int)R, (int)S));
        TRTN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w,
                                                         CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        TRTN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_, p.groups));
        math_ = x.dtype == TRTN_FLOAT32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
        TRTN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, math_));
        int on, oc, oh, ow;
        TRTN_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv_, x_, w_, &on, &oc, &oh, &ow));
        require(on == y.dims[0] && oh == y.dims[1] && ow == y.dims[2] && oc == y.dims[3], TRTN_SHAPE_MISMATCH,
                "conv: output " + y.shape_string() + " does not match cuDNN's [" + std::to_string(on) + "," + std::to_string(oh) + "," +
                    std::to_string(ow) + "," + std::to_string(oc) + "] for input " + x.shape_string());
        TRTN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NHWC, dt, on, oc, oh, ow));
        graph_shape_ = {N, C, H, W, K, R, S, oh, ow, x.dtype, b != nullptr, r != nullptr, false};
        impl_ = ConvImpl::Legacy;
        if (y.count() == 0) { ws_ = 0; return 0; }

        limit_ = env.workspace_limit;
        // A tactic of one of our kernels that no longer applies (other shapes) is chosen again below, like a stale
        // algorithm.
        const OwnKernel* own = own_kernel(desc.tactic);
        if (own && own_usable(t, own->impl)) {
            adopt(own_candidate(*own));
            return 0;
        }
        // A stored graph tactic is rebuilt for these shapes (the same configuration when cuDNN still lists it,
        // else the heuristics' first that builds); without the graph API here the legacy heuristics choose.
        if (is_graph_tactic(desc.tactic) && conv_graph_enabled()) {
            if (use_graph(env, is_fused_graph_tactic(desc.tactic), desc.tactic)) return ws_;
            require(!conv_graph_forced(), TRTN_UNSUPPORTED, "conv: no cuDNN graph configuration builds for input " + x.shape_string() +
                                                                ", weights " + w.shape_string() + " (TRTN_CONV_GRAPH=force): " + graph_error_);
        }
        // A stored legacy tactic is used when it still applies at these shapes; otherwise the heuristics choose.
        if (desc.tactic >= 0 && desc.tactic < CUDNN_CONVOLUTION_FWD_ALGO_COUNT &&
            try_algo(env, static_cast<cudnnConvolutionFwdAlgo_t>(desc.tactic)))
            return ws_;
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        TRTN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(static_cast<cudnnHandle_t>(env.cudnn), x_, w_, conv_, y_,
                                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        for (int i = 0; i < n; ++i) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS || !math_ok(perf[i].mathType)) continue;
            if (try_algo(env, perf[i].algo)) return ws_;
        }
        fail(TRTN_UNSUPPORTED, "conv: cuDNN has no algorithm for input " + x.shape_string() + ", weights " + w.shape_string() +
                                   " within the workspace limit of " + std::to_string(limit_) + " bytes");
    }

    void run(std::vector<TensorView>& t, RunEnv& env) override { run_candidate(t, env, adopted()); }

    // Times every candidate against our direct kernel's output on the same data and keeps the fastest that agrees:
    // the direct kernel, cuDNN's legacy algorithms (cudnnFind's list), and the engine configurations cuDNN's graph
    // API lists for the plain convolution and for the convolution with its epilogue fused. A candidate that
    // disagrees (or fails to build or run) is never chosen.
    int32_t autotune(std::vector<TensorView>& t, RunEnv& env, float* ms) override {
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        if (y.count() == 0) { if (ms) *ms = 0; return tactic(); }
        ReferenceOutput ref(y.dtype, y.count());
        ref.record(y.ptr, [&] { run_direct(t, env); });
        size_t avail = std::min<size_t>(env.workspace_bytes, limit_);
        std::string where = tuning_label(t);

        std::vector<Candidate> cands;
        std::vector<TimedCandidate> timed;
        std::string build_note;  // how long the candidate being added took to build, for the log
        auto add = [&](const Candidate& c) {
            int index = static_cast<int>(cands.size());
            cands.push_back(c);
            timed.push_back({index, median_ms(env.timing(), [&] { run_candidate(t, env, c); }, timing_against(timed))});
            autotune_log(where, name_of(c), ms_text(timed.back().ms) + build_note);
        };
        // Makes a candidate, runs it over a poisoned output and keeps it when it agrees with the direct kernel; one
        // that cannot be made, needs more workspace than there is, or fails to run is left out.
        auto try_add = [&](auto&& make) {
            std::optional<Candidate> c;
            try {
                c = make();
                if (c->ws > avail) return;
                ref.poison(y.ptr, env.stream);
                run_candidate(t, env, *c);
                double err = ref.error(y.ptr, env.stream);
                if (ref.agrees(err)) {
                    add(*c);
                    return;
                }
                ++rejected_;
                autotune_log(where, name_of(*c), "rejected: rel L2 " + std::to_string(err) + " from the direct kernel");
            } catch (const std::exception& e) {
                cudaGetLastError();  // this candidate does not run here; the others remain
                if (c) autotune_log(where, name_of(*c), std::string("failed: ") + e.what());
            }
        };
        rejected_ = 0;
        for (const OwnKernel& k : kOwnKernels)
            if (k.impl != ConvImpl::Direct && own_usable(t, k.impl)) try_add([&] { return own_candidate(k); });

        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        auto h = static_cast<cudnnHandle_t>(env.cudnn);
        TRTN_CUDNN_CHECK(cudnnSetStream(h, env.stream));
        WallClock find_clock;
        TRTN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, x_, x.ptr, w_, w.ptr, conv_, y_, y.ptr, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                                &n, perf, env.workspace, avail));
        autotune_log(where, "cudnnFindConvolutionForwardAlgorithmEx", "took " + find_clock.ms_text() + " for " + std::to_string(n) + " algorithms");
        for (int i = 0; i < n; ++i) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS || !math_ok(perf[i].mathType) || perf[i].memory > avail) continue;
            if (!try_algo(env, perf[i].algo)) continue;
            try_add([&] { return Candidate{ConvImpl::Legacy, algo_, false, 0, ws_}; });
        }

        if (conv_graph_enabled()) {
            for (bool fused : {false, true}) {
                if (fused && !(has_epilogue() && ConvGraph::can_fuse(params<trtn_conv_params>().act))) continue;
                try {
                    ConvGraph& g = graph(env, fused);
                    const GraphSearch search = graph_search(env.optimization_level);
                    size_t built = 0, compiled = 0;
                    for (size_t i = 0; i < g.candidate_count() && built < search.candidates; ++i) {
                        if (g.runtime_compiled(i) && compiled >= search.runtime_compiled) continue;
                        if (g.runtime_compiled(i)) ++compiled;  // attempts count: a failed compile costs as much
                        WallClock build_clock;
                        if (!g.build(i)) continue;
                        ++built;
                        build_note = " built in " + build_clock.ms_text() + (g.runtime_compiled(i) ? " (runtime-compiled)" : "");
                        try_add([&] { return Candidate{ConvImpl::Graph, algo_, fused, i, g.workspace(i)}; });
                        build_note.clear();
                    }
                } catch (const std::exception& e) {
                    cudaGetLastError();  // no graph for this convolution: the other tactics remain
                    // Said in the log: session 15's bf16 depthwise layers listed no fused graph, and nothing said why.
                    autotune_log(where, fused ? "cudnn graph+epilogue" : "cudnn graph", std::string("failed: ") + e.what());
                }
            }
        }

        // Our direct kernel last: usually the slowest by far, it then gives up after one run (timing_against).
        add({ConvImpl::Direct});
        TimedCandidate best = pick_fastest(env.timing(), timed, [&](int i) { run_candidate(t, env, cands[i]); });
        adopt(cands[best.index]);
        autotune_log(where, name_of(cands[best.index]), "chosen " + ms_text(best.ms));
        for (bool fused : {false, true})  // keep only the graph that runs
            if (impl_ != ConvImpl::Graph || graph_fused_ != fused) graphs_[fused].reset();
        if (ms) *ms = best.ms;
        return tactic();
    }

private:
    struct Candidate {
        ConvImpl impl = ConvImpl::Direct;
        cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        bool fused = false;
        size_t index = 0;   // graph configuration
        size_t ws = 0;
        kernels::DepthwiseSplit depthwise;  // our depthwise kernel's outputs a thread
        kernels::PointwiseTile pointwise;   // our pointwise kernel's block tile
    };

    // What set-up or autotuning adopted, as a candidate.
    Candidate adopted() const { return {impl_, algo_, graph_fused_, graph_index_, ws_, depthwise_split_, pointwise_tile_}; }

    Candidate own_candidate(const OwnKernel& k) const { return {k.impl, algo_, false, 0, 0, k.depthwise, k.pointwise}; }

    bool has_epilogue() const {
        auto& p = params<trtn_conv_params>();
        return p.has_bias || p.has_residual || p.act.kind != TRTN_ACT_NONE;
    }

    void run_candidate(std::vector<TensorView>& t, RunEnv& env, const Candidate& c) {
        switch (c.impl) {
            case ConvImpl::Direct: run_direct(t, env); break;
            case ConvImpl::Depthwise:
                run_own(t, env, [&](auto... args) { kernels::conv_depthwise(args..., c.depthwise); });
                break;
            case ConvImpl::SmallChannel: run_own(t, env, kernels::conv_small_channel); break;
            case ConvImpl::Pointwise:
                run_own(t, env, [&](auto... args) { kernels::conv_pointwise(args..., c.pointwise); });
                break;
            case ConvImpl::Graph: run_graph(t, env, c.fused, c.index); break;
            default: run_with(t, env, c.algo, c.ws); break;
        }
    }

    // What a candidate runs, as profiles and the autotuning log name it.
    std::string name_of(const Candidate& c) const {
        static const char* kAlgos[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
        switch (c.impl) {
            case ConvImpl::Direct: return "direct conv kernel";
            case ConvImpl::Depthwise: return depthwise_name(c.depthwise);
            case ConvImpl::SmallChannel: return "small-channel conv kernel";
            case ConvImpl::Pointwise: return pointwise_name(c.pointwise);
            case ConvImpl::Graph:
                return std::string(c.fused ? "cudnn graph+epilogue " : "cudnn graph ") + graphs_[c.fused]->candidate_name(c.index);
            default:
                return std::string("cudnn legacy ") + (c.algo >= 0 && c.algo < 8 ? kAlgos[c.algo] : std::to_string(c.algo).c_str()) + " + epilogue kernel";
        }
    }

    void adopt(const Candidate& c) {
        impl_ = c.impl;
        ws_ = c.ws;
        if (c.impl == ConvImpl::Legacy) algo_ = c.algo;
        if (c.impl == ConvImpl::Graph) { graph_fused_ = c.fused; graph_index_ = c.index; }
        if (c.impl == ConvImpl::Depthwise) depthwise_split_ = c.depthwise;
        if (c.impl == ConvImpl::Pointwise) pointwise_tile_ = c.pointwise;
    }

    // The graph of this convolution at the current shapes, plain or fused: built once per context for each distinct
    // parameter block and shape (env.graph_cache), so identical layers and later set-ups share its built plans.
    ConvGraph& graph(RunEnv& env, bool fused) {
        ConvGraphShape s = graph_shape_;
        s.fused = fused;
        auto& g = graphs_[fused];
        if (g && g->shape() == s) return *g;
        auto p = params<trtn_conv_params>();
        p.tactic = -1;  // the same graph serves every tactic
        std::string key = "conv:" + std::string(reinterpret_cast<const char*>(&p), sizeof p);  // int32/float fields only
        for (int64_t v : {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.p, s.q, (int64_t)s.dtype, (int64_t)s.has_bias, (int64_t)s.has_residual,
                          (int64_t)s.fused, (int64_t)limit_})
            key += ":" + std::to_string(v);
        auto& slot = env.graph_cache[key];
        if (!slot) slot = std::make_shared<ConvGraph>(static_cast<cudnnHandle_t>(env.cudnn), p, s, limit_);
        g = std::static_pointer_cast<ConvGraph>(slot);
        return *g;
    }

    // Selects the graph configuration with this tactic, or the first that builds; false when none does.
    bool use_graph(RunEnv& env, bool fused, int32_t tactic) {
        graph_error_.clear();
        try {
            ConvGraph& g = graph(env, fused);
            int64_t want = g.find(tactic);
            std::vector<size_t> order;
            if (want >= 0) order.push_back(static_cast<size_t>(want));
            for (size_t i = 0; i < g.candidate_count(); ++i) if (static_cast<int64_t>(i) != want) order.push_back(i);
            for (size_t i : order) {
                if (!g.build(i)) continue;
                size_t ws = g.workspace(i);
                if (ws > limit_) continue;
                adopt({ConvImpl::Graph, algo_, fused, i, ws});
                return true;
            }
            graph_error_ = "none of its " + std::to_string(g.candidate_count()) + " configurations builds within the workspace limit; last refusal: " +
                           g.last_build_error();
        } catch (const std::exception& e) {
            cudaGetLastError();  // no graph here (another cuDNN, other shapes): the caller falls back
            graph_error_ = e.what();
        }
        return false;
    }

    bool math_ok(cudnnMathType_t m) const {
        // fp32: plain FMA only (no TF32). fp16: anything but conversions of fp32 data.
        return math_ == CUDNN_FMA_MATH ? (m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH) : m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    }

    bool try_algo(RunEnv& env, cudnnConvolutionFwdAlgo_t algo) {
        size_t ws = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(static_cast<cudnnHandle_t>(env.cudnn), x_, w_, conv_, y_, algo, &ws) != CUDNN_STATUS_SUCCESS) return false;
        if (ws > limit_) return false;
        algo_ = algo;
        ws_ = ws;
        return true;
    }

    void run_direct(std::vector<TensorView>& t, RunEnv& env) { run_own(t, env, kernels::conv_direct); }

    // Whether one of our kernels (`own`) runs this convolution: the direct kernel runs every one; the others when their
    // switch is on and they take these shapes. TRTN_DEPTHWISE=0, TRTN_SMALL_CHANNEL=0 and TRTN_POINTWISE=0 keep them
    // out (A/B runs against cuDNN's engines). On the H100 the small-channel kernel lost to cuDNN in fp16 (ResNet-50's
    // stem at batch 32: 0.28 against 0.19 ms); in bf16, where cuDNN's best engine takes 0.33 ms, it may win (not yet
    // measured in bf16).
    bool own_usable(std::vector<TensorView>& t, ConvImpl own) {
        static const bool depthwise = !env_is("TRTN_DEPTHWISE", "0");
        static const bool small_channel = !env_is("TRTN_SMALL_CHANNEL", "0");
        static const bool pointwise = !env_is("TRTN_POINTWISE", "0");
        auto& x = in(t, 0); auto& w = in(t, 1);
        auto& p = params<trtn_conv_params>();
        switch (own) {
            case ConvImpl::Direct: return true;
            case ConvImpl::Depthwise: return depthwise && kernels::conv_depthwise_applies(x.dtype, x.dims, w.dims, p);
            case ConvImpl::SmallChannel: return small_channel && kernels::conv_small_channel_applies(x.dtype, x.dims, w.dims, p);
            case ConvImpl::Pointwise: return pointwise && kernels::conv_pointwise_applies(x.dtype, x.dims, w.dims, p);
            default: return false;
        }
    }

    // One of our own convolution kernels (conv_direct, conv_depthwise, conv_small_channel, conv_pointwise: the same
    // arguments), its epilogue included.
    template <class Kernel>
    void run_own(std::vector<TensorView>& t, RunEnv& env, Kernel kernel) {
        auto& p = params<trtn_conv_params>();
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        kernel(y.dtype, x.ptr, w.ptr, b ? static_cast<const float*>(b->ptr) : nullptr, r ? r->ptr : nullptr, y.ptr, x.dims, w.dims, y.dims, p,
               env.stream);
    }

    // The bias / residual / activation pass after a convolution that did not fuse them.
    void run_epilogue(std::vector<TensorView>& t, RunEnv& env) {
        auto& p = params<trtn_conv_params>();
        auto& y = out(t, 0);
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        if (b || r || p.act.kind != TRTN_ACT_NONE)
            kernels::bias_act(y.dtype, y.ptr, b ? static_cast<const float*>(b->ptr) : nullptr, r ? r->ptr : nullptr,
                              y.count() / y.dims[3], y.dims[3], p.act, env.stream);
    }

    void run_with(std::vector<TensorView>& t, RunEnv& env, cudnnConvolutionFwdAlgo_t algo, size_t ws) {
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        if (y.count() == 0) return;
        require(ws <= env.workspace_bytes, TRTN_INVALID_ARGUMENT, "conv: workspace too small");
        auto h = static_cast<cudnnHandle_t>(env.cudnn);
        TRTN_CUDNN_CHECK(cudnnSetStream(h, env.stream));
        float alpha = 1.f, beta = 0.f;
        TRTN_CUDNN_CHECK(cudnnConvolutionForward(h, &alpha, x_, x.ptr, w_, w.ptr, conv_, algo, env.workspace, ws, &beta, y_, y.ptr));
        run_epilogue(t, env);
    }

    void run_graph(std::vector<TensorView>& t, RunEnv& env, bool fused, size_t index) {
        auto& p = params<trtn_conv_params>();
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        if (y.count() == 0) return;
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        auto& g = *graphs_[fused];
        require(g.workspace(index) <= env.workspace_bytes, TRTN_INVALID_ARGUMENT, "conv: workspace too small");
        auto h = static_cast<cudnnHandle_t>(env.cudnn);
        TRTN_CUDNN_CHECK(cudnnSetStream(h, env.stream));
        g.run(h, index, x.ptr, w.ptr, b ? static_cast<const float*>(b->ptr) : nullptr, r ? r->ptr : nullptr, y.ptr, env.workspace);
        if (!fused) run_epilogue(t, env);
    }

    cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
    cudnnFilterDescriptor_t w_ = nullptr;
    cudnnConvolutionDescriptor_t conv_ = nullptr;
    cudnnMathType_t math_ = CUDNN_FMA_MATH;
    cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    ConvImpl impl_ = ConvImpl::Legacy;
    ConvGraphShape graph_shape_{};
    std::shared_ptr<ConvGraph> graphs_[2];  // [fused]; shared through env.graph_cache
    bool graph_fused_ = false;
    size_t graph_index_ = 0;
    kernels::DepthwiseSplit depthwise_split_;
    kernels::PointwiseTile pointwise_tile_;
    size_t ws_ = 0;
    size_t limit_ = 0;
    int rejected_ = 0;  // candidates that disagreed with the direct kernel at the last autotune
    std::string graph_error_;  // why the last use_graph found no configuration (for TRTN_CONV_GRAPH=force)
};

}  // namespace

std::unique_ptr<Layer> make_conv_layer(const LayerDesc& d) { return std::make_unique<ConvLayer>(d); }

}  // namespace trtn
