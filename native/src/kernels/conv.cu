// Direct NHWC convolution with the fused epilogue (bias, residual, activation), fp32 accumulation. It is the
// reference the autotuner checks cuDNN's candidates against, and a tactic of its own (fast enough for depthwise
// convolutions, where each output reads R*S inputs). Also a relative-L2 comparison for that check.
#include "device.cuh"
#include "kernels.h"

#include <cmath>

namespace trtn::kernels {
namespace {

struct ConvDims {
    int64_t N, H, W, C, K, R, S, Cg, P, Q;
};

// I: index type (uint32_t when every tensor has fewer than 2^31 elements, else int64_t).
template <class T, class I>
__global__ void conv_direct_kernel(const T* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias,
                                   const T* __restrict__ res, T* __restrict__ y, ConvDims d, trtn_conv_params p) {
    I total = (I)(d.N * d.P * d.Q * d.K);
    I K = (I)d.K, Q = (I)d.Q, P = (I)d.P, Kg = (I)(d.K / p.groups), Cg = (I)d.Cg;
    int H = (int)d.H, W = (int)d.W, R = (int)d.R, S = (int)d.S;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x) {
        I k = i % K;
        I t = i / K;
        I q = t % Q;
        t /= Q;
        I pp = t % P;
        I n = t / P;
        I c0 = (k / Kg) * Cg;
        float acc = bias ? bias[k] : 0.f;
        for (int r = 0; r < R; ++r) {
            int h = (int)pp * p.stride_h - p.pad_h + r * p.dilation_h;
            if (h < 0 || h >= H) continue;
            for (int s = 0; s < S; ++s) {
                int ww = (int)q * p.stride_w - p.pad_w + s * p.dilation_w;
                if (ww < 0 || ww >= W) continue;
                const T* xp = x + ((I)((I)n * H + h) * W + ww) * (I)d.C + c0;
                const T* wp = w + ((k * R + r) * S + s) * Cg;
                for (I c = 0; c < Cg; ++c) acc += to_f(xp[c]) * to_f(wp[c]);
            }
        }
        if (res) acc += to_f(res[i]);
        y[i] = from_f<T>(apply_unary(p.act.kind, acc, p.act.alpha, p.act.beta));
    }
}

template <class T>
__global__ void diff_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t n, double* out) {
    float num = 0.f, den = 0.f;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float u = to_f(a[i]), v = to_f(b[i]);
        float d = u - v;
        num += (d == d) ? d * d : 1e30f;  // NaN counts as a huge error
        den += v * v;
    }
    for (int o = 16; o > 0; o >>= 1) {
        num += __shfl_xor_sync(0xffffffffu, num, o);
        den += __shfl_xor_sync(0xffffffffu, den, o);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(out, (double)num);
        atomicAdd(out + 1, (double)den);
    }
}

}  // namespace

void conv_direct(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                 const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s) {
    require_float(dtype, "conv_direct");
    ConvDims d{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], wd[3], yd[1], yd[2]};
    int64_t total = d.N * d.P * d.Q * d.K;
    if (total == 0) return;
    const int block = 256;
    bool small = total < (1ll << 31) && d.N * d.H * d.W * d.C < (1ll << 31) && d.K * d.R * d.S * d.Cg < (1ll << 31);
    if (dtype == TRTN_FLOAT32) {
        auto X = static_cast<const float*>(x); auto Wt = static_cast<const float*>(w);
        auto Rs = static_cast<const float*>(residual); auto Y = static_cast<float*>(y);
        if (small) conv_direct_kernel<float, uint32_t><<<grid_for(total, block), block, 0, s>>>(X, Wt, bias, Rs, Y, d, p);
        else conv_direct_kernel<float, int64_t><<<grid_for(total, block), block, 0, s>>>(X, Wt, bias, Rs, Y, d, p);
    } else if (dtype == TRTN_FLOAT16) {
        auto X = static_cast<const __half*>(x); auto Wt = static_cast<const __half*>(w);
        auto Rs = static_cast<const __half*>(residual); auto Y = static_cast<__half*>(y);
        if (small) conv_direct_kernel<__half, uint32_t><<<grid_for(total, block), block, 0, s>>>(X, Wt, bias, Rs, Y, d, p);
        else conv_direct_kernel<__half, int64_t><<<grid_for(total, block), block, 0, s>>>(X, Wt, bias, Rs, Y, d, p);
    } else {
        auto X = static_cast<const __nv_bfloat16*>(x); auto Wt = static_cast<const __nv_bfloat16*>(w);
        auto Rs = static_cast<const __nv_bfloat16*>(residual); auto Y = static_cast<__nv_bfloat16*>(y);
        if (small) conv_direct_kernel<__nv_bfloat16, uint32_t><<<grid_for(total, block), block, 0, s>>>(X, Wt, bias, Rs, Y, d, p);
        else conv_direct_kernel<__nv_bfloat16, int64_t><<<grid_for(total, block), block, 0, s>>>(X, Wt, bias, Rs, Y, d, p);
    }
    TRTN_LAUNCH_CHECK("conv_direct");
}

double relative_l2(int32_t dtype, const void* a, const void* b, int64_t n, cudaStream_t s) {
    require_float(dtype, "relative_l2");
    if (n == 0) return 0;
    double* dev = nullptr;
    TRTN_CUDA_CHECK(cudaMalloc(&dev, 2 * sizeof(double)));
    double host[2] = {0, 0};
    try {
        TRTN_CUDA_CHECK(cudaMemsetAsync(dev, 0, 2 * sizeof(double), s));
        const int block = 256;
        unsigned grid = grid_for(n, block);
        if (grid > 1024) grid = 1024;
        if (dtype == TRTN_FLOAT32) diff_kernel<float><<<grid, block, 0, s>>>(static_cast<const float*>(a), static_cast<const float*>(b), n, dev);
        else if (dtype == TRTN_FLOAT16) diff_kernel<__half><<<grid, block, 0, s>>>(static_cast<const __half*>(a), static_cast<const __half*>(b), n, dev);
        else diff_kernel<__nv_bfloat16><<<grid, block, 0, s>>>(static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b), n, dev);
        TRTN_LAUNCH_CHECK("relative_l2");
        TRTN_CUDA_CHECK(cudaMemcpyAsync(host, dev, sizeof(host), cudaMemcpyDeviceToHost, s));
        TRTN_CUDA_CHECK(cudaStreamSynchronize(s));
    } catch (...) {
        cudaFree(dev);
        throw;
    }
    cudaFree(dev);
    return std::sqrt(host[0] / (host[1] > 0 ? host[1] : 1.0));
}

}  // namespace trtn::kernels
