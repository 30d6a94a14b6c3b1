// Element-wise kernels: unary ops, binary ops with broadcasting, and the bias/residual/activation epilogue.
#include "device.cuh"
#include "kernels.h"

namespace trtn::kernels {
namespace {

template <class T>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int op, float a, float b) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = from_f<T>(apply_unary(op, to_f(x[i]), a, b));
}

__device__ __forceinline__ float apply_binary(int op, float a, float b) {
    switch (op) {
        case TRTN_BINARY_ADD: return a + b;
        case TRTN_BINARY_SUB: return a - b;
        case TRTN_BINARY_MUL: return a * b;
        case TRTN_BINARY_DIV: return a / b;
        case TRTN_BINARY_POW: return b == 2.f ? a * a : powf(a, b);
        case TRTN_BINARY_MAX: return fmaxf(a, b);
        case TRTN_BINARY_MIN: return fminf(a, b);
        case TRTN_BINARY_PRELU: return a >= 0.f ? a : a * b;
        default: return a;
    }
}

// V consecutive values from p as floats (one 16-byte load), or p's one value V times.
template <class T, int V>
__device__ __forceinline__ void load_or_broadcast(const T* p, bool runs, float (&out)[V]) {
    if (runs) {
        load_vector<T, V>(p, out);
    } else {
        float x = to_f(*p);
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = x;
    }
}

struct BinaryDesc {
    int rank;
    int64_t dims[kMaxDims];
    int64_t sa[kMaxDims];
    int64_t sb[kMaxDims];
};

// mode 0: same shape; 1: b broadcast along the last dim only (b has len(last) elements: per-channel);
// 2: b scalar; 3: a scalar; 4: general strides.
template <class T, int Mode>
__global__ void binary_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int64_t n,
                              int64_t last, BinaryDesc d, int op, int act, float aa, float ab) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ia = i, ib = i;
        if (Mode == 1) { ib = i % last; }
        else if (Mode == 2) { ib = 0; }
        else if (Mode == 3) { ia = 0; }
        else if (Mode == 4) {
            int64_t r = i;
            ia = 0; ib = 0;
            for (int k = d.rank - 1; k >= 0; --k) {
                int64_t c = r % d.dims[k];
                r /= d.dims[k];
                ia += c * d.sa[k];
                ib += c * d.sb[k];
            }
        }
        float v = apply_binary(op, to_f(a[ia]), to_f(b[ib]));
        y[i] = from_f<T>(apply_activation(act, v, aa, ab));
    }
}

struct BinaryDesc32 {
    int rank;
    uint32_t dims[kMaxDims];
    uint32_t sa[kMaxDims];
    uint32_t sb[kMaxDims];
};

// R > 0: the rank fixed at compile time, so the loop unrolls and reads the descriptor at constant offsets (as in
// the strided copy, where a run-time rank made the kernel several times slower); R == 0: any rank, d.rank.
template <class T, int R>
__global__ void binary_general32(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, uint32_t n,
                                 BinaryDesc32 d, int op, int act, float aa, float ab) {
    wait_for_producer();
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        uint32_t r = i, ia = 0, ib = 0;
#pragma unroll
        for (int k = (R > 0 ? R : d.rank) - 1; k >= 0; --k) {
            uint32_t c = r % d.dims[k];
            r /= d.dims[k];
            ia += c * d.sa[k];
            ib += c * d.sb[k];
        }
        float v = apply_binary(op, to_f(a[ia]), to_f(b[ib]));
        y[i] = from_f<T>(apply_activation(act, v, aa, ab));
    }
}

// binary_general32 with V consecutive elements a thread (16-byte loads and stores): the innermost merged dimension
// is a multiple of V and each operand runs along it (stride 1: one vector load, its other strides multiples of V, so
// aligned) or is broadcast along it (stride 0: one value for the V). Squeeze-excitation's x * scale[n, c] over NHWC
// tensors took the scalar kernel about four times its memory traffic's time (MobileNetV3-L and EfficientNet-B0 on the
// H100, session 14: 0.51 ms of EfficientNet-B0's 4.6 ms at batch 128).
template <class T, int R, int V>
__global__ void binary_vec32(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, uint32_t vectors,
                             BinaryDesc32 d, int op, int act, float aa, float ab) {
    wait_for_producer();
    const bool a_runs = d.sa[R - 1] != 0, b_runs = d.sb[R - 1] != 0;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < vectors; i += gridDim.x * blockDim.x) {
        uint32_t r = i * V, ia = 0, ib = 0;
#pragma unroll
        for (int k = R - 1; k >= 0; --k) {
            uint32_t c = r % d.dims[k];
            r /= d.dims[k];
            ia += c * d.sa[k];
            ib += c * d.sb[k];
        }
        float av[V], bv[V];
        load_or_broadcast<T, V>(a + ia, a_runs, av);
        load_or_broadcast<T, V>(b + ib, b_runs, bv);
#pragma unroll
        for (int v = 0; v < V; ++v) av[v] = apply_binary(op, av[v], bv[v]);
        apply_activation(act, av, aa, ab);
        store_vector<T, V>(y + (size_t)i * V, av);
    }
}

template <class T>
__global__ void bias_act_kernel32(T* __restrict__ y, const float* __restrict__ bias, const T* __restrict__ r,
                                  uint32_t n, uint32_t channels, int act, float aa, float ab) {
    wait_for_producer();
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float v = to_f(y[i]);
        if (bias) v += bias[i % channels];
        if (r) v += to_f(r[i]);
        y[i] = from_f<T>(apply_activation(act, v, aa, ab));
    }
}

template <class T>
__global__ void bias_act_kernel(T* __restrict__ y, const float* __restrict__ bias, const T* __restrict__ r,
                                int64_t n, int64_t channels, int act, float aa, float ab) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = to_f(y[i]);
        if (bias) v += bias[i % channels];
        if (r) v += to_f(r[i]);
        y[i] = from_f<T>(apply_activation(act, v, aa, ab));
    }
}

// The dimensions of an output of fewer than 2^31 elements with adjacent ones merged where both operands are contiguous
// across them or both broadcast, for 32-bit index math (at least one dimension).
BinaryDesc32 merge_dims(int rank, const int64_t* dims, const int64_t* sa, const int64_t* sb) {
    BinaryDesc32 e{};
    for (int k = 0; k < rank; ++k) {
        if (dims[k] == 1) continue;
        if (e.rank > 0) {
            int j = e.rank - 1;
            bool a_ok = (e.sa[j] == 0 && sa[k] == 0) || (e.sa[j] != 0 && (int64_t)e.sa[j] == sa[k] * dims[k]);
            bool b_ok = (e.sb[j] == 0 && sb[k] == 0) || (e.sb[j] != 0 && (int64_t)e.sb[j] == sb[k] * dims[k]);
            if (a_ok && b_ok) { e.dims[j] *= (uint32_t)dims[k]; e.sa[j] = (uint32_t)sa[k]; e.sb[j] = (uint32_t)sb[k]; continue; }
        }
        e.dims[e.rank] = (uint32_t)dims[k]; e.sa[e.rank] = (uint32_t)sa[k]; e.sb[e.rank] = (uint32_t)sb[k]; ++e.rank;
    }
    if (e.rank == 0) { e.rank = 1; e.dims[0] = 1; e.sa[0] = 0; e.sb[0] = 0; }  // one element
    return e;
}

// Whether binary_vec32 runs this merged shape: see its comment (the pointers 16-byte aligned besides).
bool binary_vectorizes(const BinaryDesc32& e, int vec, const void* a, const void* b, const void* y) {
    int last = e.rank - 1;
    if (e.rank > 4 || e.dims[last] % vec != 0 || !aligned16(y)) return false;
    auto operand_ok = [&](const uint32_t* st, const void* p) {
        if (st[last] == 0) return true;
        if (st[last] != 1 || !aligned16(p)) return false;
        for (int k = 0; k < last; ++k)
            if (st[k] % vec != 0) return false;
        return true;
    };
    return operand_ok(e.sa, a) && operand_ok(e.sb, b);
}

template <class T>
void launch_binary(const void* a, const void* b, void* y, int rank, const int64_t* dims, const int64_t* sa,
                   const int64_t* sb, int op, const trtn_activation& act, cudaStream_t s) {
    int64_t n = 1;
    for (int k = 0; k < rank; ++k) n *= dims[k];
    if (n == 0) return;
    auto A = static_cast<const T*>(a); auto B = static_cast<const T*>(b); auto Y = static_cast<T*>(y);
    constexpr int V = 16 / sizeof(T);
    // Outputs of fewer than 2^31 elements: the merged dimensions, for 32-bit index math.
    const bool fits32 = n < (1ll << 31);
    const BinaryDesc32 e = fits32 ? merge_dims(rank, dims, sa, sb) : BinaryDesc32{};
    if (fits32 && binary_vectorizes(e, V, a, b, y)) {
        uint32_t vectors = (uint32_t)(n / V);
        unsigned grid = grid_for(vectors, 256);
        switch (e.rank) {
            case 1: launch_kernel(binary_vec32<T, 1, V>, grid, 256, 0, s, A, B, Y, vectors, e, op, act.kind, act.alpha, act.beta); break;
            case 2: launch_kernel(binary_vec32<T, 2, V>, grid, 256, 0, s, A, B, Y, vectors, e, op, act.kind, act.alpha, act.beta); break;
            case 3: launch_kernel(binary_vec32<T, 3, V>, grid, 256, 0, s, A, B, Y, vectors, e, op, act.kind, act.alpha, act.beta); break;
            default: launch_kernel(binary_vec32<T, 4, V>, grid, 256, 0, s, A, B, Y, vectors, e, op, act.kind, act.alpha, act.beta); break;
        }
        TRTN_LAUNCH_CHECK("binary");
        return;
    }
    BinaryDesc d{};
    d.rank = rank;
    bool a_full = true, b_full = true, b_scalar = true, a_scalar = true, b_last = rank > 0;
    int64_t expect = 1;
    for (int k = rank - 1; k >= 0; --k) {
        d.dims[k] = dims[k]; d.sa[k] = sa[k]; d.sb[k] = sb[k];
        if (dims[k] != 1) {
            if (sa[k] != expect) a_full = false;
            if (sb[k] != expect) b_full = false;
            if (sa[k] != 0) a_scalar = false;
            if (sb[k] != 0) b_scalar = false;
            if (k == rank - 1 ? sb[k] != 1 : sb[k] != 0) b_last = false;
        }
        expect *= dims[k];
    }
    const int block = 256;
    unsigned grid = grid_for(n, block);
    int64_t last = rank > 0 ? dims[rank - 1] : 1;
    if (a_full && b_full) launch_kernel(binary_kernel<T, 0>, grid, block, 0, s, A, B, Y, n, last, d, op, act.kind, act.alpha, act.beta);
    else if (a_full && b_scalar) launch_kernel(binary_kernel<T, 2>, grid, block, 0, s, A, B, Y, n, last, d, op, act.kind, act.alpha, act.beta);
    else if (a_full && b_last) launch_kernel(binary_kernel<T, 1>, grid, block, 0, s, A, B, Y, n, last, d, op, act.kind, act.alpha, act.beta);
    else if (a_scalar && b_full) launch_kernel(binary_kernel<T, 3>, grid, block, 0, s, A, B, Y, n, last, d, op, act.kind, act.alpha, act.beta);
    else if (fits32) {
        switch (e.rank) {
            case 1: launch_kernel(binary_general32<T, 1>, grid, block, 0, s, A, B, Y, (uint32_t)n, e, op, act.kind, act.alpha, act.beta); break;
            case 2: launch_kernel(binary_general32<T, 2>, grid, block, 0, s, A, B, Y, (uint32_t)n, e, op, act.kind, act.alpha, act.beta); break;
            case 3: launch_kernel(binary_general32<T, 3>, grid, block, 0, s, A, B, Y, (uint32_t)n, e, op, act.kind, act.alpha, act.beta); break;
            case 4: launch_kernel(binary_general32<T, 4>, grid, block, 0, s, A, B, Y, (uint32_t)n, e, op, act.kind, act.alpha, act.beta); break;
            default: launch_kernel(binary_general32<T, 0>, grid, block, 0, s, A, B, Y, (uint32_t)n, e, op, act.kind, act.alpha, act.beta); break;
        }
    }
    else launch_kernel(binary_kernel<T, 4>, grid, block, 0, s, A, B, Y, n, last, d, op, act.kind, act.alpha, act.beta);
    TRTN_LAUNCH_CHECK("binary");
}

}  // namespace

void unary(int32_t dtype, const void* x, void* y, int64_t n, int32_t op, float alpha, float beta, cudaStream_t s) {
    require_float(dtype, "unary");
    if (n == 0) return;
    const int block = 256;
    if (dtype == TRTN_FLOAT32)
        launch_kernel(unary_kernel<float>, grid_for(n, block), block, 0, s, static_cast<const float*>(x), static_cast<float*>(y), n, op, alpha, beta);
    else if (dtype == TRTN_FLOAT16)
        launch_kernel(unary_kernel<__half>, grid_for(n, block), block, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), n, op, alpha, beta);
    else
        launch_kernel(unary_kernel<__nv_bfloat16>, grid_for(n, block), block, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), n, op, alpha, beta);
    TRTN_LAUNCH_CHECK("unary");
}

void binary(int32_t dtype, const void* a, const void* b, void* y, int rank, const int64_t* out_dims,
            const int64_t* a_strides, const int64_t* b_strides, int32_t op, const trtn_activation& act, cudaStream_t s) {
    require_float(dtype, "binary");
    require(rank >= 0 && rank <= kMaxDims, TRTN_UNSUPPORTED, "binary: rank " + std::to_string(rank) + " exceeds 8");
    if (dtype == TRTN_FLOAT32) launch_binary<float>(a, b, y, rank, out_dims, a_strides, b_strides, op, act, s);
    else if (dtype == TRTN_FLOAT16) launch_binary<__half>(a, b, y, rank, out_dims, a_strides, b_strides, op, act, s);
    else launch_binary<__nv_bfloat16>(a, b, y, rank, out_dims, a_strides, b_strides, op, act, s);
}

void bias_act(int32_t dtype, void* y, const float* bias, const void* residual, int64_t rows, int64_t channels,
              const trtn_activation& act, cudaStream_t s) {
    require_float(dtype, "bias_act");
    int64_t n = rows * channels;
    if (n == 0) return;
    const int block = 256;
    if (n < (1ll << 31)) {
        if (dtype == TRTN_FLOAT32)
            launch_kernel(bias_act_kernel32<float>, grid_for(n, block), block, 0, s, static_cast<float*>(y), bias, static_cast<const float*>(residual), (uint32_t)n, (uint32_t)channels, act.kind, act.alpha, act.beta);
        else if (dtype == TRTN_FLOAT16)
            launch_kernel(bias_act_kernel32<__half>, grid_for(n, block), block, 0, s, static_cast<__half*>(y), bias, static_cast<const __half*>(residual), (uint32_t)n, (uint32_t)channels, act.kind, act.alpha, act.beta);
        else
            launch_kernel(bias_act_kernel32<__nv_bfloat16>, grid_for(n, block), block, 0, s, static_cast<__nv_bfloat16*>(y), bias, static_cast<const __nv_bfloat16*>(residual), (uint32_t)n, (uint32_t)channels, act.kind, act.alpha, act.beta);
        TRTN_LAUNCH_CHECK("bias_act");
        return;
    }
    if (dtype == TRTN_FLOAT32)
        launch_kernel(bias_act_kernel<float>, grid_for(n, block), block, 0, s, static_cast<float*>(y), bias, static_cast<const float*>(residual), n, channels, act.kind, act.alpha, act.beta);
    else if (dtype == TRTN_FLOAT16)
        launch_kernel(bias_act_kernel<__half>, grid_for(n, block), block, 0, s, static_cast<__half*>(y), bias, static_cast<const __half*>(residual), n, channels, act.kind, act.alpha, act.beta);
    else
        launch_kernel(bias_act_kernel<__nv_bfloat16>, grid_for(n, block), block, 0, s, static_cast<__nv_bfloat16*>(y), bias, static_cast<const __nv_bfloat16*>(residual), n, channels, act.kind, act.alpha, act.beta);
    TRTN_LAUNCH_CHECK("bias_act");
}

}  // namespace trtn::kernels
