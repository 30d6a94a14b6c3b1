// Image preprocessing: a batch of interleaved 8-bit images -> normalised model input (planar or interleaved,
// fp32 or fp16), one thread per pixel. The arithmetic uses explicitly rounded operations so nvcc cannot contract
// it into an FMA: results are bit-identical to the managed CPU path, which evaluates the same float expression.
#include "device.cuh"
#include "kernels.h"

#include <algorithm>

namespace trtn::kernels {
namespace {

template <class TO, bool Planar>
__global__ void preprocess_kernel(const uint8_t* __restrict__ pixels, const trtn_image_params* __restrict__ params,
                                  TO* __restrict__ y, int64_t pixels_per_image, int64_t total_pixels, int src_c, int out_c) {
    wait_for_producer();
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total_pixels; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / pixels_per_image, p = i - n * pixels_per_image;
        const trtn_image_params& prm = params[n];
        const uint8_t* src = pixels + i * src_c;
        for (int c = 0; c < out_c; ++c) {
            // Clamped only so a bad parameter block cannot read past the image (the caller validates them).
            int sc = min(max(prm.src_channel[c], 0), src_c - 1);
            float v = __fsub_rn(__fmul_rn((float)src[sc], prm.scale), prm.mean[c]);
            v = __fdiv_rn(v, prm.std[c]);
            int64_t o = Planar ? (n * out_c + c) * pixels_per_image + p : i * out_c + c;
            y[o] = from_f<TO>(v);
        }
    }
}

template <class TO>
void launch(const uint8_t* pixels, const trtn_image_params* params, void* y, int64_t ppi, int64_t total, int src_c,
            int out_c, bool planar, cudaStream_t s) {
    int threads = 256;
    int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535 * 8);
    if (planar)
        launch_kernel(preprocess_kernel<TO, true>, (unsigned)blocks, threads, 0, s, pixels, params, static_cast<TO*>(y), ppi, total, src_c, out_c);
    else
        launch_kernel(preprocess_kernel<TO, false>, (unsigned)blocks, threads, 0, s, pixels, params, static_cast<TO*>(y), ppi, total, src_c, out_c);
}

}  // namespace

void preprocess_images(const uint8_t* pixels, const trtn_image_params* params, int64_t batch, int64_t height, int64_t width,
                       int src_channels, int out_channels, int32_t out_dtype, bool planar, void* y, cudaStream_t s) {
    int64_t ppi = height * width, total = batch * ppi;
    if (total == 0) return;
    if (out_dtype == TRTN_FLOAT16) launch<__half>(pixels, params, y, ppi, total, src_channels, out_channels, planar, s);
    else launch<float>(pixels, params, y, ppi, total, src_channels, out_channels, planar, s);
    TRTN_LAUNCH_CHECK("preprocess_images");
}

}  // namespace trtn::kernels
