// Internal helpers shared by the shim's translation units: the error type every failure becomes, and the
// checks that turn CUDA / cuDNN / cuBLASLt return codes into it. Nothing here is part of the ABI.
#pragma once

#include "trtnative.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

struct trtn_status {
    int32_t code;
    std::string message;
};

namespace trtn {

// The one exception type used inside the shim; every export converts it (and anything else) to a status.
class Error : public std::runtime_error {
public:
    Error(trtn_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
    trtn_code code() const { return code_; }
private:
    trtn_code code_;
};

[[noreturn]] inline void fail(trtn_code code, const std::string& message) { throw Error(code, message); }

inline void require(bool ok, trtn_code code, const std::string& message) {
    if (!ok) fail(code, message);
}

// Runs body, converting any exception into a status. Used by every export.
template <class F>
trtn_status* guard(const char* function, F&& body) noexcept {
    try {
        body();
        return nullptr;
    } catch (const Error& e) {
        return new (std::nothrow) trtn_status{e.code(), std::string(function) + ": " + e.what()};
    } catch (const std::bad_alloc&) {
        return new (std::nothrow) trtn_status{TRTN_OUT_OF_MEMORY, std::string(function) + ": host out of memory"};
    } catch (const std::exception& e) {
        return new (std::nothrow) trtn_status{TRTN_INTERNAL, std::string(function) + ": " + e.what()};
    } catch (...) {
        return new (std::nothrow) trtn_status{TRTN_INTERNAL, std::string(function) + ": unknown exception"};
    }
}

inline int64_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case TRTN_FLOAT32: return 4;
        case TRTN_FLOAT16: return 2;
        case TRTN_BFLOAT16: return 2;
        case TRTN_INT32: return 4;
        case TRTN_INT64: return 8;
        default: fail(TRTN_INVALID_ARGUMENT, "unknown dtype " + std::to_string(dtype));
    }
}

// True when environment variable `name` is set to `value` (the switches TRTN_CONV_GRAPH, TRTN_ATTENTION_CUDNN,
// TRTN_LAYERNORM_LANES, TRTN_POOL_VEC, TRTN_DEPTHWISE, TRTN_GEMM_SPLITK, TRTN_SHAPE_TACTICS, TRTN_SMALL_CHANNEL,
// TRTN_TUNE_GIVE_UP, TRTN_PDL that turn a path off with "0" for A/B runs; TRTN_AUTOTUNE_LOG, TRTN_TUNE_COLD_L2 and
// TRTN_TUNE_PDL turn one on with "1").
inline bool env_is(const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v && std::strcmp(v, value) == 0;
}

// While one lives on a thread, kernels launched from that thread go without programmatic dependent launch
// (kernels/device.cuh). Autotuning times each candidate in back-to-back runs of itself, where programmatic launch lets
// each run of our kernels start while the run before it drains: a head start cuDNN's and cuBLASLt's candidates never
// get, and that a layer inside an engine gets only after another kernel of ours. On an H100, ResNet-50 at batch 1 tuned
// with it sent 16-30 of its 1x1 convolutions to our pointwise kernel against 2-10 without, and replayed in 0.378-0.412
// ms against 0.362-0.379 ms. TRTN_TUNE_PDL=1 times candidates with it (the A/B). A later A/B did not bear this out (16
// pointwise convolutions tuned with it, 0.375 ms; 10 under the pause, 0.383 ms): the pause is not shown to help.
class ProgrammaticLaunchPause {
public:
    ProgrammaticLaunchPause() : active_(!env_is("TRTN_TUNE_PDL", "1")) {
        if (active_) ++depth();
    }
    ~ProgrammaticLaunchPause() {
        if (active_) --depth();
    }
    ProgrammaticLaunchPause(const ProgrammaticLaunchPause&) = delete;
    ProgrammaticLaunchPause& operator=(const ProgrammaticLaunchPause&) = delete;

    static bool paused() { return depth() > 0; }

private:
    static int& depth() {
        static thread_local int pauses = 0;
        return pauses;
    }
    bool active_;
};

inline const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case TRTN_FLOAT32: return "float32";
        case TRTN_FLOAT16: return "float16";
        case TRTN_INT32: return "int32";
        case TRTN_INT64: return "int64";
        case TRTN_BFLOAT16: return "bfloat16";
        default: return "?";
    }
}

}  // namespace trtn

#if defined(TRTN_WITH_CUDA)
#include <cuda_runtime.h>

#define TRTN_CUDA_CHECK(call)                                                                              \
    do {                                                                                                   \
        cudaError_t trtn_e_ = (call);                                                                      \
        if (trtn_e_ != cudaSuccess)                                                                        \
            ::trtn::fail(trtn_e_ == cudaErrorMemoryAllocation ? TRTN_OUT_OF_MEMORY : TRTN_CUDA_ERROR,      \
                         std::string(#call) + " failed: " + cudaGetErrorName(trtn_e_) + " (" +           \
                             cudaGetErrorString(trtn_e_) + ")");                                           \
    } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define TRTN_LAUNCH_CHECK(what)                                                                            \
    do {                                                                                                   \
        cudaError_t trtn_e_ = cudaGetLastError();                                                          \
        if (trtn_e_ != cudaSuccess)                                                                        \
            ::trtn::fail(TRTN_CUDA_ERROR, std::string("kernel launch ") + (what) + " failed: " +          \
                                              cudaGetErrorName(trtn_e_) + " (" + cudaGetErrorString(trtn_e_) + ")"); \
    } while (0)

#include <mutex>
#include <vector>

namespace trtn {

// An attribute of the current device (multiprocessors, compute capability, shared memory, L2 size), asked of the
// runtime once per device and attribute: launches and applicability checks read these on every call. (A short list:
// a few attributes of a few devices.)
inline int device_attribute(cudaDeviceAttr attr) {
    struct Known {
        int device, attr, value;
    };
    int device = 0;
    TRTN_CUDA_CHECK(cudaGetDevice(&device));
    static std::mutex m;
    static std::vector<Known> known;
    std::lock_guard<std::mutex> lock(m);
    for (const Known& k : known)
        if (k.device == device && k.attr == static_cast<int>(attr)) return k.value;
    int value = 0;
    TRTN_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
    known.push_back({device, static_cast<int>(attr), value});
    return value;
}

}  // namespace trtn
#endif
