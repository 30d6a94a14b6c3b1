// Data-movement kernels: strided copy (transpose, slice, expand, concat pieces, layout and precision
// conversion), gather, pad, resize.
#include "device.cuh"
#include "kernels.h"

namespace trtn::kernels {
namespace {

template <class TI, class TO>
__device__ __forceinline__ TO convert(TI v) { return from_f<TO>(to_f(v)); }
template <> __device__ __forceinline__ int32_t convert<int32_t, int32_t>(int32_t v) { return v; }
template <> __device__ __forceinline__ int64_t convert<int64_t, int64_t>(int64_t v) { return v; }

template <class TI, class TO>
__global__ void strided_copy_kernel(const TI* __restrict__ x, TO* __restrict__ y, int64_t n, Strided d) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i, xi = d.in_offset, yi = d.out_offset;
        for (int k = d.rank - 1; k >= 0; --k) {
            int64_t c = r % d.dims[k];
            r /= d.dims[k];
            xi += c * d.in_strides[k];
            yi += c * d.out_strides[k];
        }
        y[yi] = convert<TI, TO>(x[xi]);
    }
}

// 32-bit index math (everything below 2^31): unsigned division is several times cheaper than 64-bit.
struct Strided32 {
    int rank;
    uint32_t dims[kMaxDims];
    int32_t in_strides[kMaxDims], out_strides[kMaxDims];
    int32_t in_offset, out_offset;
};

// The rank is fixed at compile time (every rank up to kMaxDims has its kernel): the loop unrolls and reads the
// descriptor at constant offsets. With a run-time rank loop, ViT-B/16's layout copies ran at ~36 G elements/s on the
// H100, far below memory bandwidth (Sample bench --layers, session 3); this version made them ~6x faster. The likely
// cause (not confirmed with ptxas): a by-value parameter array indexed at run time is copied to local memory by every
// thread.
template <class TI, class TO, int R>
__global__ void strided_copy_rank(const TI* __restrict__ x, TO* __restrict__ y, uint32_t n, Strided32 d) {
    wait_for_producer();
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        uint32_t r = i;
        int32_t xi = d.in_offset, yi = d.out_offset;
#pragma unroll
        for (int k = R - 1; k >= 0; --k) {
            uint32_t c = r % d.dims[k];
            r /= d.dims[k];
            xi += (int32_t)c * d.in_strides[k];
            yi += (int32_t)c * d.out_strides[k];
        }
        y[yi] = convert<TI, TO>(x[xi]);
    }
}

// The copy of planes into pixels with few channels (an image input's NCHW -> NHWC, with its fp32 -> fp16 or bf16
// conversion): iteration dims [N, M, C] (M pixels, C <= 4 channels), input strides [Sn, 1, Sc], output contiguous. A
// thread reads 4 consecutive pixels of each channel plane (one 16- or 8-byte load each) and writes their 4 x C
// outputs as 32-bit words; the general kernel's per-element index math and 2-byte stores ran ResNet-50's 128 x 3 x 224
// x 224 input at about three times its memory traffic's time on the H100 (0.10 ms, session 14).
template <class TI, class TO, int C>
__global__ void planes_to_pixels(const TI* __restrict__ x, TO* __restrict__ y, uint32_t groups, uint32_t quads,
                                 int32_t sn, int32_t sc) {
    wait_for_producer();
    for (uint32_t g = blockIdx.x * blockDim.x + threadIdx.x; g < groups; g += gridDim.x * blockDim.x) {
        uint32_t n = g / quads, m = (g % quads) * 4;
        const TI* src = x + (int64_t)n * sn + m;
        alignas(4) TO out[4 * C];  // read back as 32-bit words
#pragma unroll
        for (int c = 0; c < C; ++c) {
            alignas(16) TI v[4];  // written as one vector
            if constexpr (sizeof(TI) == 4) *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(src + (int64_t)c * sc);
            else *reinterpret_cast<uint2*>(v) = *reinterpret_cast<const uint2*>(src + (int64_t)c * sc);
#pragma unroll
            for (int j = 0; j < 4; ++j) out[j * C + c] = convert<TI, TO>(v[j]);
        }
        auto* dst = reinterpret_cast<uint32_t*>(y + ((size_t)n * quads * 4 + m) * C);
        const auto* words = reinterpret_cast<const uint32_t*>(out);
#pragma unroll
        for (int k = 0; k < (int)(4 * C * sizeof(TO) / 4); ++k) dst[k] = words[k];
    }
}

// Runs planes_to_pixels when `e` (merged dims, 32-bit) is such a copy and everything is aligned for it.
template <class TI, class TO>
bool launch_planes_to_pixels(const TI* x, TO* y, const Strided32& e, cudaStream_t s) {
    if constexpr (sizeof(TI) < 2 || sizeof(TO) < 2 || sizeof(TI) > 4 || sizeof(TO) > 4) {
        return false;
    } else {
        // [M, C] (one image) or [N, M, C].
        if (e.rank < 2 || e.rank > 3 || e.in_offset != 0 || e.out_offset != 0) return false;
        int i = e.rank - 2;  // the pixel dim
        uint32_t C = e.dims[i + 1], M = e.dims[i], N = e.rank == 3 ? e.dims[0] : 1;
        int32_t sc = e.in_strides[i + 1], sn = e.rank == 3 ? e.in_strides[0] : 0;
        bool shape = C >= 1 && C <= 4 && M % 4 == 0 && e.in_strides[i] == 1 && e.out_strides[i + 1] == 1 &&
                     e.out_strides[i] == (int32_t)C && (e.rank == 2 || e.out_strides[0] == (int32_t)(M * C));
        // Every 4-pixel load aligned (4 x 4 or 4 x 2 bytes), and every thread's first output word.
        bool aligned = sc > 0 && sn >= 0 && sc % 4 == 0 && sn % 4 == 0 && reinterpret_cast<uintptr_t>(x) % (4 * sizeof(TI)) == 0 &&
                       reinterpret_cast<uintptr_t>(y) % 4 == 0;
        if (!shape || !aligned) return false;
        uint32_t quads = M / 4, groups = N * quads;
        const int block = 256;
        unsigned grid = grid_for(groups, block);
        switch (C) {
            case 1: launch_kernel(planes_to_pixels<TI, TO, 1>, grid, block, 0, s, x, y, groups, quads, sn, sc); break;
            case 2: launch_kernel(planes_to_pixels<TI, TO, 2>, grid, block, 0, s, x, y, groups, quads, sn, sc); break;
            case 3: launch_kernel(planes_to_pixels<TI, TO, 3>, grid, block, 0, s, x, y, groups, quads, sn, sc); break;
            default: launch_kernel(planes_to_pixels<TI, TO, 4>, grid, block, 0, s, x, y, groups, quads, sn, sc); break;
        }
        return true;
    }
}

template <class TI, class TO>
void launch_copy32(const TI* x, TO* y, uint32_t n, Strided32 e, cudaStream_t s) {
    const int block = 256;
    unsigned grid = grid_for(n, block);
    if (e.rank == 0) { e.rank = 1; e.dims[0] = 1; e.in_strides[0] = 0; e.out_strides[0] = 0; }  // one element
    static_assert(kMaxDims == 8, "a kernel per rank up to kMaxDims");
    switch (e.rank) {
        case 1: launch_kernel(strided_copy_rank<TI, TO, 1>, grid, block, 0, s, x, y, n, e); break;
        case 2: launch_kernel(strided_copy_rank<TI, TO, 2>, grid, block, 0, s, x, y, n, e); break;
        case 3: launch_kernel(strided_copy_rank<TI, TO, 3>, grid, block, 0, s, x, y, n, e); break;
        case 4: launch_kernel(strided_copy_rank<TI, TO, 4>, grid, block, 0, s, x, y, n, e); break;
        case 5: launch_kernel(strided_copy_rank<TI, TO, 5>, grid, block, 0, s, x, y, n, e); break;
        case 6: launch_kernel(strided_copy_rank<TI, TO, 6>, grid, block, 0, s, x, y, n, e); break;
        case 7: launch_kernel(strided_copy_rank<TI, TO, 7>, grid, block, 0, s, x, y, n, e); break;
        default: launch_kernel(strided_copy_rank<TI, TO, 8>, grid, block, 0, s, x, y, n, e); break;
    }
}

template <class TI, class TO>
void launch_copy(const void* x, void* y, const Strided& d0, cudaStream_t s) {
    // Merge adjacent dims that are contiguous in both input and output (fewer divisions per element).
    Strided d{};
    d.in_offset = d0.in_offset; d.out_offset = d0.out_offset;
    for (int k = 0; k < d0.rank; ++k) {
        if (d0.dims[k] == 1) continue;
        if (d.rank > 0 && d.in_strides[d.rank - 1] == d0.in_strides[k] * d0.dims[k] &&
            d.out_strides[d.rank - 1] == d0.out_strides[k] * d0.dims[k]) {
            d.dims[d.rank - 1] *= d0.dims[k];
            d.in_strides[d.rank - 1] = d0.in_strides[k];
            d.out_strides[d.rank - 1] = d0.out_strides[k];
            continue;
        }
        d.dims[d.rank] = d0.dims[k]; d.in_strides[d.rank] = d0.in_strides[k]; d.out_strides[d.rank] = d0.out_strides[k];
        ++d.rank;
    }
    int64_t n = 1, max_in = d.in_offset, max_out = d.out_offset;
    for (int k = 0; k < d.rank; ++k) {
        n *= d.dims[k];
        max_in += (d.dims[k] - 1) * (d.in_strides[k] < 0 ? -d.in_strides[k] : d.in_strides[k]);
        max_out += (d.dims[k] - 1) * d.out_strides[k];
    }
    for (int k = 0; k < d0.rank; ++k) if (d0.dims[k] == 0) return;
    if (n == 0) return;
    const int block = 256;
    if (n < (1ll << 31) && max_in < (1ll << 31) && max_out < (1ll << 31)) {
        Strided32 e{};
        e.rank = d.rank; e.in_offset = (int32_t)d.in_offset; e.out_offset = (int32_t)d.out_offset;
        for (int k = 0; k < d.rank; ++k) { e.dims[k] = (uint32_t)d.dims[k]; e.in_strides[k] = (int32_t)d.in_strides[k]; e.out_strides[k] = (int32_t)d.out_strides[k]; }
        if (!launch_planes_to_pixels<TI, TO>(static_cast<const TI*>(x), static_cast<TO*>(y), e, s))
            launch_copy32<TI, TO>(static_cast<const TI*>(x), static_cast<TO*>(y), (uint32_t)n, e, s);
    } else {
        launch_kernel(strided_copy_kernel<TI, TO>, grid_for(n, block), block, 0, s, static_cast<const TI*>(x), static_cast<TO*>(y), n, d);
    }
    TRTN_LAUNCH_CHECK("strided_copy");
}

template <class T>
__global__ void gather_kernel(const T* __restrict__ data, const int32_t* __restrict__ idx, T* __restrict__ y,
                              int64_t n, int64_t axis_len, int64_t n_idx, int64_t inner) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t in_ = i % inner;
        int64_t j = (i / inner) % n_idx;
        int64_t o = i / (inner * n_idx);
        int64_t k = idx[j];
        if (k < 0) k += axis_len;
        if (k < 0) k = 0;
        if (k >= axis_len) k = axis_len - 1;  // indices are validated at build time; clamp keeps reads in bounds
        y[i] = data[(o * axis_len + k) * inner + in_];
    }
}

struct PadDesc {
    int rank;
    int64_t in_dims[kMaxDims];
    int64_t out_dims[kMaxDims];
    int64_t begin[kMaxDims];
};

template <class T>
__global__ void pad_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, PadDesc d, int mode, float value) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i, xi = 0, stride = 1;
        bool inside = true;
        for (int k = d.rank - 1; k >= 0; --k) {
            int64_t c = r % d.out_dims[k] - d.begin[k];
            r /= d.out_dims[k];
            int64_t len = d.in_dims[k];
            if (c < 0 || c >= len) {
                if (mode == 0) inside = false;
                else if (mode == 1) c = c < 0 ? 0 : len - 1;
                else {  // reflect
                    if (len == 1) c = 0;
                    else {
                        int64_t period = 2 * (len - 1);
                        c = c % period; if (c < 0) c += period;
                        if (c >= len) c = period - c;
                    }
                }
            }
            xi += c * stride;
            stride *= len;
        }
        y[i] = inside ? x[xi] : from_f<T>(value);
    }
}

struct ResizeDesc {
    int64_t outer;   // product of dims before h
    int64_t h, w, oh, ow;
    int64_t inner;   // product of dims after w
    float sh, sw;    // output / input scales
    int mode, coord, nearest;
};

__device__ __forceinline__ float src_coord(float o, float scale, int64_t in_len, int64_t out_len, int coord) {
    switch (coord) {
        case 0: return (o + 0.5f) / scale - 0.5f;
        case 1: return o / scale;
        case 2:  // the output length, as ONNX Runtime, PyTorch and our reference kernel do (not ONNX 1.12's in_len * scale)
            return out_len > 1 ? o * (float)(in_len - 1) / (float)(out_len - 1) : 0.f;
        default: return out_len > 1 ? (o + 0.5f) / scale - 0.5f : 0.f;
    }
}

__device__ __forceinline__ int64_t nearest_index(float c, int mode, int64_t len) {
    int64_t k;
    switch (mode) {
        case 0: k = (c - floorf(c) == 0.5f) ? (int64_t)floorf(c) : (int64_t)roundf(c); break;
        case 1: k = (int64_t)roundf(c); break;
        case 2: k = (int64_t)floorf(c); break;
        default: k = (int64_t)ceilf(c); break;
    }
    return k < 0 ? 0 : (k >= len ? len - 1 : k);
}

template <class T>
__global__ void resize_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, ResizeDesc d) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t in_ = i % d.inner;
        int64_t ox = (i / d.inner) % d.ow;
        int64_t oy = (i / (d.inner * d.ow)) % d.oh;
        int64_t o = i / (d.inner * d.ow * d.oh);
        const T* base = x + o * d.h * d.w * d.inner + in_;
        float cy = src_coord((float)oy, d.sh, d.h, d.oh, d.coord);
        float cx = src_coord((float)ox, d.sw, d.w, d.ow, d.coord);
        float v;
        if (d.mode == 0) {
            int64_t iy = nearest_index(cy, d.nearest, d.h), ix = nearest_index(cx, d.nearest, d.w);
            v = to_f(base[(iy * d.w + ix) * d.inner]);
        } else {
            cy = fminf(fmaxf(cy, 0.f), (float)(d.h - 1));
            cx = fminf(fmaxf(cx, 0.f), (float)(d.w - 1));
            int64_t y0 = (int64_t)floorf(cy), x0 = (int64_t)floorf(cx);
            int64_t y1 = y0 + 1 < d.h ? y0 + 1 : y0, x1 = x0 + 1 < d.w ? x0 + 1 : x0;
            float fy = cy - y0, fx = cx - x0;
            float v00 = to_f(base[(y0 * d.w + x0) * d.inner]), v01 = to_f(base[(y0 * d.w + x1) * d.inner]);
            float v10 = to_f(base[(y1 * d.w + x0) * d.inner]), v11 = to_f(base[(y1 * d.w + x1) * d.inner]);
            v = (v00 * (1 - fx) + v01 * fx) * (1 - fy) + (v10 * (1 - fx) + v11 * fx) * fy;
        }
        y[i] = from_f<T>(v);
    }
}

}  // namespace

void strided_copy(int32_t in_dtype, int32_t out_dtype, const void* x, void* y, const Strided& d, cudaStream_t s) {
    require(d.rank >= 0 && d.rank <= kMaxDims, TRTN_UNSUPPORTED, "strided_copy: rank exceeds 8");
    if (in_dtype == TRTN_FLOAT32 && out_dtype == TRTN_FLOAT32) launch_copy<float, float>(x, y, d, s);
    else if (in_dtype == TRTN_FLOAT32 && out_dtype == TRTN_FLOAT16) launch_copy<float, __half>(x, y, d, s);
    else if (in_dtype == TRTN_FLOAT16 && out_dtype == TRTN_FLOAT32) launch_copy<__half, float>(x, y, d, s);
    else if (in_dtype == TRTN_FLOAT16 && out_dtype == TRTN_FLOAT16) launch_copy<__half, __half>(x, y, d, s);
    else if (in_dtype == TRTN_FLOAT32 && out_dtype == TRTN_BFLOAT16) launch_copy<float, __nv_bfloat16>(x, y, d, s);
    else if (in_dtype == TRTN_BFLOAT16 && out_dtype == TRTN_FLOAT32) launch_copy<__nv_bfloat16, float>(x, y, d, s);
    else if (in_dtype == TRTN_BFLOAT16 && out_dtype == TRTN_BFLOAT16) launch_copy<__nv_bfloat16, __nv_bfloat16>(x, y, d, s);
    else if (in_dtype == TRTN_INT32 && out_dtype == TRTN_INT32) launch_copy<int32_t, int32_t>(x, y, d, s);
    else if (in_dtype == TRTN_INT64 && out_dtype == TRTN_INT64) launch_copy<int64_t, int64_t>(x, y, d, s);
    else fail(TRTN_UNSUPPORTED, std::string("strided_copy: conversion ") + dtype_name(in_dtype) + " -> " + dtype_name(out_dtype) + " is not supported");
}

void gather(int32_t dtype, const void* data, const int32_t* idx, void* y, int64_t outer, int64_t axis_len,
            int64_t n_idx, int64_t inner, cudaStream_t s) {
    require_float(dtype, "gather");
    int64_t n = outer * n_idx * inner;
    if (n == 0) return;
    const int block = 256;
    if (dtype == TRTN_FLOAT32)
        launch_kernel(gather_kernel<float>, grid_for(n, block), block, 0, s, static_cast<const float*>(data), idx, static_cast<float*>(y), n, axis_len, n_idx, inner);
    else if (dtype == TRTN_FLOAT16)
        launch_kernel(gather_kernel<__half>, grid_for(n, block), block, 0, s, static_cast<const __half*>(data), idx, static_cast<__half*>(y), n, axis_len, n_idx, inner);
    else
        launch_kernel(gather_kernel<__nv_bfloat16>, grid_for(n, block), block, 0, s, static_cast<const __nv_bfloat16*>(data), idx, static_cast<__nv_bfloat16*>(y), n, axis_len, n_idx, inner);
    TRTN_LAUNCH_CHECK("gather");
}

void pad(int32_t dtype, const void* x, void* y, int rank, const int64_t* in_dims, const int64_t* out_dims,
         const int64_t* begin, int32_t mode, float value, cudaStream_t s) {
    require_float(dtype, "pad");
    require(rank <= kMaxDims, TRTN_UNSUPPORTED, "pad: rank exceeds 8");
    PadDesc d{};
    d.rank = rank;
    int64_t n = 1;
    for (int k = 0; k < rank; ++k) { d.in_dims[k] = in_dims[k]; d.out_dims[k] = out_dims[k]; d.begin[k] = begin[k]; n *= out_dims[k]; }
    if (n == 0) return;
    const int block = 256;
    if (dtype == TRTN_FLOAT32)
        launch_kernel(pad_kernel<float>, grid_for(n, block), block, 0, s, static_cast<const float*>(x), static_cast<float*>(y), n, d, mode, value);
    else if (dtype == TRTN_FLOAT16)
        launch_kernel(pad_kernel<__half>, grid_for(n, block), block, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), n, d, mode, value);
    else
        launch_kernel(pad_kernel<__nv_bfloat16>, grid_for(n, block), block, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), n, d, mode, value);
    TRTN_LAUNCH_CHECK("pad");
}

void resize(int32_t dtype, const void* x, void* y, int rank, const int64_t* in_dims, const int64_t* out_dims,
            const trtn_resize_params& prm, cudaStream_t s) {
    require_float(dtype, "resize");
    require(prm.h_axis >= 0 && prm.h_axis + 1 < rank, TRTN_INVALID_ARGUMENT, "resize: h_axis out of range");
    ResizeDesc d{};
    d.outer = 1; d.inner = 1;
    for (int k = 0; k < rank; ++k) {
        if (k < prm.h_axis) { require(in_dims[k] == out_dims[k], TRTN_UNSUPPORTED, "resize: only the two spatial dims may change"); d.outer *= in_dims[k]; }
        else if (k > prm.h_axis + 1) { require(in_dims[k] == out_dims[k], TRTN_UNSUPPORTED, "resize: only the two spatial dims may change"); d.inner *= in_dims[k]; }
    }
    d.h = in_dims[prm.h_axis]; d.w = in_dims[prm.h_axis + 1];
    d.oh = out_dims[prm.h_axis]; d.ow = out_dims[prm.h_axis + 1];
    d.sh = prm.scale_h > 0 ? prm.scale_h : (float)d.oh / (float)d.h;
    d.sw = prm.scale_w > 0 ? prm.scale_w : (float)d.ow / (float)d.w;
    d.mode = prm.mode; d.coord = prm.coord_mode; d.nearest = prm.nearest_mode;
    int64_t n = d.outer * d.oh * d.ow * d.inner;
    if (n == 0) return;
    const int block = 256;
    if (dtype == TRTN_FLOAT32)
        launch_kernel(resize_kernel<float>, grid_for(n, block), block, 0, s, static_cast<const float*>(x), static_cast<float*>(y), n, d);
    else if (dtype == TRTN_FLOAT16)
        launch_kernel(resize_kernel<__half>, grid_for(n, block), block, 0, s, static_cast<const __half*>(x), static_cast<__half*>(y), n, d);
    else
        launch_kernel(resize_kernel<__nv_bfloat16>, grid_for(n, block), block, 0, s, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), n, d);
    TRTN_LAUNCH_CHECK("resize");
}

}  // namespace trtn::kernels
