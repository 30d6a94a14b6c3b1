// Pointwise (1x1) NHWC convolution on tensor cores, with the fused epilogue (bias, residual, activation), and the same
// kernel for a GEMM whose second operand is stored transposed (a Linear layer's weights). A 1x1 convolution is a GEMM,
// [output pixels x C] times [C x K], and at batch 1 its shapes are small (MobileNetV3-L's 14x14x480 expansion: 196 x 80
// times 80 x 480). There cuDNN's fused graphs took 7-8 us a layer in fp16 and 10-12 us in bf16 with the same engine on
// the H100, and cuBLASLt's GEMMs of such sizes 7 against 10 us (session 17's tuning logs): most of bf16's batch-1 gap.
// mma.sync runs both types at one speed, small tiles give such a layer enough blocks to spread over the GPU, and the
// epilogue applies any activation (cuBLASLt's has ReLU and GELU only).
#include "device.cuh"
#include "kernels.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <type_traits>

namespace trtn::kernels {
namespace {

constexpr int kPointwiseThreads = 128;  // four warps, two by two over the block's tile

// A GEMM's rows are the output pixels of a 1 x M image (stride 1). Batches (grid z) start their operands at these
// multiples of the batch index (0: shared).
struct PointwiseDims {
    int64_t pixels;  // output pixels, N x P x Q
    int64_t H, W, C, K, P, Q;
    int stride_h, stride_w;
    int64_t x_batch = 0, w_batch = 0, y_batch = 0;
};

// y = act(alpha * product + bias + residual).
struct PointwiseEpilogue {
    float alpha;
    trtn_activation act;
};

// A GEMM whose A rows are layer-normalised over their K values first (the kernel's NORM instantiation): scale and
// shift are float32 [K], shift optional.
struct PointwiseNorm {
    const float* scale = nullptr;
    const float* shift = nullptr;
    float eps = 0.f;
};

// 16 bytes from global to shared memory without passing through registers; `bytes` 0 writes zeros (rows past the
// last pixel or output channel, chunks past the last input channel).
__device__ __forceinline__ void copy_async16(void* smem, const void* global, int bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(global), "r"(bytes));
#endif
}
__device__ __forceinline__ void copy_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// Waits until at most `pending` of this thread's committed groups are still in flight.
template <int pending>
__device__ __forceinline__ void copy_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
#endif
}

// NORM's per-stage work (pointwise_mma_kernel), for the chunk of input channels c... this thread staged of each of
// its rows (row0 + i * step; `tile` points at the chunk's column of the stage's tile, rows `row` values apart).
// Scales the thread's staged weights by the normalisation's scale in place, rounded to T as the tensor cores will read
// them, and adds the scaled weights and shift x weights to the thread's column sums. Runs once the thread's own copies
// have landed, before the barrier after which every warp reads them.
template <class T, int LOADS>
__device__ __forceinline__ void scale_staged_weights(uint16_t* tile, int row, const int64_t (&src)[LOADS], int row0, int step, int c,
                                                     int C, const PointwiseNorm& nm, float (&sum)[LOADS], float (&dot)[LOADS]) {
    if (c >= C) return;
    float g[8], h[8] = {};
    const float4* gp = reinterpret_cast<const float4*>(nm.scale + c);
    float4 g0 = gp[0], g1 = gp[1];
    g[0] = g0.x; g[1] = g0.y; g[2] = g0.z; g[3] = g0.w; g[4] = g1.x; g[5] = g1.y; g[6] = g1.z; g[7] = g1.w;
    if (nm.shift) {
        const float4* hp = reinterpret_cast<const float4*>(nm.shift + c);
        float4 h0 = hp[0], h1 = hp[1];
        h[0] = h0.x; h[1] = h0.y; h[2] = h0.z; h[3] = h0.w; h[4] = h1.x; h[5] = h1.y; h[6] = h1.z; h[7] = h1.w;
    }
#pragma unroll
    for (int i = 0; i < LOADS; ++i) {
        if (src[i] < 0) continue;
        uint4* p = reinterpret_cast<uint4*>(tile + (row0 + i * step) * row);
        uint4 raw = *p;
        T* v = reinterpret_cast<T*>(&raw);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            float wk = to_f(v[k]);
            T scaled = from_f<T>(wk * g[k]);
            sum[i] += to_f(scaled);
            dot[i] += wk * h[k];
            v[k] = scaled;
        }
        *p = raw;
    }
}

// Adds the thread's staged A values to its row sums, shifted by each row's first value (after the barrier: the
// shift was staged by another thread).
template <class T, int LOADS>
__device__ __forceinline__ void add_staged_row_stats(const uint16_t* tile, int row, int row0, int step, int c, int C,
                                                     const float (&shift)[LOADS], float (&sum)[LOADS], float (&sq)[LOADS]) {
    if (c >= C) return;
#pragma unroll
    for (int i = 0; i < LOADS; ++i) {
        uint4 raw = *reinterpret_cast<const uint4*>(tile + (row0 + i * step) * row);
        const T* v = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            float dv = to_f(v[k]) - shift[i];
            sum[i] += dv;
            sq[i] += dv * dv;
        }
    }
}

// The end of NORM's statistics: the kChunks threads of a staged row (neighbouring lanes of one warp) add their
// partial sums up, and the first of them writes the row's mean and 1/std and its columns' sums to `stats` (laid out as
// pointwise_mma_kernel reads them: bm row means, bm row 1/std, bn column sums, bn column shift x weight sums).
template <int kChunks, int A_LOADS, int B_LOADS>
__device__ __forceinline__ void finish_norm_stats(float* stats, int bm, int bn, int row0, int step, int chunk, int C, float eps,
                                                  const float (&shift)[A_LOADS], float (&a_sum)[A_LOADS], float (&a_sq)[A_LOADS],
                                                  float (&b_sum)[B_LOADS], float (&b_dot)[B_LOADS]) {
#pragma unroll
    for (int o = kChunks / 2; o > 0; o >>= 1) {
#pragma unroll
        for (int i = 0; i < A_LOADS; ++i) {
            a_sum[i] += __shfl_xor_sync(0xffffffffu, a_sum[i], o);
            a_sq[i] += __shfl_xor_sync(0xffffffffu, a_sq[i], o);
        }
#pragma unroll
        for (int i = 0; i < B_LOADS; ++i) {
            b_sum[i] += __shfl_xor_sync(0xffffffffu, b_sum[i], o);
            b_dot[i] += __shfl_xor_sync(0xffffffffu, b_dot[i], o);
        }
    }
    if (chunk != 0) return;
    const float inv = 1.f / (float)C;
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
        float mean = a_sum[i] * inv;
        stats[row0 + i * step] = shift[i] + mean;
        stats[bm + row0 + i * step] = rsqrtf(fmaxf(a_sq[i] * inv - mean * mean, 0.f) + eps);
    }
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) {
        stats[2 * bm + row0 + i * step] = b_sum[i];
        stats[2 * bm + bn + row0 + i * step] = b_dot[i];
    }
}

// One block computes BM output pixels by BN output channels, each warp a (BM / 2) x (BN / 2) quarter of it. The
// input channels go by in stages of BK, STAGES - 1 of them in flight (cp.async) while the warps multiply one: at batch 1
// a block's few products leave the loads' latency as its cost, for hundreds of input channels (a projection over 960).
// Both operands are staged as rows of input channels (the activations' pixels, the weights' output channels), which is
// the layout mma.sync's row-major A and column-major B fragments read; a row's stride of BK + 8 values puts the 8 rows
// a fragment load reads in distinct banks. Bias: float (convolutions) or T (GEMMs).
//
// NORM (GEMMs only): A's rows are layer-normalised over their K values, in the same pass. A row's K values are exactly
// what a block stages of it, so its statistics come from the staged tiles, and the normalisation moves to the
// epilogue: with mean mu, 1/std r, scale g and shift h, sum_k ((a_k - mu) r g_k + h_k) w_nk = r (sum_k a_k (g_k w_nk) -
// mu sum_k g_k w_nk) + sum_k h_k w_nk. Each thread scales the weights it staged by g in shared memory (rounded to T, as
// the tensor cores then read them, so the column sums match the product exactly) and sums them, and sums its staged A
// values shifted by the row's first one (a shift keeps the variance from cancelling when the mean is large). A
// transformer's LayerNorm then costs no kernel and no write and read of its output.
template <class T, class Bias, int BM, int BN, int BK, int STAGES, bool NORM = false>
__global__ void __launch_bounds__(kPointwiseThreads)
pointwise_mma_kernel(const T* __restrict__ x, const T* __restrict__ w, const Bias* __restrict__ bias, const T* __restrict__ res,
                     T* __restrict__ y, PointwiseDims d, PointwiseEpilogue e, PointwiseNorm nm, bool pairs) {
    wait_for_producer();
    constexpr int WM = BM / 2, WN = BN / 2, MI = WM / 16, NI = WN / 8, ROW = BK + 8;
    static_assert(MI >= 1 && NI >= 1 && WM % 16 == 0 && WN % 8 == 0 && BK % 16 == 0, "a warp's quarter is whole 16x8x16 products");
    constexpr int kChunks = BK / 8;  // 16-byte chunks a staged row
    constexpr int A_LOADS = BM * kChunks / kPointwiseThreads, B_LOADS = BN * kChunks / kPointwiseThreads;
    static_assert(A_LOADS * kPointwiseThreads == BM * kChunks && B_LOADS * kPointwiseThreads == BN * kChunks, "whole loads a thread");
    constexpr int kNormFloats = NORM ? 2 * (BM + BN) : 4;
    static_assert(STAGES * (BM + BN) * ROW * 2 + kNormFloats * 4 <= 48 * 1024, "static shared memory");
    __shared__ __align__(16) uint16_t as[STAGES][BM * ROW];
    __shared__ __align__(16) uint16_t bs[STAGES][BN * ROW];
    // NORM: per row of the tile its mean and 1/std, per column the sums of the scaled weights and of shift x weights.
    __shared__ float norm_stats[kNormFloats];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
    const int wm = (warp >> 1) * WM, wn = (warp & 1) * WN;
    const int64_t m0 = (int64_t)blockIdx.x * BM;
    const int n0 = blockIdx.y * BN;
    const int C = (int)d.C, K = (int)d.K;
    x += blockIdx.z * d.x_batch;
    w += blockIdx.z * d.w_batch;
    y += blockIdx.z * d.y_batch;
    if (res) res += blockIdx.z * d.y_batch;

    // The rows this thread stages: row threadIdx.x / kChunks + i * (kPointwiseThreads / kChunks), always its chunk
    // threadIdx.x % kChunks. Each row's first input value (-1: past the last pixel or output channel).
    constexpr int kRowStep = kPointwiseThreads / kChunks;
    const int chunk = threadIdx.x % kChunks, row0 = threadIdx.x / kChunks;
    int64_t a_src[A_LOADS];
#pragma unroll
    for (int i = 0; i < A_LOADS; ++i) {
        int64_t m = m0 + row0 + i * kRowStep;
        if (m < d.pixels) {
            int64_t q = m % d.Q, t = m / d.Q, p = t % d.P, n = t / d.P;
            a_src[i] = ((n * d.H + p * d.stride_h) * d.W + q * d.stride_w) * d.C;
        } else {
            a_src[i] = -1;
        }
    }
    int64_t b_src[B_LOADS];
#pragma unroll
    for (int i = 0; i < B_LOADS; ++i) {
        int k = n0 + row0 + i * kRowStep;
        b_src[i] = k < K ? (int64_t)k * C : -1;
    }
    auto stage = [&](int buffer, int c0) {
        const int c = c0 + chunk * 8;
        const bool in_channels = c < C;  // C is a multiple of 8: a chunk is wholly inside or outside
#pragma unroll
        for (int i = 0; i < A_LOADS; ++i) {
            bool load = in_channels && a_src[i] >= 0;
            copy_async16(&as[buffer][(row0 + i * kRowStep) * ROW + chunk * 8], load ? x + a_src[i] + c : x, load ? 16 : 0);
        }
#pragma unroll
        for (int i = 0; i < B_LOADS; ++i) {
            bool load = in_channels && b_src[i] >= 0;
            copy_async16(&bs[buffer][(row0 + i * kRowStep) * ROW + chunk * 8], load ? w + b_src[i] + c : w, load ? 16 : 0);
        }
    };

    // NORM: this thread's partial sums over its chunk of each row it stages (A: shifted values and their squares;
    // B: scaled weights and shift x weights).
    float a_shift[A_LOADS] = {}, a_sum[A_LOADS] = {}, a_sq[A_LOADS] = {};
    float b_sum[B_LOADS] = {}, b_dot[B_LOADS] = {};
    float acc[MI][NI][4] = {};
    const int stages = (C + BK - 1) / BK;
    // Each thread commits one group of copies a stage, empty ones past the last, so that "all but the newest
    // STAGES - 2 groups have landed" always means the stage about to be multiplied has.
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < stages) stage(s, s * BK);
        copy_async_commit();
    }
    for (int s = 0; s < stages; ++s) {
        copy_async_wait<STAGES - 2>();
        const int buffer = s % STAGES;
        if constexpr (NORM)
            scale_staged_weights<T, B_LOADS>(&bs[buffer][chunk * 8], ROW, b_src, row0, kRowStep, s * BK + chunk * 8, C, nm, b_sum, b_dot);
        // Every thread's copies of stage s have landed, and every warp is done with stage s - 1, whose buffer the
        // copies issued next overwrite.
        __syncthreads();
        if constexpr (NORM) {
            if (s == 0) {
#pragma unroll
                for (int i = 0; i < A_LOADS; ++i) a_shift[i] = to_f(reinterpret_cast<const T&>(as[0][(row0 + i * kRowStep) * ROW]));
            }
            add_staged_row_stats<T, A_LOADS>(&as[buffer][chunk * 8], ROW, row0, kRowStep, s * BK + chunk * 8, C, a_shift, a_sum, a_sq);
        }
        if (s + STAGES - 1 < stages) stage((s + STAGES - 1) % STAGES, (s + STAGES - 1) * BK);
        copy_async_commit();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t a[MI][4], b[NI][2];
#pragma unroll
            for (int mi = 0; mi < MI; ++mi) {
                const uint16_t* ap = &as[buffer][(wm + mi * 16 + g) * ROW + kk + 2 * t4];
                a[mi][0] = *reinterpret_cast<const uint32_t*>(ap);
                a[mi][1] = *reinterpret_cast<const uint32_t*>(ap + 8 * ROW);
                a[mi][2] = *reinterpret_cast<const uint32_t*>(ap + 8);
                a[mi][3] = *reinterpret_cast<const uint32_t*>(ap + 8 * ROW + 8);
            }
#pragma unroll
            for (int ni = 0; ni < NI; ++ni) {
                const uint16_t* bp = &bs[buffer][(wn + ni * 8 + g) * ROW + kk + 2 * t4];
                b[ni][0] = *reinterpret_cast<const uint32_t*>(bp);
                b[ni][1] = *reinterpret_cast<const uint32_t*>(bp + 8);
            }
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) mma_16816<T>(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
        }
    }

    // NORM's layout of norm_stats: row means, row 1/std, column sums of the scaled weights, column shift x weight sums.
    constexpr int kRstd = BM, kColSum = 2 * BM, kColDot = 2 * BM + BN;
    // A plain `if` on purpose: with `if constexpr` here nvcc 11.8 stopped unrolling the epilogue of the 64x64 kernel
    // without NORM, which then kept its accumulators in local memory (128 bytes of stack, loaded and stored every stage).
    if (NORM) {
        finish_norm_stats<kChunks, A_LOADS, B_LOADS>(norm_stats, BM, BN, row0, kRowStep, chunk, C, nm.eps, a_shift, a_sum, a_sq, b_sum, b_dot);
        __syncthreads();
    }

    // Epilogue straight from the accumulators: each lane holds two neighbouring output channels of a pixel (K is even,
    // so both exist when the first does).
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int64_t m = m0 + wm + mi * 16 + h * 8 + g;
                const int k = n0 + wn + ni * 8 + 2 * t4;
                if (m >= d.pixels || k >= K) continue;
                float p0 = acc[mi][ni][2 * h], p1 = acc[mi][ni][2 * h + 1];
                if constexpr (NORM) {
                    const int r = wm + mi * 16 + h * 8 + g, cl = wn + ni * 8 + 2 * t4;
                    const float mean = norm_stats[r], rstd = norm_stats[kRstd + r];
                    p0 = rstd * (p0 - mean * norm_stats[kColSum + cl]) + norm_stats[kColDot + cl];
                    p1 = rstd * (p1 - mean * norm_stats[kColSum + cl + 1]) + norm_stats[kColDot + cl + 1];
                }
                float v[2] = {e.alpha * p0, e.alpha * p1};
                const int64_t o = m * K + k;
                if (bias) { v[0] += to_f(bias[k]); v[1] += to_f(bias[k + 1]); }
                if (res) { v[0] += to_f(res[o]); v[1] += to_f(res[o + 1]); }
                apply_activation(e.act.kind, v, e.act.alpha, e.act.beta);
                T r0 = from_f<T>(v[0]), r1 = from_f<T>(v[1]);
                if (pairs) {
                    *reinterpret_cast<uint32_t*>(y + o) = bits_of(r0) | ((uint32_t)bits_of(r1) << 16);
                } else {
                    y[o] = r0;
                    y[o + 1] = r1;
                }
            }
}

// The kernel compiled for each entry of kPointwiseTiles, by its index. Each tile's stage depth and count keep it within
// 48 KB of static shared memory (the kernel asserts it): 40, 40.5 and 36 KB.
static_assert(std::size(kPointwiseTiles) == 3, "pointwise_kernel instantiates one kernel per entry of kPointwiseTiles");
template <class T, class Bias, bool NORM = false>
auto pointwise_kernel(size_t tile_index) {
    switch (tile_index) {
        case 0: return pointwise_mma_kernel<T, Bias, kPointwiseTiles[0].pixels, kPointwiseTiles[0].channels, 32, 4, NORM>;
        case 1: return pointwise_mma_kernel<T, Bias, kPointwiseTiles[1].pixels, kPointwiseTiles[1].channels, 64, 3, NORM>;
        default: return pointwise_mma_kernel<T, Bias, kPointwiseTiles[2].pixels, kPointwiseTiles[2].channels, 64, 4, NORM>;
    }
}

// Where `t` is in kPointwiseTiles, or the list's size.
size_t tile_index(PointwiseTile t) {
    size_t i = 0;
    while (i < std::size(kPointwiseTiles) && (kPointwiseTiles[i].pixels != t.pixels || kPointwiseTiles[i].channels != t.channels)) ++i;
    return i;
}

void require_tile(const char* what, PointwiseTile t) {
    if (tile_index(t) < std::size(kPointwiseTiles)) return;
    std::string compiled;
    for (PointwiseTile k : kPointwiseTiles) compiled += (compiled.empty() ? "" : ", ") + tile_text(k);
    fail(TRTN_INVALID_ARGUMENT, std::string(what) + ": no kernel for tiles of " + tile_text(t) + " (rows by columns; compiled: " +
                                    compiled + ")");
}

// Callers have passed `tile` through require_tile.
template <class T, class Bias>
void launch_pointwise(const T* x, const T* w, const Bias* bias, const T* res, T* y, const PointwiseDims& d, const PointwiseEpilogue& e,
                      int64_t batch, PointwiseTile tile, cudaStream_t s, const PointwiseNorm& nm = {}) {
    auto kernel = pointwise_kernel<T, Bias>(tile_index(tile));
    // The normalising kernel is compiled for GEMMs only (bias of the output's type), not for convolutions.
    if constexpr (std::is_same_v<Bias, T>) {
        if (nm.scale) kernel = pointwise_kernel<T, Bias, true>(tile_index(tile));
    }
    dim3 grid((unsigned)((d.pixels + tile.pixels - 1) / tile.pixels), (unsigned)((d.K + tile.channels - 1) / tile.channels), (unsigned)batch);
    bool pairs = (reinterpret_cast<uintptr_t>(y) & 3) == 0;
    launch_kernel(kernel, grid, kPointwiseThreads, 0, s, x, w, bias, res, y, d, e, nm, pairs);
}

// The grid's limits (tiles of 32 rows in x, under 2^31; tiles of 32 columns in y and batches in z, at most 65535), the
// kernel's int channel indexes, and the tensor cores' compute capability.
bool mma_shape_fits(int64_t rows, int64_t inner, int64_t cols, int64_t batch) {
    return rows >= 1 && (rows + 31) / 32 < (1ll << 31) && inner >= 8 && inner % 8 == 0 && inner < (1 << 30) && cols >= 8 &&
           cols % 8 == 0 && cols < (1 << 30) && (cols + 31) / 32 <= 65535 && batch >= 1 && batch <= 65535 &&
           device_attribute(cudaDevAttrComputeCapabilityMajor) >= 8;
}

}  // namespace

bool conv_pointwise_applies(int32_t dtype, const int64_t* xd, const int64_t* wd, const trtn_conv_params& p) {
    if (dtype != TRTN_FLOAT16 && dtype != TRTN_BFLOAT16) return false;
    int64_t N = xd[0], H = xd[1], W = xd[2], C = xd[3], K = wd[0], R = wd[1], S = wd[2], Cg = wd[3];
    if (p.groups != 1 || Cg != C || R != 1 || S != 1 || p.pad_h != 0 || p.pad_w != 0 || p.stride_h < 1 || p.stride_w < 1) return false;
    if (N < 1 || H < 1 || W < 1) return false;
    int64_t P = (H - 1) / p.stride_h + 1, Q = (W - 1) / p.stride_w + 1;
    // 16-byte rows of input channels; pairs of output channels.
    return mma_shape_fits(N * P * Q, C, K, 1);
}

void conv_pointwise(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                    const int64_t* xd, const int64_t* wd, const int64_t* yd, const trtn_conv_params& p, cudaStream_t s,
                    PointwiseTile tile) {
    require(conv_pointwise_applies(dtype, xd, wd, p), TRTN_INVALID_ARGUMENT,
            "conv_pointwise: not a convolution this kernel runs (float16/bfloat16, 1x1 weights, one group, no padding, input "
            "and output channels multiples of 8, compute capability 8.0 or later)");
    require_tile("conv_pointwise", tile);
    require(aligned16(x) && aligned16(w), TRTN_INVALID_ARGUMENT, "conv_pointwise: input and weights must be 16-byte aligned");
    PointwiseDims d{xd[0] * yd[1] * yd[2], xd[1], xd[2], xd[3], wd[0], yd[1], yd[2], p.stride_h, p.stride_w};
    const PointwiseEpilogue e{1.f, p.act};
    if (dtype == TRTN_FLOAT16)
        launch_pointwise(static_cast<const __half*>(x), static_cast<const __half*>(w), bias, static_cast<const __half*>(residual),
                         static_cast<__half*>(y), d, e, 1, tile, s);
    else
        launch_pointwise(static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w), bias,
                         static_cast<const __nv_bfloat16*>(residual), static_cast<__nv_bfloat16*>(y), d, e, 1, tile, s);
    TRTN_LAUNCH_CHECK("conv_pointwise");
}

bool gemm_mma_applies(int32_t dtype, int64_t batch, int64_t M, int64_t N, int64_t K) {
    return (dtype == TRTN_FLOAT16 || dtype == TRTN_BFLOAT16) && mma_shape_fits(M, K, N, batch);
}

void gemm_mma(int32_t dtype, const void* a, const void* b, const void* bias, const void* residual, void* y, const GemmMmaShape& g,
              float alpha, const trtn_activation& act, cudaStream_t s, PointwiseTile tile, const GemmRowNorm* norm) {
    require(gemm_mma_applies(dtype, g.batch, g.M, g.N, g.K), TRTN_INVALID_ARGUMENT,
            "gemm_mma: not a product this kernel runs (float16/bfloat16, inner and output columns multiples of 8, at most 65535 "
            "batches, compute capability 8.0 or later)");
    require_tile("gemm_mma", tile);
    require(aligned16(a) && aligned16(b), TRTN_INVALID_ARGUMENT, "gemm_mma: operands must be 16-byte aligned");
    PointwiseNorm nm;
    if (norm) {
        require(norm->scale != nullptr && aligned16(norm->scale) && (!norm->shift || aligned16(norm->shift)), TRTN_INVALID_ARGUMENT,
                "gemm_mma: the normalisation's scale (and shift, if any) must be given and 16-byte aligned");
        nm = PointwiseNorm{norm->scale, norm->shift, norm->eps};
    }
    PointwiseDims d{g.M, 1, g.M, g.K, g.N, 1, g.M, 1, 1, g.a_shared ? 0 : g.M * g.K, g.b_shared ? 0 : g.N * g.K, g.M * g.N};
    const PointwiseEpilogue e{alpha, act};
    if (dtype == TRTN_FLOAT16)
        launch_pointwise(static_cast<const __half*>(a), static_cast<const __half*>(b), static_cast<const __half*>(bias),
                         static_cast<const __half*>(residual), static_cast<__half*>(y), d, e, g.batch, tile, s, nm);
    else
        launch_pointwise(static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b), static_cast<const __nv_bfloat16*>(bias),
                         static_cast<const __nv_bfloat16*>(residual), static_cast<__nv_bfloat16*>(y), d, e, g.batch, tile, s, nm);
    TRTN_LAUNCH_CHECK("gemm_mma");
}

}  // namespace trtn::kernels
