// Fused attention layer: O = softmax(scale * Q K^T) V over permuted views of its inputs (trtn_attention_params).
// fp16 and bf16 run cuDNN's flash attention (graph API, vendored cudnn-frontend) where it applies: feature dims a
// multiple of 8 up to 128, each operand's feature dim contiguous. Everything else (fp32 engines, other layouts, a cuDNN
// without the engine) runs our own kernel (kernels/attention.cu). Autotuning also times our tensor-core kernel for
// short key sequences (attention_mma), which wins at small batches. Tactic 0 forces our CUDA-core kernel, 1 cuDNN,
// 2-4 the tensor-core kernel with 1, 2 or 4 warps per block.
#include "engine.h"
#include "kernels/kernels.h"
#include "timing.h"

#include <cudnn.h>
#include <cudnn_frontend.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace trtn {

namespace fe = cudnn_frontend;
namespace fg = cudnn_frontend::graph;

namespace {

constexpr int32_t kTacticKernel = 0, kTacticCudnn = 1, kTacticMma = 2;  // 2, 3, 4: tensor cores, 1, 2, 4 warps a block
constexpr int kMmaVariants = 3;

// Warps per block of a tensor-core tactic, 0 for other tactics.
int mma_warps(int32_t tactic) { return tactic >= kTacticMma && tactic < kTacticMma + kMmaVariants ? 1 << (tactic - kTacticMma) : 0; }
constexpr int64_t kUidQ = 1, kUidK = 2, kUidV = 3, kUidO = 4;

// One operand as a 4-D view [lead0, lead1, seq, feature]: dims, element strides and the element offset of its first
// element (non-zero for a slice of a packed tensor). Rank-3 views have lead1 = 1.
struct View {
    int64_t dims[4] = {1, 1, 1, 1};
    int64_t strides[4] = {0, 0, 0, 0};
    int64_t offset = 0;
};

// The view of tensor t through perm (view axis i = tensor dim perm[i]); with fixed_axis >= 0, tensor dim fixed_axis is
// held at fixed_index and t has one dim more than the view.
View make_view(const TensorView& t, const int32_t* perm, int rank, int32_t fixed_axis, int32_t fixed_index, const char* what) {
    bool fixed = fixed_axis >= 0;
    require(rank == 3 || rank == 4, TRTN_UNSUPPORTED, std::string("attention: the output must have rank 3 or 4"));
    require(t.rank == rank + (fixed ? 1 : 0), TRTN_SHAPE_MISMATCH,
            std::string("attention: ") + what + " has rank " + std::to_string(t.rank) + " (" + t.shape_string() + "); it must have " +
                std::to_string(rank + (fixed ? 1 : 0)) + (fixed ? " (the output's rank + its fixed dim)" : " (the output's rank)"));
    int64_t contiguous[TRTN_MAX_DIMS];
    int64_t s = 1;
    for (int i = t.rank - 1; i >= 0; --i) { contiguous[i] = s; s *= t.dims[i]; }
    bool used[TRTN_MAX_DIMS] = {};
    View v;
    if (fixed) {
        require(fixed_axis < t.rank && fixed_index >= 0 && fixed_index < t.dims[fixed_axis], TRTN_INVALID_ARGUMENT,
                std::string("attention: ") + what + "'s fixed dim " + std::to_string(fixed_axis) + " at index " + std::to_string(fixed_index) +
                    " is outside " + t.shape_string());
        used[fixed_axis] = true;
        v.offset = fixed_index * contiguous[fixed_axis];
    }
    int offset = 4 - rank;  // rank 3: [lead0, seq, feature] go to slots 0, 2, 3
    for (int i = 0; i < rank; ++i) {
        int32_t p = perm[i];
        require(p >= 0 && p < t.rank && !used[p], TRTN_INVALID_ARGUMENT,
                std::string("attention: ") + what + "'s permutation is not a permutation of its " + std::to_string(rank) + " view dims");
        used[p] = true;
        int slot = rank == 4 ? i : (i == 0 ? 0 : i + offset);
        v.dims[slot] = t.dims[p];
        v.strides[slot] = contiguous[p];
    }
    return v;
}

// The operand's first element.
void* at(const TensorView& t, const View& v) { return static_cast<char*>(t.ptr) + v.offset * dtype_size(t.dtype); }

bool attention_graph_enabled() { return !env_is("TRTN_ATTENTION_CUDNN", "0"); }

class AttentionLayer : public Layer {
public:
    using Layer::Layer;

    // A default (tactic -1) fp16 layer that wanted cuDNN but fell back says why, for profiles and the self-test.
    std::string implementation() const override {
        if (use_cudnn_) return "cudnn flash attention";
        if (warps_) return "attention tensor-core kernel (" + std::to_string(warps_) + (warps_ == 1 ? " warp)" : " warps)");
        return cudnn_error_.empty() ? "attention kernel" : "attention kernel (cuDNN refused: " + cudnn_error_ + ")";
    }

    size_t setup(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_attention_params>();
        auto& q = in(t, 0); auto& k = in(t, 1); auto& v = in(t, 2); auto& o = out(t, 0);
        require(q.dtype == k.dtype && q.dtype == v.dtype && q.dtype == o.dtype && (q.dtype == TRTN_FLOAT32 || q.dtype == TRTN_FLOAT16 || q.dtype == TRTN_BFLOAT16),
                TRTN_UNSUPPORTED, "attention: Q, K, V and the output must share float32/float16/bfloat16 type");
        qv_ = make_view(q, p.q_perm, o.rank, p.fixed_axis[0], p.fixed_index[0], "Q");
        kv_ = make_view(k, p.k_perm, o.rank, p.fixed_axis[1], p.fixed_index[1], "K");
        vv_ = make_view(v, p.v_perm, o.rank, p.fixed_axis[2], p.fixed_index[2], "V");
        ov_ = make_view(o, p.o_perm, o.rank, -1, 0, "the output");
        auto shapes = [&] { return " (Q " + q.shape_string() + ", K " + k.shape_string() + ", V " + v.shape_string() + ", output " + o.shape_string() + ")"; };
        for (int i = 0; i < 2; ++i)
            require(qv_.dims[i] == kv_.dims[i] && qv_.dims[i] == vv_.dims[i] && qv_.dims[i] == ov_.dims[i], TRTN_SHAPE_MISMATCH,
                    "attention: the batch/head dims of the views differ" + shapes());
        require(kv_.dims[2] == vv_.dims[2], TRTN_SHAPE_MISMATCH, "attention: K and V have different sequence lengths" + shapes());
        require(qv_.dims[3] == kv_.dims[3], TRTN_SHAPE_MISMATCH, "attention: Q and K have different feature dims" + shapes());
        require(ov_.dims[2] == qv_.dims[2] && ov_.dims[3] == vv_.dims[3], TRTN_SHAPE_MISMATCH, "attention: the output view must be [..., Sq, Dv]" + shapes());
        require(kv_.dims[2] >= 1, TRTN_UNSUPPORTED, "attention: no keys" + shapes());

        io_dtype_ = q.dtype;
        out_count_ = o.count();
        std::string described = shapes();
        // A tensor-core tactic timed at another shape (a nearest tuning point, another sequence length) may not fit
        // these keys in shared memory: the layer then chooses as an untuned one does.
        if (!configure(env, desc.tactic, &described)) configure(env, -1, &described);
        return ws_;
    }

    bool tunable() const override { return true; }
    int32_t tactic() const override {
        if (use_cudnn_) return kTacticCudnn;
        for (int32_t t = kTacticMma; t < kTacticMma + kMmaVariants; ++t)
            if (mma_warps(t) == warps_) return t;
        return kTacticKernel;
    }

    // Times every tactic that applies against our CUDA-core kernel's output on the same data and keeps the fastest
    // that agrees: that kernel, cuDNN's flash attention, the tensor-core kernel with 1, 2 and 4 warps a block.
    int32_t autotune(std::vector<TensorView>& t, RunEnv& env, float* ms) override {
        auto& o = out(t, 0);
        if (ms) *ms = 0;
        if (o.count() == 0) return tactic();
        std::string where = tuning_label(t);
        ReferenceOutput ref(o.dtype, o.count());
        try {
            ref.record(o.ptr, [&] {
                configure(env, kTacticKernel, nullptr);
                run(t, env);
            });
        } catch (const std::exception& e) {
            // Without a reference (the CUDA-core kernel's scores do not fit its shared memory) nothing is timed: the
            // layer keeps the untuned choice.
            cudaGetLastError();
            autotune_log(where, "attention kernel", std::string("failed as the reference: ") + e.what());
            configure(env, -1, nullptr);
            return tactic();
        }

        std::vector<int32_t> cands;
        std::vector<TimedCandidate> timed;
        for (int32_t tac = kTacticKernel; tac < kTacticMma + kMmaVariants; ++tac) {
            try {
                if (!configure(env, tac, nullptr)) {
                    autotune_log(where, "tactic " + std::to_string(tac), "does not apply" + (cudnn_error_.empty() ? "" : ": " + cudnn_error_));
                    continue;
                }
                if (ws_ > env.workspace_bytes) {
                    autotune_log(where, implementation(), "skipped: needs " + std::to_string(ws_) + " bytes of workspace");
                    continue;
                }
                ref.poison(o.ptr, env.stream);
                run(t, env);
                double err = ref.error(o.ptr, env.stream);
                if (!ref.agrees(err)) {
                    autotune_log(where, implementation(), "rejected: rel L2 " + std::to_string(err) + " from the CUDA-core kernel");
                    continue;
                }
                timed.push_back({static_cast<int>(cands.size()), median_ms(env.timing(), [&] { run(t, env); }, timing_against(timed))});
                cands.push_back(tac);
                autotune_log(where, implementation(), ms_text(timed.back().ms));
            } catch (const std::exception& e) {
                cudaGetLastError();  // this tactic does not run here; the others remain
                autotune_log(where, "tactic " + std::to_string(tac), std::string("failed: ") + e.what());
            }
        }
        if (cands.empty()) { configure(env, -1, nullptr); return tactic(); }
        // Re-configured only when the candidate changes: a cuDNN configure builds its cache key, host time that would
        // otherwise sit inside the timed loop.
        int current = -2;  // no candidate: the state left by the loop above may be a refused tactic's
        TimedCandidate best = pick_fastest(env.timing(), timed, [&](int i) {
            if (cands[i] != current) configure(env, current = cands[i], nullptr);
            run(t, env);
        });
        configure(env, cands[best.index], nullptr);
        autotune_log(where, implementation(), "chosen " + ms_text(best.ms));
        if (ms) *ms = best.ms;
        return tactic();
    }

    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& q = in(t, 0); auto& k = in(t, 1); auto& v = in(t, 2); auto& o = out(t, 0);
        if (o.count() == 0) return;
        if (warps_) {
            kernels::attention_mma(q.dtype, at(q, qv_), at(k, kv_), at(v, vv_), o.ptr, qv_.dims[0], qv_.dims[1], qv_.dims[2], kv_.dims[2],
                                   qv_.dims[3], vv_.dims[3], qv_.strides, kv_.strides, vv_.strides, ov_.strides,
                                   params<trtn_attention_params>().scale, warps_, env.stream);
            return;
        }
        if (use_cudnn_) {
            require(ws_ <= env.workspace_bytes, TRTN_INVALID_ARGUMENT, "attention: workspace too small");
            auto h = static_cast<cudnnHandle_t>(env.cudnn);
            cudnnStatus_t st = cudnnSetStream(h, env.stream);
            require(st == CUDNN_STATUS_SUCCESS, TRTN_CUDA_ERROR, std::string("cudnnSetStream failed: ") + cudnnGetErrorString(st));
            // A fresh map per call: execute() adds pointers to its own pass-by-value scalars (the scale), valid only
            // during that call, and never overwrites an entry a previous call left.
            std::unordered_map<int64_t, void*> pack{{kUidQ, at(q, qv_)}, {kUidK, at(k, kv_)}, {kUidV, at(v, vv_)}, {kUidO, o.ptr}};
            auto e = graph_->graph.execute(h, pack, env.workspace);
            if (e.is_bad()) fail(TRTN_CUDA_ERROR, "attention: cuDNN flash attention failed: " + e.get_message());
            return;
        }
        auto& p = params<trtn_attention_params>();
        kernels::attention(q.dtype, at(q, qv_), at(k, kv_), at(v, vv_), o.ptr, qv_.dims[0], qv_.dims[1], qv_.dims[2], kv_.dims[2], qv_.dims[3],
                           vv_.dims[3], qv_.strides, kv_.strides, vv_.strides, ov_.strides, p.scale, env.stream);
    }

private:
    // Sets up `tactic` for the current views (-1: cuDNN for fp16/bf16 where it applies, else our CUDA-core kernel) and
    // returns whether it runs here. A tensor-core tactic that does not fit returns false (setup then chooses as for
    // -1); in setup (`shapes` given, describing the operands) a forced cuDNN that does not apply is an error naming why.
    bool configure(RunEnv& env, int32_t tactic, const std::string* shapes) {
        use_cudnn_ = false;
        warps_ = 0;
        ws_ = 0;
        cudnn_error_.clear();
        if (int w = mma_warps(tactic)) {
            bool fits = kernels::attention_mma_applies(io_dtype_, kv_.dims[2], qv_.dims[3], vv_.dims[3], w);
            if (fits) warps_ = w;
            return fits;
        }
        bool reduced = io_dtype_ == TRTN_FLOAT16 || io_dtype_ == TRTN_BFLOAT16;
        bool want = tactic == kTacticCudnn || (tactic < 0 && reduced && attention_graph_enabled());
        if (want && out_count_ > 0) use_cudnn_ = build_cudnn(env, io_dtype_);
        bool runs = use_cudnn_ || tactic != kTacticCudnn || out_count_ == 0;
        require(runs || !shapes, TRTN_UNSUPPORTED,
                "attention: cuDNN's flash attention does not apply here (float16 or bfloat16, feature dims multiples of 8 up to 128, contiguous)" +
                    (shapes ? *shapes : std::string()) + (cudnn_error_.empty() ? "" : ": " + cudnn_error_));
        return runs;
    }

    // The flash-attention graph for these views; false (and our kernel runs) where cuDNN has no engine for it.
    // Graphs are shared through env.graph_cache (ViT's identical layers, the re-setup after autotuning).
    bool build_cudnn(RunEnv& env, int32_t dtype) {
        cudnn_error_.clear();
        if (dtype != TRTN_FLOAT16 && dtype != TRTN_BFLOAT16) { cudnn_error_ = "not float16 or bfloat16"; return false; }
        io_type_ = dtype == TRTN_FLOAT16 ? fe::DataType_t::HALF : fe::DataType_t::BFLOAT16;
        int64_t d = qv_.dims[3], dv = vv_.dims[3];
        if (d % 8 != 0 || dv % 8 != 0 || d > 128 || dv > 128) { cudnn_error_ = "feature dims must be multiples of 8 up to 128"; return false; }
        // The Hopper kernels' tensor maps want 16-byte aligned operands: a slice must start on such a boundary.
        for (const View* w : {&qv_, &kv_, &vv_, &ov_})
            if (w->strides[3] != 1 || (w->offset * 2) % 16 != 0) {
                cudnn_error_ = "an operand's feature dim is not contiguous or its slice does not start on 16 bytes";
                return false;
            }
        // The scale by its bits: std::to_string keeps 6 decimals, so close scales would share one graph.
        uint32_t scale_bits = 0;
        std::memcpy(&scale_bits, &params<trtn_attention_params>().scale, sizeof scale_bits);
        std::string key = "attention:" + std::to_string(dtype) + ":" + std::to_string(scale_bits) + ":" + std::to_string(env.workspace_limit);
        for (const View* w : {&qv_, &kv_, &vv_, &ov_})
            for (int i = 0; i < 4; ++i) key += ":" + std::to_string(w->dims[i]) + "/" + std::to_string(w->strides[i]);
        auto& slot = env.graph_cache[key];
        if (!slot) {
            // The frontend picks its unified attention node on recent cuDNN whatever the GPU; where that does not
            // build here, the composite one may.
            std::string reasons;
            for (auto variant : {fe::AttentionImplementation_t::AUTO, fe::AttentionImplementation_t::COMPOSITE}) {
                if (auto built = try_build(env, variant)) { slot = built; break; }
                reasons += std::string(reasons.empty() ? "" : "; ") +
                           (variant == fe::AttentionImplementation_t::AUTO ? "auto node: " : "composite node: ") + cudnn_error_;
            }
            if (!slot) {
                cudnn_error_ = reasons;
                env.graph_cache.erase(key);
                return false;
            }
        }
        auto built = std::static_pointer_cast<BuiltAttention>(slot);
        graph_ = built;
        ws_ = built->workspace;
        return true;
    }

    struct BuiltAttention {
        fg::Graph graph;
        size_t workspace = 0;
    };

    std::shared_ptr<BuiltAttention> try_build(RunEnv& env, fe::AttentionImplementation_t variant) {
        // A size-1 dim may have any stride, but the Hopper kernels' tensor maps want 16-byte multiples: give it the
        // operand's whole extent.
        auto four = [](const View& w) {
            std::vector<int64_t> s(w.strides, w.strides + 4);
            int64_t extent = 1;
            for (int i = 0; i < 4; ++i) extent = std::max(extent, w.dims[i] * w.strides[i]);
            for (int i = 0; i < 4; ++i) if (w.dims[i] == 1) s[i] = extent;
            return s;
        };
        try {
            auto built = std::make_shared<BuiltAttention>();
            auto& g = built->graph;
            g.set_io_data_type(io_type_).set_intermediate_data_type(fe::DataType_t::FLOAT).set_compute_data_type(fe::DataType_t::FLOAT);
            auto tensor = [&](const char* name, int64_t uid, const View& w) {
                return g.tensor(fg::Tensor_attributes().set_name(name).set_uid(uid).set_data_type(io_type_)
                                    .set_dim({w.dims[0], w.dims[1], w.dims[2], w.dims[3]}).set_stride(four(w)));
            };
            auto Q = tensor("Q", kUidQ, qv_), K = tensor("K", kUidK, kv_), V = tensor("V", kUidV, vv_);
            auto options = fg::SDPA_attributes().set_name("attention").set_generate_stats(false)
                               .set_attn_scale(params<trtn_attention_params>().scale).set_implementation(variant);
            auto [O, stats] = g.sdpa(Q, K, V, options);
            (void)stats;
            O->set_output(true).set_uid(kUidO).set_data_type(io_type_)
                .set_dim({ov_.dims[0], ov_.dims[1], ov_.dims[2], ov_.dims[3]}).set_stride(four(ov_));
            auto h = static_cast<cudnnHandle_t>(env.cudnn);
            // Each step's refusal is kept (cudnn_error_) for the error a forced tactic=1 reports.
            auto good = [&](fe::error_t e, const char* step) {
                if (e.is_good()) return true;
                cudnn_error_ = std::string(step) + ": " + e.get_message();
                return false;
            };
            if (!good(g.validate(), "validate") || !good(g.build_operation_graph(h), "build_operation_graph") ||
                !good(g.create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::FALLBACK}), "heuristics"))
                return nullptr;
            g.deselect_workspace_greater_than(static_cast<int64_t>(std::min<uint64_t>(env.workspace_limit, INT64_MAX)));
            if (!good(g.check_support(), "check_support") || !good(g.build_plans(), "build_plans")) return nullptr;
            int64_t ws = 0;
            if (!good(g.get_workspace_size(ws), "workspace size")) return nullptr;
            if (ws < 0 || static_cast<size_t>(ws) > env.workspace_limit) {
                cudnn_error_ = "workspace of " + std::to_string(ws) + " bytes over the limit";
                return nullptr;
            }
            built->workspace = static_cast<size_t>(ws);
            return built;
        } catch (const std::exception& e) {
            cudnn_error_ = e.what();
            return nullptr;  // e.g. the frontend found no attention node for these views
        }
    }

    View qv_, kv_, vv_, ov_;
    fe::DataType_t io_type_ = fe::DataType_t::HALF;
    int32_t io_dtype_ = TRTN_FLOAT32;  // Q, K, V and the output's type
    int64_t out_count_ = 0;
    bool use_cudnn_ = false;
    int warps_ = 0;                    // > 0: the tensor-core kernel with this many warps a block
    std::shared_ptr<BuiltAttention> graph_;
    size_t ws_ = 0;
    std::string cudnn_error_;  // why build_cudnn found no graph (reported when tactic 1 forces cuDNN)
};

}  // namespace

std::unique_ptr<Layer> make_attention_layer(const LayerDesc& d) { return std::make_unique<AttentionLayer>(d); }

}  // namespace trtn
