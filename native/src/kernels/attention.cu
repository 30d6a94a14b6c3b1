// Scaled-dot-product attention on CUDA cores, for any element strides: O = softmax(scale * Q K^T) V.
// The attention layer's own tactic (fp32 engines, and fp16 where cuDNN's flash attention does not apply). One block
// computes a tile of query rows of one (batch, head): their scores against every key stay in shared memory, so each
// key and value row is read once per tile instead of once per query. Accumulation is fp32.
#include <algorithm>
#include <cfloat>
#include <mutex>
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
        attention_tile<__half><<<grid, kThreads, shared, s>>>(static_cast<const __half*>(q), static_cast<const __half*>(k),
                                               static_cast<const __half*>(v), static_cast<__half*>(o), view_of(qs), view_of(ks),
                                               view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, rows, scale);
    } else if (dtype == TRTN_BFLOAT16) {
        allow_shared<__nv_bfloat16>(budget);
        attention_tile<__nv_bfloat16><<<grid, kThreads, shared, s>>>(static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(k),
                                               static_cast<const __nv_bfloat16*>(v), static_cast<__nv_bfloat16*>(o), view_of(qs), view_of(ks),
                                               view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, rows, scale);
    } else {
        allow_shared<float>(budget);
        attention_tile<float><<<grid, kThreads, shared, s>>>(static_cast<const float*>(q), static_cast<const float*>(k),
                                               static_cast<const float*>(v), static_cast<float*>(o), view_of(qs), view_of(ks),
                                               view_of(vs), view_of(os), n1, (int)sq, (int)skv, (int)d, (int)dv, rows, scale);
    }
    TRTN_LAUNCH_CHECK("attention_tile");
}

}  // namespace trtn::kernels
