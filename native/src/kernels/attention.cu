// Scaled-dot-product attention on CUDA cores, for any element strides: O = softmax(scale * Q K^T) V.
// The attention layer's own tactic (fp32 engines, and fp16 where cuDNN's flash attention does not apply). One block
// computes a tile of query rows of one (batch, head): their scores against every key stay in shared memory, so each
// key and value row is read once per tile instead of once per query. Accumulation is fp32.
#include <mma.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "device.cuh"
#include "kernels.h"

namespace trtn::kernels {
namespace {

constexpr int kThreads = 128;

struct View {
    int64_t lead0, lead1, seq, dim;  // element strides: leading dims (batch, head), sequence, feature
};

template <class T>
__global__ void attention_tile(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ o,
                               View qv, View kv, View vv, View ov, int64_t n1, int sq, int skv, int d, int dv, int rows,
                               float scale) {
    wait_for_producer();
    extern __shared__ float smem[];
    float* qs = smem;                    // [rows][d] query rows, pre-scaled
    float* p = smem + (size_t)rows * d;  // [rows][skv] scores, then probabilities
    __shared__ float inv_sum[64];

    int64_t b = blockIdx.y;
    int64_t b0 = b / n1, b1 = b % n1;
    int row0 = blockIdx.x * rows;
    int nrows = min(rows, sq - row0);
    const T* qb = q + b0 * qv.lead0 + b1 * qv.lead1;
    const T* kb = k + b0 * kv.lead0 + b1 * kv.lead1;
    const T* vb = v + b0 * vv.lead0 + b1 * vv.lead1;
    T* ob = o + b0 * ov.lead0 + b1 * ov.lead1;

    for (int i = threadIdx.x; i < nrows * d; i += blockDim.x) {
        int r = i / d, c = i % d;
        qs[i] = to_f(qb[(int64_t)(row0 + r) * qv.seq + (int64_t)c * qv.dim]) * scale;
    }
    __syncthreads();

    // Scores: neighbouring threads take neighbouring query rows of one key row, so they read the same key row.
    for (int i = threadIdx.x; i < nrows * skv; i += blockDim.x) {
        int j = i / nrows, r = i % nrows;
        const T* krow = kb + (int64_t)j * kv.seq;
        const float* qrow = qs + (size_t)r * d;
        float acc = 0.f;
        for (int c = 0; c < d; ++c) acc += qrow[c] * to_f(krow[(int64_t)c * kv.dim]);
        p[(size_t)r * skv + j] = acc;
    }
    __syncthreads();

    // Softmax of each row: one warp per row.
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int r = warp; r < nrows; r += warps) {
        float* row = p + (size_t)r * skv;
        float m = -FLT_MAX;
        for (int j = lane; j < skv; j += 32) m = fmaxf(m, row[j]);
        for (int s = 16; s > 0; s >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
        float sum = 0.f;
        for (int j = lane; j < skv; j += 32) {
            float e = expf(row[j] - m);
            row[j] = e;
            sum += e;
        }
        for (int s = 16; s > 0; s >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, s);
        if (lane == 0) inv_sum[r] = 1.f / sum;
    }
    __syncthreads();

    // Output: neighbouring threads take neighbouring features of one query row (contiguous value reads).
    for (int i = threadIdx.x; i < nrows * dv; i += blockDim.x) {
        int r = i / dv, c = i % dv;
        const float* row = p + (size_t)r * skv;
        float acc = 0.f;
        for (int j = 0; j < skv; ++j) acc += row[j] * to_f(vb[(int64_t)j * vv.seq + (int64_t)c * vv.dim]);
        ob[(int64_t)(row0 + r) * ov.seq + (int64_t)c * ov.dim] = from_f<T>(acc * inv_sum[r]);
    }
}

View view_of(const int64_t* s) { return {s[0], s[1], s[2], s[3]}; }

// Raises the kernel's dynamic shared-memory limit once per device (the attribute is per device), outside any stream
// capture that follows.
template <class T>
void allow_shared(size_t bytes) {
    static std::mutex m;
    static std::vector<char> done;
    int dev = 0;
    TRTN_CUDA_CHECK(cudaGetDevice(&dev));
    std::lock_guard<std::mutex> lock(m);
    if (static_cast<size_t>(dev) >= done.size()) done.resize(dev + 1, 0);
    if (done[dev]) return;
    TRTN_CUDA_CHECK(cudaFuncSetAttribute(attention_tile<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    done[dev] = 1;
}


// ---- tensor-core attention for short key sequences ----

// Why: at small batches cuDNN's flash attention runs a few dozen blocks (ViT-B/16 at batch 1: 12 heads x 2 query
// tiles of 128) on 132 SMs. Here a warp owns 16 query rows, so the same attention is 156 warps; a whole score row
// fits shared memory, so the softmax is exact in one pass (no running max). Autotuning decides where it wins.

constexpr int kMmaRows = 16;  // query rows per warp (one wmma tile)

__host__ __device__ inline int round16(int64_t n) { return (int)((n + 15) / 16 * 16); }

// Shared bytes of one warp: its query rows, fp32 scores (reused for the fp32 output tile), probabilities, 1/row sums.
__host__ __device__ inline size_t mma_warp_bytes(int64_t skv, int64_t d, int64_t dv, size_t elem) {
    size_t cols = (size_t)max(round16(skv), round16(dv));
    return kMmaRows * (size_t)d * elem + kMmaRows * cols * 4 + kMmaRows * (size_t)round16(skv) * elem + kMmaRows * 4;
}

size_t mma_shared_bytes(int64_t skv, int64_t d, int64_t dv, size_t elem, int warps) {
    return (size_t)round16(skv) * (size_t)(d + dv) * elem + (size_t)warps * mma_warp_bytes(skv, d, dv, elem);
}

// rows x cols elements of a strided operand into a dense [rows][cols] tile, rows from `valid` on zero-filled; threads
// tid, tid + n, ... share the work. vec: 16-byte loads (dim stride 1, cols and row stride multiples of 8, base aligned).
template <class T>
__device__ void stage(T* dst, const T* src, int rows, int valid, int cols, int64_t row_stride, int64_t col_stride, bool vec, int tid,
                      int n) {
    if (vec) {
        int per_row = cols / 8;
        for (int i = tid; i < rows * per_row; i += n) {
            int r = i / per_row, c = (i % per_row) * 8;
            uint4 val = make_uint4(0, 0, 0, 0);
            if (r < valid) val = *reinterpret_cast<const uint4*>(src + (int64_t)r * row_stride + c);
            *reinterpret_cast<uint4*>(dst + r * cols + c) = val;
        }
    } else {
        for (int i = tid; i < rows * cols; i += n) {
            int r = i / cols, c = i % cols;
            dst[i] = r < valid ? src[(int64_t)r * row_stride + (int64_t)c * col_stride] : from_f<T>(0.f);
        }
    }
}

// out [16 x 16] (fp32, row stride ldo) = A [16 x kdim] (row-major, row stride lda) times B [kdim x 16], whose rows
// k0..k0+15 start at b + k0 * b_step, in `Layout` with leading dimension ldb.
template <class Layout, class T>
__device__ void mma_tile(float* out, int ldo, const T* a, int lda, const T* b, int64_t b_step, int ldb, int kdim) {
    using namespace nvcuda;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.f);
    for (int k0 = 0; k0 < kdim; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, Layout> fb;
        wmma::load_matrix_sync(fa, a + k0, lda);
        wmma::load_matrix_sync(fb, b + k0 * b_step, ldb);
        wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out, acc, ldo, wmma::mem_row_major);
}

template <class T>
__global__ void attention_mma_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ o,
                                     View qv, View kv, View vv, View ov, int64_t n1, int sq, int skv, int d, int dv, float scale,
                                     int vec_q, int vec_k, int vec_v) {
    wait_for_producer();
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    extern __shared__ __align__(128) unsigned char mma_smem[];
    const int skv_pad = round16(skv), cols = max(skv_pad, round16(dv));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    T* ks = reinterpret_cast<T*>(mma_smem);
    T* vs = ks + (size_t)skv_pad * d;
    unsigned char* mine = reinterpret_cast<unsigned char*>(vs + (size_t)skv_pad * dv) + warp * mma_warp_bytes(skv, d, dv, sizeof(T));
    T* qs = reinterpret_cast<T*>(mine);
    float* ss = reinterpret_cast<float*>(qs + kMmaRows * d);  // [16][cols] scores, then the output tile
    T* ps = reinterpret_cast<T*>(ss + kMmaRows * cols);       // [16][skv_pad] probabilities
    float* inv_sum = reinterpret_cast<float*>(ps + kMmaRows * skv_pad);

    int64_t b = blockIdx.y, b0 = b / n1, b1 = b % n1;
    const T* qb = q + b0 * qv.lead0 + b1 * qv.lead1;
    const T* kb = k + b0 * kv.lead0 + b1 * kv.lead1;
    const T* vb = v + b0 * vv.lead0 + b1 * vv.lead1;
    T* ob = o + b0 * ov.lead0 + b1 * ov.lead1;
    int row0 = (blockIdx.x * warps + warp) * kMmaRows;
    int valid = max(0, min(kMmaRows, sq - row0));

    stage(ks, kb, skv_pad, skv, d, kv.seq, kv.dim, vec_k, threadIdx.x, blockDim.x);
    stage(vs, vb, skv_pad, skv, dv, vv.seq, vv.dim, vec_v, threadIdx.x, blockDim.x);
    stage(qs, qb + (int64_t)row0 * qv.seq, kMmaRows, valid, d, qv.seq, qv.dim, vec_q && valid > 0, lane, 32);
    __syncthreads();
    if (valid == 0) return;  // no block-wide barrier follows

    // Scores S = Q K^T: K staged [key][feature] is K^T in column-major order.
    for (int j0 = 0; j0 < skv_pad; j0 += 16) mma_tile<wmma::col_major>(ss + j0, cols, qs, d, ks + (size_t)j0 * d, 1, d, d);
    __syncwarp();

    // Softmax of each row in fp32; padded keys get probability 0.
    for (int r = 0; r < kMmaRows; ++r) {
        const float* row = ss + r * cols;
        float m = -FLT_MAX;
        for (int j = lane; j < skv; j += 32) m = fmaxf(m, row[j] * scale);
        for (int sh = 16; sh > 0; sh >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, sh));
        float sum = 0.f;
        for (int j = lane; j < skv_pad; j += 32) {
            float e = j < skv ? expf(row[j] * scale - m) : 0.f;
            ps[r * skv_pad + j] = from_f<T>(e);
            sum += e;
        }
        for (int sh = 16; sh > 0; sh >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, sh);
        if (lane == 0) inv_sum[r] = 1.f / sum;
    }
    __syncwarp();

    // O = P V into the score tile (the scores are spent), then scaled by 1/sum on the way out.
    for (int c0 = 0; c0 < dv; c0 += 16) mma_tile<wmma::row_major>(ss + c0, cols, ps, skv_pad, vs + c0, dv, dv, skv_pad);
    __syncwarp();
    for (int i = lane; i < valid * dv; i += 32) {
        int r = i / dv, c = i % dv;
        ob[(int64_t)(row0 + r) * ov.seq + (int64_t)c * ov.dim] = from_f<T>(ss[r * cols + c] * inv_sum[r]);
    }
#endif
}

// A 16-byte vector path for an operand: its feature dim contiguous, every stride that moves between rows or
// (batch, head) pairs a multiple of 8 elements, and its base 16-byte aligned.
bool vec_ok(const void* p, const int64_t* st, int64_t n0, int64_t n1, int64_t feat) {
    return st[3] == 1 && feat % 8 == 0 && st[2] % 8 == 0 && (n0 == 1 || st[0] % 8 == 0) && (n1 == 1 || st[1] % 8 == 0) &&
           aligned16(p);
}

// The current device's opt-in shared memory per block (every launch checks against it).
int optin_shared() { return device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin); }

// Raises a kernel's dynamic shared-memory limit to the device's opt-in maximum, once per (kernel, device) that
// succeeded.
void allow_optin(const void* kernel) {
    static std::mutex m;
    static std::set<std::pair<const void*, int>> done;
    int dev = 0;
    TRTN_CUDA_CHECK(cudaGetDevice(&dev));
    int limit = optin_shared();
    std::lock_guard<std::mutex> lock(m);
    if (done.count({kernel, dev})) return;
    TRTN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit));
    done.insert({kernel, dev});
}

}  // namespace

void attention(int32_t dtype, const void* q, const void* k, const void* v, void* o, int64_t n0, int64_t n1, int64_t sq,
               int64_t skv, int64_t d, int64_t dv, const int64_t* qs, const int64_t* ks, const int64_t* vs, const int64_t* os,
               float scale, cudaStream_t s) {
    require_float(dtype, "attention");
    require(n0 >= 0 && n1 >= 1 && sq >= 0 && skv >= 1 && d >= 1 && dv >= 1, TRTN_INVALID_ARGUMENT, "attention: bad dims");
    if (n0 == 0 || sq == 0) return;
    require(n0 * n1 <= 65535, TRTN_UNSUPPORTED, "attention: more than 65535 (batch x head) pairs");
    require(sq <= INT32_MAX && skv <= INT32_MAX && d <= 1024 && dv <= INT32_MAX, TRTN_UNSUPPORTED, "attention: dims too large");
    // Shared memory per block: rows x (d + skv) floats, at most 96 KiB; as many query rows as fit, up to 16.
    const size_t budget = 96 * 1024;
    size_t per_row = (size_t)(d + skv) * sizeof(float);
    require(per_row <= budget, TRTN_UNSUPPORTED,
            "attention: " + std::to_string(skv) + " keys of dim " + std::to_string(d) + " exceed the kernel's shared memory");
    int rows = (int)std::min<size_t>({16, budget / per_row, (size_t)sq});
    size_t shared = (size_t)rows * per_row;
    dim3 grid((unsigned)((sq + rows - 1) / rows), (unsigned)(n0 * n1));
    if (dtype == TRTN_FLOAT16) {
        allow_shared<__half>(budget);
        launch_kernel(attention_tile<__half>, grid, kThreads, shared, s, static_cast<const __half*>(q), static_cast<const __half*>(k),
                      static_cast<const __half*>(v), static_cast<__half*>(o), view_of(qs), view_of(ks),
                      view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, rows, scale);
    } else if (dtype == TRTN_BFLOAT16) {
        allow_shared<__nv_bfloat16>(budget);
        launch_kernel(attention_tile<__nv_bfloat16>, grid, kThreads, shared, s, static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),
                      static_cast<const __nv_bfloat16*>(v), static_cast<__nv_bfloat16*>(o), view_of(qs), view_of(ks),
                      view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, rows, scale);
    } else {
        allow_shared<float>(budget);
        launch_kernel(attention_tile<float>, grid, kThreads, shared, s, static_cast<const float*>(q), static_cast<const float*>(k),
                      static_cast<const float*>(v), static_cast<float*>(o), view_of(qs), view_of(ks),
                      view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, rows, scale);
    }
    TRTN_LAUNCH_CHECK("attention_tile");
}


bool attention_mma_applies(int32_t dtype, int64_t skv, int64_t d, int64_t dv, int warps) {
    if (dtype != TRTN_FLOAT16 && dtype != TRTN_BFLOAT16) return false;
    if (d % 16 != 0 || dv % 16 != 0 || d < 16 || dv < 16 || d > 256 || dv > 256 || skv < 1 || skv > 4096) return false;
    if (warps != 1 && warps != 2 && warps != 4) return false;
    return mma_shared_bytes(skv, d, dv, 2, warps) <= (size_t)optin_shared();
}

void attention_mma(int32_t dtype, const void* q, const void* k, const void* v, void* o, int64_t n0, int64_t n1, int64_t sq,
                   int64_t skv, int64_t d, int64_t dv, const int64_t* qs, const int64_t* ks, const int64_t* vs, const int64_t* os,
                   float scale, int warps, cudaStream_t s) {
    require(attention_mma_applies(dtype, skv, d, dv, warps), TRTN_UNSUPPORTED,
            "attention: the tensor-core kernel does not apply (float16/bfloat16, feature dims multiples of 16 up to 256, K and V within shared memory)");
    require(n0 >= 0 && n1 >= 1 && sq >= 0, TRTN_INVALID_ARGUMENT, "attention: bad dims");
    if (n0 == 0 || sq == 0) return;
    require(n0 * n1 <= 65535 && sq <= INT32_MAX, TRTN_UNSUPPORTED, "attention: more than 65535 (batch x head) pairs or too long a query sequence");
    size_t shared = mma_shared_bytes(skv, d, dv, 2, warps);
    int rows = kMmaRows * warps;
    dim3 grid((unsigned)((sq + rows - 1) / rows), (unsigned)(n0 * n1));
    int vq = vec_ok(q, qs, n0, n1, d), vk = vec_ok(k, ks, n0, n1, d), vv = vec_ok(v, vs, n0, n1, dv);
    if (dtype == TRTN_FLOAT16) {
        allow_optin(reinterpret_cast<const void*>(attention_mma_kernel<__half>));
        launch_kernel(attention_mma_kernel<__half>, grid, 32 * warps, shared, s, static_cast<const __half*>(q), static_cast<const __half*>(k),
            static_cast<const __half*>(v), static_cast<__half*>(o), view_of(qs), view_of(ks), view_of(vs), view_of(os), n1, (int)sq,
            (int)skv, (int)d, (int)dv, scale, vq, vk, vv);
    } else {
        allow_optin(reinterpret_cast<const void*>(attention_mma_kernel<__nv_bfloat16>));
        launch_kernel(attention_mma_kernel<__nv_bfloat16>, grid, 32 * warps, shared, s, static_cast<const __nv_bfloat16*>(q),
            static_cast<const __nv_bfloat16*>(k), static_cast<const __nv_bfloat16*>(v), static_cast<__nv_bfloat16*>(o), view_of(qs),
            view_of(ks), view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, scale, vq, vk, vv);
    }
    TRTN_LAUNCH_CHECK("attention_mma");
}

}  // namespace trtn::kernels
