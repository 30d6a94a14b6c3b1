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

// One block computes BM output pixels by BN output channels, each warp a (BM / 2) x (BN / 2) quarter of it. The
// input channels go by in stages of BK, STAGES - 1 of them in flight (cp.async) while the warps multiply one: at batch 1
// a block's few products leave the loads' latency as its cost, for hundreds of input channels (a projection over 960).
// Both operands are staged as rows of input channels (the activations' pixels, the weights' output channels), which is
// the layout mma.sync's row-major A and column-major B fragments read; a row's stride of BK + 8 values puts the 8 rows
// a fragment load reads in distinct banks. Bias: float (convolutions) or T (GEMMs).
template <class T, class Bias, int BM, int BN, int BK, int STAGES>
__global__ void __launch_bounds__(kPointwiseThreads)
pointwise_mma_kernel(const T* __restrict__ x, const T* __restrict__ w, const Bias* __restrict__ bias, const T* __restrict__ res,
                     T* __restrict__ y, PointwiseDims d, PointwiseEpilogue e, bool pairs) {
    wait_for_producer();
    constexpr int WM = BM / 2, WN = BN / 2, MI = WM / 16, NI = WN / 8, ROW = BK + 8;
    static_assert(MI >= 1 && NI >= 1 && WM % 16 == 0 && WN % 8 == 0 && BK % 16 == 0, "a warp's quarter is whole 16x8x16 products");
    constexpr int kChunks = BK / 8;  // 16-byte chunks a staged row
    constexpr int A_LOADS = BM * kChunks / kPointwiseThreads, B_LOADS = BN * kChunks / kPointwiseThreads;
    static_assert(A_LOADS * kPointwiseThreads == BM * kChunks && B_LOADS * kPointwiseThreads == BN * kChunks, "whole loads a thread");
    static_assert(STAGES * (BM + BN) * ROW * 2 <= 48 * 1024, "static shared memory");
    __shared__ __align__(16) uint16_t as[STAGES][BM * ROW];
    __shared__ __align__(16) uint16_t bs[STAGES][BN * ROW];

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
        // Every thread's copies of stage s have landed, and every warp is done with stage s - 1, whose buffer the
        // copies issued next overwrite.
        __syncthreads();
        if (s + STAGES - 1 < stages) stage((s + STAGES - 1) % STAGES, (s + STAGES - 1) * BK);
        copy_async_commit();
        const int buffer = s % STAGES;
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
                float v[2] = {e.alpha * acc[mi][ni][2 * h], e.alpha * acc[mi][ni][2 * h + 1]};
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
template <class T, class Bias>
auto pointwise_kernel(size_t tile_index) {
    switch (tile_index) {
        case 0: return pointwise_mma_kernel<T, Bias, kPointwiseTiles[0].pixels, kPointwiseTiles[0].channels, 32, 4>;
        case 1: return pointwise_mma_kernel<T, Bias, kPointwiseTiles[1].pixels, kPointwiseTiles[1].channels, 64, 3>;
        default: return pointwise_mma_kernel<T, Bias, kPointwiseTiles[2].pixels, kPointwiseTiles[2].channels, 64, 4>;
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
                      int64_t batch, PointwiseTile tile, cudaStream_t s) {
    auto kernel = pointwise_kernel<T, Bias>(tile_index(tile));
    dim3 grid((unsigned)((d.pixels + tile.pixels - 1) / tile.pixels), (unsigned)((d.K + tile.channels - 1) / tile.channels), (unsigned)batch);
    bool pairs = (reinterpret_cast<uintptr_t>(y) & 3) == 0;
    launch_kernel(kernel, grid, kPointwiseThreads, 0, s, x, w, bias, res, y, d, e, pairs);
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
              float alpha, const trtn_activation& act, cudaStream_t s, PointwiseTile tile) {
    require(gemm_mma_applies(dtype, g.batch, g.M, g.N, g.K), TRTN_INVALID_ARGUMENT,
            "gemm_mma: not a product this kernel runs (float16/bfloat16, inner and output columns multiples of 8, at most 65535 "
            "batches, compute capability 8.0 or later)");
    require_tile("gemm_mma", tile);
    require(aligned16(a) && aligned16(b), TRTN_INVALID_ARGUMENT, "gemm_mma: operands must be 16-byte aligned");
    PointwiseDims d{g.M, 1, g.M, g.K, g.N, 1, g.M, 1, 1, g.a_shared ? 0 : g.M * g.K, g.b_shared ? 0 : g.N * g.K, g.M * g.N};
    const PointwiseEpilogue e{alpha, act};
    if (dtype == TRTN_FLOAT16)
        launch_pointwise(static_cast<const __half*>(a), static_cast<const __half*>(b), static_cast<const __half*>(bias),
                         static_cast<const __half*>(residual), static_cast<__half*>(y), d, e, g.batch, tile, s);
    else
        launch_pointwise(static_cast<const __nv_bfloat16*>(a), static_cast<const __nv_bfloat16*>(b), static_cast<const __nv_bfloat16*>(bias),
                         static_cast<const __nv_bfloat16*>(residual), static_cast<__nv_bfloat16*>(y), d, e, g.batch, tile, s);
    TRTN_LAUNCH_CHECK("gemm_mma");
}

}  // namespace trtn::kernels
