// Max / average pooling over NHWC tensors: one thread per output element, channels innermost (coalesced).
#include <cfloat>

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

}  // namespace

void pool_nhwc(int32_t dtype, const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t p,
               int64_t q, const trtn_pool_params& prm, cudaStream_t s) {
    require_float(dtype, "pool");
    require(prm.kernel_h > 0 && prm.kernel_w > 0 && prm.stride_h > 0 && prm.stride_w > 0 && prm.dilation_h > 0 && prm.dilation_w > 0,
            TRTN_INVALID_ARGUMENT, "pool: kernel, strides and dilations must be positive");
    int64_t total = n * p * q * c;
    if (total == 0) return;
    bool global = prm.mode == 1 && p == 1 && q == 1 && prm.kernel_h == h && prm.kernel_w == w && prm.pad_top == 0 &&
                  prm.pad_left == 0 && prm.pad_bottom == 0 && prm.pad_right == 0;
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
    if (dtype == TRTN_FLOAT32)
        pool_kernel<float><<<grid_for(total, block), block, 0, s>>>(static_cast<const float*>(x), static_cast<float*>(y), total, h, w, c, p, q, prm);
    else if (dtype == TRTN_FLOAT16)
        pool_kernel<__half><<<grid_for(total, block), block, 0, s>>>(static_cast<const __half*>(x), static_cast<__half*>(y), total, h, w, c, p, q, prm);
    else
        pool_kernel<__nv_bfloat16><<<grid_for(total, block), block, 0, s>>>(static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), total, h, w, c, p, q, prm);
    TRTN_LAUNCH_CHECK("pool");
}

}  // namespace trtn::kernels
