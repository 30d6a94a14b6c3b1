// The layers implemented by the shim's own kernels: everything except convolutions and matrix products.
#include "engine.h"
#include "kernels/kernels.h"

#include <algorithm>

namespace trtn {

std::string TensorView::shape_string() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) { if (i) s += ","; s += std::to_string(dims[i]); }
    return s + "] " + dtype_name(dtype);
}

namespace {

using kernels::Strided;

void contiguous_strides(const TensorView& t, int64_t* strides) {
    int64_t s = 1;
    for (int k = t.rank - 1; k >= 0; --k) { strides[k] = s; s *= t.dims[k]; }
}

void same_float_type(const std::vector<const TensorView*>& ts, const char* what) {
    for (auto* t : ts) {
        if (!t) continue;
        require(t->dtype == TRTN_FLOAT32 || t->dtype == TRTN_FLOAT16 || t->dtype == TRTN_BFLOAT16, TRTN_UNSUPPORTED,
                std::string(what) + ": tensor type " + dtype_name(t->dtype) + " is not float32/float16/bfloat16");
        require(t->dtype == ts[0]->dtype, TRTN_INVALID_ARGUMENT, std::string(what) + ": mixed element types");
    }
}

class UnaryLayer : public Layer {
public:
    using Layer::Layer;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        same_float_type({&x, &y}, "unary");
        require(x.count() == y.count(), TRTN_SHAPE_MISMATCH, "unary: input " + x.shape_string() + " and output " + y.shape_string() + " differ in size");
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_unary_params>();
        kernels::unary(in(t, 0).dtype, in(t, 0).ptr, out(t, 0).ptr, out(t, 0).count(), p.op, p.alpha, p.beta, env.stream);
    }
};

// Right-aligned broadcast strides of x against output dims.
void broadcast_strides(const TensorView& x, const TensorView& y, int64_t* strides, const char* what) {
    require(x.rank <= y.rank, TRTN_SHAPE_MISMATCH, std::string(what) + ": operand " + x.shape_string() + " has a higher rank than the output " + y.shape_string());
    int64_t s = 1;
    for (int k = y.rank - 1; k >= 0; --k) {
        int xk = k - (y.rank - x.rank);
        if (xk < 0) { strides[k] = 0; continue; }
        int64_t d = x.dims[xk];
        require(d == y.dims[k] || d == 1, TRTN_SHAPE_MISMATCH, std::string(what) + ": operand " + x.shape_string() + " does not broadcast to " + y.shape_string());
        strides[k] = d == 1 ? 0 : s;
        s *= d;
    }
}

class BinaryLayer : public Layer {
public:
    using Layer::Layer;
    int64_t sa[TRTN_MAX_DIMS], sb[TRTN_MAX_DIMS];
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& a = in(t, 0); auto& b = in(t, 1); auto& y = out(t, 0);
        same_float_type({&a, &b, &y}, "binary");
        broadcast_strides(a, y, sa, "binary");
        broadcast_strides(b, y, sb, "binary");
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_binary_params>();
        auto& y = out(t, 0);
        kernels::binary(y.dtype, in(t, 0).ptr, in(t, 1).ptr, y.ptr, y.rank, y.dims, sa, sb, p.op, p.act, env.stream);
    }
};

class PoolLayer : public Layer {
public:
    using Layer::Layer;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        same_float_type({&x, &y}, "pool");
        require(x.rank == 4 && y.rank == 4, TRTN_UNSUPPORTED, "pool: only 2-D pooling over NHWC tensors is supported, got " + x.shape_string());
        require(x.dims[0] == y.dims[0] && x.dims[3] == y.dims[3], TRTN_SHAPE_MISMATCH, "pool: input " + x.shape_string() + " and output " + y.shape_string() + " differ in N or C");
        auto& p = params<trtn_pool_params>();
        auto expect = [](int64_t in, int k, int s, int d, int pb, int pe, int64_t out) {
            int64_t eff = (int64_t)(k - 1) * d + 1;
            int64_t floor_ = (in + pb + pe - eff) / s + 1;
            return out == floor_ || out == floor_ + 1;  // ceil_mode allows one more
        };
        require(expect(x.dims[1], p.kernel_h, p.stride_h, p.dilation_h, p.pad_top, p.pad_bottom, y.dims[1]) &&
                    expect(x.dims[2], p.kernel_w, p.stride_w, p.dilation_w, p.pad_left, p.pad_right, y.dims[2]),
                TRTN_SHAPE_MISMATCH, "pool: output " + y.shape_string() + " does not match input " + x.shape_string() + " with the pooling window");
        return kernels::pool_nhwc_workspace(x.dtype, x.dims[0], x.dims[1], x.dims[2], x.dims[3], y.dims[1], y.dims[2], p);
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        kernels::pool_nhwc(x.dtype, x.ptr, y.ptr, x.dims[0], x.dims[1], x.dims[2], x.dims[3], y.dims[1], y.dims[2],
                           params<trtn_pool_params>(), env.workspace, env.workspace_bytes, env.stream);
    }
};

class SoftmaxLayer : public Layer {
public:
    using Layer::Layer;
    int64_t outer = 1, len = 1, inner = 1;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        same_float_type({&x, &y}, "softmax");
        int axis = params<trtn_softmax_params>().axis;
        require(axis >= 0 && axis < x.rank, TRTN_INVALID_ARGUMENT, "softmax: axis " + std::to_string(axis) + " out of range for " + x.shape_string());
        require(x.count() == y.count(), TRTN_SHAPE_MISMATCH, "softmax: output size differs from input");
        outer = 1; inner = 1;
        for (int k = 0; k < axis; ++k) outer *= x.dims[k];
        len = x.dims[axis];
        for (int k = axis + 1; k < x.rank; ++k) inner *= x.dims[k];
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        kernels::softmax(in(t, 0).dtype, in(t, 0).ptr, out(t, 0).ptr, outer, len, inner, params<trtn_softmax_params>().log != 0, env.stream);
    }
};

class LayerNormLayer : public Layer {
public:
    using Layer::Layer;
    int64_t rows = 1, cols = 1;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& scale = in(t, 1); auto& y = out(t, 0);
        same_float_type({&x, &y}, "layernorm");
        auto& p = params<trtn_layernorm_params>();
        require(p.axis >= 0 && p.axis < x.rank, TRTN_INVALID_ARGUMENT, "layernorm: axis out of range for " + x.shape_string());
        rows = 1; cols = 1;
        for (int k = 0; k < p.axis; ++k) rows *= x.dims[k];
        for (int k = p.axis; k < x.rank; ++k) cols *= x.dims[k];
        require(scale.dtype == TRTN_FLOAT32 && scale.count() == cols, TRTN_SHAPE_MISMATCH, "layernorm: scale must be float32 with " + std::to_string(cols) + " elements, got " + scale.shape_string());
        if (auto* b = p.has_bias ? opt_in(t, 2) : nullptr)
            require(b->dtype == TRTN_FLOAT32 && b->count() == cols, TRTN_SHAPE_MISMATCH, "layernorm: bias must be float32 with " + std::to_string(cols) + " elements");
        require(x.count() == y.count(), TRTN_SHAPE_MISMATCH, "layernorm: output size differs from input");
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_layernorm_params>();
        auto* b = p.has_bias ? opt_in(t, 2) : nullptr;
        kernels::layernorm(in(t, 0).dtype, in(t, 0).ptr, static_cast<const float*>(in(t, 1).ptr),
                           b ? static_cast<const float*>(b->ptr) : nullptr, out(t, 0).ptr, rows, cols, p.epsilon, env.stream);
    }
};

class ReduceLayer : public Layer {
public:
    using Layer::Layer;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        same_float_type({&x, &y}, "reduce");
        int32_t mask = params<trtn_reduce_params>().axes_mask;
        int64_t expect = 1;
        for (int k = 0; k < x.rank; ++k) if (!(mask & (1 << k))) expect *= x.dims[k];
        require(y.count() == expect, TRTN_SHAPE_MISMATCH, "reduce: output " + y.shape_string() + " does not match reducing " + x.shape_string());
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& p = params<trtn_reduce_params>();
        kernels::reduce(in(t, 0).dtype, in(t, 0).ptr, out(t, 0).ptr, in(t, 0).rank, in(t, 0).dims, p.axes_mask, p.op, env.stream);
    }
};

class CopyLayer : public Layer {
public:
    using Layer::Layer;
    Strided d;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        auto& p = params<trtn_copy_params>();
        require(x.rank <= y.rank, TRTN_SHAPE_MISMATCH, "copy: input " + x.shape_string() + " has a higher rank than output " + y.shape_string());
        int64_t xdims[TRTN_MAX_DIMS], xs[TRTN_MAX_DIMS];
        int pad = y.rank - x.rank;
        for (int k = 0; k < y.rank; ++k) xdims[k] = k < pad ? 1 : x.dims[k - pad];
        int64_t s = 1;
        for (int k = y.rank - 1; k >= 0; --k) { xs[k] = s; s *= xdims[k]; }
        d = Strided{};
        d.rank = y.rank;
        int64_t os = 1;
        for (int k = y.rank - 1; k >= 0; --k) { d.out_strides[k] = os; os *= y.dims[k]; }
        for (int k = 0; k < y.rank; ++k) {
            int src = p.perm[k];
            require(src >= 0 && src < y.rank, TRTN_INVALID_ARGUMENT, "copy: permutation entry out of range");
            int64_t last = p.start[k] + (y.dims[k] - 1) * p.step[k];
            require(y.dims[k] == 0 || (p.start[k] >= 0 && p.start[k] < xdims[src] && last >= 0 && last < xdims[src]), TRTN_SHAPE_MISMATCH,
                    "copy: output " + y.shape_string() + " reads outside input " + x.shape_string() + " on axis " + std::to_string(k));
            d.dims[k] = y.dims[k];
            d.in_strides[k] = p.step[k] * xs[src];
            d.in_offset += p.start[k] * xs[src];
        }
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        kernels::strided_copy(in(t, 0).dtype, out(t, 0).dtype, in(t, 0).ptr, out(t, 0).ptr, d, env.stream);
    }
};

class ConcatLayer : public Layer {
public:
    using Layer::Layer;
    std::vector<Strided> parts;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& y = out(t, 0);
        int axis = params<trtn_concat_params>().axis;
        require(axis >= 0 && axis < y.rank, TRTN_INVALID_ARGUMENT, "concat: axis out of range for " + y.shape_string());
        int64_t ys[TRTN_MAX_DIMS];
        contiguous_strides(y, ys);
        parts.clear();
        int64_t offset = 0;
        for (size_t i = 0; i < desc.inputs.size(); ++i) {
            auto& x = in(t, i);
            require(x.rank == y.rank && x.dtype == y.dtype, TRTN_SHAPE_MISMATCH, "concat: input " + x.shape_string() + " does not match output " + y.shape_string());
            Strided d{};
            d.rank = x.rank;
            int64_t s = 1;
            for (int k = x.rank - 1; k >= 0; --k) {
                require(k == axis || x.dims[k] == y.dims[k], TRTN_SHAPE_MISMATCH, "concat: input " + x.shape_string() + " differs from output " + y.shape_string() + " off the axis");
                d.dims[k] = x.dims[k]; d.in_strides[k] = s; s *= x.dims[k]; d.out_strides[k] = ys[k];
            }
            d.out_offset = offset * ys[axis];
            offset += x.dims[axis];
            parts.push_back(d);
        }
        require(offset == y.dims[axis], TRTN_SHAPE_MISMATCH, "concat: inputs add up to " + std::to_string(offset) + " along the axis, output has " + std::to_string(y.dims[axis]));
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        for (size_t i = 0; i < parts.size(); ++i)
            kernels::strided_copy(in(t, i).dtype, out(t, 0).dtype, in(t, i).ptr, out(t, 0).ptr, parts[i], env.stream);
    }
};

class GatherLayer : public Layer {
public:
    using Layer::Layer;
    int64_t outer = 1, len = 1, nidx = 1, inner = 1;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& idx = in(t, 1); auto& y = out(t, 0);
        same_float_type({&x, &y}, "gather");
        require(idx.dtype == TRTN_INT32, TRTN_UNSUPPORTED, "gather: indices must be int32");
        int axis = params<trtn_gather_params>().axis;
        require(axis >= 0 && axis < x.rank, TRTN_INVALID_ARGUMENT, "gather: axis out of range");
        outer = 1; inner = 1;
        for (int k = 0; k < axis; ++k) outer *= x.dims[k];
        for (int k = axis + 1; k < x.rank; ++k) inner *= x.dims[k];
        len = x.dims[axis];
        nidx = idx.count();
        require(y.count() == outer * nidx * inner, TRTN_SHAPE_MISMATCH, "gather: output " + y.shape_string() + " does not match");
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        kernels::gather(in(t, 0).dtype, in(t, 0).ptr, static_cast<const int32_t*>(in(t, 1).ptr), out(t, 0).ptr, outer, len, nidx, inner, env.stream);
    }
};

class ResizeLayer : public Layer {
public:
    using Layer::Layer;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        same_float_type({&x, &y}, "resize");
        require(x.rank == y.rank, TRTN_SHAPE_MISMATCH, "resize: rank differs");
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        kernels::resize(x.dtype, x.ptr, y.ptr, x.rank, x.dims, y.dims, params<trtn_resize_params>(), env.stream);
    }
};

class PadLayer : public Layer {
public:
    using Layer::Layer;
    size_t setup(std::vector<TensorView>& t, RunEnv&) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        same_float_type({&x, &y}, "pad");
        require(x.rank == y.rank, TRTN_SHAPE_MISMATCH, "pad: rank differs");
        auto& p = params<trtn_pad_params>();
        for (int k = 0; k < x.rank; ++k) require(p.begin[k] >= 0 && p.begin[k] <= y.dims[k] - x.dims[k] || p.mode == 0, TRTN_UNSUPPORTED, "pad: negative pads are not supported");
        return 0;
    }
    void run(std::vector<TensorView>& t, RunEnv& env) override {
        auto& x = in(t, 0); auto& y = out(t, 0);
        auto& p = params<trtn_pad_params>();
        kernels::pad(x.dtype, x.ptr, y.ptr, x.rank, x.dims, y.dims, p.begin, p.mode, p.value, env.stream);
    }
};

}  // namespace

std::unique_ptr<Layer> make_basic_layer(const LayerDesc& d) {
    switch (d.kind) {
        case TRTN_LAYER_BINARY: return std::make_unique<BinaryLayer>(d);
        case TRTN_LAYER_UNARY: return std::make_unique<UnaryLayer>(d);
        case TRTN_LAYER_POOL: return std::make_unique<PoolLayer>(d);
        case TRTN_LAYER_SOFTMAX: return std::make_unique<SoftmaxLayer>(d);
        case TRTN_LAYER_LAYERNORM: return std::make_unique<LayerNormLayer>(d);
        case TRTN_LAYER_REDUCE: return std::make_unique<ReduceLayer>(d);
        case TRTN_LAYER_COPY: return std::make_unique<CopyLayer>(d);
        case TRTN_LAYER_CONCAT: return std::make_unique<ConcatLayer>(d);
        case TRTN_LAYER_RESIZE: return std::make_unique<ResizeLayer>(d);
        case TRTN_LAYER_GATHER: return std::make_unique<GatherLayer>(d);
        case TRTN_LAYER_PAD: return std::make_unique<PadLayer>(d);
        default: fail(TRTN_UNSUPPORTED, "unknown layer kind " + std::to_string(d.kind));
    }
}

}  // namespace trtn
