// Built only when no CUDA toolkit was found at configure time: every GPU entry point exists (so the managed
// side loads the library and checks the ABI) and reports that this build has no CUDA support.
#include "common.h"

namespace {
trtn_status* no_cuda(const char* fn) {
    return new (std::nothrow) trtn_status{TRTN_NO_DEVICE, std::string(fn) + ": this build of libtrtnative has no CUDA support (configured without a CUDA toolkit)"};
}
}  // namespace

extern "C" {
TRTN_API trtn_status* trtn_device_get_info(int32_t, trtn_device_info*) { return no_cuda("trtn_device_get_info"); }
TRTN_API trtn_status* trtn_engine_create(int32_t, trtn_engine** out) { if (out) *out = nullptr; return no_cuda("trtn_engine_create"); }
TRTN_API void trtn_engine_destroy(trtn_engine*) {}
TRTN_API trtn_status* trtn_engine_add_tensor(trtn_engine*, int32_t, int32_t, int32_t*) { return no_cuda("trtn_engine_add_tensor"); }
TRTN_API trtn_status* trtn_engine_add_layer(trtn_engine*, const char*, int32_t, const void*, uint64_t, const int32_t*, int32_t, const int32_t*, int32_t) { return no_cuda("trtn_engine_add_layer"); }
TRTN_API trtn_status* trtn_engine_set_layer_tactics(trtn_engine*, int32_t, const int64_t*, const int32_t*, int32_t) { return no_cuda("trtn_engine_set_layer_tactics"); }
TRTN_API trtn_status* trtn_engine_build(trtn_engine*, const trtn_build_options*) { return no_cuda("trtn_engine_build"); }
TRTN_API int32_t trtn_engine_layer_count(const trtn_engine*) { return 0; }
TRTN_API int32_t trtn_engine_get_tactic(const trtn_engine*, int32_t) { return -1; }
TRTN_API trtn_status* trtn_context_create(trtn_engine*, trtn_context** out) { if (out) *out = nullptr; return no_cuda("trtn_context_create"); }
TRTN_API void trtn_context_destroy(trtn_context*) {}
TRTN_API trtn_status* trtn_context_set_shapes(trtn_context*, const int64_t*, int64_t, uint64_t*) { return no_cuda("trtn_context_set_shapes"); }
TRTN_API trtn_status* trtn_context_set_tensor_addresses(trtn_context*, void* const*, int32_t) { return no_cuda("trtn_context_set_tensor_addresses"); }
TRTN_API trtn_status* trtn_context_set_workspace(trtn_context*, void*, uint64_t) { return no_cuda("trtn_context_set_workspace"); }
TRTN_API trtn_status* trtn_context_set_graph_capture(trtn_context*, int32_t) { return no_cuda("trtn_context_set_graph_capture"); }
TRTN_API trtn_status* trtn_context_enqueue(trtn_context*, void*) { return no_cuda("trtn_context_enqueue"); }
TRTN_API trtn_status* trtn_context_autotune(trtn_context*, void*, int32_t*, float*, int32_t) { return no_cuda("trtn_context_autotune"); }
TRTN_API trtn_status* trtn_context_profile(trtn_context*, void*, float*, int32_t) { return no_cuda("trtn_context_profile"); }
TRTN_API trtn_status* trtn_context_layer_implementation(const trtn_context*, int32_t, char*, uint64_t) { return no_cuda("trtn_context_layer_implementation"); }
TRTN_API trtn_status* trtn_context_get_info(const trtn_context*, trtn_context_info*) { return no_cuda("trtn_context_get_info"); }
TRTN_API trtn_status* trtn_preprocess_images(const void*, const void*, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, void*, void*) { return no_cuda("trtn_preprocess_images"); }
TRTN_API trtn_status* trtn_resize_images(const void*, int32_t, int32_t, int32_t, int32_t, int32_t, void*) { return no_cuda("trtn_resize_images"); }
TRTN_API trtn_status* trtn_jpeg_decoder_create(int32_t, int32_t, trtn_jpeg_decoder** out) { if (out) *out = nullptr; return no_cuda("trtn_jpeg_decoder_create"); }
TRTN_API void trtn_jpeg_decoder_destroy(trtn_jpeg_decoder*) {}
TRTN_API int32_t trtn_jpeg_decoder_is_hardware(const trtn_jpeg_decoder*) { return 0; }
TRTN_API trtn_status* trtn_jpeg_decoder_decode(trtn_jpeg_decoder*, const void* const*, const uint64_t*, int32_t, void*, trtn_jpeg_image*) { return no_cuda("trtn_jpeg_decoder_decode"); }
}
