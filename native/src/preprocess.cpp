// Image preprocessing exports: validate the arguments and queue the kernels (kernels/image.cu, kernels/image_resize.cu).
#include "common.h"
#include "kernels/kernels.h"

extern "C" {

TRTN_API trtn_status* trtn_preprocess_images(const void* pixels, const void* params, int32_t batch, int32_t height,
                                             int32_t width, int32_t src_channels, int32_t out_channels,
                                             int32_t out_dtype, int32_t out_layout, void* dst, void* stream) {
    return trtn::guard("trtn_preprocess_images", [&] {
        using trtn::require;
        require(batch >= 0 && height > 0 && width > 0, TRTN_INVALID_ARGUMENT,
                "batch " + std::to_string(batch) + ", height " + std::to_string(height) + ", width " + std::to_string(width) +
                    ": batch must be >= 0 and the image size positive");
        require(src_channels >= 1 && src_channels <= 4 && out_channels >= 1 && out_channels <= 4, TRTN_INVALID_ARGUMENT,
                "channels must be 1..4, got source " + std::to_string(src_channels) + ", output " + std::to_string(out_channels));
        require(out_dtype == TRTN_FLOAT32 || out_dtype == TRTN_FLOAT16, TRTN_INVALID_ARGUMENT,
                std::string("output type must be float32 or float16, got ") + trtn::dtype_name(out_dtype));
        require(out_layout == TRTN_IMAGE_NCHW || out_layout == TRTN_IMAGE_NHWC, TRTN_INVALID_ARGUMENT,
                "unknown output layout " + std::to_string(out_layout));
        if (batch == 0) return;
        require(pixels && params && dst, TRTN_INVALID_ARGUMENT, "pixels, params and dst must be device addresses");
        trtn::kernels::preprocess_images(static_cast<const uint8_t*>(pixels), static_cast<const trtn_image_params*>(params), batch,
                                         height, width, src_channels, out_channels, out_dtype, out_layout == TRTN_IMAGE_NCHW,
                                         dst, static_cast<cudaStream_t>(stream));
    });
}

TRTN_API trtn_status* trtn_resize_images(const void* items, int32_t count, int32_t src_channels, int32_t out_channels,
                                         int32_t out_height, int32_t out_width, void* stream) {
    return trtn::guard("trtn_resize_images", [&] {
        using trtn::require;
        require(count >= 0 && count <= 65535, TRTN_INVALID_ARGUMENT, "count " + std::to_string(count) + " must be in 0..65535");
        require(out_height > 0 && out_width > 0, TRTN_INVALID_ARGUMENT,
                "output size " + std::to_string(out_width) + "x" + std::to_string(out_height) + " must be positive");
        require((src_channels == 3 && (out_channels == 3 || out_channels == 1)) || (src_channels == 1 && out_channels == 1),
                TRTN_INVALID_ARGUMENT, "channels: source " + std::to_string(src_channels) + ", output " + std::to_string(out_channels) +
                    "; supported are 3 -> 3, 3 -> 1 (grey) and 1 -> 1");
        if (count == 0) return;
        require(items != nullptr, TRTN_INVALID_ARGUMENT, "items must be a device address");
        trtn::kernels::resize_images(static_cast<const trtn_resize_item*>(items), count, src_channels, out_channels, out_height,
                                     out_width, static_cast<cudaStream_t>(stream));
    });
}

}  // extern "C"
