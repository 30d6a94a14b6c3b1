// Convolution graphs through cuDNN's graph API (vendored cudnn-frontend, header-only). See conv_graph.h.
// The frontend reports failures through error_t (NV_CUDNN_DISABLE_EXCEPTION, set in CMakeLists.txt); every failure that means "cuDNN has no
// engine for this" becomes Error(TRTN_UNSUPPORTED), so the conv layer falls back to its other tactics.
#include "conv_graph.h"

#include <cudnn_frontend.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace trtn {

namespace fe = cudnn_frontend;
namespace fg = cudnn_frontend::graph;

namespace {

// Tensor ids inside the graph (the frontend numbers its own scalars around these).
constexpr int64_t kUidX = 1, kUidW = 2, kUidBias = 3, kUidResidual = 4, kUidY = 5;

void check(fe::error_t e, const char* what) {
    if (e.is_bad()) fail(TRTN_UNSUPPORTED, std::string("cuDNN graph: ") + what + ": " + e.get_message());
}

uint32_t fnv1a(const std::string& s) {
    uint32_t h = 2166136261u;
    for (unsigned char ch : s) { h ^= ch; h *= 16777619u; }
    return h;
}

// NHWC memory order of a logical NCHW tensor.
std::vector<int64_t> nhwc_strides(int64_t c, int64_t h, int64_t w) { return {h * w * c, 1, w * c, c}; }

std::shared_ptr<fg::Tensor_attributes> scalar(fg::Graph& g, float v) {
    return g.tensor(fg::Tensor_attributes(v).set_dim({1, 1, 1, 1}).set_stride({1, 1, 1, 1}));
}

using TensorPtr = std::shared_ptr<fg::Tensor_attributes>;

TensorPtr pointwise(fg::Graph& g, TensorPtr a, fe::PointwiseMode_t mode) {
    return g.pointwise(a, fg::Pointwise_attributes().set_mode(mode).set_compute_data_type(fe::DataType_t::FLOAT));
}

TensorPtr pointwise(fg::Graph& g, TensorPtr a, TensorPtr b, fe::PointwiseMode_t mode) {
    return g.pointwise(a, b, fg::Pointwise_attributes().set_mode(mode).set_compute_data_type(fe::DataType_t::FLOAT));
}

// clamp(alpha * x + beta, 0, 1)
TensorPtr hard_sigmoid(fg::Graph& g, TensorPtr x, float alpha, float beta) {
    auto t = pointwise(g, x, scalar(g, alpha), fe::PointwiseMode_t::MUL);
    t = pointwise(g, t, scalar(g, beta), fe::PointwiseMode_t::ADD);
    return g.pointwise(t, fg::Pointwise_attributes()
                              .set_mode(fe::PointwiseMode_t::RELU_FWD)
                              .set_compute_data_type(fe::DataType_t::FLOAT)
                              .set_relu_lower_clip(0.f)
                              .set_relu_upper_clip(1.f));
}

TensorPtr activation(fg::Graph& g, TensorPtr x, const trtn_activation& act) {
    auto relu = [&](auto&& configure) {
        auto a = fg::Pointwise_attributes().set_mode(fe::PointwiseMode_t::RELU_FWD).set_compute_data_type(fe::DataType_t::FLOAT);
        configure(a);
        return g.pointwise(x, a);
    };
    switch (act.kind) {
        case TRTN_ACT_NONE: return x;
        case TRTN_ACT_RELU: return relu([](auto&) {});
        case TRTN_ACT_CLIP: return relu([&](auto& a) { a.set_relu_lower_clip(act.alpha).set_relu_upper_clip(act.beta); });
        case TRTN_ACT_LEAKYRELU: return relu([&](auto& a) { a.set_relu_lower_clip(0.f).set_relu_lower_clip_slope(act.alpha); });
        case TRTN_ACT_SIGMOID: return pointwise(g, x, fe::PointwiseMode_t::SIGMOID_FWD);
        case TRTN_ACT_SILU:
            return g.pointwise(x, fg::Pointwise_attributes()
                                      .set_mode(fe::PointwiseMode_t::SWISH_FWD)
                                      .set_compute_data_type(fe::DataType_t::FLOAT)
                                      .set_swish_beta(1.f));
        case TRTN_ACT_TANH: return pointwise(g, x, fe::PointwiseMode_t::TANH_FWD);
        case TRTN_ACT_GELU: return pointwise(g, x, fe::PointwiseMode_t::GELU_FWD);  // erf form, like our kernel
        case TRTN_ACT_GELU_TANH: return pointwise(g, x, fe::PointwiseMode_t::GELU_APPROX_TANH_FWD);
        case TRTN_ACT_HARDSIGMOID: return hard_sigmoid(g, x, act.alpha, act.beta);
        case TRTN_ACT_HARDSWISH: return pointwise(g, x, hard_sigmoid(g, x, 1.f / 6.f, 0.5f), fe::PointwiseMode_t::MUL);
        default: fail(TRTN_UNSUPPORTED, "cuDNN graph: activation " + std::to_string(act.kind) + " cannot be fused");
    }
}

}  // namespace

int32_t graph_tactic(bool fused, const std::string& config_name) {
    return kTacticGraphBit | (fused ? kTacticGraphFusedBit : 0) | static_cast<int32_t>(fnv1a(config_name) & 0x1FFFFFFFu);
}

bool conv_graph_enabled() { return !env_is("TRTN_CONV_GRAPH", "0"); }

bool conv_graph_forced() { return env_is("TRTN_CONV_GRAPH", "force"); }

bool ConvGraphShape::operator==(const ConvGraphShape& o) const {
    return n == o.n && c == o.c && h == o.h && w == o.w && k == o.k && r == o.r && s == o.s && p == o.p && q == o.q &&
           dtype == o.dtype && has_bias == o.has_bias && has_residual == o.has_residual && fused == o.fused;
}

bool ConvGraph::can_fuse(const trtn_activation& act) {
    switch (act.kind) {
        case TRTN_ACT_NONE: case TRTN_ACT_RELU: case TRTN_ACT_CLIP: case TRTN_ACT_LEAKYRELU: case TRTN_ACT_SIGMOID:
        case TRTN_ACT_SILU: case TRTN_ACT_TANH: case TRTN_ACT_GELU: case TRTN_ACT_GELU_TANH: case TRTN_ACT_HARDSIGMOID:
        case TRTN_ACT_HARDSWISH:
            return true;
        default: return false;
    }
}

struct ConvGraph::Impl {
    ConvGraphShape shape{};
    fg::Graph graph;
    std::vector<int64_t> plan_index;    // candidate -> the frontend's plan index
    std::vector<std::string> names;
    std::vector<int32_t> tactics;
    std::vector<int8_t> built;          // 0 not tried, 1 built, -1 cuDNN refused
    std::vector<bool> runtime_compiled;
    std::unordered_map<int64_t, void*> pack;
    std::string last_build_error;
};

ConvGraph::ConvGraph(cudnnHandle_t handle, const trtn_conv_params& p, const ConvGraphShape& s, size_t ws_limit)
    : impl_(std::make_unique<Impl>()) {
    auto& im = *impl_;
    im.shape = s;
    auto& g = im.graph;
    auto io = s.dtype == TRTN_FLOAT16 ? fe::DataType_t::HALF : s.dtype == TRTN_BFLOAT16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::FLOAT;
    g.set_io_data_type(io).set_intermediate_data_type(fe::DataType_t::FLOAT).set_compute_data_type(fe::DataType_t::FLOAT);
    int64_t cg = s.c / p.groups;  // cuDNN infers the group count from X's channels over W's
    auto X = g.tensor(fg::Tensor_attributes().set_name("X").set_uid(kUidX).set_data_type(io)
                          .set_dim({s.n, s.c, s.h, s.w}).set_stride(nhwc_strides(s.c, s.h, s.w)));
    auto W = g.tensor(fg::Tensor_attributes().set_name("W").set_uid(kUidW).set_data_type(io)
                          .set_dim({s.k, cg, s.r, s.s}).set_stride(nhwc_strides(cg, s.r, s.s)));
    auto conv = fg::Conv_fprop_attributes()
                    .set_name("conv")
                    .set_compute_data_type(fe::DataType_t::FLOAT)
                    .set_padding({p.pad_h, p.pad_w})
                    .set_stride({p.stride_h, p.stride_w})
                    .set_dilation({p.dilation_h, p.dilation_w});
    auto y = g.conv_fprop(X, W, conv);
    if (s.fused) {
        y->set_dim({s.n, s.k, s.p, s.q}).set_stride(nhwc_strides(s.k, s.p, s.q));
        if (s.has_bias) {
            auto B = g.tensor(fg::Tensor_attributes().set_name("B").set_uid(kUidBias).set_data_type(fe::DataType_t::FLOAT)
                                  .set_dim({1, s.k, 1, 1}).set_stride({s.k, 1, s.k, s.k}));
            y = pointwise(g, y, B, fe::PointwiseMode_t::ADD);
        }
        if (s.has_residual) {
            auto R = g.tensor(fg::Tensor_attributes().set_name("R").set_uid(kUidResidual).set_data_type(io)
                                  .set_dim({s.n, s.k, s.p, s.q}).set_stride(nhwc_strides(s.k, s.p, s.q)));
            y = pointwise(g, y, R, fe::PointwiseMode_t::ADD);
        }
        y = activation(g, y, p.act);
    }
    y->set_output(true).set_name("Y").set_uid(kUidY).set_data_type(io)
        .set_dim({s.n, s.k, s.p, s.q}).set_stride(nhwc_strides(s.k, s.p, s.q));

    check(g.validate(), "validate");
    check(g.build_operation_graph(handle), "build_operation_graph");
    check(g.create_execution_plans({fe::HeurMode_t::A, fe::HeurMode_t::B, fe::HeurMode_t::FALLBACK}), "heuristics");
    // Numerics the engine promises: fp32 is plain fp32 (no TF32 tensor cores, no conversion to fp16); fp16
    // accumulates in fp32; every engine is deterministic.
    std::vector<fe::NumericalNote_t> refused = {fe::NumericalNote_t::NONDETERMINISTIC,
                                                fe::NumericalNote_t::REDUCED_PRECISION_REDUCTION,
                                                fe::NumericalNote_t::DOWN_CONVERT_INPUTS};
    if (s.dtype == TRTN_FLOAT32) refused.push_back(fe::NumericalNote_t::TENSOR_CORE);
    g.deselect_numeric_notes(refused);
    g.deselect_workspace_greater_than(static_cast<int64_t>(std::min<uint64_t>(ws_limit, INT64_MAX)));

    check(g.check_support(), "no engine configuration supports this convolution");

    // Deselected configurations stay in the list; building one fails (build() then returns false).
    std::unordered_set<std::string> seen;
    int64_t count = g.get_execution_plan_count();
    for (int64_t i = 0; i < count; ++i) {
        std::string name;
        if (g.get_plan_name_at_index(i, name).is_bad() || !seen.insert(name).second) continue;
        std::vector<fe::BehaviorNote_t> notes;
        bool compiled = g.get_behavior_notes_for_plan_at_index(i, notes).is_good() &&
                        std::find(notes.begin(), notes.end(), fe::BehaviorNote_t::RUNTIME_COMPILATION) != notes.end();
        im.runtime_compiled.push_back(compiled);
        im.plan_index.push_back(i);
        im.tactics.push_back(graph_tactic(s.fused, name));
        im.names.push_back(std::move(name));
    }
    im.built.assign(im.plan_index.size(), 0);
    require(!im.plan_index.empty(), TRTN_UNSUPPORTED, "cuDNN graph: no engine configuration supports this convolution");
}

ConvGraph::~ConvGraph() = default;

const ConvGraphShape& ConvGraph::shape() const { return impl_->shape; }
size_t ConvGraph::candidate_count() const { return impl_->plan_index.size(); }
const std::string& ConvGraph::candidate_name(size_t i) const { return impl_->names.at(i); }
int32_t ConvGraph::candidate_tactic(size_t i) const { return impl_->tactics.at(i); }

bool ConvGraph::runtime_compiled(size_t i) const { return impl_->runtime_compiled.at(i); }

int64_t ConvGraph::find(int32_t tactic) const {
    for (size_t i = 0; i < impl_->tactics.size(); ++i)
        if (impl_->tactics[i] == tactic) return static_cast<int64_t>(i);
    return -1;
}

bool ConvGraph::build(size_t i) {
    auto& im = *impl_;
    if (im.built.at(i) == 0) {
        auto e = im.graph.build_plan_at_index(im.plan_index[i]);
        im.built[i] = e.is_good() ? 1 : -1;
        if (e.is_bad()) im.last_build_error = im.names[i] + ": " + e.get_message();
    }
    return im.built[i] == 1;
}

const std::string& ConvGraph::last_build_error() const { return impl_->last_build_error; }

size_t ConvGraph::workspace(size_t i) const {
    int64_t ws = 0;
    check(impl_->graph.get_workspace_size_plan_at_index(impl_->plan_index.at(i), ws), "workspace size");
    return static_cast<size_t>(ws);
}

void ConvGraph::run(cudnnHandle_t handle, size_t i, const void* x, const void* w, const float* bias, const void* residual,
                    void* y, void* workspace) {
    auto& im = *impl_;
    require(i < im.built.size() && im.built[i] == 1, TRTN_INTERNAL, "cuDNN graph: plan " + std::to_string(i) + " is not built");
    im.pack.clear();
    im.pack[kUidX] = const_cast<void*>(x);
    im.pack[kUidW] = const_cast<void*>(w);
    if (im.shape.fused && im.shape.has_bias) im.pack[kUidBias] = const_cast<float*>(bias);
    if (im.shape.fused && im.shape.has_residual) im.pack[kUidResidual] = const_cast<void*>(residual);
    im.pack[kUidY] = y;
    auto e = im.graph.execute_plan_at_index(handle, im.pack, workspace, im.plan_index[i]);
    if (e.is_bad()) fail(TRTN_CUDA_ERROR, "cuDNN graph: execute " + im.names[i] + ": " + e.get_message());
}

}  // namespace trtn
