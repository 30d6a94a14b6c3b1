// Device-side helpers: load/store as float, activations, launch sizing.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>
#include <utility>

#include "../common.h"

namespace trtn::kernels {

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// The activations a layer fuses into its epilogue (trtn_activation: TRTN_ACT_*). Epilogues unroll this once per output
// they hold, so it is kept apart from apply_unary's full set, whose transcendental functions (sinf's slow path needs a
// stack frame) made each unrolled copy large: the depthwise kernel's 32 copies came to about 26k instructions.
template <int KIND>
__device__ __forceinline__ float activation(float x, float a, float b) {
    if constexpr (KIND == TRTN_ACT_RELU) return x > 0.f ? x : 0.f;
    else if constexpr (KIND == TRTN_ACT_CLIP) return fminf(fmaxf(x, a), b);
    else if constexpr (KIND == TRTN_ACT_SIGMOID) return 1.f / (1.f + expf(-x));
    else if constexpr (KIND == TRTN_ACT_SILU) return x / (1.f + expf(-x));
    else if constexpr (KIND == TRTN_ACT_HARDSWISH) return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    else if constexpr (KIND == TRTN_ACT_HARDSIGMOID) return fmaxf(0.f, fminf(1.f, a * x + b));
    else if constexpr (KIND == TRTN_ACT_LEAKYRELU) return x >= 0.f ? x : a * x;
    else if constexpr (KIND == TRTN_ACT_TANH) return tanhf(x);
    else if constexpr (KIND == TRTN_ACT_GELU) return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    else if constexpr (KIND == TRTN_ACT_GELU_TANH) return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    else return x;  // TRTN_ACT_NONE and unknown kinds
}

// Calls f(activation<KIND>) for the runtime kind: the one switch over TRTN_ACT_* (unknown kinds: the identity).
template <class F>
__device__ __forceinline__ void with_activation(int kind, F&& f) {
    switch (kind) {
        case TRTN_ACT_RELU: f([](float x, float a, float b) { return activation<TRTN_ACT_RELU>(x, a, b); }); break;
        case TRTN_ACT_CLIP: f([](float x, float a, float b) { return activation<TRTN_ACT_CLIP>(x, a, b); }); break;
        case TRTN_ACT_SIGMOID: f([](float x, float a, float b) { return activation<TRTN_ACT_SIGMOID>(x, a, b); }); break;
        case TRTN_ACT_SILU: f([](float x, float a, float b) { return activation<TRTN_ACT_SILU>(x, a, b); }); break;
        case TRTN_ACT_HARDSWISH: f([](float x, float a, float b) { return activation<TRTN_ACT_HARDSWISH>(x, a, b); }); break;
        case TRTN_ACT_HARDSIGMOID: f([](float x, float a, float b) { return activation<TRTN_ACT_HARDSIGMOID>(x, a, b); }); break;
        case TRTN_ACT_LEAKYRELU: f([](float x, float a, float b) { return activation<TRTN_ACT_LEAKYRELU>(x, a, b); }); break;
        case TRTN_ACT_TANH: f([](float x, float a, float b) { return activation<TRTN_ACT_TANH>(x, a, b); }); break;
        case TRTN_ACT_GELU: f([](float x, float a, float b) { return activation<TRTN_ACT_GELU>(x, a, b); }); break;
        case TRTN_ACT_GELU_TANH: f([](float x, float a, float b) { return activation<TRTN_ACT_GELU_TANH>(x, a, b); }); break;
        default: f([](float x, float, float) { return x; }); break;
    }
}

__device__ __forceinline__ float apply_activation(int kind, float x, float a, float b) {
    float y = x;
    with_activation(kind, [&](auto act) { y = act(x, a, b); });
    return y;
}

// The activation over N values with one branch on the kind: per value, an unrolled epilogue branched N times and kept
// N copies of every case apart.
template <int N>
__device__ __forceinline__ void apply_activation(int kind, float (&v)[N], float a, float b) {
    with_activation(kind, [&](auto act) {
        #pragma unroll
        for (int i = 0; i < N; ++i) v[i] = act(v[i], a, b);
    });
}

// The raw 16 bits of a half-precision value.
__device__ __forceinline__ unsigned short bits_of(__half v) { return __half_as_ushort(v); }
__device__ __forceinline__ unsigned short bits_of(__nv_bfloat16 v) { return __bfloat16_as_ushort(v); }

// Tensor cores (compute capability 8.0 and later; empty below): d += a (16x16, row-major) x b (16x8, column-major)
// in mma.sync's m16n8k16 fragments, fp32 accumulation. Each 32-bit register holds two neighbouring values, the lower
// index in the low half. With g = lane / 4 and t = lane % 4: a[0], a[1] are rows g and g + 8 at columns 2t, 2t + 1 and
// a[2], a[3] the same rows 8 columns on; b0 is rows 2t, 2t + 1 of column g and b1 those 8 rows on; d[0], d[1] are row
// g at columns 2t, 2t + 1 and d[2], d[3] row g + 8.
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// The 16 bytes at p (16-byte aligned) as V = 16 / sizeof(T) floats, and V floats stored there.
template <class T, int V>
__device__ __forceinline__ void load_vector(const T* p, float (&out)[V]) {
    static_assert(V * sizeof(T) == 16, "one 16-byte vector");
    uint4 raw = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int v = 0; v < V; ++v) out[v] = to_f(e[v]);
}

template <class T, int V>
__device__ __forceinline__ void store_vector(T* p, const float (&in)[V]) {
    static_assert(V * sizeof(T) == 16, "one 16-byte vector");
    uint4 raw;
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int v = 0; v < V; ++v) e[v] = from_f<T>(in[v]);
    *reinterpret_cast<uint4*>(p) = raw;
}

// Every unary operation: the activations and TRTN_UNARY_*.
__device__ __forceinline__ float apply_unary(int op, float x, float a, float b) {
    switch (op) {
        case TRTN_UNARY_EXP: return expf(x);
        case TRTN_UNARY_LOG: return logf(x);
        case TRTN_UNARY_SQRT: return sqrtf(x);
        case TRTN_UNARY_NEG: return -x;
        case TRTN_UNARY_ABS: return fabsf(x);
        case TRTN_UNARY_ERF: return erff(x);
        case TRTN_UNARY_RECIPROCAL: return 1.f / x;
        case TRTN_UNARY_FLOOR: return floorf(x);
        case TRTN_UNARY_CEIL: return ceilf(x);
        case TRTN_UNARY_SOFTPLUS: return x > 20.f ? x : log1pf(expf(x));
        case TRTN_UNARY_ELU: return x >= 0.f ? x : a * (expf(x) - 1.f);
        case TRTN_UNARY_SIN: return sinf(x);
        case TRTN_UNARY_COS: return cosf(x);
        case TRTN_UNARY_ROUND: return rintf(x);
        case TRTN_UNARY_SIGN: return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
        case TRTN_UNARY_SELU: return x > 0.f ? b * x : b * a * (expf(x) - 1.f);
        case TRTN_UNARY_POW_SCALAR: return a == 2.f ? x * x : (a == 0.5f ? sqrtf(x) : powf(x, a));
        default: return apply_activation(op, x, a, b);
    }
}

// Programmatic dependent launch (Hopper and later; on unless TRTN_PDL=0): a kernel launched
// with it may be scheduled while the kernel before it on the stream is still finishing, which hides the gap between the
// short kernels of a small batch (ViT-B/16 at batch 1 runs 95 layers in 0.57 ms). Every kernel of ours starts with
// wait_for_producer(), before any memory access or early return, so none reads its inputs, overwrites a buffer the
// previous kernel still reads, or completes before that kernel has: the order of a stream holds as before. After the
// wait a block lets the next kernel be scheduled (launch_dependents): once every block has passed that point, the next
// kernel's blocks may take the multiprocessors this kernel's last wave leaves free, and wait there in turn. Without
// the attribute (older GPUs, TRTN_PDL=0, a previous operation that is not a kernel) both return at once.
__device__ __forceinline__ void wait_for_producer() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// On unless TRTN_PDL=0 (on an H100 at batch 1, against off: EfficientNet-B0 -7.3%, MobileNetV3-L -10.4%, ViT-B/16
// -4.6%, ConvNeXt-T -0.4%, ResNet-50 from -0.5% to +4.3% in four runs), and only when the code that runs was compiled
// for compute capability 9.0 or later: a Hopper GPU running a build without sm_90 code JIT-compiles older PTX, whose
// kernels have no wait. Every kernel comes from one build with one list of architectures, so the first launched
// answers for all.
inline bool programmatic_launch(const void* kernel) {
    static const bool on = [kernel] {
        if (env_is("TRTN_PDL", "0")) return false;
        cudaFuncAttributes attributes = {};
        return cudaFuncGetAttributes(&attributes, kernel) == cudaSuccess && attributes.ptxVersion >= 90;
    }();
    return on;
}

// Every kernel launch: kernel<<<grid, block, shared, s>>>(args...), with the programmatic-launch attribute when it is
// on and not paused on this thread (ProgrammaticLaunchPause, common.h: while autotuning). Errors are left for the
// caller's TRTN_LAUNCH_CHECK (cudaGetLastError), as a <<<>>> launch leaves them.
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t s, Args&&... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared;
    config.stream = s;
    cudaLaunchAttribute attribute = {};
    if (programmatic_launch(reinterpret_cast<const void*>(kernel)) && !ProgrammaticLaunchPause::paused()) {
        attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute.val.programmaticStreamSerializationAllowed = 1;
        config.attrs = &attribute;
        config.numAttrs = 1;
    }
    (void)cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

inline unsigned grid_for(int64_t n, int block) {
    int64_t g = (n + block - 1) / block;
    if (g > 1048576) g = 1048576;  // grid-stride loops cover the rest
    if (g < 1) g = 1;
    return static_cast<unsigned>(g);
}

inline bool is_float_type(int32_t dt) { return dt == TRTN_FLOAT32 || dt == TRTN_FLOAT16 || dt == TRTN_BFLOAT16; }

// Values of a float dtype in one 16-byte vector: 4 fp32, 8 fp16 or bf16.
inline int vector_width(int32_t dtype) { return static_cast<int>(16 / dtype_size(dtype)); }

// Whether p may be read or written as 16-byte vectors.
inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

inline void require_float(int32_t dt, const char* what) {
    require(is_float_type(dt), TRTN_UNSUPPORTED, std::string(what) + ": element type " + dtype_name(dt) + " is not float32, float16 or bfloat16");
}

}  // namespace trtn::kernels
