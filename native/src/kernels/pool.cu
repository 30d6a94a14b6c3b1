// Max / average pooling over NHWC tensors: one thread per output element, channels innermost (coalesced).
#include <cfloat>

#include <algorithm>
#include <string>

#include "device.cuh"
#include "kernels.h"

namespace trtn::kernels {
namespace {

template <class T>
__global__ void pool_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t H, int64_t W,
                            int64_t C, int64_t P, int64_t Q, trtn_pool_params p) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % C;
        int64_t q = (i / C) % Q;
        int64_t pp = (i / (C * Q)) % P;
        int64_t n = i / (C * Q * P);
        int64_t h0 = pp * p.stride_h - p.pad_top;
        int64_t w0 = q * p.stride_w - p.pad_left;
        float acc = p.mode == 0 ? -FLT_MAX : 0.f;
        int64_t count = 0;
        for (int kh = 0; kh < p.kernel_h; ++kh) {
            int64_t h = h0 + (int64_t)kh * p.dilation_h;
            for (int kw = 0; kw < p.kernel_w; ++kw) {
                int64_t w = w0 + (int64_t)kw * p.dilation_w;
                bool in = h >= 0 && h < H && w >= 0 && w < W;
                if (p.mode == 0) {
                    if (in) acc = fmaxf(acc, to_f(x[((n * H + h) * W + w) * C + c]));
                } else {
                    if (in) { acc += to_f(x[((n * H + h) * W + w) * C + c]); ++count; }
                    else if (p.count_include_pad && h < H + p.pad_bottom && w < W + p.pad_right) ++count;
                }
            }
        }
        if (p.mode == 1) acc = count > 0 ? acc / (float)count : 0.f;
        y[i] = from_f<T>(acc);
    }
}

// The same pooling, V channels per thread (16-byte loads and stores) with 32-bit index math, for C a multiple of V
// and fewer than 2^31 vectors: the scalar kernel's 64-bit divisions and 2-byte loads ran ResNet-50's 3x3 stem max
// pool at batch 128 in 0.88 ms (17% of the model's summed layer time; about 250 MB move).
template <class T, int V>
__global__ void pool_vec_kernel(const T* __restrict__ x, T* __restrict__ y, uint32_t total, uint32_t H, uint32_t W,
                                uint32_t CV, uint32_t P, uint32_t Q, trtn_pool_params p) {
    wait_for_producer();
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        uint32_t cv = i % CV, r = i / CV;
        uint32_t q = r % Q;
        r /= Q;
        uint32_t pp = r % P, n = r / P;
        int h0 = (int)(pp * p.stride_h) - p.pad_top;
        int w0 = (int)(q * p.stride_w) - p.pad_left;
        float acc[V];
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = p.mode == 0 ? -FLT_MAX : 0.f;
        int count = 0;
        for (int kh = 0; kh < p.kernel_h; ++kh) {
            int h = h0 + kh * p.dilation_h;
            for (int kw = 0; kw < p.kernel_w; ++kw) {
                int w = w0 + kw * p.dilation_w;
                bool in = h >= 0 && h < (int)H && w >= 0 && w < (int)W;
                if (in) {
                    float e[V];
                    load_vector<T, V>(x + ((size_t)(n * H + h) * W + w) * CV * V + (size_t)cv * V, e);
#pragma unroll
                    for (int k = 0; k < V; ++k) acc[k] = p.mode == 0 ? fmaxf(acc[k], e[k]) : acc[k] + e[k];
                    ++count;
                } else if (p.mode == 1 && p.count_include_pad && h < (int)H + p.pad_bottom && w < (int)W + p.pad_right) {
                    ++count;
                }
            }
        }
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = p.mode == 1 ? (count > 0 ? acc[k] / (float)count : 0.f) : acc[k];
        store_vector<T, V>(y + (size_t)i * V, acc);
    }
}

// Global average pooling (the kernel is the whole image, no padding) in two deterministic passes: H*W is cut into
// `splits` slices; block (x: channel vectors, y: rows of the slice; grid: channel tiles, slices, images) sums its slice
// into partial[n][split][c] in fp32, then one thread per (n, c) adds the slices in order. A thread reads V channels
// at once (16-byte loads where C and the pointer allow) and the block's rows in parallel: one thread per channel
// summing all H*W rows with 2-byte loads took 0.34 ms for EfficientNet-B0's 128x56x56x144 squeeze-excitation pool on
// the H100, about ten times the time its 116 MB need.
constexpr int kGlobalAvgThreads = 256;

template <class T, int V>
__global__ void global_avg_partial(const T* __restrict__ x, float* __restrict__ partial, int64_t HW, int64_t C, int64_t splits) {
    wait_for_producer();
    __shared__ float sums[kGlobalAvgThreads * V];
    const int tx = blockDim.x, ty = blockDim.y, width = tx * V;  // channels per block
    const int64_t c = (int64_t)blockIdx.x * width + threadIdx.x * V;
    const int64_t split = blockIdx.y, n = blockIdx.z;
    const int64_t per = (HW + splits - 1) / splits;
    const int64_t begin = split * per, end = min(HW, begin + per);
    float acc[V] = {};
    if (c < C) {
        const T* base = x + n * HW * C + c;
#pragma unroll 4
        for (int64_t k = begin + threadIdx.y; k < end; k += ty) {
            if constexpr (V == 1) {
                acc[0] += to_f(base[k * C]);
            } else {
                float e[V];
                load_vector<T, V>(base + k * C, e);
#pragma unroll
                for (int v = 0; v < V; ++v) acc[v] += e[v];
            }
        }
    }
#pragma unroll
    for (int v = 0; v < V; ++v) sums[threadIdx.y * width + threadIdx.x * V + v] = acc[v];
    __syncthreads();
    // One thread per channel of the block adds the rows' sums (consecutive threads, consecutive channels).
    for (int ch = threadIdx.y * tx + threadIdx.x; ch < width; ch += tx * ty) {
        int64_t cc = (int64_t)blockIdx.x * width + ch;
        if (cc >= C) break;
        float total = 0.f;
        for (int r = 0; r < ty; ++r) total += sums[r * width + ch];
        partial[(n * splits + split) * C + cc] = total;
    }
}

template <class T>
__global__ void global_avg_finish(const float* __restrict__ partial, T* __restrict__ y, int64_t N, int64_t HW, int64_t C, int64_t splits) {
    wait_for_producer();
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= N * C) return;
    int64_t n = i / C, c = i % C;
    float acc = 0.f;
#pragma unroll 8
    for (int64_t k = 0; k < splits; ++k) acc += partial[(n * splits + k) * C + c];
    y[i] = from_f<T>(acc / (float)HW);
}

bool is_global_avg(const trtn_pool_params& prm, int64_t h, int64_t w, int64_t p, int64_t q) {
    return prm.mode == 1 && p == 1 && q == 1 && prm.kernel_h == h && prm.kernel_w == w && prm.pad_top == 0 && prm.pad_left == 0 &&
           prm.pad_bottom == 0 && prm.pad_right == 0;
}

// Channels per thread in the global average: a 16-byte vector where C is a multiple of one (and the tensor aligned).
int global_avg_vector(int32_t dtype, int64_t c) {
    int v = vector_width(dtype);
    return c % v == 0 ? v : 1;
}

// The global average's block: (channel vectors, rows), kGlobalAvgThreads threads; channel tiles of equal width (fp32's
// 36 vectors of 144 channels as 18 + 18, not 32 + 4).
dim3 global_avg_block(int64_t c, int vec) {
    int64_t vectors = (c + vec - 1) / vec, tiles = (vectors + 31) / 32;
    int tx = (int)((vectors + tiles - 1) / tiles);
    return dim3((unsigned)tx, (unsigned)(kGlobalAvgThreads / tx));
}

// Slices of H*W for the global average: enough blocks for about eight per SM of the largest GPUs (2048), each slice at
// least 32 rows, and at most 64 slices (the finishing pass adds them one by one).
int64_t global_avg_splits(int32_t dtype, int64_t n, int64_t hw, int64_t c) {
    int vec = global_avg_vector(dtype, c);
    int64_t width = (int64_t)global_avg_block(c, vec).x * vec;
    int64_t blocks = ((c + width - 1) / width) * n;
    int64_t want = (2048 + blocks - 1) / blocks;
    return std::max<int64_t>(1, std::min<int64_t>({want, hw / 32, 64}));
}

template <class T, int V>
void launch_global_avg(const void* x, void* y, float* partial, int64_t n, int64_t hw, int64_t c, int64_t splits, cudaStream_t s) {
    dim3 block = global_avg_block(c, V);
    dim3 grid((unsigned)((c + block.x * V - 1) / (block.x * V)), (unsigned)splits, (unsigned)n);
    launch_kernel(global_avg_partial<T, V>, grid, block, 0, s, static_cast<const T*>(x), partial, hw, c, splits);
    int fin = 256;
    launch_kernel(global_avg_finish<T>, (unsigned)((n * c + fin - 1) / fin), fin, 0, s, partial, static_cast<T*>(y), n, hw, c, splits);
}

}  // namespace

size_t pool_nhwc_workspace(int32_t dtype, int64_t n, int64_t h, int64_t w, int64_t c, int64_t p, int64_t q, const trtn_pool_params& prm) {
    if (!is_global_avg(prm, h, w, p, q) || n > 65535) return 0;
    return (size_t)(n * global_avg_splits(dtype, n, h * w, c) * c) * sizeof(float);
}

void pool_nhwc(int32_t dtype, const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t p,
               int64_t q, const trtn_pool_params& prm, void* workspace, size_t workspace_bytes, cudaStream_t s) {
    require_float(dtype, "pool");
    require(prm.kernel_h > 0 && prm.kernel_w > 0 && prm.stride_h > 0 && prm.stride_w > 0 && prm.dilation_h > 0 && prm.dilation_w > 0,
            TRTN_INVALID_ARGUMENT, "pool: kernel, strides and dilations must be positive");
    int64_t total = n * p * q * c;
    if (total == 0) return;
    // Images beyond the grid's z limit go through the general kernels below.
    if (is_global_avg(prm, h, w, p, q) && n <= 65535) {
        int64_t splits = global_avg_splits(dtype, n, h * w, c);
        size_t need = (size_t)(n * splits * c) * sizeof(float);
        require(workspace != nullptr && workspace_bytes >= need, TRTN_INVALID_ARGUMENT,
                "global average pool: workspace of " + std::to_string(workspace_bytes) + " bytes, needs " + std::to_string(need));
        auto* partial = static_cast<float*>(workspace);
        bool vec = global_avg_vector(dtype, c) > 1 && aligned16(x);
        if (dtype == TRTN_FLOAT32) vec ? launch_global_avg<float, 4>(x, y, partial, n, h * w, c, splits, s)
                                       : launch_global_avg<float, 1>(x, y, partial, n, h * w, c, splits, s);
        else if (dtype == TRTN_FLOAT16) vec ? launch_global_avg<__half, 8>(x, y, partial, n, h * w, c, splits, s)
                                            : launch_global_avg<__half, 1>(x, y, partial, n, h * w, c, splits, s);
        else vec ? launch_global_avg<__nv_bfloat16, 8>(x, y, partial, n, h * w, c, splits, s)
                 : launch_global_avg<__nv_bfloat16, 1>(x, y, partial, n, h * w, c, splits, s);
        TRTN_LAUNCH_CHECK("global_avg_pool");
        return;
    }
    const int block = 256;
    // TRTN_POOL_VEC=0 keeps the scalar kernel (A/B timing).
    static const bool vec_enabled = !env_is("TRTN_POOL_VEC", "0");
    int vw = vector_width(dtype);
    bool vec = vec_enabled && c % vw == 0 && total / vw < 0x7fffffff && n * h * w * c < 0x7fffffff && aligned16(x) && aligned16(y);
    if (vec) {
        uint32_t tv = (uint32_t)(total / vw);
        unsigned grid = (unsigned)std::min<int64_t>((tv + block - 1) / block, 65535LL * 32);
        if (dtype == TRTN_FLOAT32)
            launch_kernel(pool_vec_kernel<float, 4>, grid, block, 0, s, static_cast<const float*>(x), static_cast<float*>(y), tv, (uint32_t)h, (uint32_t)w, (uint32_t)(c / 4), (uint32_t)p, (uint32_t)q, prm);
        else if (dtype == TRTN_FLOAT16)
            launch_kernel(pool_vec_kernel<__half, 8>, grid, block, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), tv, (uint32_t)h, (uint32_t)w, (uint32_t)(c / 8), (uint32_t)p, (uint32_t)q, prm);
        else
            launch_kernel(pool_vec_kernel<__nv_bfloat16, 8>, grid, block, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), tv, (uint32_t)h, (uint32_t)w, (uint32_t)(c / 8), (uint32_t)p, (uint32_t)q, prm);
        TRTN_LAUNCH_CHECK("pool");
        return;
    }
    if (dtype == TRTN_FLOAT32)
        launch_kernel(pool_kernel<float>, grid_for(total, block), block, 0, s, static_cast<const float*>(x), static_cast<float*>(y), total, h, w, c, p, q, prm);
    else if (dtype == TRTN_FLOAT16)
        launch_kernel(pool_kernel<__half>, grid_for(total, block), block, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), total, h, w, c, p, q, prm);
    else
        launch_kernel(pool_kernel<__nv_bfloat16>, grid_for(total, block), block, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), total, h, w, c, p, q, prm);
    TRTN_LAUNCH_CHECK("pool");
}

}  // namespace trtn::kernels
