// Image resize + crop for the server's GPU decode path: each item (its own source size) -> one 8-bit image of the
// service's input size, in the layout trtn_preprocess_images reads. One thread per output pixel.
//
// The numbers mirror the server's CPU resampler (src/TrtNative.Server/Imaging/Resampler.cs) so both paths give the
// same pixels: tap positions and weights computed in double with the same expressions and cast to float, the
// horizontal sum over a row's taps first (float, taps in order), then the vertical sum over those row sums (float,
// taps in order), rounded half to even and saturated. The CPU does the same sums as two separable passes; doing
// them per output pixel changes nothing in the arithmetic. This file is compiled with -fmad=false (CMakeLists.txt)
// so nvcc does not contract a*b+c into an FMA, which would round differently from the CPU.
#include "device.cuh"
#include "kernels.h"

#include <math_constants.h>

namespace trtn::kernels {
namespace {

constexpr int kMaxFixedTaps = 8;  // lanczos4; area has ceil(scale) + 1 taps and is computed tap by tap

__device__ double cubic(double t) {
    const double a = -0.75;
    t = fabs(t);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

__device__ double lanczos4(double t) {
    if (fabs(t) < 1e-12) return 1;
    if (fabs(t) >= 4) return 0;
    double px = CUDART_PI * t;
    return 4 * sin(px) * sin(px / 4) / (px * px);
}

// The taps of one output coordinate along one axis (Resampler.Coeffs for one destination index).
struct Taps {
    int mode = TRTN_INTERP_NEAREST;
    int count = 1;
    int src = 1;
    double scale = 1, x0 = 0, x1 = 0;
    int first = 0;
    int idx[kMaxFixedTaps];
    float w[kMaxFixedTaps];

    __device__ Taps(int interp, int src_size, int dst_size, int d) : src(src_size) {
        scale = (double)src_size / dst_size;
        mode = interp;
        if (mode == TRTN_INTERP_AREA && scale <= 1.0) mode = TRTN_INTERP_LINEAR;
        switch (mode) {
            case TRTN_INTERP_NEAREST:
                count = 1;
                idx[0] = min((int)floor(d * scale), src - 1);
                w[0] = 1;
                break;
            case TRTN_INTERP_AREA:
                count = (int)ceil(scale) + 1;
                x0 = d * scale;
                x1 = x0 + scale;
                first = (int)floor(x0);
                break;
            default: {
                count = mode == TRTN_INTERP_LINEAR ? 2 : mode == TRTN_INTERP_CUBIC ? 4 : 8;
                double fx = (d + 0.5) * scale - 0.5;
                int sx = (int)floor(fx);
                double f = fx - sx;
                int half = count / 2;
                double tw[kMaxFixedTaps];
                double sum = 0;
                for (int k = 0; k < count; ++k) {
                    double t = f - (k - half + 1);
                    tw[k] = mode == TRTN_INTERP_LINEAR ? fmax(0.0, 1 - fabs(t)) : mode == TRTN_INTERP_CUBIC ? cubic(t) : lanczos4(t);
                    sum += tw[k];
                }
                for (int k = 0; k < count; ++k) {
                    idx[k] = min(max(sx + k - half + 1, 0), src - 1);
                    w[k] = (float)(tw[k] / sum);
                }
            }
        }
    }

    __device__ void get(int k, int& i, float& weight) const {
        if (mode != TRTN_INTERP_AREA) {
            i = idx[k];
            weight = w[k];
            return;
        }
        int sx = first + k;
        double overlap = fmax(0.0, fmin(x1, (double)(sx + 1)) - fmax(x0, (double)sx));
        i = min(max(sx, 0), src - 1);
        weight = (float)(overlap / scale);
    }
};

// OpenCV's fixed-point RGB -> grey (as ImageDecoder on the CPU).
__device__ __forceinline__ float grey(const uint8_t* p) {
    return (float)((p[0] * 4899 + p[1] * 9617 + p[2] * 1868 + 8192) >> 14);
}

template <int SrcC, int OutC>
__global__ void resize_kernel(const trtn_resize_item* __restrict__ items, int out_h, int out_w) {
    wait_for_producer();
    const trtn_resize_item it = items[blockIdx.y];
    int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (p >= (int64_t)out_h * out_w) return;
    uint8_t* dst = reinterpret_cast<uint8_t*>(it.dst) + p * OutC;
    int ox = (int)(p % out_w), oy = (int)(p / out_w);
    bool valid = it.src && it.src_width > 0 && it.src_height > 0 && it.src_pitch >= it.src_width * SrcC && it.resize_width > 0 &&
                 it.resize_height > 0 && it.crop_x >= 0 && it.crop_y >= 0 && it.crop_x + out_w <= it.resize_width &&
                 it.crop_y + out_h <= it.resize_height && it.interp >= TRTN_INTERP_NEAREST && it.interp <= TRTN_INTERP_LANCZOS4;
    if (!valid) {
        // The launcher cannot see items in device memory: a bad one gives zeros, never a read out of bounds.
        for (int c = 0; c < OutC; ++c) dst[c] = 0;
        return;
    }
    const uint8_t* src = reinterpret_cast<const uint8_t*>(it.src);
    Taps tx(it.interp, it.src_width, it.resize_width, ox + it.crop_x);
    Taps ty(it.interp, it.src_height, it.resize_height, oy + it.crop_y);
    float acc[OutC];
    for (int c = 0; c < OutC; ++c) acc[c] = 0;
    for (int j = 0; j < ty.count; ++j) {
        int ry;
        float wy;
        ty.get(j, ry, wy);
        const uint8_t* row = src + (int64_t)ry * it.src_pitch;
        float h[OutC];
        for (int c = 0; c < OutC; ++c) h[c] = 0;
        for (int k = 0; k < tx.count; ++k) {
            int rx;
            float wx;
            tx.get(k, rx, wx);
            const uint8_t* px = row + (int64_t)rx * SrcC;
            if (SrcC == 3 && OutC == 1) {
                h[0] += wx * grey(px);
            } else {
                for (int c = 0; c < OutC; ++c) h[c] += wx * (float)px[c];
            }
        }
        for (int c = 0; c < OutC; ++c) acc[c] += wy * h[c];
    }
    for (int c = 0; c < OutC; ++c) dst[c] = (uint8_t)min(max(__float2int_rn(acc[c]), 0), 255);
}

}  // namespace

void resize_images(const trtn_resize_item* items, int count, int src_channels, int out_channels, int out_h, int out_w, cudaStream_t s) {
    if (count == 0) return;
    int threads = 128;
    dim3 grid((unsigned)(((int64_t)out_h * out_w + threads - 1) / threads), (unsigned)count);
    if (src_channels == 3 && out_channels == 3) launch_kernel(resize_kernel<3, 3>, grid, threads, 0, s, items, out_h, out_w);
    else if (src_channels == 3) launch_kernel(resize_kernel<3, 1>, grid, threads, 0, s, items, out_h, out_w);
    else launch_kernel(resize_kernel<1, 1>, grid, threads, 0, s, items, out_h, out_w);
    TRTN_LAUNCH_CHECK("resize_images");
}

}  // namespace trtn::kernels
