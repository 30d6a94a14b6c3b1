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

// Global average pooling (kernel = whole image, no padding): one warp per (n, channel-group of 32) keeps the
// reads coalesced along C.
template <class T>
__global__ void global_avg_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t N, int64_t HW, int64_t C) {
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t n = blockIdx.y;
    if (c >= C || n >= N) return;
    const T* base = x + n * HW * C + c;
    float acc = 0.f;
    for (int64_t k = 0; k < HW; ++k) acc += to_f(base[k * C]);
    y[n * C + c] = from_f<T>(acc / (float)HW);
}

// The same pooling, V channels per thread (16-byte loads and stores) with 32-bit index math, for C a multiple of V
// and fewer than 2^31 vectors: the scalar kernel's 64-bit divisions and 2-byte loads ran ResNet-50's 3x3 stem max
// pool at batch 128 in 0.88 ms (17% of the model's summed layer time; about 250 MB move).
template <class T, int V>
__global__ void pool_vec_kernel(const T* __restrict__ x, T* __restrict__ y, uint32_t total, uint32_t H, uint32_t W,
                                uint32_t CV, uint32_t P, uint32_t Q, trtn_pool_params p) {
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
                    uint4 raw = *reinterpret_cast<const uint4*>(x + ((size_t)(n * H + h) * W + w) * CV * V + (size_t)cv * V);
                    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
                    for (int k = 0; k < V; ++k) acc[k] = p.mode == 0 ? fmaxf(acc[k], to_f(e[k])) : acc[k] + to_f(e[k]);
                    ++count;
                } else if (p.mode == 1 && p.count_include_pad && h < (int)H + p.pad_bottom && w < (int)W + p.pad_right) {
                    ++count;
                }
            }
        }
        uint4 out;
        T* o = reinterpret_cast<T*>(&out);
#pragma unroll
        for (int k = 0; k < V; ++k) o[k] = from_f<T>(p.mode == 1 ? (count > 0 ? acc[k] / (float)count : 0.f) : acc[k]);
        *reinterpret_cast<uint4*>(y + (size_t)i * V) = out;
    }
}

// Global average pooling when N x C alone is too little parallelism (a squeeze-excitation pool over 112x112x32 has 32
// threads at batch 1, each summing 12544 values in a row): H*W is cut into `splits` slices; block (x: 32 channels,
// y: 8 rows of the slice) sums its slice into partial[n][split][c] (fp32), then one thread per (n, c) adds the
// splits in order. Deterministic: the order of every sum is fixed.
template <class T>
__global__ void global_avg_partial(const T* __restrict__ x, float* __restrict__ partial, int64_t HW, int64_t C, int64_t splits) {
    __shared__ float sums[8][33];
    int64_t c = blockIdx.x * 32 + threadIdx.x;
    int64_t split = blockIdx.y, n = blockIdx.z;
    int64_t per = (HW + splits - 1) / splits;
    int64_t begin = split * per, end = min(HW, begin + per);
    float acc = 0.f;
    if (c < C) {
        const T* base = x + n * HW * C + c;
        for (int64_t k = begin + threadIdx.y; k < end; k += 8) acc += to_f(base[k * C]);
    }
    sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float total = 0.f;
#pragma unroll
        for (int r = 0; r < 8; ++r) total += sums[r][threadIdx.x];
        partial[(n * splits + split) * C + c] = total;
    }
}

template <class T>
__global__ void global_avg_finish(const float* __restrict__ partial, T* __restrict__ y, int64_t N, int64_t HW, int64_t C, int64_t splits) {
    int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i >= N * C) return;
    int64_t n = i / C, c = i % C;
    float acc = 0.f;
    for (int64_t k = 0; k < splits; ++k) acc += partial[(n * splits + k) * C + c];
    y[i] = from_f<T>(acc / (float)HW);
}

bool is_global_avg(const trtn_pool_params& prm, int64_t h, int64_t w, int64_t p, int64_t q) {
    return prm.mode == 1 && p == 1 && q == 1 && prm.kernel_h == h && prm.kernel_w == w && prm.pad_top == 0 && prm.pad_left == 0 &&
           prm.pad_bottom == 0 && prm.pad_right == 0;
}

// Slices of H*W for the split global average: enough blocks to fill the GPU (about 512), each slice at least 64 rows;
// 1 (the one-pass kernel) when N x C threads are plenty or H*W is short.
int64_t global_avg_splits(int64_t n, int64_t hw, int64_t c) {
    if (n * c >= 32768 || hw < 128 || n > 65535) return 1;
    int64_t tiles = ((c + 31) / 32) * n;
    int64_t want = (512 + tiles - 1) / tiles;
    return std::max<int64_t>(1, std::min<int64_t>({want, hw / 64, 65535}));
}

}  // namespace

size_t pool_nhwc_workspace(int64_t n, int64_t h, int64_t w, int64_t c, int64_t p, int64_t q, const trtn_pool_params& prm) {
    if (!is_global_avg(prm, h, w, p, q)) return 0;
    int64_t splits = global_avg_splits(n, h * w, c);
    return splits > 1 ? (size_t)(n * splits * c) * sizeof(float) : 0;
}

void pool_nhwc(int32_t dtype, const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t p,
               int64_t q, const trtn_pool_params& prm, void* workspace, size_t workspace_bytes, cudaStream_t s) {
    require_float(dtype, "pool");
    require(prm.kernel_h > 0 && prm.kernel_w > 0 && prm.stride_h > 0 && prm.stride_w > 0 && prm.dilation_h > 0 && prm.dilation_w > 0,
            TRTN_INVALID_ARGUMENT, "pool: kernel, strides and dilations must be positive");
    int64_t total = n * p * q * c;
    if (total == 0) return;
    bool global = is_global_avg(prm, h, w, p, q);
    int64_t splits = global ? global_avg_splits(n, h * w, c) : 1;
    if (splits > 1) {
        size_t need = (size_t)(n * splits * c) * sizeof(float);
        require(workspace != nullptr && workspace_bytes >= need, TRTN_INVALID_ARGUMENT,
                "global average pool: workspace of " + std::to_string(workspace_bytes) + " bytes, needs " + std::to_string(need));
        auto* partial = static_cast<float*>(workspace);
        dim3 grid((unsigned)((c + 31) / 32), (unsigned)splits, (unsigned)n), block(32, 8);
        int fin = 256;
        unsigned fgrid = (unsigned)((n * c + fin - 1) / fin);
        if (dtype == TRTN_FLOAT32) {
            global_avg_partial<float><<<grid, block, 0, s>>>(static_cast<const float*>(x), partial, h * w, c, splits);
            global_avg_finish<float><<<fgrid, fin, 0, s>>>(partial, static_cast<float*>(y), n, h * w, c, splits);
        } else if (dtype == TRTN_FLOAT16) {
            global_avg_partial<__half><<<grid, block, 0, s>>>(static_cast<const __half*>(x), partial, h * w, c, splits);
            global_avg_finish<__half><<<fgrid, fin, 0, s>>>(partial, static_cast<__half*>(y), n, h * w, c, splits);
        } else {
            global_avg_partial<__nv_bfloat16><<<grid, block, 0, s>>>(static_cast<const __nv_bfloat16*>(x), partial, h * w, c, splits);
            global_avg_finish<__nv_bfloat16><<<fgrid, fin, 0, s>>>(partial, static_cast<__nv_bfloat16*>(y), n, h * w, c, splits);
        }
        TRTN_LAUNCH_CHECK("global_avg_pool");
        return;
    }
    if (global && n <= 65535) {
        dim3 grid((unsigned)((c + 127) / 128), (unsigned)n);
        if (dtype == TRTN_FLOAT32)
            global_avg_kernel<float><<<grid, 128, 0, s>>>(static_cast<const float*>(x), static_cast<float*>(y), n, h * w, c);
        else if (dtype == TRTN_FLOAT16)
            global_avg_kernel<__half><<<grid, 128, 0, s>>>(static_cast<const __half*>(x), static_cast<__half*>(y), n, h * w, c);
        else
            global_avg_kernel<__nv_bfloat16><<<grid, 128, 0, s>>>(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), n, h * w, c);
        TRTN_LAUNCH_CHECK("global_avg_pool");
        return;
    }
    const int block = 256;
    // TRTN_POOL_VEC=0 keeps the scalar kernel (A/B timing).
    static const bool vec_enabled = !env_is("TRTN_POOL_VEC", "0");
    int vw = dtype == TRTN_FLOAT32 ? 4 : 8;  // values per 16 bytes
    bool vec = vec_enabled && c % vw == 0 && total / vw < 0x7fffffff && n * h * w * c < 0x7fffffff &&
               reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
    if (vec) {
        uint32_t tv = (uint32_t)(total / vw);
        unsigned grid = (unsigned)std::min<int64_t>((tv + block - 1) / block, 65535LL * 32);
        if (dtype == TRTN_FLOAT32)
            pool_vec_kernel<float, 4><<<grid, block, 0, s>>>(static_cast<const float*>(x), static_cast<float*>(y), tv, (uint32_t)h, (uint32_t)w, (uint32_t)(c / 4), (uint32_t)p, (uint32_t)q, prm);
        else if (dtype == TRTN_FLOAT16)
            pool_vec_kernel<__half, 8><<<grid, block, 0, s>>>(static_cast<const __half*>(x), static_cast<__half*>(y), tv, (uint32_t)h, (uint32_t)w, (uint32_t)(c / 8), (uint32_t)p, (uint32_t)q, prm);
        else
            pool_vec_kernel<__nv_bfloat16, 8><<<grid, block, 0, s>>>(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), tv, (uint32_t)h, (uint32_t)w, (uint32_t)(c / 8), (uint32_t)p, (uint32_t)q, prm);
        TRTN_LAUNCH_CHECK("pool");
        return;
    }
    if (dtype == TRTN_FLOAT32)
        pool_kernel<float><<<grid_for(total, block), block, 0, s>>>(static_cast<const float*>(x), static_cast<float*>(y), total, h, w, c, p, q, prm);
    else if (dtype == TRTN_FLOAT16)
        pool_kernel<__half><<<grid_for(total, block), block, 0, s>>>(static_cast<const __half*>(x), static_cast<__half*>(y), total, h, w, c, p, q, prm);
    else
        pool_kernel<__nv_bfloat16><<<grid_for(total, block), block, 0, s>>>(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), total, h, w, c, p, q, prm);
    TRTN_LAUNCH_CHECK("pool");
}

}  // namespace trtn::kernels
