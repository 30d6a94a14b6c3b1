// Direct NHWC convolution with the fused epilogue (bias, residual, activation), fp32 accumulation. It is the
// reference the autotuner checks cuDNN's candidates against, and a tactic of its own. A depthwise kernel with the same
// epilogue (vector loads across channels, filter taps in shared memory): cuDNN's engines ran ConvNeXt's 7x7 depthwise
// convolutions at about 8x the time their memory traffic needs on the H100. A tensor-core kernel for convolutions over
// few input channels (image stems). Also a relative-L2 comparison.
#include "device.cuh"
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace trtn::kernels {
namespace {

struct ConvDims {
    int64_t N, H, W, C, K, R, S, Cg, P, Q;
};

// The direct convolution with LANES threads per output element: one, or a warp for long reductions over few outputs
// (a squeeze-excitation block's 1x1 convolutions over [N, 1, 1, C]: 672 products an output at batch 1 took one thread
// per output about 6.5 us and cuDNN's graph engines up to 19 us on the H100). The lanes split each tap's channels, V
// at a time (16-byte loads) where the group's channels and both tensors allow it, and a shuffle adds their sums.
// I: index type (uint32_t when every tensor has fewer than 2^31 elements, else int64_t).
template <class T, class I, int LANES, int V>
__global__ void conv_direct_kernel(const T* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias,
                                   const T* __restrict__ res, T* __restrict__ y, ConvDims d, trtn_conv_params p) {
    wait_for_producer();
    const I total = (I)(d.N * d.P * d.Q * d.K);
    const I K = (I)d.K, Q = (I)d.Q, P = (I)d.P, Kg = (I)(d.K / p.groups), Cg = (I)d.Cg;
    const int H = (int)d.H, W = (int)d.W, R = (int)d.R, S = (int)d.S;
    const I lane = (I)(threadIdx.x % LANES);
    const I step = (I)gridDim.x * blockDim.x / LANES;
    for (I i = (blockIdx.x * (I)blockDim.x + threadIdx.x) / LANES; i < total; i += step) {
        I k = i % K;
        I t = i / K;
        I q = t % Q;
        t /= Q;
        I pp = t % P;
        I n = t / P;
        I c0 = (k / Kg) * Cg;
        float acc = 0.f;
        for (int r = 0; r < R; ++r) {
            int h = (int)pp * p.stride_h - p.pad_h + r * p.dilation_h;
            if (h < 0 || h >= H) continue;
            for (int s = 0; s < S; ++s) {
                int ww = (int)q * p.stride_w - p.pad_w + s * p.dilation_w;
                if (ww < 0 || ww >= W) continue;
                const T* xp = x + ((I)((I)n * H + h) * W + ww) * (I)d.C + c0;
                const T* wp = w + ((k * R + r) * S + s) * Cg;
                for (I c = lane * V; c < Cg; c += LANES * V) {
                    if constexpr (V == 1) {
                        acc += to_f(xp[c]) * to_f(wp[c]);
                    } else {
                        float xv[V], wv[V];
                        load_vector<T, V>(xp + c, xv);
                        load_vector<T, V>(wp + c, wv);
#pragma unroll
                        for (int v = 0; v < V; ++v) acc += xv[v] * wv[v];
                    }
                }
            }
        }
        if constexpr (LANES > 1) {
            // Every lane of the warp runs the same iterations, so all of them reach the shuffle.
#pragma unroll
            for (int off = LANES / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, off);
            if (lane != 0) continue;
        }
        if (bias) acc += bias[k];
        if (res) acc += to_f(res[i]);
        y[i] = from_f<T>(apply_activation(p.act.kind, acc, p.act.alpha, p.act.beta));
    }
}

// Depthwise convolution (one input channel per output channel, K = C): a thread owns V neighbouring channels (one
// 16-byte load of each input pixel it reads, or 2 channels: the narrow split) and TQ neighbouring output columns of
// one output row, so each filter tap, read once from shared memory, serves TQ outputs. The block stages its channels'
// filter taps in shared memory as fp32, tap-major ([R*S][channels]) from the weights' channel-major layout. blockDim =
// (threads across the channel tile, position groups); blockIdx.y = the channel tile. Indexes are 32-bit
// (conv_depthwise_applies bounds the tensors).
// KS > 0: the kernel is compiled for square KS x KS filters at stride STRIDE without dilation (the shapes of
// MobileNet, EfficientNet and ConvNeXt). Each input row's window of (TQ - 1) * STRIDE + KS pixels is then loaded once,
// every load of the row in flight together, and serves all TQ outputs; the general form (KS = 0) loads each pixel
// once per output and tap, one tap at a time, and ran MobileNetV3's 3x3 layers at about 6x their memory bound.
// TQ is 4, 2 or 1, each a tactic timed at build time: at 4 a 7x7 kernel needs 104-128 registers and ConvNeXt's
// 1x56x56x96 layer makes 2 warps an SM; 2 and 1 need fewer registers and make 2x and 4x the threads. The narrow split
// (2 channels) makes another 4x (16-bit) or 2x (fp32): at batch 1 ConvNeXt's 1x14x14x384 7x7 layer took 14 us at 2
// columns, in 147 blocks of one warp each, where cuDNN's fused fp16 graph took 6 us.
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
    T v[V];
};

// A window pixel as the compiled-shape path holds it: 16-bit pixels as 32-bit words of two channels each, widened
// at use. Held as Pack<T, V>, ptxas gave every bf16 channel a register of its own: the 7x7 stride-2 kernel needed
// 166 registers in bf16 and 128 in fp16 at 4 columns, 94 and 70 at 1; as words, 128 and 44 in both (nvcc 11.8).
template <class T, int V>
using WindowPixel = std::conditional_t<sizeof(T) == 2, Pack<uint32_t, V / 2>, Pack<T, V>>;

template <class T, int V>
__device__ __forceinline__ float window_value(const WindowPixel<T, V>& px, int v) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        const uint32_t word = px.v[v / 2];  // channel 2k in the low half, 2k + 1 in the high half
        return __uint_as_float(v % 2 ? word & 0xffff0000u : word << 16);
    } else if constexpr (std::is_same_v<T, __half>) {
        const __half2 pair = *reinterpret_cast<const __half2*>(&px.v[v / 2]);
        return v % 2 ? __high2float(pair) : __low2float(pair);
    } else {
        return px.v[v];
    }
}

// Shared-memory rows of filter taps are padded by 4 floats: with a tile of a multiple of 32 channels, the staging's
// consecutive threads (consecutive taps of one channel) all hit one bank, 32-way for a 7x7 filter; padded, 4-way.
constexpr int kDepthwiseTapPad = 4;

// Blocks of 128 threads: with 256, the bf16 7x7 kernel's 150 registers fit one block an SM (8 warps), and it ran
// ConvNeXt's 7x7 layers 1.4-1.7x slower than the fp16 one (118 registers, two blocks); capping the registers at 128
// instead spilled. With 128 threads, 3 blocks (12 warps) fit at 150 registers and 5 at 100.
constexpr int kDepthwiseThreads = 128;

template <class T, int V, int TQ, int KS, int STRIDE>
__global__ void __launch_bounds__(kDepthwiseThreads)
conv_depthwise_kernel(const T* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias, const T* __restrict__ res,
                      T* __restrict__ y, ConvDims d, trtn_conv_params p) {
    wait_for_producer();
    extern __shared__ float4 taps_storage[];  // [R*S][tile channels + kDepthwiseTapPad] floats, 16-byte aligned
    float* taps = reinterpret_cast<float*>(taps_storage);
    const int RS = KS > 0 ? KS * KS : (int)(d.R * d.S);  // a constant divisor below where the shape is compiled in
    const int tile = blockDim.x * V;  // channels per block
    const int tap_row = tile + kDepthwiseTapPad;  // floats between one tap's channels and the next tap's
    const int c0 = blockIdx.y * tile;
    const int C = (int)d.C;
    const int threads = blockDim.x * blockDim.y, tid = threadIdx.y * blockDim.x + threadIdx.x;
    // The tile's weights are one contiguous span, read 16 bytes (VS values) at a time: the launcher checks w's
    // alignment, and C and the tile are multiples of VS, so a vector lies wholly inside or wholly past the last
    // channel. With one 2-byte load an iteration, a small layer's blocks of one or two position groups spent most of
    // their time here.
    constexpr int VS = 16 / sizeof(T);
    const T* wt = w + c0 * RS;
    const int valid = (C - c0) * RS;
    // Unrolled where the tap count is a constant, so that several loads are in flight a thread (the general form's
    // run-time divisions spilled when unrolled).
#pragma unroll(KS > 0 ? 4 : 1)
    for (int i = tid * VS; i < tile * RS; i += threads * VS) {
        float v[VS] = {};
        if (i < valid) load_vector<T, VS>(wt + i, v);
#pragma unroll
        for (int j = 0; j < VS; ++j) {
            int ch = (i + j) / RS, tap = (i + j) % RS;
            taps[tap * tap_row + ch] = v[j];
        }
    }
    __syncthreads();
    const int c = c0 + threadIdx.x * V;
    if (c >= C) return;
    const int H = (int)d.H, W = (int)d.W, S = (int)d.S, R = (int)d.R, P = (int)d.P, Q = (int)d.Q;
    const int qt = (Q + TQ - 1) / TQ, groups = (int)d.N * P * qt;
    const float* tap_base = taps + threadIdx.x * V;
    // The thread's V channels of one tap as float4 loads, or one float2 at V = 2 (tap_base is aligned to V floats, at
    // most 4: tap_row is a multiple of 4).
    auto tap_weights = [&](int tap, float (&wv)[V]) {
        if constexpr (V == 2) {
            const float2 q2 = *reinterpret_cast<const float2*>(tap_base + tap * tap_row);
            wv[0] = q2.x; wv[1] = q2.y;
        } else {
            static_assert(V % 4 == 0, "4, 8 or 2 channels a thread");
            const float4* tp = reinterpret_cast<const float4*>(tap_base + tap * tap_row);
            #pragma unroll
            for (int v = 0; v < V / 4; ++v) {
                float4 q4 = tp[v];
                wv[4 * v] = q4.x; wv[4 * v + 1] = q4.y; wv[4 * v + 2] = q4.z; wv[4 * v + 3] = q4.w;
            }
        }
    };
    for (int g = blockIdx.x * blockDim.y + threadIdx.y; g < groups; g += gridDim.x * blockDim.y) {
        const int q0 = (g % qt) * TQ;
        const int row_index = g / qt;  // n * P + output row
        const int pp = row_index % P;
        const int n = row_index / P;
        float acc[TQ][V];
        #pragma unroll
        for (int v = 0; v < V; ++v) {
            float b0 = bias ? bias[c + v] : 0.f;
            #pragma unroll
            for (int j = 0; j < TQ; ++j) acc[j][v] = b0;
        }
        if constexpr (KS > 0) {
            constexpr int span = (TQ - 1) * STRIDE + KS;
            using Pixel = WindowPixel<T, V>;
            const int col0 = q0 * STRIDE - p.pad_w;
            // acc += window row r (held in win) times the filter's row r.
            auto multiply_row = [&](int r, const Pixel (&win)[span]) {
                #pragma unroll
                for (int s = 0; s < KS; ++s) {
                    float wv[V];
                    tap_weights(r * KS + s, wv);
                    #pragma unroll
                    for (int j = 0; j < TQ; ++j) {
                        #pragma unroll
                        for (int v = 0; v < V; ++v) acc[j][v] += window_value<T, V>(win[j * STRIDE + s], v) * wv[v];
                    }
                }
            };
            // 16-bit types with a small window (16 registers or fewer: the narrow split, 3x3 at 1 or 2 columns) load
            // the next input row while they multiply this one. Row by row, each row's loads waited for the previous
            // row's products (a branch per row kept the compiler from issuing them earlier): at batch 1, where a thread
            // has one output position, the 7 rows of a 7x7 filter were 7 load latencies end to end. Rows outside the
            // image multiply zeros instead of branching. Larger windows keep the row-by-row form (prefetched, they
            // would cost registers, and their threads have more positions to hide latency with), and so does fp32:
            // prefetched, nvcc 11.8 gave its narrow 7x7 kernels 168 registers (32 row by row). The row-by-row form keeps
            // its own loads: calling load_row there changed every variant's registers and gave fp32's 7x7 at 2 columns
            // a 16-byte stack frame.
            if constexpr (sizeof(T) == 2 && sizeof(Pixel) * span <= 64) {
                const int h0 = pp * STRIDE - p.pad_h;
                auto load_row = [&](int r, Pixel (&win)[span]) {
                    const int h = h0 + r;
                    const bool inside = h >= 0 && h < H;
                    const T* row = x + (n * H + (inside ? h : 0)) * W * C + c;
                    #pragma unroll
                    for (int i = 0; i < span; ++i) {
                        const int col = col0 + i;
                        win[i] = inside && col >= 0 && col < W ? *reinterpret_cast<const Pixel*>(row + col * C) : Pixel{};
                    }
                };
                Pixel cur[span], next[span];
                load_row(0, cur);
                #pragma unroll
                for (int r = 0; r < KS; ++r) {
                    if (r + 1 < KS) load_row(r + 1, next);
                    multiply_row(r, cur);
                    if (r + 1 < KS) {
                        #pragma unroll
                        for (int i = 0; i < span; ++i) cur[i] = next[i];
                    }
                }
            } else {
                #pragma unroll
                for (int r = 0; r < KS; ++r) {
                    const int h = pp * STRIDE - p.pad_h + r;
                    if (h < 0 || h >= H) continue;
                    const T* row = x + (n * H + h) * W * C + c;
                    Pixel win[span];
                    #pragma unroll
                    for (int i = 0; i < span; ++i) {
                        const int col = col0 + i;
                        win[i] = col >= 0 && col < W ? *reinterpret_cast<const Pixel*>(row + col * C) : Pixel{};
                    }
                    multiply_row(r, win);
                }
            }
        } else {
            for (int r = 0; r < R; ++r) {
                const int h = pp * p.stride_h - p.pad_h + r * p.dilation_h;
                if (h < 0 || h >= H) continue;
                const T* row = x + (n * H + h) * W * C + c;
                for (int s = 0; s < S; ++s) {
                    float wv[V];
                    tap_weights(r * S + s, wv);
                    #pragma unroll
                    for (int j = 0; j < TQ; ++j) {
                        const int q = q0 + j;
                        const int col = q * p.stride_w - p.pad_w + s * p.dilation_w;
                        if (q >= Q || col < 0 || col >= W) continue;
                        const Pack<T, V> in = *reinterpret_cast<const Pack<T, V>*>(row + col * C);
                        #pragma unroll
                        for (int v = 0; v < V; ++v) acc[j][v] += to_f(in.v[v]) * wv[v];
                    }
                }
            }
        }
        #pragma unroll
        for (int j = 0; j < TQ; ++j) {
            const int q = q0 + j;
            if (q >= Q) break;
            const int at = (row_index * Q + q) * C + c;
            if (res) {
                const Pack<T, V> r0 = *reinterpret_cast<const Pack<T, V>*>(res + at);
                #pragma unroll
                for (int v = 0; v < V; ++v) acc[j][v] += to_f(r0.v[v]);
            }
            apply_activation(p.act.kind, acc[j], p.act.alpha, p.act.beta);
            Pack<T, V> out;
            #pragma unroll
            for (int v = 0; v < V; ++v) out.v[v] = from_f<T>(acc[j][v]);
            *reinterpret_cast<Pack<T, V>*>(y + at) = out;
        }
    }
}

// The block shape for `channels` channels and `taps` filter taps: (channels a thread, threads across the channel
// tile, position groups per block, shared-memory bytes), or a zero shape when the taps do not fit shared memory.
// Channel tiles are whole 16-byte vectors wide.
struct DepthwiseLaunch {
    int thread_channels, tx, ty;
    size_t smem;
    int64_t tiles(int64_t channels) const {
        int64_t tile = (int64_t)tx * thread_channels;
        return (channels + tile - 1) / tile;
    }
};

// The widest split's output columns a thread (kernels.h: DepthwiseSplit's `columns`, 4, 2 or 1), and the narrow
// split's channels a thread.
constexpr int kDepthwiseMaxColumns = 4;
constexpr int kDepthwiseNarrowChannels = 2;
// A channel tile's 16-byte vectors, at most. The narrow split's tiles are 4x narrower and its blocks cover 4x the
// positions, so that each tap a block stages serves more outputs: at batch 1 the wide split's blocks staged the 25 KB
// of taps of 128 channels for 2-4 output positions (ConvNeXt's 1x14x14x384 7x7 layer, 147 blocks: 3.7 MB read for a
// 150 KB input).
constexpr int kDepthwiseTileVectors = 16;
constexpr int kDepthwiseNarrowTileVectors = 4;
constexpr size_t kDepthwiseSmem = 48 * 1024;

DepthwiseLaunch depthwise_launch(int32_t dtype, int64_t channels, int64_t taps, bool narrow) {
    int vec = vector_width(dtype);
    int64_t vectors = channels / vec;
    int64_t fit = ((int64_t)kDepthwiseSmem / (taps * (int64_t)sizeof(float)) - kDepthwiseTapPad) / vec;
    int64_t most = std::min<int64_t>({vectors, narrow ? kDepthwiseNarrowTileVectors : kDepthwiseTileVectors, fit});
    if (most < 1) return {vec, 0, 0, 0};
    // Channel tiles of equal width: EfficientNet's 144 channels (18 vectors) as 9 + 9, not 16 + 2, which left 14 of
    // the second tile's 16 threads a row idle.
    int64_t tiles = (vectors + most - 1) / most;
    int tile_vectors = (int)((vectors + tiles - 1) / tiles);
    int thread_channels = narrow ? kDepthwiseNarrowChannels : vec;
    int tx = tile_vectors * vec / thread_channels;
    int ty = std::max(1, kDepthwiseThreads / tx);
    return {thread_channels, tx, ty, (size_t)(tile_vectors * vec + kDepthwiseTapPad) * taps * sizeof(float)};
}

// Convolution over few input channels (an image stem: 3 channels, 3x3 or 7x7) on tensor cores, as an implicit GEMM:
// [output pixels x (taps x channels)] times [(taps x channels) x output channels]. cuDNN reads channels as 16-byte
// vectors, and with 3 of them its best engines took ResNet-50's 7x7 stem at about 4x (fp16) and 6x (bf16) the time its
// memory traffic needs on the H100. The block stages the weights once as [output channels] x [taps·channels padded to
// 16] and a table of each tap·channel's input offset and (row, column) offset. Each lane then loads the input values
// of its own mma.sync m16n8k16 fragments straight from global memory into registers (zeros outside the image), one
// 16-wide slice of taps·channels ahead of the products, so no shared-memory staging or warp barrier sits between the
// loads and the tensor cores. A warp owns 32 output pixels (two 16-row tiles sharing each weight fragment) and all
// output channels, with fp32 accumulators; the epilogue (bias, residual, activation) reads them back through shared
// memory so that a warp's stores are contiguous. Blocks loop over tiles.
constexpr int kSmallWarps = 4;           // warps per block when there are enough tiles to fill the GPU
constexpr int kSmallWarpPixels = 32;
constexpr size_t kSmallSmem = 48 * 1024;
// The row offset of the taps past the last real one: it puts every read of theirs outside the image, so the bounds
// check zeroes them (hence the image height + top padding limit in conv_small_channel_applies).
constexpr int kSmallFarRow = 8192;

struct SmallChannelLayout {
    int kp;        // taps x channels, padded to a multiple of 16
    size_t total;  // weights [K][kp + 8] (2-byte values), the tap table [kp] (int2), each warp's 16 x (K + 8) fp32 outputs
};

SmallChannelLayout small_channel_layout(int64_t K, int64_t taps_channels) {
    int kp = (int)((taps_channels + 15) / 16 * 16);
    return {kp, (size_t)K * (kp + 8) * 2 + (size_t)kp * sizeof(int2) + (size_t)kSmallWarps * 16 * (K + 8) * sizeof(float)};
}

// NT: output channels / 8 (the 8-wide MMA tiles). pairs: y is 4-byte aligned (two outputs per store).
template <class T, int NT>
__global__ void __launch_bounds__(32 * kSmallWarps, 3)
conv_small_channel_kernel(const T* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias, const T* __restrict__ res,
                          T* __restrict__ y, ConvDims d, trtn_conv_params p, int kp, int pixels, bool pairs) {
    wait_for_producer();
    constexpr int K = NT * 8, KS = K + 8;  // KS: 8 rows of 64-bit accumulator stores start in distinct banks
    extern __shared__ __align__(128) unsigned char small_smem[];
    const int ldb = kp + 8;  // the weights' row stride: the 8 rows a fragment load reads start in distinct banks
    const int rsc = (int)(d.R * d.S * d.Cg), C = (int)d.C, S = (int)d.S, H = (int)d.H, W = (int)d.W, P = (int)d.P, Q = (int)d.Q;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
    const int tile_pixels = (int)(blockDim.x >> 5) * kSmallWarpPixels;
    unsigned short* bs = reinterpret_cast<unsigned short*>(small_smem);  // (output channel ko, tap·channel kk) at ko * ldb + kk
    int2* taps = reinterpret_cast<int2*>(small_smem + (size_t)K * ldb * 2);  // kk's input offset, (row << 16 | column) offset
    float* cs = reinterpret_cast<float*>(taps + kp) + warp * 16 * KS;       // this warp's 16 x K accumulators, row stride KS
    const unsigned short* xb = reinterpret_cast<const unsigned short*>(x);
    const unsigned short* wb = reinterpret_cast<const unsigned short*>(w);
    for (int i = threadIdx.x; i < K * ldb; i += blockDim.x) {
        int ko = i / ldb, kk = i - ko * ldb;
        bs[i] = kk < rsc ? wb[ko * rsc + kk] : (unsigned short)0;
    }
    for (int kk = threadIdx.x; kk < kp; kk += blockDim.x) {
        int c = kk % C, rs = kk / C, s = rs % S, r = rs / S;
        int dh = r * p.dilation_h, dw = s * p.dilation_w;
        taps[kk] = kk < rsc ? make_int2((dh * W + dw) * C + c, (dh << 16) | dw) : make_int2(0, kSmallFarRow << 16);
    }
    __syncthreads();

    const int tiles = (pixels + tile_pixels - 1) / tile_pixels;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int m0 = tile * tile_pixels + warp * kSmallWarpPixels;
        if (m0 >= pixels) continue;  // warp-uniform; no block-wide barrier follows
        // This lane's pixels are rows g, g + 8, g + 16 and g + 24 of the warp's 32: the first input value each reads
        // (pix, possibly outside the image) and its window's top-left corner.
        int pix[4], ih0[4], iw0[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            int m = m0 + g + 8 * i;
            if (m < pixels) {
                int q = m % Q, t = m / Q, pp = t % P, n = t / P;
                ih0[i] = pp * p.stride_h - p.pad_h;
                iw0[i] = q * p.stride_w - p.pad_w;
                pix[i] = ((n * H + ih0[i]) * W + iw0[i]) * C;
            } else {
                ih0[i] = -2 * kSmallFarRow;  // every read outside the image
                iw0[i] = 0;
                pix[i] = 0;
            }
        }
        // The A fragments of the slice of taps·channels at k0: a[i][h] holds pixel i's columns k0 + 2·t4 + 8·h and the
        // next one (the low half the first).
        auto gather = [&](int k0, uint32_t (&a)[4][2]) {
            int4 lo = *reinterpret_cast<const int4*>(taps + k0 + 2 * t4);
            int4 hi = *reinterpret_cast<const int4*>(taps + k0 + 2 * t4 + 8);
            const int off[4] = {lo.x, lo.z, hi.x, hi.z}, rc[4] = {lo.y, lo.w, hi.y, hi.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                unsigned short v[4];
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    bool inside = (unsigned)(ih0[i] + (rc[j] >> 16)) < (unsigned)H && (unsigned)(iw0[i] + (rc[j] & 0xffff)) < (unsigned)W;
                    // Every lane loads (element 0 in place of a read outside the image), so the loads need no branches.
                    unsigned short loaded = __ldg(xb + (unsigned)(inside ? pix[i] + off[j] : 0));
                    v[j] = inside ? loaded : (unsigned short)0;
                }
                a[i][0] = v[0] | ((uint32_t)v[1] << 16);
                a[i][1] = v[2] | ((uint32_t)v[3] << 16);
            }
        };
        float acc[2][NT][4] = {};
        uint32_t a[4][2], next[4][2] = {};
        gather(0, a);
        for (int k0 = 0; k0 < kp; k0 += 16) {
            if (k0 + 16 < kp) gather(k0 + 16, next);  // issued before the products, so the loads overlap them
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const unsigned short* brow = bs + (j * 8 + g) * ldb + k0 + 2 * t4;
                uint32_t b0 = *reinterpret_cast<const uint32_t*>(brow), b1 = *reinterpret_cast<const uint32_t*>(brow + 8);
#pragma unroll
                for (int mt = 0; mt < 2; ++mt) {
                    const uint32_t frag[4] = {a[2 * mt][0], a[2 * mt + 1][0], a[2 * mt][1], a[2 * mt + 1][1]};
                    mma_16816<T>(acc[mt][j], frag, b0, b1);
                }
            }
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                a[i][0] = next[i][0];
                a[i][1] = next[i][1];
            }
        }
        // The epilogue, a 16-row tile at a time through the warp's fp32 region: accumulator h of tile mt is row
        // 8·h + g, output channels 8·j + 2·t4 and the next. Read back, each lane finishes two neighbouring outputs at a
        // time, the warp a contiguous stretch of a pixel's channels, so the stores coalesce and the activation's code
        // is not repeated for every accumulator.
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int h = 0; h < 2; ++h)
                    *reinterpret_cast<float2*>(cs + (8 * h + g) * KS + 8 * j + 2 * t4) = make_float2(acc[mt][j][2 * h], acc[mt][j][2 * h + 1]);
            __syncwarp();
            for (int e = lane; e < 16 * (K / 2); e += 32) {
                int i = e / (K / 2), ko = 2 * (e - i * (K / 2));
                int m = m0 + 16 * mt + i;
                if (m >= pixels) break;  // later e only go further
                float2 v = *reinterpret_cast<const float2*>(cs + i * KS + ko);
                int64_t o = (int64_t)m * K + ko;
                if (bias) { v.x += bias[ko]; v.y += bias[ko + 1]; }
                if (res) { v.x += to_f(res[o]); v.y += to_f(res[o + 1]); }
                T r0 = from_f<T>(apply_activation(p.act.kind, v.x, p.act.alpha, p.act.beta));
                T r1 = from_f<T>(apply_activation(p.act.kind, v.y, p.act.alpha, p.act.beta));
                if (pairs) {
                    *reinterpret_cast<uint32_t*>(y + o) = bits_of(r0) | ((uint32_t)bits_of(r1) << 16);
                } else {
                    y[o] = r0;
                    y[o + 1] = r1;
                }
            }
            __syncwarp();  // the next tile's accumulators overwrite these
        }
    }
}

template <class T>
__global__ void diff_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t n, double* out) {
    wait_for_producer();
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

namespace {

// A warp per output where each output sums at least this many products, over at most this many outputs (beyond, one
// thread per output has parallelism enough), and the group has at least 32 channels (the lanes split the channels:
// ViT's 16x16 patch embedding over 3 channels would leave 29 of them idle).
constexpr int64_t kDirectWarpReduction = 256;
constexpr int64_t kDirectWarpOutputs = 1 << 20;

template <class T>
void launch_direct(const void* x, const void* w, const float* bias, const void* residual, void* y, const ConvDims& d,
                   const trtn_conv_params& p, cudaStream_t s) {
    auto X = static_cast<const T*>(x); auto Wt = static_cast<const T*>(w);
    auto Rs = static_cast<const T*>(residual); auto Y = static_cast<T*>(y);
    int64_t total = d.N * d.P * d.Q * d.K;
    const int block = 256;
    bool small = total < (1ll << 31) && d.N * d.H * d.W * d.C < (1ll << 31) && d.K * d.R * d.S * d.Cg < (1ll << 31);
    if (small && d.R * d.S * d.Cg >= kDirectWarpReduction && d.Cg >= 32 && total <= kDirectWarpOutputs) {
        constexpr int V = 16 / sizeof(T);
        bool vec = d.Cg % V == 0 && d.C % V == 0 && aligned16(x) && aligned16(w);
        auto kernel = vec ? conv_direct_kernel<T, uint32_t, 32, V> : conv_direct_kernel<T, uint32_t, 32, 1>;
        unsigned grid = (unsigned)std::min<int64_t>((total * 32 + block - 1) / block, 1 << 20);
        launch_kernel(kernel, grid, block, 0, s, X, Wt, bias, Rs, Y, d, p);
    } else if (small) {
        launch_kernel(conv_direct_kernel<T, uint32_t, 1, 1>, grid_for(total, block), block, 0, s, X, Wt, bias, Rs, Y, d, p);
    } else {
        launch_kernel(conv_direct_kernel<T, int64_t, 1, 1>, grid_for(total, block), block, 0, s, X, Wt, bias, Rs, Y, d, p);
    }
}

}  // namespace

void conv_direct(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                 const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s) {
    require_float(dtype, "conv_direct");
    ConvDims d{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], wd[3], yd[1], yd[2]};
    if (d.N * d.P * d.Q * d.K == 0) return;
    if (dtype == TRTN_FLOAT32) launch_direct<float>(x, w, bias, residual, y, d, p, s);
    else if (dtype == TRTN_FLOAT16) launch_direct<__half>(x, w, bias, residual, y, d, p, s);
    else launch_direct<__nv_bfloat16>(x, w, bias, residual, y, d, p, s);
    TRTN_LAUNCH_CHECK("conv_direct");
}

bool conv_depthwise_applies(int32_t dtype, const int64_t* xd, const int64_t* wd, const trtn_conv_params& p) {
    if (!is_float_type(dtype)) return false;
    int64_t N = xd[0], H = xd[1], W = xd[2], C = xd[3], K = wd[0], R = wd[1], S = wd[2], Cg = wd[3];
    int vec = vector_width(dtype);
    DepthwiseLaunch l = depthwise_launch(dtype, C, R * S, true);  // the narrow split: the most channel tiles
    if (Cg != 1 || K != C || p.groups != C || C % vec != 0 || l.tx == 0) return false;
    if (l.tiles(C) > 65535) return false;  // channel tiles: grid.y
    if (p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 || p.pad_h < 0 || p.pad_w < 0) return false;
    // 32-bit indexes: the input, the output and the position groups (at most the output's pixels, at 1 column a thread).
    int64_t P = (H + 2 * p.pad_h - (R - 1) * p.dilation_h - 1) / p.stride_h + 1, Q = (W + 2 * p.pad_w - (S - 1) * p.dilation_w - 1) / p.stride_w + 1;
    return N * H * W * C < (1ll << 31) && N * std::max<int64_t>(P, 1) * (std::max<int64_t>(Q, 0) + kDepthwiseMaxColumns) * C < (1ll << 31);
}

namespace {

// The depthwise kernel compiled for this filter: KS x KS at stride 1 or 2 without dilation for KS = 3, 5, 7 (the
// layers of MobileNet, EfficientNet, ConvNeXt), else the general form; TQ output columns a thread.
template <class T, int V, int TQ>
auto depthwise_kernel_for(const ConvDims& d, const trtn_conv_params& p) {
    auto kernel = conv_depthwise_kernel<T, V, TQ, 0, 1>;
    bool square = d.R == d.S && p.dilation_h == 1 && p.dilation_w == 1 && p.stride_h == p.stride_w && p.stride_h <= 2;
    if (!square) return kernel;
    bool s1 = p.stride_h == 1;
    switch (d.R) {
        case 3: return s1 ? conv_depthwise_kernel<T, V, TQ, 3, 1> : conv_depthwise_kernel<T, V, TQ, 3, 2>;
        case 5: return s1 ? conv_depthwise_kernel<T, V, TQ, 5, 1> : conv_depthwise_kernel<T, V, TQ, 5, 2>;
        case 7: return s1 ? conv_depthwise_kernel<T, V, TQ, 7, 1> : conv_depthwise_kernel<T, V, TQ, 7, 2>;
        default: return kernel;
    }
}

// The split's kernel: the channels of a 16-byte vector a thread (VW) at 4, 2 or 1 columns, or the narrow split's 2
// (VN) at 2 or 1.
template <class T>
void launch_depthwise(DepthwiseSplit split, dim3 grid, dim3 block, size_t smem, cudaStream_t s, const void* x, const void* w,
                      const float* bias, const void* res, void* y, const ConvDims& d, const trtn_conv_params& p) {
    constexpr int VW = 16 / sizeof(T), VN = kDepthwiseNarrowChannels;
    auto kernel = split.narrow ? (split.columns == 2 ? depthwise_kernel_for<T, VN, 2>(d, p) : depthwise_kernel_for<T, VN, 1>(d, p))
                  : split.columns == 4 ? depthwise_kernel_for<T, VW, 4>(d, p)
                  : split.columns == 2 ? depthwise_kernel_for<T, VW, 2>(d, p) : depthwise_kernel_for<T, VW, 1>(d, p);
    launch_kernel(kernel, grid, block, smem, s, static_cast<const T*>(x), static_cast<const T*>(w), bias, static_cast<const T*>(res),
                  static_cast<T*>(y), d, p);
}

}  // namespace

void conv_depthwise(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                    const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s,
                    DepthwiseSplit split) {
    require(conv_depthwise_applies(dtype, xd, wd, p), TRTN_INVALID_ARGUMENT, "conv_depthwise: not a depthwise convolution this kernel runs");
    const int columns = split.columns;
    require(columns == 2 || columns == 1 || (columns == 4 && !split.narrow), TRTN_INVALID_ARGUMENT,
            "conv_depthwise: " + std::to_string(columns) + " output columns a thread" + (split.narrow ? " of 2 channels" : "") +
                "; the kernel is compiled for 4, 2 and 1, and for 2 and 1 in the narrow split");
    ConvDims d{xd[0], xd[1], xd[2], xd[3], wd[0], wd[1], wd[2], wd[3], yd[1], yd[2]};
    if (d.N * d.P * d.Q * d.K == 0) return;
    // Each pixel is read as one 16-byte load: with C a multiple of the vector, every pixel is aligned when the tensors are.
    auto aligned = [](const void* ptr) { return ptr == nullptr || aligned16(ptr); };
    if (!aligned(x) || !aligned(w) || !aligned(y) || !aligned(residual)) {
        conv_direct(dtype, x, w, bias, residual, y, xd, wd, yd, p, s);
        return;
    }
    DepthwiseLaunch l = depthwise_launch(dtype, d.C, d.R * d.S, split.narrow);
    int64_t groups = d.N * d.P * ((d.Q + columns - 1) / columns);
    int64_t tiles = l.tiles(d.C);
    // Fewer position groups a block where full blocks would leave SMs idle: at least two blocks an SM (ConvNeXt's
    // 1x56x56x96 7x7 layer made 38 blocks of 252 threads for the H100's 132 SMs), but at least a warp's worth of
    // threads, each block staging its tile's weights once.
    int64_t sms = std::max(device_attribute(cudaDevAttrMultiProcessorCount), 1);
    int floor_ty = std::min(l.ty, (32 + l.tx - 1) / l.tx);
    int ty = (int)std::clamp<int64_t>(groups * tiles / (2 * sms), floor_ty, l.ty);
    int64_t bx = std::min<int64_t>((groups + ty - 1) / ty, 1 << 20);
    dim3 grid((unsigned)bx, (unsigned)tiles), block((unsigned)l.tx, (unsigned)ty);
    if (dtype == TRTN_FLOAT32) launch_depthwise<float>(split, grid, block, l.smem, s, x, w, bias, residual, y, d, p);
    else if (dtype == TRTN_FLOAT16) launch_depthwise<__half>(split, grid, block, l.smem, s, x, w, bias, residual, y, d, p);
    else launch_depthwise<__nv_bfloat16>(split, grid, block, l.smem, s, x, w, bias, residual, y, d, p);
    TRTN_LAUNCH_CHECK("conv_depthwise");
}

bool conv_small_channel_applies(int32_t dtype, const int64_t* xd, const int64_t* wd, const trtn_conv_params& p) {
    if (dtype != TRTN_FLOAT16 && dtype != TRTN_BFLOAT16) return false;
    int64_t N = xd[0], H = xd[1], W = xd[2], C = xd[3], K = wd[0], R = wd[1], S = wd[2], Cg = wd[3];
    if (p.groups != 1 || Cg != C || C < 1 || C >= 8 || K % 16 != 0 || K < 16 || K > 64) return false;
    if (p.dilation_h < 1 || p.dilation_w < 1 || (R - 1) * p.dilation_h >= 2048 || (S - 1) * p.dilation_w >= 2048) return false;
    // 32-bit input offsets and pixel indexes; the far row past the image (kSmallFarRow).
    if (p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 || p.pad_w < 0 || H + p.pad_h > kSmallFarRow) return false;
    int64_t P = (H + 2 * p.pad_h - (R - 1) * p.dilation_h - 1) / p.stride_h + 1, Q = (W + 2 * p.pad_w - (S - 1) * p.dilation_w - 1) / p.stride_w + 1;
    // (The tile count rounds the pixel count up by up to 127 in an int.)
    if (N * H * W * C <= 0 || N * H * W * C >= (1ll << 30) || N * P * Q >= (1ll << 31) - 256) return false;
    if (small_channel_layout(K, R * S * C).total > kSmallSmem) return false;
    return device_attribute(cudaDevAttrComputeCapabilityMajor) >= 8;  // mma.sync on fp16 and bf16
}

namespace {

template <class T>
void launch_small_channel(const T* x, const T* w, const float* bias, const T* res, T* y, const ConvDims& d, const trtn_conv_params& p,
                          cudaStream_t s) {
    SmallChannelLayout l = small_channel_layout(d.K, d.R * d.S * d.Cg);
    int pixels = (int)(d.N * d.P * d.Q);
    // Two warps a block where four would leave SMs idle (a stem at batch 1); as many blocks as fit on the GPU at
    // once loop over the tiles, each staging the weights once (a grid beyond that would leave a partial last wave).
    int sms = std::max(device_attribute(cudaDevAttrMultiProcessorCount), 1);
    int warps = (pixels + 32 * kSmallWarps - 1) / (32 * kSmallWarps) >= sms ? kSmallWarps : kSmallWarps / 2;
    int tiles = (pixels + 32 * warps - 1) / (32 * warps);
    auto kernel = d.K == 16 ? conv_small_channel_kernel<T, 2> : d.K == 32 ? conv_small_channel_kernel<T, 4>
                : d.K == 48 ? conv_small_channel_kernel<T, 6> : conv_small_channel_kernel<T, 8>;
    int per_sm = 0;
    TRTN_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, 32 * warps, l.total));
    unsigned grid = (unsigned)std::min<int64_t>(tiles, (int64_t)sms * std::max(per_sm, 1));
    bool pairs = (reinterpret_cast<uintptr_t>(y) & 3) == 0;
    launch_kernel(kernel, grid, 32 * warps, l.total, s, x, w, bias, res, y, d, p, l.kp, pixels, pairs);
}

}  // namespace

void conv_small_channel(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                        const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s) {
    require(conv_small_channel_applies(dtype, xd, wd, p), TRTN_INVALID_ARGUMENT,
            "conv_small_channel: not a convolution this kernel runs (float16/bfloat16, one group, fewer than 8 input channels, "
            "16 to 64 output channels in multiples of 16, weights within shared memory, an input under 2^30 values at most 8192 "
            "rows high with its top padding, compute capability 8.0 or later)");
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
        if (dtype == TRTN_FLOAT32) launch_kernel(diff_kernel<float>, grid, block, 0, s, static_cast<const float*>(a), static_cast<const float*>(b), n, dev);
        else if (dtype == TRTN_FLOAT16) launch_kernel(diff_kernel<__half>, grid, block, 0, s, static_cast<const __half*>(a), static_cast<const __half*>(b), n, dev);
        else launch_kernel(diff_kernel<__nv_bfloat16>, grid, block, 0, s, static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b), n, dev);
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
