// GEMM layer through cuBLASLt: row-major Y = act(alpha * op(A) op(B) + bias + residual), batched with broadcast,
// the optional residual (input 3, the output's shape) added as cuBLASLt's C with beta 1,
// bias, ReLU and tanh-GELU fused into cuBLASLt's epilogue, other activations in our own kernel afterwards. In fp16 and
// bf16 a product of A by a transposed B (a Linear layer's weights) may also run our tensor-core kernel (gemm_mma), with
// every activation fused: autotuning times it beside cuBLASLt's algorithms.
// With norm_a, A's rows are layer-normalised first (a transformer's LayerNorm before its Linear layer): our kernel
// does it inside the product; cuBLASLt's tactics run the LayerNorm kernel into the workspace and multiply that.
// fp32 runs with CUBLAS_COMPUTE_32F (never the fast-TF32 compute type); fp16 accumulates in fp32.
#include "engine.h"
#include "kernels/kernels.h"
#include "timing.h"

#include <cublasLt.h>

#include <algorithm>
#include <iterator>
#include <numeric>

namespace trtn {

#define TRTN_LT_CHECK(call)                                                                                  \
    do {                                                                                                     \
        cublasStatus_t trtn_s_ = (call);                                                                     \
        if (trtn_s_ != CUBLAS_STATUS_SUCCESS)                                                                \
            ::trtn::fail(trtn_s_ == CUBLAS_STATUS_ALLOC_FAILED ? TRTN_OUT_OF_MEMORY : TRTN_CUDA_ERROR,       \
                         std::string(#call) + " failed: " + cublasLtGetStatusName(trtn_s_) + " (" +           \
                             std::to_string((int)trtn_s_) + ")");                                            \
    } while (0)

cublasLtContext* create_cublaslt() {
    cublasLtHandle_t h = nullptr;
    TRTN_LT_CHECK(cublasLtCreate(&h));
    return h;
}

void destroy_cublaslt(cublasLtContext* h) { cublasLtDestroy(h); }

int32_t cublaslt_version() { return static_cast<int32_t>(cublasLtGetVersion()); }

namespace {

constexpr int kMaxAlgos = 32;

// How many of cuBLASLt's heuristic results a GEMM asks for (and autotuning times), by optimization level: 8 up to
// level 2 (what every level had before), 16 at the default 3, 32 at 4-5. The results come sorted by cuBLASLt's own
// estimate, so a longer list only adds candidates behind the same first ones (a stored tactic index keeps its
// meaning) and more chances where the estimate misjudges, as it may for the small-M GEMMs of a transformer at batch 1
// (ViT-B/16: 197 rows, a few dozen output tiles on a 132-SM GPU). Not yet measured on a GPU.
int gemm_candidates(int32_t optimization_level) {
    return optimization_level <= 2 ? 8 : optimization_level == 3 ? 16 : kMaxAlgos;
}

// Split-K variants of the leading heuristic results, timed beside them for GEMMs whose output tiles cannot fill the
// GPU (ViT-B/16 at batch 1: 197 x 768 outputs of the MLP's second GEMM are about a dozen 128x128 tiles for 132 SMs,
// while its K = 3072 leaves each tile a long serial loop). A tactic is `index + kMaxAlgos * code`: heuristic result
// `index` as cuBLASLt gave it (code 0, what every earlier plan stored) or cut into 2^code slices of K (codes 1-3),
// reduced in fp32 in the workspace.
constexpr int kMaxSplitCode = 3;
constexpr int kSplitKLeaders = 4;  // the heuristic results whose split variants autotuning tries

// A code beyond kMaxSplitCode (a damaged or foreign plan) reads as the plain result.
int split_of(int32_t tactic) { return tactic < 0 || tactic / kMaxAlgos > kMaxSplitCode ? 1 : 1 << (tactic / kMaxAlgos); }
int index_of(int32_t tactic) { return tactic < 0 ? -1 : (int)(tactic % kMaxAlgos); }

// Our tensor-core kernel's tactics: kMmaTactic + i runs it with kernels::kPointwiseTiles[i], beyond every cuBLASLt
// tactic (index + kMaxAlgos * code stays under 128).
constexpr int32_t kMmaTactic = 1000;
constexpr int kMmaTiles = static_cast<int>(std::size(kernels::kPointwiseTiles));
bool is_mma_tactic(int32_t tactic) { return tactic >= kMmaTactic && tactic < kMmaTactic + kMmaTiles; }

int64_t gcd_align(int64_t bytes) {
    if (bytes == 0) return 256;
    return std::min<int64_t>(256, std::gcd<int64_t>(bytes, 256));
}

class GemmLayer : public Layer {
public:
    using Layer::Layer;
    ~GemmLayer() override { release(); }

    bool tunable() const override { return true; }
    int32_t tactic() const override { return chosen_; }
    std::string implementation() const override { return name_of(chosen_); }

    // What a tactic runs, as profiles and the autotuning log name it.
    std::string name_of(int32_t tactic) const {
        if (is_mma_tactic(tactic)) {
            return "mma kernel, " + kernels::tile_text(kernels::kPointwiseTiles[tactic - kMmaTactic]) + " tiles" +
                   (norm_ ? " +layernorm" : "") + (has_residual_ ? " +residual" : "");
        }
        int split = split_of(tactic);
        return std::string(norm_ ? "layernorm kernel + " : "") + "cublasLt heuristic " + std::to_string(index_of(tactic)) +
               (split > 1 ? " splitk " + std::to_string(split) : "") + (has_residual_ ? " +residual" : "") +
               (post_act_ ? " + activation kernel" : "");
    }

    size_t setup(std::vector<TensorView>& t, RunEnv& env) override {
        release();
        auto& p = params<trtn_gemm_params>();
        auto& a = in(t, 0); auto& b = in(t, 1); auto& y = out(t, 0);
        auto* bias = p.has_bias ? opt_in(t, 2) : nullptr;
        require(a.rank >= 2 && b.rank >= 2, TRTN_UNSUPPORTED, "gemm: operands must have rank >= 2, got " + a.shape_string() + " and " + b.shape_string());
        require(a.dtype == b.dtype && a.dtype == y.dtype && (a.dtype == TRTN_FLOAT32 || a.dtype == TRTN_FLOAT16 || a.dtype == TRTN_BFLOAT16), TRTN_UNSUPPORTED,
                "gemm: operands must share float32/float16 type, got " + a.shape_string() + ", " + b.shape_string() + ", " + y.shape_string());
        int64_t M = p.trans_a ? a.dims[a.rank - 1] : a.dims[a.rank - 2];
        int64_t K = p.trans_a ? a.dims[a.rank - 2] : a.dims[a.rank - 1];
        int64_t Kb = p.trans_b ? b.dims[b.rank - 1] : b.dims[b.rank - 2];
        int64_t N = p.trans_b ? b.dims[b.rank - 2] : b.dims[b.rank - 1];
        require(K == Kb, TRTN_SHAPE_MISMATCH, "gemm: inner dimensions differ: " + a.shape_string() + " x " + b.shape_string());
        int64_t batch_a = a.count() / (a.dims[a.rank - 1] * a.dims[a.rank - 2] == 0 ? 1 : a.dims[a.rank - 1] * a.dims[a.rank - 2]);
        int64_t batch_b = b.count() / (b.dims[b.rank - 1] * b.dims[b.rank - 2] == 0 ? 1 : b.dims[b.rank - 1] * b.dims[b.rank - 2]);
        require(batch_a == batch_b || batch_a == 1 || batch_b == 1, TRTN_UNSUPPORTED,
                "gemm: batch dims of " + a.shape_string() + " and " + b.shape_string() + " broadcast only when equal or one side is 1");
        int64_t batch = std::max(batch_a, batch_b);
        require(y.count() == batch * M * N, TRTN_SHAPE_MISMATCH, "gemm: output " + y.shape_string() + " should hold " + std::to_string(batch) + "x" + std::to_string(M) + "x" + std::to_string(N));
        if (bias) require(bias->count() == N && bias->dtype == y.dtype, TRTN_SHAPE_MISMATCH, "gemm: bias must be " + std::to_string(N) + " elements of the output type, got " + bias->shape_string());
        auto* residual = opt_in(t, 3);
        if (residual) require(residual->count() == y.count() && residual->dtype == y.dtype, TRTN_SHAPE_MISMATCH,
                              "gemm: the residual must have the output's " + std::to_string(y.count()) + " elements and type, got " + residual->shape_string());
        has_residual_ = residual != nullptr;
        norm_ = p.norm_a != 0;
        norm_bytes_ = 0;
        if (norm_) {
            require(!p.trans_a, TRTN_UNSUPPORTED, "gemm: normalising A's rows needs A untransposed");
            require(p.norm_epsilon >= 0.f, TRTN_INVALID_ARGUMENT, "gemm: the normalisation's epsilon is negative");
            auto* scale = opt_in(t, 4);
            auto* shift = opt_in(t, 5);
            require(scale && scale->dtype == TRTN_FLOAT32 && scale->count() == K, TRTN_SHAPE_MISMATCH,
                    "gemm: normalising A's rows needs a float32 scale (input 4) of " + std::to_string(K) + " values" +
                        (scale ? ", got " + scale->shape_string() : ", got none"));
            if (shift) require(shift->dtype == TRTN_FLOAT32 && shift->count() == K, TRTN_SHAPE_MISMATCH,
                               "gemm: the normalisation's shift (input 5) must be float32 with " + std::to_string(K) + " values, got " + shift->shape_string());
            // cuBLASLt's tactics multiply a normalised copy of A, kept at the workspace's start.
            norm_bytes_ = (size_t)(a.count() * (int64_t)dtype_size(a.dtype) + 255) / 256 * 256;
        }
        // A batched A times a shared B is one tall product.
        if (batch_b == 1 && batch_a > 1 && !p.trans_a) { M *= batch_a; batch = 1; batch_a = 1; }
        M_ = M; N_ = N; K_ = K; batch_ = batch;
        if (M * N == 0) return 0;
        a_shared_ = batch_a == 1;
        b_shared_ = batch_b == 1;
        mma_usable_ = mma_enabled() && !p.trans_a && p.trans_b && kernels::gemm_mma_applies(a.dtype, batch, M, N, K);

        cudaDataType_t dt = a.dtype == TRTN_FLOAT16 ? CUDA_R_16F : a.dtype == TRTN_BFLOAT16 ? CUDA_R_16BF : CUDA_R_32F;
        int64_t es = dtype_size(a.dtype);
        TRTN_LT_CHECK(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        // Column-major view: D^T[N,M] = op(B)^T[N,K] * op(A)^T[K,M]; "A" of cuBLASLt is our B and vice versa.
        cublasOperation_t ta = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
        cublasOperation_t tb = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
        TRTN_LT_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
        TRTN_LT_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
        // cuBLASLt's epilogue has ReLU and the tanh-approximated GELU. With a residual the activation runs in our
        // kernel instead: the layer's contract is act(product + bias + residual), and the epilogue's order relative
        // to C is not something we rely on.
        bool relu = p.act.kind == TRTN_ACT_RELU && !has_residual_;
        bool gelu = p.act.kind == TRTN_ACT_GELU_TANH && !has_residual_;
        cublasLtEpilogue_t epi = relu ? (bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                               : gelu ? (bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                                      : (bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
        TRTN_LT_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        post_act_ = p.act.kind != TRTN_ACT_NONE && !relu && !gelu;
        if (bias) {
            int64_t zero = 0;
            TRTN_LT_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &zero, sizeof(zero)));
        }

        uint64_t a_rows = p.trans_b ? K : N, a_cols = p.trans_b ? N : K;
        uint64_t b_rows = p.trans_a ? M : K, b_cols = p.trans_a ? K : M;
        TRTN_LT_CHECK(cublasLtMatrixLayoutCreate(&la_, dt, a_rows, a_cols, (int64_t)a_rows));
        TRTN_LT_CHECK(cublasLtMatrixLayoutCreate(&lb_, dt, b_rows, b_cols, (int64_t)b_rows));
        TRTN_LT_CHECK(cublasLtMatrixLayoutCreate(&ld_, dt, (uint64_t)N, (uint64_t)M, N));
        int64_t stride_a = batch_b == 1 ? 0 : K * N, stride_b = batch_a == 1 ? 0 : M * K, stride_d = M * N;
        if (batch > 1) {
            int32_t bc = static_cast<int32_t>(batch);
            TRTN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(la_, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof(bc)));
            TRTN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(la_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_a, sizeof(stride_a)));
            TRTN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(lb_, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof(bc)));
            TRTN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(lb_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_b, sizeof(stride_b)));
            TRTN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(ld_, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof(bc)));
            TRTN_LT_CHECK(cublasLtMatrixLayoutSetAttribute(ld_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_d, sizeof(stride_d)));
        }
        // Base addresses are 256-byte aligned (the caller's arena); batch strides may lower that.
        uint32_t al_a = (uint32_t)gcd_align(batch > 1 ? stride_a * es : 0);
        uint32_t al_b = (uint32_t)gcd_align(batch > 1 ? stride_b * es : 0);
        uint32_t al_d = (uint32_t)gcd_align(batch > 1 ? stride_d * es : 0);
        TRTN_LT_CHECK(cublasLtMatmulPreferenceCreate(&pref_));
        uint64_t limit = env.workspace_limit > norm_bytes_ ? env.workspace_limit - norm_bytes_ : 0;
        TRTN_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &limit, sizeof(limit)));
        TRTN_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)));
        TRTN_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)));
        TRTN_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof(al_d)));
        TRTN_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof(al_d)));
        // The bias pointer is set here with a placeholder; run() sets the real one (addresses may change).
        count_ = 0;
        // A stored tactic (a plan, or a timing cache filled at a higher level) is an index into the list: ask for a list
        // that long.
        int stored = is_mma_tactic(desc.tactic) ? -1 : index_of(desc.tactic);
        int wanted = std::max(gemm_candidates(env.optimization_level), std::min(kMaxAlgos, stored + 1));
        TRTN_LT_CHECK(cublasLtMatmulAlgoGetHeuristic(env.lt, op_, la_, lb_, ld_, ld_, pref_, wanted, results_, &count_));
        require(count_ > 0, TRTN_UNSUPPORTED, "gemm: cuBLASLt has no algorithm for " + a.shape_string() + " x " + b.shape_string() + " within the workspace limit");
        limit_ = limit;
        lt_ = env.lt;
        split_count_ = 0;
        chosen_ = 0;
        if (norm_ && norm_bytes_ > env.workspace_limit) {
            // No room for cuBLASLt's normalised copy of A: only our kernel, which needs none, can run this layer.
            require(mma_usable_, TRTN_UNSUPPORTED, "gemm: normalising A's rows for cuBLASLt needs " + std::to_string(norm_bytes_) +
                                                       " bytes of workspace, over the limit of " + std::to_string(env.workspace_limit) +
                                                       "; raise the workspace limit");
            chosen_ = is_mma_tactic(desc.tactic) ? desc.tactic : kMmaTactic;
            return 0;
        }
        // Our kernel's tactic where it still applies (else cuBLASLt's first result, like a stale index).
        if (is_mma_tactic(desc.tactic) && mma_usable_) {
            chosen_ = desc.tactic;
            return 0;
        }
        if (stored >= 0 && stored < count_) {
            chosen_ = stored;
            // A stored split variant is rebuilt; one that cuBLASLt no longer accepts here falls back to its plain result.
            if (split_of(desc.tactic) > 1 && split_enabled() && add_split(stored, split_of(desc.tactic))) chosen_ = desc.tactic;
        }
        return workspace_of(chosen_);
    }

    void run(std::vector<TensorView>& t, RunEnv& env) override { run_with(t, env, chosen_); }

    // Times every heuristic result (median of several rounds after warm-up) and keeps the fastest; close calls
    // are timed again more carefully.
    int32_t autotune(std::vector<TensorView>& t, RunEnv& env, float* ms) override {
        if (M_ * N_ == 0 || count_ == 0) { if (ms) *ms = 0; return -1; }
        std::vector<TimedCandidate> timed;
        std::string where = tuning_label(t);
        auto time = [&](int tactic) {
            if (workspace_of(tactic) > env.workspace_bytes) return;
            try {
                timed.push_back({tactic, median_ms(env.timing(), [&] { run_with(t, env, tactic); }, timing_against(timed))});
                autotune_log(where, name_of(tactic), ms_text(timed.back().ms));
            } catch (const Error& e) {
                cudaGetLastError();  // this candidate does not run here; try the next
                autotune_log(where, name_of(tactic), std::string("failed: ") + e.what());
            }
        };
        for (int i = 0; i < count_; ++i) time(i);
        time_mma(t, env, where, time);
        if (few_tiles() && split_enabled()) {
            for (int i = 0; i < std::min(count_, kSplitKLeaders); ++i)
                for (int code = 1; code <= kMaxSplitCode; ++code)
                    if (K_ / (1 << code) >= 128 && add_split(i, 1 << code)) time(i + kMaxAlgos * code);
        }
        if (timed.empty()) { if (ms) *ms = 0; return chosen_; }
        TimedCandidate best = pick_fastest(env.timing(), timed, [&](int i) { run_with(t, env, i); });
        chosen_ = best.index;
        autotune_log(where, name_of(chosen_), "chosen " + ms_text(best.ms));
        if (ms) *ms = best.ms;
        return chosen_;
    }

private:
    // Our kernel's tiles join the timing when each agrees with cuBLASLt's first result on the same data (cuBLASLt's
    // own are trusted). Not where the residual is the output's own buffer (the memory plan may do that): the check
    // would overwrite the residual.
    template <class Time>
    void time_mma(std::vector<TensorView>& t, RunEnv& env, const std::string& where, Time&& time) {
        auto& y = out(t, 0);
        auto* residual = has_residual_ ? opt_in(t, 3) : nullptr;
        if (!mma_usable_ || (residual && residual->ptr == y.ptr)) return;
        try {
            ReferenceOutput ref(y.dtype, y.count());
            ref.record(y.ptr, [&] { run_with(t, env, 0); });
            for (int i = 0; i < kMmaTiles; ++i) {
                ref.poison(y.ptr, env.stream);
                run_with(t, env, kMmaTactic + i);
                double err = ref.error(y.ptr, env.stream);
                if (ref.agrees(err)) time(kMmaTactic + i);
                else autotune_log(where, name_of(kMmaTactic + i), "rejected: rel L2 " + std::to_string(err) + " from cuBLASLt's");
            }
        } catch (const Error& e) {
            cudaGetLastError();  // our kernel does not run here; cuBLASLt's candidates remain
            autotune_log(where, "mma kernel", std::string("failed: ") + e.what());
        }
    }

    void run_with(std::vector<TensorView>& t, RunEnv& env, int i) {
        if (M_ * N_ == 0) return;
        auto& p = params<trtn_gemm_params>();
        auto& a = in(t, 0); auto& b = in(t, 1); auto& y = out(t, 0);
        auto* bias = p.has_bias ? opt_in(t, 2) : nullptr;
        const float* norm_scale = norm_ ? static_cast<const float*>(in(t, 4).ptr) : nullptr;
        const float* norm_shift = norm_ && opt_in(t, 5) ? static_cast<const float*>(opt_in(t, 5)->ptr) : nullptr;
        if (is_mma_tactic(i)) {
            auto* residual = has_residual_ ? opt_in(t, 3) : nullptr;
            const kernels::GemmRowNorm norm{norm_scale, norm_shift, p.norm_epsilon};
            kernels::gemm_mma(y.dtype, a.ptr, b.ptr, bias ? bias->ptr : nullptr, residual ? residual->ptr : nullptr, y.ptr,
                              kernels::GemmMmaShape{batch_, M_, N_, K_, a_shared_, b_shared_},
                              p.alpha, p.act, env.stream, kernels::kPointwiseTiles[i - kMmaTactic], norm_ ? &norm : nullptr);
            return;
        }
        if (bias) {
            const void* bp = bias->ptr;
            TRTN_LT_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
        }
        const cublasLtMatmulHeuristicResult_t& r = candidate(i);
        require(workspace_of(i) <= env.workspace_bytes, TRTN_INVALID_ARGUMENT, "gemm: workspace too small");
        // A residual is cuBLASLt's C with beta 1 (C may be D itself: the memory plan can give both one buffer).
        auto* residual = has_residual_ ? opt_in(t, 3) : nullptr;
        float alpha = p.alpha, beta = residual ? 1.f : 0.f;
        const void* c = residual ? residual->ptr : y.ptr;
        const void* a_ptr = a.ptr;
        void* workspace = env.workspace;
        if (norm_) {
            kernels::layernorm(a.dtype, a.ptr, norm_scale, norm_shift, env.workspace, a.count() / K_, K_, p.norm_epsilon, env.stream);
            a_ptr = env.workspace;
            workspace = static_cast<char*>(env.workspace) + norm_bytes_;
        }
        TRTN_LT_CHECK(cublasLtMatmul(env.lt, op_, &alpha, b.ptr, la_, a_ptr, lb_, &beta, c, ld_, y.ptr, ld_,
                                     &r.algo, workspace, r.workspaceSize, env.stream));
        if (post_act_) kernels::unary(y.dtype, y.ptr, y.ptr, y.count(), p.act.kind, p.act.alpha, p.act.beta, env.stream);
    }

    // Scratch a tactic needs: cuBLASLt's, after the normalised copy of A that its tactics multiply (norm_a); our
    // kernel needs none.
    size_t workspace_of(int32_t tactic) const { return is_mma_tactic(tactic) ? 0 : norm_bytes_ + candidate(tactic).workspaceSize; }

    // The heuristic result or split variant a tactic names (a split variant must have been added with add_split).
    const cublasLtMatmulHeuristicResult_t& candidate(int32_t tactic) const {
        if (split_of(tactic) == 1) return results_[index_of(tactic)];
        for (int k = 0; k < split_count_; ++k)
            if (split_tactics_[k] == tactic) return splits_[k];
        fail(TRTN_INTERNAL, "gemm: tactic " + std::to_string(tactic) + " names a split-K variant that was not built");
    }

    // TRTN_GEMM_MMA=0 leaves our kernel out (A/B timing against cuBLASLt alone).
    static bool mma_enabled() {
        static const bool enabled = !env_is("TRTN_GEMM_MMA", "0");
        return enabled;
    }

    // TRTN_GEMM_SPLITK=0 leaves the split-K variants out (A/B timing).
    static bool split_enabled() {
        static const bool enabled = !env_is("TRTN_GEMM_SPLITK", "0");
        return enabled;
    }

    // Fewer 128x128 output tiles than the GPU has multiprocessors, and a K worth cutting.
    bool few_tiles() const {
        int64_t tiles = ((M_ + 127) / 128) * ((N_ + 127) / 128) * batch_;
        return tiles < device_attribute(cudaDevAttrMultiProcessorCount) && K_ >= 256;
    }

    // Adds heuristic result `index` cut into `split` slices of K, when its algorithm can split K, reduce in the
    // compute type (fp32, in the workspace) and cuBLASLt accepts it within the workspace limit.
    bool add_split(int index, int split) {
        int code = 0;
        while ((1 << code) < split) ++code;
        int32_t tactic = index + kMaxAlgos * code;
        for (int k = 0; k < split_count_; ++k)
            if (split_tactics_[k] == tactic) return true;  // built already (the stored tactic, at set-up)
        if (split_count_ >= kMaxSplits) return false;
        cublasLtMatmulAlgo_t algo = results_[index].algo;
        int32_t can_split = 0;
        uint32_t schemes = 0;
        size_t written = 0;
        if (cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &can_split, sizeof can_split, &written) != CUBLAS_STATUS_SUCCESS ||
            !can_split ||
            cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &schemes, sizeof schemes, &written) != CUBLAS_STATUS_SUCCESS ||
            !(schemes & CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE))
            return false;
        uint32_t scheme = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
        if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split, sizeof split) != CUBLAS_STATUS_SUCCESS ||
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof scheme) != CUBLAS_STATUS_SUCCESS)
            return false;
        cublasLtMatmulHeuristicResult_t checked = {};
        if (cublasLtMatmulAlgoCheck(lt_, op_, la_, lb_, ld_, ld_, &algo, &checked) != CUBLAS_STATUS_SUCCESS || checked.workspaceSize > limit_)
            return false;
        checked.algo = algo;
        splits_[split_count_] = checked;
        split_tactics_[split_count_] = tactic;
        ++split_count_;
        return true;
    }

    void release() {
        if (pref_) cublasLtMatmulPreferenceDestroy(pref_);
        if (la_) cublasLtMatrixLayoutDestroy(la_);
        if (lb_) cublasLtMatrixLayoutDestroy(lb_);
        if (ld_) cublasLtMatrixLayoutDestroy(ld_);
        if (op_) cublasLtMatmulDescDestroy(op_);
        pref_ = nullptr; la_ = lb_ = ld_ = nullptr; op_ = nullptr;
    }

    cublasLtMatmulDesc_t op_ = nullptr;
    cublasLtMatrixLayout_t la_ = nullptr, lb_ = nullptr, ld_ = nullptr;
    cublasLtMatmulPreference_t pref_ = nullptr;
    cublasLtMatmulHeuristicResult_t results_[kMaxAlgos] = {};
    int count_ = 0;
    static constexpr int kMaxSplits = kSplitKLeaders * kMaxSplitCode + 1;  // autotuning's, and a stored one beyond them
    cublasLtMatmulHeuristicResult_t splits_[kMaxSplits] = {};  // split-K variants built for this shape
    int32_t split_tactics_[kMaxSplits] = {};
    int split_count_ = 0;
    size_t limit_ = 0;
    cublasLtHandle_t lt_ = nullptr;
    int chosen_ = 0;
    bool post_act_ = false;
    bool has_residual_ = false;
    bool mma_usable_ = false;
    bool norm_ = false;       // A's rows are layer-normalised first (norm_a)
    size_t norm_bytes_ = 0;   // the normalised copy of A at the workspace's start, for cuBLASLt's tactics
    bool a_shared_ = false, b_shared_ = false;  // an operand stored once for every batch
    int64_t M_ = 0, N_ = 0, K_ = 0, batch_ = 1;
};

}  // namespace

std::unique_ptr<Layer> make_gemm_layer(const LayerDesc& d) { return std::make_unique<GemmLayer>(d); }

}  // namespace trtn
