// Convolution layer through cuDNN (NHWC, fp32 or fp16, grouped/depthwise), with bias, residual and activation
// applied by our epilogue kernel. fp32 convolutions run with CUDNN_FMA_MATH: TF32 tensor cores are never used.
// fp16 convolutions accumulate in fp32 (CUDNN_DATA_FLOAT compute type) and may use tensor cores.
#include "engine.h"
#include "kernels/kernels.h"

#include <cudnn.h>

#include <algorithm>

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

// Tactic number of our own direct convolution kernel (cuDNN algorithm ids are 0..7).
constexpr int32_t kTacticDirect = 1000;

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
    int32_t tactic() const override { return direct_ ? kTacticDirect : static_cast<int32_t>(algo_); }

    size_t setup(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_conv_params>();
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        require(x.rank == 4 && w.rank == 4 && y.rank == 4, TRTN_UNSUPPORTED,
                "conv: only 2-D convolutions over NHWC tensors are supported, got input " + x.shape_string() + ", weights " + w.shape_string());
        require(x.dtype == w.dtype && x.dtype == y.dtype && (x.dtype == TRTN_FLOAT32 || x.dtype == TRTN_FLOAT16), TRTN_UNSUPPORTED,
                "conv: input, weights and output must share float32/float16 type");
        int64_t N = x.dims[0], H = x.dims[1], W = x.dims[2], C = x.dims[3];
        int64_t K = w.dims[0], R = w.dims[1], S = w.dims[2], Cg = w.dims[3];
        require(p.groups >= 1 && C == Cg * p.groups && K % p.groups == 0, TRTN_SHAPE_MISMATCH,
                "conv: input channels " + std::to_string(C) + " do not match weights " + w.shape_string() + " with " + std::to_string(p.groups) + " groups");
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        require(!p.has_bias || (b && b->dtype == TRTN_FLOAT32 && b->count() == K), TRTN_SHAPE_MISMATCH, "conv: bias must be float32 with " + std::to_string(K) + " elements");
        require(!p.has_residual || (r && r->dtype == y.dtype && r->count() == y.count()), TRTN_SHAPE_MISMATCH, "conv: residual must have the output's shape " + y.shape_string());
        cudnnDataType_t dt = x.dtype == TRTN_FLOAT16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
        TRTN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NHWC, dt, (int)N, (int)C, (int)H, (int)W));
        TRTN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, dt, CUDNN_TENSOR_NHWC, (int)K, (int)Cg, (int)R, (int)S));
        TRTN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w,
                                                         CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
        TRTN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_, p.groups));
        math_ = x.dtype == TRTN_FLOAT16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
        TRTN_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, math_));
        int on, oc, oh, ow;
        TRTN_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv_, x_, w_, &on, &oc, &oh, &ow));
        require(on == y.dims[0] && oh == y.dims[1] && ow == y.dims[2] && oc == y.dims[3], TRTN_SHAPE_MISMATCH,
                "conv: output " + y.shape_string() + " does not match cuDNN's [" + std::to_string(on) + "," + std::to_string(oh) + "," +
                    std::to_string(ow) + "," + std::to_string(oc) + "] for input " + x.shape_string());
        TRTN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NHWC, dt, on, oc, oh, ow));
        if (y.count() == 0) { ws_ = 0; return 0; }

        limit_ = env.workspace_limit;
        direct_ = desc.tactic == kTacticDirect;
        if (direct_) { ws_ = 0; return 0; }
        // A stored tactic is used when it still applies at these shapes; otherwise the heuristics choose.
        if (desc.tactic >= 0 && try_algo(env, static_cast<cudnnConvolutionFwdAlgo_t>(desc.tactic))) return ws_;
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

    void run(std::vector<TensorView>& t, RunEnv& env) override {
        if (direct_) run_direct(t, env);
        else run_with(t, env, algo_, ws_);
    }

    // Times cuDNN's candidates (cudnnFind), checks each against our direct kernel on the same data and keeps the
    // fastest one that agrees; the direct kernel itself competes too. A candidate that disagrees is never chosen.
    int32_t autotune(std::vector<TensorView>& t, RunEnv& env, float* ms) override {
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        if (y.count() == 0) { if (ms) *ms = 0; return tactic(); }
        size_t bytes = (size_t)y.count() * (y.dtype == TRTN_FLOAT16 ? 2 : 4);
        void* ref = nullptr;
        TRTN_CUDA_CHECK(cudaMalloc(&ref, bytes));
        cudaEvent_t e0 = nullptr, e1 = nullptr;
        try {
            TRTN_CUDA_CHECK(cudaEventCreate(&e0));
            TRTN_CUDA_CHECK(cudaEventCreate(&e1));
            void* saved = y.ptr;
            y.ptr = ref;
            run_direct(t, env);
            y.ptr = saved;
            auto time = [&](auto&& body) {
                body();  // warm-up
                TRTN_CUDA_CHECK(cudaEventRecord(e0, env.stream));
                for (int r = 0; r < 3; ++r) body();
                TRTN_CUDA_CHECK(cudaEventRecord(e1, env.stream));
                TRTN_CUDA_CHECK(cudaEventSynchronize(e1));
                float elapsed = 0;
                TRTN_CUDA_CHECK(cudaEventElapsedTime(&elapsed, e0, e1));
                return elapsed / 3;
            };
            float direct_ms = time([&] { run_direct(t, env); });
            double tol = y.dtype == TRTN_FLOAT16 ? 2e-2 : 1e-4;

            cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
            int n = 0;
            auto h = static_cast<cudnnHandle_t>(env.cudnn);
            TRTN_CUDNN_CHECK(cudnnSetStream(h, env.stream));
            size_t avail = std::min<size_t>(env.workspace_bytes, limit_);
            TRTN_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, x_, x.ptr, w_, w.ptr, conv_, y_, y.ptr, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                                    &n, perf, env.workspace, avail));
            bool found = false;
            float best_ms = 0;
            rejected_ = 0;
            for (int i = 0; i < n && !found; ++i) {  // sorted fastest first
                if (perf[i].status != CUDNN_STATUS_SUCCESS || !math_ok(perf[i].mathType) || perf[i].memory > avail) continue;
                if (!try_algo(env, perf[i].algo)) continue;
                run_with(t, env, algo_, ws_);
                double err = kernels::relative_l2(y.dtype, y.ptr, ref, y.count(), env.stream);
                if (!(err <= tol)) { ++rejected_; continue; }
                best_ms = time([&] { run_with(t, env, algo_, ws_); });
                found = true;
            }
            direct_ = !found || direct_ms < best_ms;
            if (ms) *ms = direct_ ? direct_ms : best_ms;
        } catch (...) {
            if (e0) cudaEventDestroy(e0);
            if (e1) cudaEventDestroy(e1);
            cudaFree(ref);
            throw;
        }
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        cudaFree(ref);
        if (direct_) ws_ = 0;
        return tactic();
    }

private:
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

    void run_direct(std::vector<TensorView>& t, RunEnv& env) {
        auto& p = params<trtn_conv_params>();
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        kernels::conv_direct(y.dtype, x.ptr, w.ptr, b ? static_cast<const float*>(b->ptr) : nullptr, r ? r->ptr : nullptr, y.ptr,
                             x.dims, w.dims, y.dims, p, env.stream);
    }

    void run_with(std::vector<TensorView>& t, RunEnv& env, cudnnConvolutionFwdAlgo_t algo, size_t ws) {
        auto& p = params<trtn_conv_params>();
        auto& x = in(t, 0); auto& w = in(t, 1); auto& y = out(t, 0);
        if (y.count() == 0) return;
        require(ws <= env.workspace_bytes, TRTN_INVALID_ARGUMENT, "conv: workspace too small");
        auto h = static_cast<cudnnHandle_t>(env.cudnn);
        TRTN_CUDNN_CHECK(cudnnSetStream(h, env.stream));
        float alpha = 1.f, beta = 0.f;
        TRTN_CUDNN_CHECK(cudnnConvolutionForward(h, &alpha, x_, x.ptr, w_, w.ptr, conv_, algo, env.workspace, ws, &beta, y_, y.ptr));
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        auto* r = p.has_residual ? opt_in(t, 3) : nullptr;
        if (b || r || p.act.kind != TRTN_ACT_NONE)
            kernels::bias_act(y.dtype, y.ptr, b ? static_cast<const float*>(b->ptr) : nullptr, r ? r->ptr : nullptr,
                              y.count() / y.dims[3], y.dims[3], p.act, env.stream);
    }

    cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
    cudnnFilterDescriptor_t w_ = nullptr;
    cudnnConvolutionDescriptor_t conv_ = nullptr;
    cudnnMathType_t math_ = CUDNN_FMA_MATH;
    cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t ws_ = 0;
    size_t limit_ = 0;
    bool direct_ = false;
    int rejected_ = 0;  // cuDNN candidates that disagreed with the direct kernel at the last autotune
};

}  // namespace

std::unique_ptr<Layer> make_conv_layer(const LayerDesc& d) { return std::make_unique<ConvLayer>(d); }

}  // namespace trtn
