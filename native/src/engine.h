// Internal structure of engines, contexts and layers.
#pragma once

#include "common.h"
#include "timing.h"

#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct cudnnContext;
struct cublasLtContext;

namespace trtn {

struct LayerDesc {
    std::string name;
    int32_t kind = 0;
    std::vector<uint8_t> params;
    std::vector<int32_t> inputs, outputs;   // -1 = absent optional input
    int32_t tactic = -1;
    // Tactics timed at several shapes (trtn_engine_set_layer_tactics): the first output's element count there and
    // the tactic chosen there. A shape slot runs the one timed nearest in ratio; empty: `tactic` at every shape.
    struct TunedTactic {
        int64_t output_elements;
        int32_t tactic;
    };
    std::vector<TunedTactic> tuned;
};

// One tensor as a context sees it: element type, physical dims, device address.
struct TensorView {
    int32_t dtype = 0;
    int32_t rank = 0;
    int64_t dims[TRTN_MAX_DIMS] = {};
    void* ptr = nullptr;
    int64_t count() const { int64_t n = 1; for (int i = 0; i < rank; ++i) n *= dims[i]; return n; }
    std::string shape_string() const;
};

struct RunEnv {
    cudaStream_t stream = nullptr;
    cudnnContext* cudnn = nullptr;
    cublasLtContext* lt = nullptr;
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
    bool fp16 = false;
    size_t workspace_limit = 0;
    int32_t optimization_level = 3;  // trtn_build_options.optimization_level
    // Built cuDNN graphs shared by the context's layers and shape slots (identical layers, the re-setup after
    // autotuning, a shape seen again): building one can mean compiling its kernel. Keyed by what the graph depends
    // on; cleared before the cuDNN handle is destroyed.
    std::unordered_map<std::string, std::shared_ptr<void>> graph_cache;
    // While autotuning with TRTN_TUNE_COLD_L2=1: the buffer each timed run overwrites first (trtn_context_autotune).
    void* l2_flush = nullptr;
    size_t l2_flush_bytes = 0;
    TimingStream timing() const { return {stream, l2_flush, l2_flush_bytes}; }
};

class Layer {
public:
    explicit Layer(const LayerDesc& d) : desc(d) {}
    virtual ~Layer() = default;
    // Shapes are known: validate them, prepare descriptors, return the scratch bytes needed.
    virtual size_t setup(std::vector<TensorView>& t, RunEnv& env) = 0;
    virtual void run(std::vector<TensorView>& t, RunEnv& env) = 0;
    // Tunable layers time their candidates and return the fastest tactic (or -1).
    virtual bool tunable() const { return false; }
    virtual int32_t autotune(std::vector<TensorView>&, RunEnv&, float* ms) { if (ms) *ms = 0; return -1; }
    virtual int32_t tactic() const { return -1; }
    // What runs, for profiles and logs (trtn_context_layer_implementation).
    virtual std::string implementation() const { return "own kernel"; }

    const LayerDesc& desc;

    // "name out=[dims]": how the autotuning log names this layer at the current shapes.
    std::string tuning_label(std::vector<TensorView>& t) const { return desc.name + " out=" + out(t, 0).shape_string(); }

protected:
    TensorView& in(std::vector<TensorView>& t, size_t i) const { return t[desc.inputs.at(i)]; }
    TensorView* opt_in(std::vector<TensorView>& t, size_t i) const {
        return i < desc.inputs.size() && desc.inputs[i] >= 0 ? &t[desc.inputs[i]] : nullptr;
    }
    TensorView& out(std::vector<TensorView>& t, size_t i) const { return t[desc.outputs.at(i)]; }
    template <class P> const P& params() const { return *reinterpret_cast<const P*>(desc.params.data()); }
};

std::unique_ptr<Layer> make_conv_layer(const LayerDesc& d);
std::unique_ptr<Layer> make_gemm_layer(const LayerDesc& d);
std::unique_ptr<Layer> make_basic_layer(const LayerDesc& d);
std::unique_ptr<Layer> make_attention_layer(const LayerDesc& d);

// Library handles (cudnn.cpp / cublaslt.cpp).
cudnnContext* create_cudnn();
void destroy_cudnn(cudnnContext* h);
cublasLtContext* create_cublaslt();
void destroy_cublaslt(cublasLtContext* h);
int32_t cudnn_version();
int32_t cublaslt_version();

}  // namespace trtn

struct trtn_engine {
    int32_t device = 0;
    std::vector<int32_t> tensor_dtype, tensor_rank;
    std::vector<trtn::LayerDesc> layers;
    bool built = false;
    trtn_build_options options{};
};
