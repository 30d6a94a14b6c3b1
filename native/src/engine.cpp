// Engine (layer list) and execution context exports.
#include "engine.h"
#include "timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <tuple>
#include <unordered_map>

using namespace trtn;

// The layers set up for one set of tensor dims, and the CUDA graph of their enqueue. A context keeps a few, so a
// server alternating between batch sizes neither re-runs every layer's setup nor re-captures on each switch.
struct ShapeSlot {
    std::vector<int64_t> dims;    // every tensor's dims, tensor 0 first
    std::vector<LayerDesc> descs; // the engine's layers with the tactics for these dims (the layers refer to them)
    std::vector<std::unique_ptr<Layer>> layers;
    size_t workspace_needed = 0;
    // CUDA graph of the whole enqueue, valid while addresses, workspace and stream stay the same.
    cudaGraphExec_t graph = nullptr;
    cudaStream_t graph_stream = nullptr;
    int plain_runs = 0;
    uint64_t last_used = 0;

    void drop_graph() {
        if (graph) cudaGraphExecDestroy(graph);
        graph = nullptr;
        graph_stream = nullptr;
        plain_runs = 0;
    }
    ~ShapeSlot() { drop_graph(); }
};

constexpr size_t kMaxShapeSlots = 16;

struct trtn_context {
    trtn_engine* engine = nullptr;
    std::vector<TensorView> tensors;
    std::vector<std::unique_ptr<ShapeSlot>> slots;
    ShapeSlot* current = nullptr;  // the slot of the last set_shapes
    uint64_t use_clock = 0;
    RunEnv env;
    bool addresses_set = false;
    bool capture_enabled = true;
    bool capture_failed = false;   // a capture failed once: plain launches from then on
    int64_t enqueue_count = 0;
};

namespace {

void check_engine(const trtn_engine* e) { require(e != nullptr, TRTN_INVALID_ARGUMENT, "engine is null"); }
void check_context(const trtn_context* c) { require(c != nullptr, TRTN_INVALID_ARGUMENT, "context is null"); }

// Graphs bake in addresses, workspace and stream: any change of those drops every slot's graph.
void drop_graphs(trtn_context* c) {
    for (auto& slot : c->slots) slot->drop_graph();
}

// The tactic timed at the output size nearest in ratio to `elements` (the first on a tie); d.tactic when none were.
// TRTN_SHAPE_TACTICS=0 runs the opt shapes' tactic at every shape (the A/B of timing at several shapes).
int32_t tactic_for(const LayerDesc& d, int64_t elements) {
    static const bool by_shape = !env_is("TRTN_SHAPE_TACTICS", "0");
    if (d.tuned.empty() || !by_shape) return d.tactic;
    auto distance = [&](int64_t tuned) { return std::fabs(std::log(std::max<int64_t>(tuned, 1)) - std::log(std::max<int64_t>(elements, 1))); };
    const LayerDesc::TunedTactic* best = &d.tuned[0];
    for (auto& t : d.tuned)
        if (distance(t.output_elements) < distance(best->output_elements)) best = &t;
    return best->tactic;
}

// The engine's layers with each one's tactic for the tensors' current dims.
std::vector<LayerDesc> descs_for(const trtn_engine* e, const std::vector<TensorView>& tensors) {
    std::vector<LayerDesc> descs = e->layers;
    for (auto& d : descs) d.tactic = tactic_for(d, tensors[d.outputs[0]].count());
    return descs;
}

std::vector<std::unique_ptr<Layer>> make_layers(const std::vector<LayerDesc>& descs) {
    std::vector<std::unique_ptr<Layer>> layers;
    for (auto& d : descs) {
        if (d.kind == TRTN_LAYER_CONV) layers.push_back(make_conv_layer(d));
        else if (d.kind == TRTN_LAYER_GEMM) layers.push_back(make_gemm_layer(d));
        else if (d.kind == TRTN_LAYER_ATTENTION) layers.push_back(make_attention_layer(d));
        else layers.push_back(make_basic_layer(d));
    }
    return layers;
}

// Runs body for one layer; an error it throws gets the layer's name appended (the one place that adds it).
template <class F>
auto in_layer(const Layer& l, F&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const Error& e) {
        throw Error(e.code(), std::string(e.what()) + " (layer '" + l.desc.name + "')");
    }
}

// Sets up every layer of slot for the context's current tensor dims; returns the scratch bytes they need.
size_t setup_layers(trtn_context* c, ShapeSlot& slot) {
    size_t ws = 0;
    for (auto& l : slot.layers) ws = std::max(ws, in_layer(*l, [&] { return l->setup(c->tensors, c->env); }));
    return ws;
}

// Runs every layer; errors name the layer.
void run_layers(trtn_context* c) {
    for (auto& l : c->current->layers) in_layer(*l, [&] { l->run(c->tensors, c->env); });
}

// CUDA events created for one call and destroyed with it, even when a layer throws.
struct EventList {
    std::vector<cudaEvent_t> events;
    explicit EventList(size_t n) {
        events.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            cudaEvent_t e = nullptr;
            TRTN_CUDA_CHECK(cudaEventCreate(&e));
            events.push_back(e);
        }
    }
    ~EventList() { for (auto e : events) cudaEventDestroy(e); }
    EventList(const EventList&) = delete;
    EventList& operator=(const EventList&) = delete;
};

// What makes two layers' timings interchangeable: kind, parameters, and every tensor's type and current dims.
std::string tuning_key(const trtn_context* c, const LayerDesc& d) {
    std::string key(reinterpret_cast<const char*>(d.params.data()), d.params.size());
    key += "|" + std::to_string(d.kind);
    auto add = [&](int32_t id) {
        if (id < 0) { key += "|-"; return; }
        const auto& t = c->tensors[id];
        key += "|" + std::to_string(t.dtype) + ":" + t.shape_string();
    };
    for (int32_t id : d.inputs) add(id);
    for (int32_t id : d.outputs) add(id);
    return key;
}

void set_device(const trtn_engine* e) { TRTN_CUDA_CHECK(cudaSetDevice(e->device)); }

}  // namespace

extern "C" {

TRTN_API trtn_status* trtn_device_get_info(int32_t device, trtn_device_info* out) {
    return guard("trtn_device_get_info", [&] {
        require(out != nullptr, TRTN_INVALID_ARGUMENT, "out is null");
        std::memset(out, 0, sizeof(*out));
        int count = 0;
        cudaError_t e = cudaGetDeviceCount(&count);
        if (e != cudaSuccess || count == 0)
            fail(TRTN_NO_DEVICE, std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0"));
        require(device >= 0 && device < count, TRTN_INVALID_ARGUMENT, "device " + std::to_string(device) + " out of range (" + std::to_string(count) + " devices)");
        cudaDeviceProp p{};
        TRTN_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
        std::strncpy(out->name, p.name, sizeof(out->name) - 1);
        out->cc_major = p.major;
        out->cc_minor = p.minor;
        out->multiprocessors = p.multiProcessorCount;
        out->total_memory = p.totalGlobalMem;
        TRTN_CUDA_CHECK(cudaRuntimeGetVersion(&out->cuda_runtime_version));
        TRTN_CUDA_CHECK(cudaDriverGetVersion(&out->cuda_driver_version));
        out->cudnn_version = cudnn_version();
        out->cublaslt_version = cublaslt_version();
    });
}

TRTN_API trtn_status* trtn_engine_create(int32_t device, trtn_engine** out) {
    return guard("trtn_engine_create", [&] {
        require(out != nullptr, TRTN_INVALID_ARGUMENT, "out is null");
        *out = nullptr;
        int count = 0;
        cudaError_t e = cudaGetDeviceCount(&count);
        if (e != cudaSuccess || count == 0)
            fail(TRTN_NO_DEVICE, std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0"));
        require(device >= 0 && device < count, TRTN_INVALID_ARGUMENT, "device " + std::to_string(device) + " out of range");
        auto* eng = new trtn_engine();
        eng->device = device;
        *out = eng;
    });
}

TRTN_API void trtn_engine_destroy(trtn_engine* engine) { delete engine; }

TRTN_API trtn_status* trtn_engine_add_tensor(trtn_engine* engine, int32_t dtype, int32_t rank, int32_t* out_id) {
    return guard("trtn_engine_add_tensor", [&] {
        check_engine(engine);
        require(!engine->built, TRTN_INVALID_ARGUMENT, "engine is already built");
        dtype_size(dtype);
        require(rank >= 0 && rank <= TRTN_MAX_DIMS, TRTN_UNSUPPORTED, "rank " + std::to_string(rank) + " exceeds " + std::to_string(TRTN_MAX_DIMS));
        engine->tensor_dtype.push_back(dtype);
        engine->tensor_rank.push_back(rank);
        if (out_id) *out_id = static_cast<int32_t>(engine->tensor_dtype.size() - 1);
    });
}

TRTN_API trtn_status* trtn_engine_add_layer(trtn_engine* engine, const char* name, int32_t kind, const void* params,
                                            uint64_t params_size, const int32_t* inputs, int32_t input_count,
                                            const int32_t* outputs, int32_t output_count) {
    std::string lname = name ? name : "";
    return guard("trtn_engine_add_layer", [&] {
        check_engine(engine);
        require(!engine->built, TRTN_INVALID_ARGUMENT, "engine is already built");
        uint64_t want = trtn_layer_params_size(kind);
        require(want != 0, TRTN_UNSUPPORTED, "layer '" + lname + "': unknown layer kind " + std::to_string(kind));
        require(params != nullptr && params_size == want, TRTN_INVALID_ARGUMENT,
                "layer '" + lname + "': parameter block of " + std::to_string(params_size) + " bytes, expected " + std::to_string(want));
        require(input_count >= 0 && output_count >= 1 && (input_count == 0 || inputs) && outputs, TRTN_INVALID_ARGUMENT, "layer '" + lname + "': bad input/output lists");
        LayerDesc d;
        d.name = lname;
        d.kind = kind;
        d.params.assign(static_cast<const uint8_t*>(params), static_cast<const uint8_t*>(params) + params_size);
        int32_t n = static_cast<int32_t>(engine->tensor_dtype.size());
        for (int i = 0; i < input_count; ++i) {
            require(inputs[i] >= -1 && inputs[i] < n, TRTN_INVALID_ARGUMENT, "layer '" + lname + "': input tensor id " + std::to_string(inputs[i]) + " out of range");
            d.inputs.push_back(inputs[i]);
        }
        for (int i = 0; i < output_count; ++i) {
            require(outputs[i] >= 0 && outputs[i] < n, TRTN_INVALID_ARGUMENT, "layer '" + lname + "': output tensor id " + std::to_string(outputs[i]) + " out of range");
            d.outputs.push_back(outputs[i]);
        }
        if (kind == TRTN_LAYER_CONV) d.tactic = reinterpret_cast<const trtn_conv_params*>(params)->tactic;
        if (kind == TRTN_LAYER_GEMM) d.tactic = reinterpret_cast<const trtn_gemm_params*>(params)->tactic;
        if (kind == TRTN_LAYER_ATTENTION) d.tactic = reinterpret_cast<const trtn_attention_params*>(params)->tactic;
        // Must match MinInputs in src/TrtNative/Compiler/LayerKinds.cs (LayerKindsTests reads this expression).
        int min_inputs = kind == TRTN_LAYER_ATTENTION ? 3
                         : kind == TRTN_LAYER_BINARY || kind == TRTN_LAYER_GEMM || kind == TRTN_LAYER_GATHER || kind == TRTN_LAYER_CONV || kind == TRTN_LAYER_LAYERNORM ? 2
                         : 1;
        require(input_count >= min_inputs, TRTN_INVALID_ARGUMENT, "layer '" + lname + "': needs at least " + std::to_string(min_inputs) + " inputs");
        for (int i = 0; i < min_inputs; ++i) require(d.inputs[i] >= 0, TRTN_INVALID_ARGUMENT, "layer '" + lname + "': required input " + std::to_string(i) + " is absent");
        engine->layers.push_back(std::move(d));
    });
}

TRTN_API trtn_status* trtn_engine_set_layer_tactics(trtn_engine* engine, int32_t layer, const int64_t* output_elements,
                                                    const int32_t* tactics, int32_t count) {
    return guard("trtn_engine_set_layer_tactics", [&] {
        check_engine(engine);
        require(!engine->built, TRTN_INVALID_ARGUMENT, "engine is already built");
        require(layer >= 0 && layer < static_cast<int32_t>(engine->layers.size()), TRTN_INVALID_ARGUMENT,
                "layer " + std::to_string(layer) + " out of range (" + std::to_string(engine->layers.size()) + " layers)");
        require(count >= 1 && output_elements && tactics, TRTN_INVALID_ARGUMENT, "layer '" + engine->layers[layer].name + "': no tactics given");
        std::vector<LayerDesc::TunedTactic> tuned;
        for (int32_t i = 0; i < count; ++i) {
            require(output_elements[i] >= 0, TRTN_INVALID_ARGUMENT, "layer '" + engine->layers[layer].name + "': negative output size");
            tuned.push_back({output_elements[i], tactics[i]});
        }
        engine->layers[layer].tuned = std::move(tuned);
    });
}

TRTN_API trtn_status* trtn_engine_build(trtn_engine* engine, const trtn_build_options* options) {
    return guard("trtn_engine_build", [&] {
        check_engine(engine);
        require(options != nullptr, TRTN_INVALID_ARGUMENT, "options is null");
        require(!engine->built, TRTN_INVALID_ARGUMENT, "engine is already built");
        require(!engine->layers.empty(), TRTN_INVALID_ARGUMENT, "engine has no layers");
        require(options->optimization_level >= 0 && options->optimization_level <= 5, TRTN_INVALID_ARGUMENT,
                "options->optimization_level must be 0..5, got " + std::to_string(options->optimization_level));
        engine->options = *options;
        // Every layer but a copy (a conversion) computes in the engine's precision or, in an fp16 engine, in fp32
        // (mixed precision: the compiler keeps some layers in fp32). Each layer checks its inputs' types itself.
        require(!options->fp16 || options->reduced_type == TRTN_FLOAT16 || options->reduced_type == TRTN_BFLOAT16, TRTN_INVALID_ARGUMENT,
                std::string("options->reduced_type must be float16 or bfloat16, got ") + dtype_name(options->reduced_type));
        int32_t act_type = options->fp16 ? options->reduced_type : TRTN_FLOAT32;
        for (auto& l : engine->layers) {
            if (l.kind == TRTN_LAYER_COPY) continue;
            for (size_t i = 0; i < l.outputs.size(); ++i) {
                int32_t dt = engine->tensor_dtype[l.outputs[i]];
                require(dt == act_type || dt == TRTN_FLOAT32, TRTN_INVALID_ARGUMENT, "layer '" + l.name + "': output " + std::to_string(i) + " is " + dtype_name(dt) + " but the engine computes in " + dtype_name(act_type) + " (or fp32)");
            }
        }
        engine->built = true;
    });
}

TRTN_API int32_t trtn_engine_layer_count(const trtn_engine* engine) { return engine ? static_cast<int32_t>(engine->layers.size()) : 0; }

TRTN_API int32_t trtn_engine_get_tactic(const trtn_engine* engine, int32_t layer) {
    if (!engine || layer < 0 || layer >= static_cast<int32_t>(engine->layers.size())) return -1;
    return engine->layers[layer].tactic;
}

TRTN_API trtn_status* trtn_context_create(trtn_engine* engine, trtn_context** out) {
    return guard("trtn_context_create", [&] {
        check_engine(engine);
        require(out != nullptr, TRTN_INVALID_ARGUMENT, "out is null");
        *out = nullptr;
        require(engine->built, TRTN_INVALID_ARGUMENT, "engine is not built");
        set_device(engine);
        auto c = std::make_unique<trtn_context>();
        c->engine = engine;
        c->tensors.resize(engine->tensor_dtype.size());
        for (size_t i = 0; i < c->tensors.size(); ++i) {
            c->tensors[i].dtype = engine->tensor_dtype[i];
            c->tensors[i].rank = engine->tensor_rank[i];
        }
        c->env.fp16 = engine->options.fp16 != 0;
        c->env.workspace_limit = engine->options.max_workspace_bytes;
        c->env.optimization_level = engine->options.optimization_level;
        c->env.cudnn = create_cudnn();
        c->env.lt = create_cublaslt();
        *out = c.release();
    });
}

TRTN_API void trtn_context_destroy(trtn_context* context) {
    if (!context) return;
    context->current = nullptr;
    context->slots.clear();  // layers and graphs go before the library handles they use
    context->env.graph_cache.clear();
    if (context->env.cudnn) destroy_cudnn(context->env.cudnn);
    if (context->env.lt) destroy_cublaslt(context->env.lt);
    delete context;
}

TRTN_API trtn_status* trtn_context_set_shapes(trtn_context* c, const int64_t* dims, int64_t dims_count, uint64_t* workspace_bytes) {
    return guard("trtn_context_set_shapes", [&] {
        check_context(c);
        int64_t need = 0;
        for (auto& t : c->tensors) need += t.rank;
        require(dims_count == need && (need == 0 || dims), TRTN_INVALID_ARGUMENT,
                "expected " + std::to_string(need) + " dims for " + std::to_string(c->tensors.size()) + " tensors, got " + std::to_string(dims_count));
        int64_t k = 0;
        for (auto& t : c->tensors)
            for (int i = 0; i < t.rank; ++i) {
                require(dims[k] >= 0, TRTN_SHAPE_MISMATCH, "negative dimension");
                t.dims[i] = dims[k++];
            }
        set_device(c->engine);
        c->current = nullptr;
        std::vector<int64_t> key(dims, dims + dims_count);
        ShapeSlot* slot = nullptr;
        for (auto& s : c->slots)
            if (s->dims == key) slot = s.get();
        if (!slot) {
            auto fresh = std::make_unique<ShapeSlot>();
            fresh->dims = std::move(key);
            fresh->descs = descs_for(c->engine, c->tensors);
            fresh->layers = make_layers(fresh->descs);
            fresh->workspace_needed = setup_layers(c, *fresh);
            if (c->slots.size() >= kMaxShapeSlots) {
                auto lru = std::min_element(c->slots.begin(), c->slots.end(),
                                            [](const auto& a, const auto& b) { return a->last_used < b->last_used; });
                c->slots.erase(lru);
            }
            c->slots.push_back(std::move(fresh));
            slot = c->slots.back().get();
        }
        slot->last_used = ++c->use_clock;
        c->current = slot;
        if (workspace_bytes) *workspace_bytes = slot->workspace_needed;
    });
}

TRTN_API trtn_status* trtn_context_set_tensor_addresses(trtn_context* c, void* const* addresses, int32_t count) {
    return guard("trtn_context_set_tensor_addresses", [&] {
        check_context(c);
        require(count == static_cast<int32_t>(c->tensors.size()) && addresses, TRTN_INVALID_ARGUMENT,
                "expected " + std::to_string(c->tensors.size()) + " addresses, got " + std::to_string(count));
        bool changed = false;
        for (int i = 0; i < count; ++i) { changed |= c->tensors[i].ptr != addresses[i]; c->tensors[i].ptr = addresses[i]; }
        if (changed) drop_graphs(c);
        c->addresses_set = true;
    });
}

TRTN_API trtn_status* trtn_context_set_workspace(trtn_context* c, void* workspace, uint64_t bytes) {
    return guard("trtn_context_set_workspace", [&] {
        check_context(c);
        require(workspace != nullptr || bytes == 0, TRTN_INVALID_ARGUMENT, "workspace is null but bytes > 0");
        if (c->env.workspace != workspace || c->env.workspace_bytes != bytes) drop_graphs(c);
        c->env.workspace = workspace;
        c->env.workspace_bytes = bytes;
    });
}

TRTN_API trtn_status* trtn_context_set_graph_capture(trtn_context* c, int32_t enabled) {
    return guard("trtn_context_set_graph_capture", [&] {
        check_context(c);
        c->capture_enabled = enabled != 0;
        drop_graphs(c);
        c->capture_failed = false;
    });
}

TRTN_API trtn_status* trtn_context_enqueue(trtn_context* c, void* stream_ptr) {
    return guard("trtn_context_enqueue", [&] {
        check_context(c);
        require(c->current != nullptr, TRTN_INVALID_ARGUMENT, "shapes are not set");
        require(c->addresses_set, TRTN_INVALID_ARGUMENT, "tensor addresses are not set");
        ShapeSlot& slot = *c->current;
        require(c->env.workspace_bytes >= slot.workspace_needed, TRTN_INVALID_ARGUMENT,
                "workspace of " + std::to_string(c->env.workspace_bytes) + " bytes, the layers need " + std::to_string(slot.workspace_needed));
        for (auto& l : slot.layers) {
            for (int32_t id : l->desc.inputs) require(id < 0 || c->tensors[id].ptr || c->tensors[id].count() == 0, TRTN_INVALID_ARGUMENT, "layer '" + l->desc.name + "': input tensor " + std::to_string(id) + " has no address");
            for (int32_t id : l->desc.outputs) require(c->tensors[id].ptr || c->tensors[id].count() == 0, TRTN_INVALID_ARGUMENT, "layer '" + l->desc.name + "': output tensor " + std::to_string(id) + " has no address");
        }
        set_device(c->engine);
        auto stream = static_cast<cudaStream_t>(stream_ptr);
        c->env.stream = stream;
        c->enqueue_count++;
        if (slot.graph && slot.graph_stream == stream) {
            TRTN_CUDA_CHECK(cudaGraphLaunch(slot.graph, stream));
            return;
        }
        if (slot.graph) slot.drop_graph();
        // Capture after one plain run (which also loads every kernel module), never on the legacy stream.
        bool try_capture = c->capture_enabled && !c->capture_failed && stream != nullptr && slot.plain_runs >= 1;
        if (try_capture) {
            cudaGraph_t g = nullptr;
            bool ok = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
            if (ok) {
                bool ran = true;
                try { run_layers(c); } catch (...) { ran = false; }
                ok = cudaStreamEndCapture(stream, &g) == cudaSuccess && ran && g != nullptr;
                if (ok) ok = cudaGraphInstantiateWithFlags(&slot.graph, g, 0) == cudaSuccess;
                if (g) cudaGraphDestroy(g);
            }
            if (ok) {
                slot.graph_stream = stream;
                TRTN_CUDA_CHECK(cudaGraphLaunch(slot.graph, stream));
                return;
            }
            cudaGetLastError();  // clear the capture failure; fall back to plain launches from now on
            slot.graph = nullptr;
            c->capture_failed = true;
        }
        run_layers(c);
        slot.plain_runs++;
    });
}

TRTN_API trtn_status* trtn_context_profile(trtn_context* c, void* stream_ptr, float* times_ms, int32_t layer_count) {
    return guard("trtn_context_profile", [&] {
        check_context(c);
        require(times_ms != nullptr, TRTN_INVALID_ARGUMENT, "times_ms is null");
        require(c->current && c->addresses_set, TRTN_INVALID_ARGUMENT, "shapes and addresses must be set before profiling");
        auto& layers = c->current->layers;
        require(layer_count == static_cast<int32_t>(layers.size()), TRTN_INVALID_ARGUMENT,
                "layer_count " + std::to_string(layer_count) + " does not match the engine's " + std::to_string(layers.size()) + " layers");
        require(c->env.workspace_bytes >= c->current->workspace_needed, TRTN_INVALID_ARGUMENT, "the workspace is smaller than the layers need");
        set_device(c->engine);
        auto stream = static_cast<cudaStream_t>(stream_ptr);
        c->env.stream = stream;
        // An event after every layer: layer i's time is the gap between the events around it. Plain launches, so
        // each layer's time includes its launch; a graph replay of the whole engine is faster than their sum.
        EventList ev(layers.size() + 1);
        TRTN_CUDA_CHECK(cudaEventRecord(ev.events[0], stream));
        for (size_t i = 0; i < layers.size(); ++i) {
            auto& l = layers[i];
            in_layer(*l, [&] { l->run(c->tensors, c->env); });
            TRTN_CUDA_CHECK(cudaEventRecord(ev.events[i + 1], stream));
        }
        TRTN_CUDA_CHECK(cudaEventSynchronize(ev.events.back()));
        for (size_t i = 0; i < layers.size(); ++i)
            TRTN_CUDA_CHECK(cudaEventElapsedTime(&times_ms[i], ev.events[i], ev.events[i + 1]));
    });
}

TRTN_API trtn_status* trtn_context_autotune(trtn_context* c, void* stream_ptr, int32_t* tactics, float* times_ms, int32_t layer_count) {
    return guard("trtn_context_autotune", [&] {
        check_context(c);
        require(layer_count == static_cast<int32_t>(c->engine->layers.size()) || (!tactics && !times_ms), TRTN_INVALID_ARGUMENT, "layer_count does not match the engine");
        require(c->current && c->addresses_set, TRTN_INVALID_ARGUMENT, "shapes and addresses must be set before autotuning");
        set_device(c->engine);
        auto stream = static_cast<cudaStream_t>(stream_ptr);
        c->env.stream = stream;
        // New tactics make every other slot's set-up stale: keep only the current one.
        for (auto it = c->slots.begin(); it != c->slots.end();)
            it = it->get() == c->current ? std::next(it) : c->slots.erase(it);
        c->current->drop_graph();
        // Realistic intermediate data for the timings; and clocks ramp up under load, so keep the GPU busy for a
        // moment before timing anything.
        auto busy_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
        for (int i = 0; i < 1000; ++i) {
            run_layers(c);
            TRTN_CUDA_CHECK(cudaStreamSynchronize(stream));
            if (std::chrono::steady_clock::now() >= busy_until) break;
        }
        // TRTN_TUNE_COLD_L2=1: twice the L2 cache to overwrite before each timed run (timing.h says why), freed on the way out.
        struct ColdL2 {
            RunEnv& env;
            explicit ColdL2(RunEnv& e) : env(e) {
                if (!cold_l2_timing()) return;
                size_t bytes = 2 * static_cast<size_t>(std::max(device_attribute(cudaDevAttrL2CacheSize), 1 << 20));
                void* buffer = nullptr;
                TRTN_CUDA_CHECK(cudaMalloc(&buffer, bytes));
                env.l2_flush = buffer;
                env.l2_flush_bytes = bytes;
            }
            ~ColdL2() {
                if (env.l2_flush) cudaFree(env.l2_flush);
                env.l2_flush = nullptr;
                env.l2_flush_bytes = 0;
            }
        } cold_l2(c->env);
        ProgrammaticLaunchPause timed_alone;  // common.h says why
        auto& layers = c->current->layers;
        // Layers identical in parameters and shapes (ResNet's repeated blocks) are timed once and share the choice.
        std::unordered_map<std::string, std::pair<int32_t, float>> chosen;
        for (size_t i = 0; i < layers.size(); ++i) {
            auto& l = layers[i];
            float ms = 0;
            int32_t tactic = -1;
            if (l->tunable()) {
                std::string key = tuning_key(c, l->desc);
                auto seen = chosen.find(key);
                if (seen != chosen.end()) {
                    std::tie(tactic, ms) = seen->second;
                } else {
                    WallClock clock;
                    tactic = in_layer(*l, [&] { return l->autotune(c->tensors, c->env, &ms); });
                    chosen.emplace(key, std::make_pair(tactic, ms));
                    autotune_log(l->tuning_label(c->tensors), "every candidate", "tuned in " + clock.ms_text());
                }
                // The new timing replaces the engine's tactic, and the ones timed at other shapes with it.
                c->engine->layers[i].tactic = tactic;
                c->engine->layers[i].tuned.clear();
                c->current->descs[i].tactic = tactic;
            }
            if (tactics) tactics[i] = tactic;
            if (times_ms) times_ms[i] = ms;
        }
        TRTN_CUDA_CHECK(cudaStreamSynchronize(stream));
        // Workspace needs may change with the chosen tactics.
        c->current->workspace_needed = setup_layers(c, *c->current);
        // Graphs built for candidates no layer chose are held by the cache alone: free them.
        for (auto it = c->env.graph_cache.begin(); it != c->env.graph_cache.end();)
            it = it->second.use_count() == 1 ? c->env.graph_cache.erase(it) : std::next(it);
    });
}

TRTN_API trtn_status* trtn_context_layer_implementation(const trtn_context* c, int32_t layer, char* buffer, uint64_t size) {
    return guard("trtn_context_layer_implementation", [&] {
        check_context(c);
        require(buffer != nullptr && size > 0, TRTN_INVALID_ARGUMENT, "buffer is null or empty");
        require(c->current != nullptr, TRTN_INVALID_ARGUMENT, "shapes are not set");
        auto& layers = c->current->layers;
        require(layer >= 0 && layer < static_cast<int32_t>(layers.size()), TRTN_INVALID_ARGUMENT,
                "layer " + std::to_string(layer) + " out of range (" + std::to_string(layers.size()) + " layers)");
        std::string text = layers[layer]->implementation();
        size_t n = std::min<size_t>(text.size(), size - 1);
        std::memcpy(buffer, text.data(), n);
        buffer[n] = '\0';
    });
}

TRTN_API trtn_status* trtn_context_get_info(const trtn_context* c, trtn_context_info* out) {
    return guard("trtn_context_get_info", [&] {
        check_context(c);
        require(out != nullptr, TRTN_INVALID_ARGUMENT, "out is null");
        out->workspace_bytes = c->current ? c->current->workspace_needed : 0;
        out->enqueue_count = c->enqueue_count;
        out->graph_state = c->current && c->current->graph ? 1 : c->capture_failed ? 2 : 0;
        out->reserved = 0;
    });
}

}  // extern "C"
