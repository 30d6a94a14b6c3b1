// Direct NHWC convolution with the fused epilogue (bias, residual, activation), fp32 accumulation. It is the
// reference the autotuner checks cuDNN's candidates against, and a tactic of its own. A depthwise kernel with the same
// epilogue (vector loads across channels, filter taps in shared memory): cuDNN's engines ran ConvNeXt's 7x7 depthwise
// convolutions at about 8x the time their memory traffic needs on the H100. A tensor-core kernel for convolutions over
// few input channels (image stems). Also a relative-L2 comparison.
#include <mma.h>

#include "device.cuh"
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

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

// Depthwise convolution (one input channel per output channel, K = C): a thread owns V neighbouring channels (one
// 16-byte load of each input pixel it reads) and TQ neighbouring output columns of one output row, so each filter
// tap, read once from shared memory, serves TQ outputs. The block stages its channels' filter taps in shared memory
// as fp32, tap-major ([R*S][channels]) from the weights' channel-major layout. blockDim = (channel vectors, position
// groups); blockIdx.y = the channel tile.
template <class T, int V>
struct alignas(16) Pack {
    T v[V];
};

template <class T, int V, int TQ>
__global__ void conv_depthwise_kernel(const T* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias,
                                      const T* __restrict__ res, T* __restrict__ y, ConvDims d, trtn_conv_params p) {
    extern __shared__ float4 taps_storage[];  // [R*S][tile channels] floats, 16-byte aligned
    float* taps = reinterpret_cast<float*>(taps_storage);
    const int RS = (int)(d.R * d.S);
    const int tile = blockDim.x * V;  // channels per block
    const int64_t c0 = (int64_t)blockIdx.y * tile;
    const int64_t C = d.C;
    const int threads = blockDim.x * blockDim.y, tid = threadIdx.y * blockDim.x + threadIdx.x;
    for (int i = tid; i < tile * RS; i += threads) {
        int ch = i / RS, tap = i % RS;  // consecutive threads read consecutive weights
        taps[tap * tile + ch] = c0 + ch < C ? to_f(w[(c0 + ch) * RS + tap]) : 0.f;
    }
    __syncthreads();
    const int64_t c = c0 + (int64_t)threadIdx.x * V;
    if (c >= C) return;
    const int H = (int)d.H, W = (int)d.W, S = (int)d.S, R = (int)d.R;
    const int64_t P = d.P, Q = d.Q, qt = (Q + TQ - 1) / TQ, groups = d.N * P * qt;
    const float* tap_base = taps + threadIdx.x * V;
    for (int64_t g = (int64_t)blockIdx.x * blockDim.y + threadIdx.y; g < groups; g += (int64_t)gridDim.x * blockDim.y) {
        const int64_t q0 = (g % qt) * TQ;
        const int64_t pp = (g / qt) % P;
        const int64_t n = g / (qt * P);
        float acc[TQ][V];
        #pragma unroll
        for (int v = 0; v < V; ++v) {
            float b0 = bias ? bias[c + v] : 0.f;
            #pragma unroll
            for (int j = 0; j < TQ; ++j) acc[j][v] = b0;
        }
        for (int r = 0; r < R; ++r) {
            const int h = (int)pp * p.stride_h - p.pad_h + r * p.dilation_h;
            if (h < 0 || h >= H) continue;
            const T* row = x + ((n * H + h) * (int64_t)W) * C + c;
            for (int s = 0; s < S; ++s) {
                // V consecutive taps as float4 loads (tap_base is 16-byte aligned: tile and V are multiples of 4).
                float wv[V];
                const float4* tp = reinterpret_cast<const float4*>(tap_base + (r * S + s) * tile);
                #pragma unroll
                for (int v = 0; v < V / 4; ++v) {
                    float4 q4 = tp[v];
                    wv[4 * v] = q4.x; wv[4 * v + 1] = q4.y; wv[4 * v + 2] = q4.z; wv[4 * v + 3] = q4.w;
                }
                #pragma unroll
                for (int j = 0; j < TQ; ++j) {
                    const int64_t q = q0 + j;
                    const int col = (int)q * p.stride_w - p.pad_w + s * p.dilation_w;
                    if (q >= Q || col < 0 || col >= W) continue;
                    const Pack<T, V> in = *reinterpret_cast<const Pack<T, V>*>(row + (int64_t)col * C);
                    #pragma unroll
                    for (int v = 0; v < V; ++v) acc[j][v] += to_f(in.v[v]) * wv[v];
                }
            }
        }
        #pragma unroll
        for (int j = 0; j < TQ; ++j) {
            const int64_t q = q0 + j;
            if (q >= Q) break;
            const int64_t at = ((n * P + pp) * Q + q) * C + c;
            Pack<T, V> out;
            Pack<T, V> r0{};
            if (res) r0 = *reinterpret_cast<const Pack<T, V>*>(res + at);
            #pragma unroll
            for (int v = 0; v < V; ++v) {
                float a = acc[j][v] + (res ? to_f(r0.v[v]) : 0.f);
                out.v[v] = from_f<T>(apply_unary(p.act.kind, a, p.act.alpha, p.act.beta));
            }
            *reinterpret_cast<Pack<T, V>*>(y + at) = out;
        }
    }
}

// Channels per 16-byte load, and the block shape for `channels` channels and `taps` filter taps: (channel vectors per
// block, position groups per block, shared-memory bytes), or a zero shape when the taps do not fit shared memory.
struct DepthwiseLaunch {
    int vec, tx, ty;
    size_t smem;
};

constexpr int kDepthwiseTQ = 4;
constexpr size_t kDepthwiseSmem = 48 * 1024;

DepthwiseLaunch depthwise_launch(int32_t dtype, int64_t channels, int64_t taps) {
    int vec = dtype == TRTN_FLOAT32 ? 4 : 8;
    int64_t vectors = channels / vec;
    int64_t fit = (int64_t)(kDepthwiseSmem / (taps * vec * sizeof(float)));
    int tx = (int)std::min<int64_t>({vectors, 16, fit});
    if (tx < 1) return {vec, 0, 0, 0};
    int ty = std::max(1, 256 / tx);
    return {vec, tx, ty, (size_t)tx * vec * taps * sizeof(float)};
}

// Convolution over few input channels (an image stem: 3 channels, 3x3 or 7x7) on tensor cores, as an implicit GEMM:
// [output pixels x (taps x channels)] times [(taps x channels) x output channels]. cuDNN reads channels as 16-byte
// vectors, and with 3 of them its best engines took ResNet-50's 7x7 stem at about 4x (fp16) and 6x (bf16) the time its
// memory traffic needs on the H100. The block stages the weights once as a column-major [taps·channels padded to 16]
// x [output channels] matrix and a table of each tap's (row offset, column offset, channel); each warp then gathers
// 16 output pixels' inputs 16 taps-and-channels at a time into shared memory (zeros outside the image and past the
// last tap) and multiplies, with fp32 accumulators; the epilogue (bias, residual, activation) reads them back from
// shared memory and writes each pixel's output channels contiguously. Blocks loop over tiles of 64 output pixels.
constexpr int kSmallWarps = 4;
constexpr int kSmallTile = 16 * kSmallWarps;
constexpr size_t kSmallSmem = 48 * 1024;

// Shared-memory row strides are padded past a multiple of 128 bytes (the weights' by 8 values, the accumulators' by 4)
// so that the fragment loads and stores do not hit the same banks row after row.
struct SmallChannelLayout {
    int kp;             // taps x channels, padded to a multiple of 16
    size_t warp_bytes;  // a warp's region: its 16x16 input slice, later its 16 x (K + 4) fp32 accumulators
    size_t total;       // weights [K][kp + 8], the warps' regions, the tap table [kp]
};

SmallChannelLayout small_channel_layout(int64_t K, int64_t taps_channels) {
    int kp = (int)((taps_channels + 15) / 16 * 16);
    size_t warp = std::max<size_t>(16 * 16 * 2, (size_t)16 * (K + 4) * 4);
    return {kp, warp, (size_t)K * (kp + 8) * 2 + kSmallWarps * warp + (size_t)kp * 4};
}

template <class T, int NF>
__global__ void __launch_bounds__(32 * kSmallWarps)
conv_small_channel_kernel(const T* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias, const T* __restrict__ res,
                          T* __restrict__ y, ConvDims d, trtn_conv_params p, int kp, size_t warp_bytes, int64_t pixels) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    constexpr int K = NF * 16, KS = K + 4;  // KS: the accumulators' row stride
    extern __shared__ __align__(128) unsigned char small_smem[];
    const int ldb = kp + 8;                 // the weights' column stride
    const int rsc = (int)(d.R * d.S * d.Cg), C = (int)d.C, S = (int)d.S, H = (int)d.H, W = (int)d.W;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    T* bs = reinterpret_cast<T*>(small_smem);  // element (tap·channel kk, output channel ko) at ko * ldb + kk
    unsigned char* regions = small_smem + (size_t)K * ldb * sizeof(T);
    T* as = reinterpret_cast<T*>(regions + warp * warp_bytes);      // [16 pixels][16 taps·channels]
    float* cs = reinterpret_cast<float*>(regions + warp * warp_bytes);  // [16 pixels][KS], after the products
    int* taps = reinterpret_cast<int*>(regions + kSmallWarps * warp_bytes);
    for (int i = threadIdx.x; i < K * ldb; i += blockDim.x) {
        int ko = i / ldb, kk = i - ko * ldb;
        bs[i] = kk < rsc ? w[(int64_t)ko * rsc + kk] : from_f<T>(0.f);
    }
    for (int kk = threadIdx.x; kk < kp; kk += blockDim.x) {
        int c = kk % C, rs = kk / C, s = rs % S, r = rs / S;
        taps[kk] = kk < rsc ? ((r * p.dilation_h) << 20) | ((s * p.dilation_w) << 8) | c : -1;
    }
    __syncthreads();

    // Lane l gathers tap·channel (l & 15) of the slice for pixels (l >> 4) + 2j, j = 0..7.
    const int col = lane & 15;
    const int64_t tiles = (pixels + kSmallTile - 1) / kSmallTile;
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int64_t m0 = tile * kSmallTile + warp * 16;
        if (m0 >= pixels) continue;  // warp-uniform; no block-wide barrier follows
        int64_t base[8];
        int ih0[8], iw0[8];
        bool valid[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            int64_t m = m0 + (lane >> 4) + 2 * j;
            valid[j] = m < pixels;
            int64_t mm = valid[j] ? m : 0;
            int64_t q = mm % d.Q, t = mm / d.Q;
            int64_t pp = t % d.P, n = t / d.P;
            base[j] = n * d.H * d.W * d.C;
            ih0[j] = (int)pp * p.stride_h - p.pad_h;
            iw0[j] = (int)q * p.stride_w - p.pad_w;
        }
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NF];
#pragma unroll
        for (int f = 0; f < NF; ++f) wmma::fill_fragment(acc[f], 0.f);
        // This lane's 8 values of the slice at k0 (zeros outside the image and past the last tap).
        auto gather = [&](int k0, T (&v)[8]) {
            int tap = taps[k0 + col];
            int dh = tap >> 20, dw = (tap >> 8) & 0xfff, c = tap & 0xff;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                int ih = ih0[j] + dh, iw = iw0[j] + dw;
                bool inside = tap >= 0 && valid[j] && ih >= 0 && ih < H && iw >= 0 && iw < W;
                v[j] = inside ? x[base[j] + ((int64_t)ih * W + iw) * C + c] : from_f<T>(0.f);
            }
        };
        T next[8];
        gather(0, next);
        for (int k0 = 0; k0 < kp; k0 += 16) {
#pragma unroll
            for (int j = 0; j < 8; ++j) as[((lane >> 4) + 2 * j) * 16 + col] = next[j];
            __syncwarp();
            // The next slice's loads are issued before these products, so the two overlap.
            if (k0 + 16 < kp) gather(k0 + 16, next);
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
            wmma::load_matrix_sync(a, as, 16);
#pragma unroll
            for (int f = 0; f < NF; ++f) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                wmma::load_matrix_sync(b, bs + (size_t)f * 16 * ldb + k0, ldb);
                wmma::mma_sync(acc[f], a, b, acc[f]);
            }
            __syncwarp();
        }
#pragma unroll
        for (int f = 0; f < NF; ++f) wmma::store_matrix_sync(cs + f * 16, acc[f], KS, wmma::mem_row_major);
        __syncwarp();
        for (int e = lane; e < 16 * K; e += 32) {
            int i = e / K, ko = e - i * K;
            int64_t m = m0 + i;
            if (m >= pixels) break;  // later e only go further
            float v = cs[i * KS + ko] + (bias ? bias[ko] : 0.f);
            int64_t o = m * K + ko;
            if (res) v += to_f(res[o]);
            y[o] = from_f<T>(apply_unary(p.act.kind, v, p.act.alpha, p.act.beta));
        }
        __syncwarp();  // the next tile's slice overwrites these accumulators
    }
#endif
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

bool conv_depthwise_applies(int32_t dtype, const int64_t* xd, const int64_t* wd, const trtn_conv_params& p) {
    if (!is_float_type(dtype)) return false;
    int64_t C = xd[3], K = wd[0], Cg = wd[3];
    int vec = dtype == TRTN_FLOAT32 ? 4 : 8;
    return Cg == 1 && K == C && p.groups == C && C % vec == 0 && depthwise_launch(dtype, C, wd[1] * wd[2]).tx > 0;
}

void conv_depthwise(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                    const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s) {
    require(conv_depthwise_applies(dtype, xd, wd, p), TRTN_INVALID_ARGUMENT, "conv_depthwise: not a depthwise convolution this kernel runs");
    ConvDims d{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], wd[3], yd[1], yd[2]};
    if (d.N * d.P * d.Q * d.K == 0) return;
    // Each pixel is read as one 16-byte load: with C a multiple of the vector, every pixel is aligned when the tensors are.
    auto aligned = [](const void* ptr) { return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
    if (!aligned(x) || !aligned(y) || !aligned(residual)) {
        conv_direct(dtype, x, w, bias, residual, y, xd, wd, yd, p, s);
        return;
    }
    DepthwiseLaunch l = depthwise_launch(dtype, d.C, d.R * d.S);
    int64_t groups = d.N * d.P * ((d.Q + kDepthwiseTQ - 1) / kDepthwiseTQ);
    int64_t bx = std::min<int64_t>((groups + l.ty - 1) / l.ty, 1 << 20);
    int64_t tiles = (d.C + (int64_t)l.tx * l.vec - 1) / ((int64_t)l.tx * l.vec);
    dim3 grid((unsigned)bx, (unsigned)tiles), block((unsigned)l.tx, (unsigned)l.ty);
    if (dtype == TRTN_FLOAT32)
        conv_depthwise_kernel<float, 4, kDepthwiseTQ><<<grid, block, l.smem, s>>>(static_cast<const float*>(x), static_cast<const float*>(w), bias,
            static_cast<const float*>(residual), static_cast<float*>(y), d, p);
    else if (dtype == TRTN_FLOAT16)
        conv_depthwise_kernel<__half, 8, kDepthwiseTQ><<<grid, block, l.smem, s>>>(static_cast<const __half*>(x), static_cast<const __half*>(w), bias,
            static_cast<const __half*>(residual), static_cast<__half*>(y), d, p);
    else
        conv_depthwise_kernel<__nv_bfloat16, 8, kDepthwiseTQ><<<grid, block, l.smem, s>>>(static_cast<const __nv_bfloat16*>(x),
            static_cast<const __nv_bfloat16*>(w), bias, static_cast<const __nv_bfloat16*>(residual), static_cast<__nv_bfloat16*>(y), d, p);
    TRTN_LAUNCH_CHECK("conv_depthwise");
}

bool conv_small_channel_applies(int32_t dtype, const int64_t* xd, const int64_t* wd, const trtn_conv_params& p) {
    if (dtype != TRTN_FLOAT16 && dtype != TRTN_BFLOAT16) return false;
    int64_t C = xd[3], K = wd[0], R = wd[1], S = wd[2], Cg = wd[3];
    if (p.groups != 1 || Cg != C || C < 1 || C >= 8 || K % 16 != 0 || K < 16 || K > 64) return false;
    if (p.dilation_h < 1 || p.dilation_w < 1 || (R - 1) * p.dilation_h >= 2048 || (S - 1) * p.dilation_w >= 4096) return false;
    if (small_channel_layout(K, R * S * C).total > kSmallSmem) return false;
    return device_attribute(cudaDevAttrComputeCapabilityMajor) >= 8;  // wmma on fp16 and bf16
}

namespace {

template <class T>
void launch_small_channel(const T* x, const T* w, const float* bias, const T* res, T* y, const ConvDims& d, const trtn_conv_params& p,
                          cudaStream_t s) {
    SmallChannelLayout l = small_channel_layout(d.K, d.R * d.S * d.Cg);
    int64_t pixels = d.N * d.P * d.Q;
    int64_t tiles = (pixels + kSmallTile - 1) / kSmallTile;
    // A few blocks per SM loop over the tiles: each stages the weights once.
    int sms = device_attribute(cudaDevAttrMultiProcessorCount);
    unsigned grid = (unsigned)std::min<int64_t>(tiles, (int64_t)std::max(sms, 1) * 4);
    dim3 block(32 * kSmallWarps);
    switch (d.K / 16) {
        case 1: conv_small_channel_kernel<T, 1><<<grid, block, l.total, s>>>(x, w, bias, res, y, d, p, l.kp, l.warp_bytes, pixels); break;
        case 2: conv_small_channel_kernel<T, 2><<<grid, block, l.total, s>>>(x, w, bias, res, y, d, p, l.kp, l.warp_bytes, pixels); break;
        case 3: conv_small_channel_kernel<T, 3><<<grid, block, l.total, s>>>(x, w, bias, res, y, d, p, l.kp, l.warp_bytes, pixels); break;
        default: conv_small_channel_kernel<T, 4><<<grid, block, l.total, s>>>(x, w, bias, res, y, d, p, l.kp, l.warp_bytes, pixels); break;
    }
}

}  // namespace

void conv_small_channel(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                        const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s) {
    require(conv_small_channel_applies(dtype, xd, wd, p), TRTN_INVALID_ARGUMENT,
            "conv_small_channel: not a convolution this kernel runs (float16/bfloat16, one group, fewer than 8 input channels, "
            "16 to 64 output channels in multiples of 16, weights within shared memory, compute capability 8.0 or later)");
    ConvDims d{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], wd[3], yd[1], yd[2]};
    if (d.N * d.P * d.Q == 0) return;
    if (dtype == TRTN_FLOAT16)
        launch_small_channel(static_cast<const __half*>(x), static_cast<const __half*>(w), bias, static_cast<const __half*>(residual),
                             static_cast<__half*>(y), d, p, s);
    else
        launch_small_channel(static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w), bias,
                             static_cast<const __nv_bfloat16*>(residual), static_cast<__nv_bfloat16*>(y), d, p, s);
    TRTN_LAUNCH_CHECK("conv_small_channel");
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
