// Row-wise kernels: softmax, layer normalization, reductions. Accumulation is always fp32.
#include <cfloat>

#include "device.cuh"
#include "kernels.h"

namespace trtn::kernels {
namespace {

constexpr int kBlock = 256;

// Block-wide reduction of one float (sum or max); result broadcast to every thread.
template <bool Max>
__device__ float block_reduce(float v) {
    __shared__ float shared[32];
    __shared__ float result;
    for (int o = 16; o > 0; o >>= 1) {
        float other = __shfl_xor_sync(0xffffffffu, v, o);
        v = Max ? fmaxf(v, other) : v + other;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        int nw = (blockDim.x + 31) >> 5;
        v = lane < nw ? shared[lane] : (Max ? -FLT_MAX : 0.f);
        for (int o = 16; o > 0; o >>= 1) {
            float other = __shfl_xor_sync(0xffffffffu, v, o);
            v = Max ? fmaxf(v, other) : v + other;
        }
        if (lane == 0) result = v;
    }
    __syncthreads();
    float r = result;
    __syncthreads();
    return r;
}

// inner == 1: one block per row.
template <class T>
__global__ void softmax_rows(const T* __restrict__ x, T* __restrict__ y, int64_t len, bool log) {
    wait_for_producer();
    const T* row = x + blockIdx.x * len;
    T* out = y + blockIdx.x * len;
    float m = -FLT_MAX;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) m = fmaxf(m, to_f(row[i]));
    m = block_reduce<true>(m);
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) sum += expf(to_f(row[i]) - m);
    sum = block_reduce<false>(sum);
    if (log) {
        float ls = logf(sum);
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x) out[i] = from_f<T>(to_f(row[i]) - m - ls);
    } else {
        float inv = 1.f / sum;
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x) out[i] = from_f<T>(expf(to_f(row[i]) - m) * inv);
    }
}

// inner == 1 and short rows (attention scores: 197 wide): one warp per row, values kept in registers.
template <class T, int PerLane>
__global__ void softmax_rows_warp(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int len, bool log) {
    wait_for_producer();
    int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const T* in = x + row * len;
    T* out = y + row * len;
    float v[PerLane];
    float m = -FLT_MAX;
#pragma unroll
    for (int j = 0; j < PerLane; ++j) {
        int i = lane + j * 32;
        v[j] = i < len ? to_f(in[i]) : -FLT_MAX;
        m = fmaxf(m, v[j]);
    }
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < PerLane; ++j) {
        int i = lane + j * 32;
        float e = i < len ? expf(v[j] - m) : 0.f;
        sum += e;
        if (!log) v[j] = e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    float inv = 1.f / sum, ls = logf(sum);
#pragma unroll
    for (int j = 0; j < PerLane; ++j) {
        int i = lane + j * 32;
        if (i < len) out[i] = from_f<T>(log ? v[j] - m - ls : v[j] * inv);
    }
}

// inner > 1: one thread per (outer, inner) column.
template <class T>
__global__ void softmax_cols(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t len, int64_t inner, bool log) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < outer * inner; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = i / inner, in_ = i % inner;
        const T* col = x + o * len * inner + in_;
        T* out = y + o * len * inner + in_;
        float m = -FLT_MAX;
        for (int64_t k = 0; k < len; ++k) m = fmaxf(m, to_f(col[k * inner]));
        float sum = 0.f;
        for (int64_t k = 0; k < len; ++k) sum += expf(to_f(col[k * inner]) - m);
        float ls = logf(sum), inv = 1.f / sum;
        for (int64_t k = 0; k < len; ++k) {
            float v = to_f(col[k * inner]) - m;
            out[k * inner] = from_f<T>(log ? v - ls : expf(v) * inv);
        }
    }
}

template <class T>
__global__ void layernorm_rows(const T* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ bias,
                               T* __restrict__ y, int64_t cols, float eps) {
    wait_for_producer();
    const T* row = x + blockIdx.x * cols;
    T* out = y + blockIdx.x * cols;
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) sum += to_f(row[i]);
    float mean = block_reduce<false>(sum) / (float)cols;
    float sq = 0.f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) { float d = to_f(row[i]) - mean; sq += d * d; }
    float rstd = rsqrtf(block_reduce<false>(sq) / (float)cols + eps);
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = (to_f(row[i]) - mean) * rstd * scale[i];
        if (bias) v += bias[i];
        out[i] = from_f<T>(v);
    }
}

// LayerNorm over short rows (the channels of an NHWC activation, a transformer's width): G lanes per row, each lane
// holding up to Chunks 16-byte chunks of the row in registers, so the row is read from memory once and the mean and
// variance are two register passes with shuffles (no shared memory, no block barrier). The block kernel above gives a
// whole 256-thread block to each row, which leaves most threads idle on rows of 96-768 values and reads each row three
// times. Requires cols to be a multiple of the chunk (16 bytes of T), 16-byte aligned rows, scale and bias.
template <class T, int G, int Chunks>
__global__ void layernorm_rows_lanes(const T* __restrict__ x, const float* __restrict__ scale, const float* __restrict__ bias,
                                     T* __restrict__ y, int64_t rows, int cols, float eps) {
    wait_for_producer();
    constexpr int V = 16 / sizeof(T);  // values per chunk
    int lane = threadIdx.x % G;
    int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / G;
    // Lanes of a row past the last row still take part in the shuffles (whole warps), with nothing to load.
    bool live = row < rows;
    int chunks = cols / V;
    const T* in = x + (live ? row : 0) * cols;
    float v[Chunks][V];
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < Chunks; ++j) {
        int c = lane + j * G;
        if (live && c < chunks) {
            uint4 raw = *reinterpret_cast<const uint4*>(in + (int64_t)c * V);
            const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
            for (int k = 0; k < V; ++k) { v[j][k] = to_f(e[k]); sum += v[j][k]; }
        } else {
#pragma unroll
            for (int k = 0; k < V; ++k) v[j][k] = 0.f;
        }
    }
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    float mean = sum / (float)cols;
    float sq = 0.f;
#pragma unroll
    for (int j = 0; j < Chunks; ++j) {
        if (lane + j * G < chunks) {
#pragma unroll
            for (int k = 0; k < V; ++k) { float d = v[j][k] - mean; sq += d * d; }
        }
    }
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
    float rstd = rsqrtf(sq / (float)cols + eps);
    if (!live) return;
    T* out = y + row * cols;
#pragma unroll
    for (int j = 0; j < Chunks; ++j) {
        int c = lane + j * G;
        if (c >= chunks) continue;
        // The chunk's scale and bias as 16-byte loads: per-value loads made the weights' traffic (two floats per
        // value) several times the row's own in load instructions.
        float sc[V], bi[V];
#pragma unroll
        for (int q = 0; q < V / 4; ++q) {
            float4 t = reinterpret_cast<const float4*>(scale + (int64_t)c * V)[q];
            sc[4 * q] = t.x; sc[4 * q + 1] = t.y; sc[4 * q + 2] = t.z; sc[4 * q + 3] = t.w;
            float4 b = bias ? reinterpret_cast<const float4*>(bias + (int64_t)c * V)[q] : make_float4(0.f, 0.f, 0.f, 0.f);
            bi[4 * q] = b.x; bi[4 * q + 1] = b.y; bi[4 * q + 2] = b.z; bi[4 * q + 3] = b.w;
        }
        uint4 raw;
        T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
        for (int k = 0; k < V; ++k) e[k] = from_f<T>((v[j][k] - mean) * rstd * sc[k] + bi[k]);
        *reinterpret_cast<uint4*>(out + (int64_t)c * V) = raw;
    }
}

// Launches the lanes kernel when the row fits (returns false otherwise): G = lanes per row (8, 16 or 32, about two
// chunks per lane), Chunks per lane up to 8.
template <class T>
bool layernorm_lanes(const T* x, const float* scale, const float* bias, T* y, int64_t rows, int64_t cols, float eps, cudaStream_t s) {
    constexpr int V = 16 / sizeof(T);
    if (cols % V != 0 || !aligned16(x) || !aligned16(y) || !aligned16(scale) || (bias && !aligned16(bias))) return false;
    int64_t chunks = cols / V;
    int g = 8;
    while (g < 32 && g * 2 < chunks) g *= 2;
    int64_t per = (chunks + g - 1) / g;
    if (per > 8) return false;
    int64_t threads = rows * g;
    unsigned grid = (unsigned)((threads + kBlock - 1) / kBlock);
    int c = (int)cols;
#define TRTN_LN_LAUNCH(G_, C_) launch_kernel(layernorm_rows_lanes<T, G_, C_>, grid, kBlock, 0, s, x, scale, bias, y, rows, c, eps)
#define TRTN_LN_CHUNKS(G_) \
    if (per == 1) TRTN_LN_LAUNCH(G_, 1); else if (per == 2) TRTN_LN_LAUNCH(G_, 2); else if (per <= 4) TRTN_LN_LAUNCH(G_, 4); else TRTN_LN_LAUNCH(G_, 8)
    if (g == 8) { TRTN_LN_CHUNKS(8); }
    else if (g == 16) { TRTN_LN_CHUNKS(16); }
    else { TRTN_LN_CHUNKS(32); }
#undef TRTN_LN_CHUNKS
#undef TRTN_LN_LAUNCH
    return true;
}

struct ReduceDesc {
    int kept_rank, red_rank;
    int64_t kept_dims[kMaxDims], kept_strides[kMaxDims];
    int64_t red_dims[kMaxDims], red_strides[kMaxDims];
    int64_t red_count;
};

// One block per output element.
template <class T>
__global__ void reduce_kernel(const T* __restrict__ x, T* __restrict__ y, ReduceDesc d, int op) {
    wait_for_producer();
    int64_t o = blockIdx.x;
    int64_t base = 0, r = o;
    for (int k = d.kept_rank - 1; k >= 0; --k) { base += (r % d.kept_dims[k]) * d.kept_strides[k]; r /= d.kept_dims[k]; }
    bool is_max = op == 2, is_min = op == 3;
    float acc = is_max ? -FLT_MAX : (is_min ? FLT_MAX : 0.f);
    for (int64_t j = threadIdx.x; j < d.red_count; j += blockDim.x) {
        int64_t off = base, rr = j;
        for (int k = d.red_rank - 1; k >= 0; --k) { off += (rr % d.red_dims[k]) * d.red_strides[k]; rr /= d.red_dims[k]; }
        float v = to_f(x[off]);
        if (is_max) acc = fmaxf(acc, v);
        else if (is_min) acc = fminf(acc, v);
        else if (op == 4 || op == 5) acc += v * v;
        else acc += v;
    }
    float res;
    if (is_max) res = block_reduce<true>(acc);
    else if (is_min) res = -block_reduce<true>(-acc);
    else res = block_reduce<false>(acc);
    if (threadIdx.x == 0) {
        if (op == 0) res /= (float)d.red_count;
        if (op == 5) res = sqrtf(res);
        y[o] = from_f<T>(res);
    }
}

}  // namespace

void softmax(int32_t dtype, const void* x, void* y, int64_t outer, int64_t len, int64_t inner, bool log, cudaStream_t s) {
    require_float(dtype, "softmax");
    if (outer * len * inner == 0) return;
    if (inner == 1 && len <= 1024) {
        const int warps = 8;
        unsigned grid = (unsigned)((outer + warps - 1) / warps);
        require((outer + warps - 1) / warps <= 0x7fffffff, TRTN_UNSUPPORTED, "softmax: too many rows");
        int L = (int)len;
#define TRTN_SOFTMAX_WARP(PL)                                                                                        \
        if (dtype == TRTN_FLOAT32) launch_kernel(softmax_rows_warp<float, PL>, grid, warps * 32, 0, s, static_cast<const float*>(x), static_cast<float*>(y), outer, L, log); \
        else if (dtype == TRTN_FLOAT16) launch_kernel(softmax_rows_warp<__half, PL>, grid, warps * 32, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), outer, L, log); \
        else launch_kernel(softmax_rows_warp<__nv_bfloat16, PL>, grid, warps * 32, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), outer, L, log);
        if (len <= 32) { TRTN_SOFTMAX_WARP(1) }
        else if (len <= 128) { TRTN_SOFTMAX_WARP(4) }
        else if (len <= 256) { TRTN_SOFTMAX_WARP(8) }
        else if (len <= 512) { TRTN_SOFTMAX_WARP(16) }
        else { TRTN_SOFTMAX_WARP(32) }
#undef TRTN_SOFTMAX_WARP
    } else if (inner == 1) {
        require(outer <= 0x7fffffff, TRTN_UNSUPPORTED, "softmax: too many rows");
        if (dtype == TRTN_FLOAT32) launch_kernel(softmax_rows<float>, (unsigned)outer, kBlock, 0, s, static_cast<const float*>(x), static_cast<float*>(y), len, log);
        else if (dtype == TRTN_FLOAT16) launch_kernel(softmax_rows<__half>, (unsigned)outer, kBlock, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), len, log);
        else launch_kernel(softmax_rows<__nv_bfloat16>, (unsigned)outer, kBlock, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), len, log);
    } else {
        if (dtype == TRTN_FLOAT32) launch_kernel(softmax_cols<float>, grid_for(outer * inner, kBlock), kBlock, 0, s, static_cast<const float*>(x), static_cast<float*>(y), outer, len, inner, log);
        else if (dtype == TRTN_FLOAT16) launch_kernel(softmax_cols<__half>, grid_for(outer * inner, kBlock), kBlock, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), outer, len, inner, log);
        else launch_kernel(softmax_cols<__nv_bfloat16>, grid_for(outer * inner, kBlock), kBlock, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), outer, len, inner, log);
    }
    TRTN_LAUNCH_CHECK("softmax");
}

void layernorm(int32_t dtype, const void* x, const float* scale, const float* bias, void* y, int64_t rows,
               int64_t cols, float eps, cudaStream_t s) {
    require_float(dtype, "layernorm");
    require(scale != nullptr, TRTN_INVALID_ARGUMENT, "layernorm: scale is null");
    if (rows * cols == 0) return;
    require(rows <= 0x7fffffff, TRTN_UNSUPPORTED, "layernorm: too many rows");
    // TRTN_LAYERNORM_LANES=0 keeps the block kernel for every row (A/B timing, or a way around a fault in the lanes kernel).
    static const bool lanes_enabled = !env_is("TRTN_LAYERNORM_LANES", "0");
    bool lanes = lanes_enabled && cols <= 0x7fffffff && rows * 32 <= (int64_t)0x7fffffff * kBlock &&
                 (dtype == TRTN_FLOAT32 ? layernorm_lanes(static_cast<const float*>(x), scale, bias, static_cast<float*>(y), rows, cols, eps, s)
                  : dtype == TRTN_FLOAT16 ? layernorm_lanes(static_cast<const __half*>(x), scale, bias, static_cast<__half*>(y), rows, cols, eps, s)
                  : layernorm_lanes(static_cast<const __nv_bfloat16*>(x), scale, bias, static_cast<__nv_bfloat16*>(y), rows, cols, eps, s));
    if (lanes) { TRTN_LAUNCH_CHECK("layernorm"); return; }
    if (dtype == TRTN_FLOAT32) launch_kernel(layernorm_rows<float>, (unsigned)rows, kBlock, 0, s, static_cast<const float*>(x), scale, bias, static_cast<float*>(y), cols, eps);
    else if (dtype == TRTN_FLOAT16) launch_kernel(layernorm_rows<__half>, (unsigned)rows, kBlock, 0, s, static_cast<const __half*>(x), scale, bias, static_cast<__half*>(y), cols, eps);
    else launch_kernel(layernorm_rows<__nv_bfloat16>, (unsigned)rows, kBlock, 0, s, static_cast<const __nv_bfloat16*>(x), scale, bias, static_cast<__nv_bfloat16*>(y), cols, eps);
    TRTN_LAUNCH_CHECK("layernorm");
}

void reduce(int32_t dtype, const void* x, void* y, int rank, const int64_t* dims, int32_t mask, int32_t op, cudaStream_t s) {
    require_float(dtype, "reduce");
    require(rank <= kMaxDims, TRTN_UNSUPPORTED, "reduce: rank exceeds 8");
    require(op >= 0 && op <= 5, TRTN_INVALID_ARGUMENT, "reduce: unknown op " + std::to_string(op));
    ReduceDesc d{};
    int64_t stride = 1, outputs = 1;
    d.red_count = 1;
    int64_t strides[kMaxDims];
    for (int k = rank - 1; k >= 0; --k) { strides[k] = stride; stride *= dims[k]; }
    for (int k = 0; k < rank; ++k) {
        if (mask & (1 << k)) { d.red_dims[d.red_rank] = dims[k]; d.red_strides[d.red_rank++] = strides[k]; d.red_count *= dims[k]; }
        else { d.kept_dims[d.kept_rank] = dims[k]; d.kept_strides[d.kept_rank++] = strides[k]; outputs *= dims[k]; }
    }
    if (outputs == 0) return;
    require(outputs <= 0x7fffffff, TRTN_UNSUPPORTED, "reduce: too many outputs");
    int block = d.red_count >= 256 ? 256 : 32;
    if (dtype == TRTN_FLOAT32) launch_kernel(reduce_kernel<float>, (unsigned)outputs, block, 0, s, static_cast<const float*>(x), static_cast<float*>(y), d, op);
    else if (dtype == TRTN_FLOAT16) launch_kernel(reduce_kernel<__half>, (unsigned)outputs, block, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), d, op);
    else launch_kernel(reduce_kernel<__nv_bfloat16>, (unsigned)outputs, block, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), d, op);
    TRTN_LAUNCH_CHECK("reduce");
}

}  // namespace trtn::kernels
