// The parts of the ABI that need no CUDA: version, status objects, parameter sizes.
#include "common.h"

#ifndef TRTN_VERSION_STRING
#define TRTN_VERSION_STRING "0.1.0"
#endif

extern "C" {

TRTN_API int32_t trtn_abi_version(void) { return TRTN_ABI_VERSION; }

TRTN_API const char* trtn_version(void) {
#if defined(TRTN_WITH_CUDA)
    return "trtnative " TRTN_VERSION_STRING " (cuda)";
#else
    return "trtnative " TRTN_VERSION_STRING " (nocuda)";
#endif
}

TRTN_API int32_t trtn_has_cuda(void) {
#if defined(TRTN_WITH_CUDA)
    return 1;
#else
    return 0;
#endif
}

TRTN_API uint64_t trtn_layer_params_size(int32_t kind) {
    switch (kind) {
        case TRTN_LAYER_CONV: return sizeof(trtn_conv_params);
        case TRTN_LAYER_GEMM: return sizeof(trtn_gemm_params);
        case TRTN_LAYER_BINARY: return sizeof(trtn_binary_params);
        case TRTN_LAYER_UNARY: return sizeof(trtn_unary_params);
        case TRTN_LAYER_POOL: return sizeof(trtn_pool_params);
        case TRTN_LAYER_SOFTMAX: return sizeof(trtn_softmax_params);
        case TRTN_LAYER_LAYERNORM: return sizeof(trtn_layernorm_params);
        case TRTN_LAYER_REDUCE: return sizeof(trtn_reduce_params);
        case TRTN_LAYER_COPY: return sizeof(trtn_copy_params);
        case TRTN_LAYER_CONCAT: return sizeof(trtn_concat_params);
        case TRTN_LAYER_RESIZE: return sizeof(trtn_resize_params);
        case TRTN_LAYER_GATHER: return sizeof(trtn_gather_params);
        case TRTN_LAYER_PAD: return sizeof(trtn_pad_params);
        case TRTN_LAYER_ATTENTION: return sizeof(trtn_attention_params);
        default: return 0;
    }
}

TRTN_API int32_t trtn_status_code(const trtn_status* status) { return status ? status->code : TRTN_OK; }

TRTN_API const char* trtn_status_message(const trtn_status* status) { return status ? status->message.c_str() : ""; }

TRTN_API void trtn_status_destroy(trtn_status* status) { delete status; }

}  // extern "C"
