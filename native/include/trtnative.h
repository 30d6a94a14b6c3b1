/*
 * trtnative.h — the whole C ABI of the TrtNative GPU shim.
 *
 * Shape: like TensorRT. The managed compiler lowers a graph into a list of layers (kind + blittable parameter
 * struct + tensor ids) and adds them to an engine; the shim only executes ("the compiler decides, the shim
 * executes"). An execution context binds concrete shapes and device addresses (memory is owned by the caller)
 * and enqueues the layers on a stream, replaying a captured CUDA graph when shapes and addresses are unchanged.
 *
 * Rules:
 *  - Every function that can fail returns a trtn_status*: NULL on success, otherwise an object carrying a code
 *    and a message naming the failed call (and the layer, where there is one). The caller releases it with
 *    trtn_status_destroy. No C++ exception crosses this boundary.
 *  - Handles are opaque; every *_create has a matching *_destroy. A context must be destroyed before its engine.
 *  - Tensor shapes are physical: the compiler decides layouts (NCHW or NHWC) and passes the dims in memory order.
 *  - Parameter structs contain only int32, int64 and float fields; their sizes are part of the ABI and are
 *    checked by the managed side (trtn_layer_params_size).
 */
#ifndef TRTNATIVE_H
#define TRTNATIVE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define TRTN_API __declspec(dllexport)
#else
#define TRTN_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on every incompatible change of a signature, a struct or an enum below (4: TRTN_LAYER_ATTENTION, a GEMM's
 * residual input, trtn_context_layer_implementation; 5: TRTN_ACT_GELU_TANH, which an older shim would not know, attention
 * inputs sliced from a packed tensor, the JPEG decoder and trtn_resize_images, TRTN_BFLOAT16 and
 * trtn_build_options.reduced_type and optimization_level; 6: trtn_engine_set_layer_tactics, attention tactics 2-4). */
#define TRTN_ABI_VERSION 7
#define TRTN_MAX_DIMS 8

typedef struct trtn_status trtn_status;
typedef struct trtn_engine trtn_engine;
typedef struct trtn_context trtn_context;
typedef struct trtn_jpeg_decoder trtn_jpeg_decoder;

/* Codes match TrtNative.ErrorCode on the managed side. */
typedef enum trtn_code {
    TRTN_OK = 0,
    TRTN_INVALID_ARGUMENT = 1,
    TRTN_UNSUPPORTED = 3,
    TRTN_SHAPE_MISMATCH = 4,
    TRTN_OUT_OF_MEMORY = 7,
    TRTN_CUDA_ERROR = 8,
    TRTN_NO_DEVICE = 10,
    TRTN_INTERNAL = 99
} trtn_code;

typedef enum trtn_dtype {
    TRTN_FLOAT32 = 0,
    TRTN_FLOAT16 = 1,
    TRTN_INT32 = 2,
    TRTN_INT64 = 3,
    TRTN_BFLOAT16 = 4
} trtn_dtype;

typedef enum trtn_layer_kind {
    TRTN_LAYER_CONV = 1,      /* cuDNN convolution, NHWC, fused bias/residual/activation epilogue */
    TRTN_LAYER_GEMM = 2,      /* cuBLASLt matrix product (batched, broadcast), bias/activation epilogue */
    TRTN_LAYER_BINARY = 3,    /* element-wise binary with numpy broadcasting */
    TRTN_LAYER_UNARY = 4,     /* element-wise unary (activations, math) */
    TRTN_LAYER_POOL = 5,      /* max/average pooling, NHWC */
    TRTN_LAYER_SOFTMAX = 6,   /* softmax / log-softmax along one axis */
    TRTN_LAYER_LAYERNORM = 7, /* layer normalization over the trailing dims from axis */
    TRTN_LAYER_REDUCE = 8,    /* reduction over a set of axes (output keeps them as 1) */
    TRTN_LAYER_COPY = 9,      /* strided copy: transpose, slice, expand, layout and precision conversion */
    TRTN_LAYER_CONCAT = 10,   /* concatenation along one axis */
    TRTN_LAYER_RESIZE = 11,   /* nearest / bilinear resize of the two spatial dims */
    TRTN_LAYER_GATHER = 12,   /* gather along one axis with int32 indices */
    TRTN_LAYER_PAD = 13,      /* constant / edge / reflect padding */
    TRTN_LAYER_ATTENTION = 14 /* fused scaled-dot-product attention over permuted views of its inputs */
} trtn_layer_kind;

/* Unary ops. 0..10 are also the fused activations (same order as TrtNative.Ops.ActivationKind, plus the two GELUs:
 * GELU is the exact erf form, GELU_TANH the tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))). */
typedef enum trtn_unary_op {
    TRTN_ACT_NONE = 0, TRTN_ACT_RELU = 1, TRTN_ACT_CLIP = 2, TRTN_ACT_SIGMOID = 3, TRTN_ACT_SILU = 4,
    TRTN_ACT_HARDSWISH = 5, TRTN_ACT_HARDSIGMOID = 6, TRTN_ACT_LEAKYRELU = 7, TRTN_ACT_TANH = 8, TRTN_ACT_GELU = 9,
    TRTN_ACT_GELU_TANH = 10,
    TRTN_UNARY_EXP = 20, TRTN_UNARY_LOG = 21, TRTN_UNARY_SQRT = 22, TRTN_UNARY_NEG = 23, TRTN_UNARY_ABS = 24,
    TRTN_UNARY_ERF = 25, TRTN_UNARY_RECIPROCAL = 26, TRTN_UNARY_FLOOR = 27, TRTN_UNARY_CEIL = 28,
    TRTN_UNARY_SOFTPLUS = 29, TRTN_UNARY_ELU = 30, TRTN_UNARY_SIN = 31, TRTN_UNARY_COS = 32,
    TRTN_UNARY_ROUND = 33, TRTN_UNARY_SIGN = 34, TRTN_UNARY_SELU = 35, TRTN_UNARY_POW_SCALAR = 36
} trtn_unary_op;

typedef enum trtn_binary_op {
    TRTN_BINARY_ADD = 0, TRTN_BINARY_SUB = 1, TRTN_BINARY_MUL = 2, TRTN_BINARY_DIV = 3,
    TRTN_BINARY_POW = 4, TRTN_BINARY_MAX = 5, TRTN_BINARY_MIN = 6, TRTN_BINARY_PRELU = 7
} trtn_binary_op;

/* An activation applied after a layer's main computation. */
typedef struct trtn_activation {
    int32_t kind;   /* trtn_unary_op 0..10 */
    float alpha;    /* clip: min, leakyrelu: slope, hardsigmoid: alpha */
    float beta;     /* clip: max, hardsigmoid: beta */
} trtn_activation;

/* Inputs: X [N,H,W,C], W [K,R,S,C/groups], B [K] (fp32) optional, R (residual, Y's shape) optional.
 * Output: Y [N,P,Q,K]. Y = act(conv(X, W) + B + R). Pads are symmetric (cuDNN). */
typedef struct trtn_conv_params {
    int32_t pad_h, pad_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t groups;
    int32_t has_bias;
    int32_t has_residual;
    trtn_activation act;
    int32_t tactic;         /* -1: choose at set_shapes by heuristics / autotune; else a cudnnConvolutionFwdAlgo_t */
} trtn_conv_params;

/* Inputs: A [..., M, K] (or [..., K, M] with trans_a), B [..., K, N] (or [..., N, K] with trans_b),
 * Bias [N] optional (same dtype as Y), R optional (input 3: a residual with Y's shape and type).
 * Batch dims: equal, or one side's batch product is 1. Output: Y [..., M, N] = act(alpha * A·B + Bias + R). */
typedef struct trtn_gemm_params {
    int32_t trans_a, trans_b;
    float alpha;
    int32_t has_bias;
    trtn_activation act;
    int32_t tactic;         /* -1: first heuristic result; else index into cuBLASLt's heuristic list */
    int32_t norm_a;         /* 1: each row of A (its K values) is layer-normalised before the product:
                               (a - mean) / sqrt(var + norm_epsilon) * scale + shift, scale = input 4 (float32 [K]),
                               shift = input 5 (float32 [K], optional: -1). Needs trans_a 0. */
    float norm_epsilon;
} trtn_gemm_params;

/* Inputs A, B (numpy broadcasting, right-aligned), output Y. Y = act(A op B). */
typedef struct trtn_binary_params {
    int32_t op;             /* trtn_binary_op */
    trtn_activation act;
} trtn_binary_params;

typedef struct trtn_unary_params {
    int32_t op;             /* trtn_unary_op */
    float alpha, beta;
} trtn_unary_params;

/* Input X [N,H,W,C] → Y [N,P,Q,C]; output dims come from Y's shape. */
typedef struct trtn_pool_params {
    int32_t mode;           /* 0 max, 1 average */
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t dilation_h, dilation_w;
    int32_t count_include_pad;
} trtn_pool_params;

typedef struct trtn_softmax_params {
    int32_t axis;           /* physical axis; softmax over it, independently for every other index */
    int32_t log;            /* 1: log-softmax */
} trtn_softmax_params;

/* Inputs X, Scale (fp32, normalized size), Bias (fp32) optional. Normalizes over dims [axis, rank). */
typedef struct trtn_layernorm_params {
    int32_t axis;
    float epsilon;
    int32_t has_bias;
} trtn_layernorm_params;

/* Output has the input's rank with reduced axes of size 1. */
typedef struct trtn_reduce_params {
    int32_t op;             /* 0 mean, 1 sum, 2 max, 3 min, 4 sum of squares, 5 L2 norm */
    int32_t axes_mask;      /* bit d set: axis d (of the input) is reduced */
} trtn_reduce_params;

/* out[i_0..i_{r-1}] = in[sum_d (start_d + i_d * step_d) * in_stride(perm_d)] where in_stride is the input's
 * contiguous stride of its dim perm_d (input rank = output rank; pad it with leading 1s). A step of 0 broadcasts.
 * Converts dtype between float32 and float16 on the fly. */
typedef struct trtn_copy_params {
    int32_t perm[TRTN_MAX_DIMS];
    int64_t start[TRTN_MAX_DIMS];
    int64_t step[TRTN_MAX_DIMS];
} trtn_copy_params;

typedef struct trtn_concat_params {
    int32_t axis;
} trtn_concat_params;

/* X 4-D; resizes dims (h_axis, h_axis+1). Scales of 0 mean out/in. */
typedef struct trtn_resize_params {
    int32_t mode;           /* 0 nearest, 1 linear */
    int32_t coord_mode;     /* 0 half_pixel, 1 asymmetric, 2 align_corners, 3 pytorch_half_pixel */
    int32_t nearest_mode;   /* 0 round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil */
    int32_t h_axis;         /* 2 for NCHW, 1 for NHWC */
    float scale_h, scale_w;
} trtn_resize_params;

/* Inputs: Data, Indices (int32; negative counts from the end). Y = Data[:axis] + Indices.shape + Data[axis+1:]. */
typedef struct trtn_gather_params {
    int32_t axis;
} trtn_gather_params;

/* Output dims = input dims + begin + end. */
typedef struct trtn_pad_params {
    int32_t mode;           /* 0 constant, 1 edge, 2 reflect */
    float value;
    int64_t begin[TRTN_MAX_DIMS];
} trtn_pad_params;

/* Inputs Q, K, V (float32 or float16, any of their dims' orders), output O (rank 3 or 4).
 * Each operand is read as a view through a permutation of its tensor's dims: view axis i is tensor dim perm[i]
 * (entries past the rank are -1). Views: Q [..., Sq, D], K [..., Skv, D], V [..., Skv, Dv], with equal leading
 * (batch, head) dims. O = softmax(scale * Q K^T, over Skv) V has the view [..., Sq, Dv], written into the output
 * tensor through o_perm the same way. So the transposes an exporter puts around attention cost no copies.
 * An input may also be one slice of a larger tensor, such as Q, K and V packed in one projection's output: with
 * fixed_axis[i] >= 0, input i has one more dim than the output, held at fixed_index[i] (the perm then names the
 * other dims). -1: no fixed dim. */
typedef struct trtn_attention_params {
    int32_t q_perm[4];
    int32_t k_perm[4];
    int32_t v_perm[4];
    int32_t o_perm[4];
    float scale;
    int32_t tactic;         /* -1: choose at set_shapes; 0: our kernel; 1: cuDNN's fused flash attention;
                               2, 3, 4: our tensor-core kernel with 1, 2, 4 warps a block (fp16/bf16) */
    int32_t fixed_axis[3];  /* Q, K, V */
    int32_t fixed_index[3];
} trtn_attention_params;

typedef struct trtn_build_options {
    int32_t fp16;                    /* 1: reduced precision: layers compute in reduced_type (fp32 accumulation), those
                                        with fp32 tensors in fp32 (mixed precision); 0: fp32 with TF32 off */
    int32_t reduced_type;            /* with fp16 = 1: TRTN_FLOAT16 or TRTN_BFLOAT16 */
    uint64_t max_workspace_bytes;    /* upper bound for any layer's scratch space */
    int32_t optimization_level;      /* 0..5, like TensorRT's builder optimization level: how many tactics
                                        trtn_context_autotune tries. Convolutions: 0-1 the direct kernel, the legacy
                                        algorithms and the first cuDNN graph configuration that builds, none compiled
                                        at run time; 2 up to 4 configurations, none compiled at run time; 3 (default)
                                        up to 12, of which up to 3 compiled at run time (NVRTC, seconds each); 4-5 up
                                        to 32, of which up to 8 compiled at run time */
} trtn_build_options;

typedef struct trtn_device_info {
    char name[256];
    int32_t cc_major, cc_minor;
    int32_t multiprocessors;
    int32_t cuda_runtime_version;    /* e.g. 13000 */
    int32_t cuda_driver_version;
    int32_t cudnn_version;           /* e.g. 91400 */
    int32_t cublaslt_version;
    int32_t reserved;
    uint64_t total_memory;
} trtn_device_info;

/* How one 8-bit image becomes model input values (per image of a batch; see trtn_preprocess_images):
 * out[c] = (pixel[src_channel[c]] * scale - mean[c]) / std[c], computed in fp32 without contraction, i.e. the
 * same rounding as the plain C expression evaluated in float. */
typedef struct trtn_image_params {
    float scale;
    float mean[4];
    float std[4];
    int32_t src_channel[4]; /* which interleaved source channel feeds output channel c (e.g. 2,1,0 for RGB -> BGR) */
    int32_t reserved[3];
} trtn_image_params;

typedef enum trtn_image_layout {
    TRTN_IMAGE_NCHW = 0,    /* planar: [batch, channels, height, width] */
    TRTN_IMAGE_NHWC = 1     /* interleaved: [batch, height, width, channels] */
} trtn_image_layout;

/* Resampling filters of trtn_resize_images, with OpenCV's definitions (as the server's CPU resampler). */
typedef enum trtn_interp {
    TRTN_INTERP_NEAREST = 0,
    TRTN_INTERP_LINEAR = 1,
    TRTN_INTERP_CUBIC = 2,     /* Keys, a = -0.75 */
    TRTN_INTERP_AREA = 3,      /* box averages when shrinking; linear when enlarging */
    TRTN_INTERP_LANCZOS4 = 4
} trtn_interp;

/* One image of trtn_resize_images (in device memory): the source is resized to resize_width x resize_height and
 * the out_width x out_height window at (crop_x, crop_y) of that is written to dst. */
typedef struct trtn_resize_item {
    uint64_t src;              /* device address: src_height rows of src_pitch bytes, src_channels bytes per pixel */
    uint64_t dst;              /* device address: out_height x out_width x out_channels bytes, interleaved, contiguous */
    int32_t src_width, src_height, src_pitch;
    int32_t resize_width, resize_height;
    int32_t crop_x, crop_y;
    int32_t interp;            /* trtn_interp */
} trtn_resize_item;

/* What trtn_jpeg_decoder_decode reports per image (host memory). */
typedef struct trtn_jpeg_image {
    uint64_t pixels;           /* device address of the decoded image, interleaved R,G,B: height rows of pitch bytes; 0 if it failed */
    int32_t width, height, pitch;
    int32_t status;            /* TRTN_OK; TRTN_UNSUPPORTED: a JPEG nvJPEG does not decode; TRTN_INVALID_ARGUMENT: not a readable JPEG */
    int32_t nvjpeg_status;     /* nvjpegStatus_t of the call that refused the image (0 when decoded) */
    int32_t reserved;
} trtn_jpeg_image;

typedef struct trtn_context_info {
    uint64_t workspace_bytes;        /* needed for the current shapes */
    int64_t enqueue_count;
    int32_t graph_state;             /* 0 not captured yet, 1 replaying a captured graph, 2 capture failed: plain launches */
    int32_t reserved;
} trtn_context_info;

/* ---- version, status ---- */
TRTN_API int32_t trtn_abi_version(void);
/* "trtnative <ver> (cuda|nocuda)"; static storage. */
TRTN_API const char* trtn_version(void);
/* 1 when the library was built with CUDA, cuDNN and cuBLASLt. */
TRTN_API int32_t trtn_has_cuda(void);
/* sizeof the parameter struct of a layer kind, or 0 for an unknown kind. */
TRTN_API uint64_t trtn_layer_params_size(int32_t kind);

TRTN_API int32_t trtn_status_code(const trtn_status* status);
TRTN_API const char* trtn_status_message(const trtn_status* status);
TRTN_API void trtn_status_destroy(trtn_status* status);

/* ---- device ---- */
TRTN_API trtn_status* trtn_device_get_info(int32_t device, trtn_device_info* out);

/* ---- engine: the layer list ---- */
TRTN_API trtn_status* trtn_engine_create(int32_t device, trtn_engine** out);
TRTN_API void trtn_engine_destroy(trtn_engine* engine);
/* Declares tensor number *out_id (ids are dense from 0). */
TRTN_API trtn_status* trtn_engine_add_tensor(trtn_engine* engine, int32_t dtype, int32_t rank, int32_t* out_id);
TRTN_API trtn_status* trtn_engine_add_layer(trtn_engine* engine, const char* name, int32_t kind,
                                            const void* params, uint64_t params_size,
                                            const int32_t* inputs, int32_t input_count,
                                            const int32_t* outputs, int32_t output_count);
/* Tactics of layer `layer` timed at `count` shapes: output_elements[i] is the element count of the layer's first
 * output at shape i, tactics[i] the tactic chosen there. A context's shape set runs, per layer, the tactic timed at
 * the count nearest in ratio (the first listed on a tie), so a batch-1 run uses tactics timed at batch 1 and not
 * those of the opt shapes. Without this call every shape runs the tactic in the parameter block. Before build. */
TRTN_API trtn_status* trtn_engine_set_layer_tactics(trtn_engine* engine, int32_t layer, const int64_t* output_elements,
                                                    const int32_t* tactics, int32_t count);
/* Validates the layer list and fixes precision and workspace limit. No layer can be added afterwards. */
TRTN_API trtn_status* trtn_engine_build(trtn_engine* engine, const trtn_build_options* options);
TRTN_API int32_t trtn_engine_layer_count(const trtn_engine* engine);
/* The tactic of layer i (-1 = none chosen or not tunable). */
TRTN_API int32_t trtn_engine_get_tactic(const trtn_engine* engine, int32_t layer);

/* ---- execution context ---- */
TRTN_API trtn_status* trtn_context_create(trtn_engine* engine, trtn_context** out);
TRTN_API void trtn_context_destroy(trtn_context* context);
/* dims: every tensor's dims, tensor 0 first, rank(t) values each (total = sum of ranks). Reports the scratch
 * space the layers need for these shapes. The context keeps the set-up layers and the CUDA graph of the last few
 * distinct shape sets (least recently used dropped), so switching back to a recent shape is cheap and replays. */
TRTN_API trtn_status* trtn_context_set_shapes(trtn_context* context, const int64_t* dims, int64_t dims_count,
                                              uint64_t* workspace_bytes);
/* Device address of every tensor (count = tensor count); NULL allowed only for tensors no layer touches. */
TRTN_API trtn_status* trtn_context_set_tensor_addresses(trtn_context* context, void* const* addresses, int32_t count);
TRTN_API trtn_status* trtn_context_set_workspace(trtn_context* context, void* workspace, uint64_t bytes);
/* 1 (default): capture the whole enqueue into a CUDA graph after one plain run with unchanged shapes/addresses. */
TRTN_API trtn_status* trtn_context_set_graph_capture(trtn_context* context, int32_t enabled);
/* Launches every layer on stream (a cudaStream_t / CUstream; NULL = legacy default stream). */
TRTN_API trtn_status* trtn_context_enqueue(trtn_context* context, void* stream);
/* Times the candidate tactics of every tunable layer at the current shapes and addresses (which must hold valid
 * data: it runs the engine once first) and stores the fastest in the engine, replacing its tactics per shape (set
 * with trtn_engine_set_layer_tactics). tactics (may be NULL) receives one value per layer; times_ms (may be NULL) the
 * chosen tactic's time. Synchronizes stream. It changes the engine: no other context of the engine may be used
 * meanwhile (the builder autotunes a private engine). */
TRTN_API trtn_status* trtn_context_autotune(trtn_context* context, void* stream, int32_t* tactics, float* times_ms,
                                            int32_t layer_count);
/* Runs every layer once with plain launches (never the graph) at the current shapes and addresses, with a CUDA event
 * after each: times_ms receives layer_count values, layer i's time on the GPU including its launch (TensorRT's
 * IProfiler). For finding hot spots; the sum exceeds a graph replay's time. Synchronizes stream. */
TRTN_API trtn_status* trtn_context_profile(trtn_context* context, void* stream, float* times_ms, int32_t layer_count);
TRTN_API trtn_status* trtn_context_get_info(const trtn_context* context, trtn_context_info* out);
/* What layer `layer` runs at the current shapes, as text (e.g. "cudnn graph+epilogue eng12_k2=1_k13=0",
 * "cudnn legacy IMPLICIT_PRECOMP_GEMM", "cublasLt heuristic 2", "cudnn flash attention"), NUL-terminated and cut to
 * fit `size` bytes. Shapes must be set. */
TRTN_API trtn_status* trtn_context_layer_implementation(const trtn_context* context, int32_t layer, char* buffer, uint64_t size);

/* ---- image preprocessing ----
 * pixels: device memory, batch images of height x width x src_channels uint8 (interleaved, image after image).
 * params: device memory, batch trtn_image_params (one per image, so images of one batch may differ).
 * dst: device memory, batch x out_channels x height x width values of out_dtype (TRTN_FLOAT32 or TRTN_FLOAT16)
 * in out_layout. Queued on stream; returns at once. Channels are 1..4. */
TRTN_API trtn_status* trtn_preprocess_images(const void* pixels, const void* params, int32_t batch, int32_t height,
                                             int32_t width, int32_t src_channels, int32_t out_channels,
                                             int32_t out_dtype, int32_t out_layout, void* dst, void* stream);

/* ---- image resize ----
 * items: device memory, count trtn_resize_item. Per item, the source resized (trtn_interp, OpenCV's sample
 * positions, edge pixels replicated) and cropped to out_height x out_width, rounded (half to even) and saturated to
 * 8 bits. src_channels 3 (R,G,B) or 1; out_channels 3 (from 3) or 1 (from 1, or from 3 through OpenCV's fixed-point
 * RGB->grey, applied to each source pixel before resampling). Queued on stream; returns at once. The result equals
 * the server's CPU path (separable resampling in the same float order) except where sin() differs (lanczos4: +-1). */
TRTN_API trtn_status* trtn_resize_images(const void* items, int32_t count, int32_t src_channels, int32_t out_channels,
                                         int32_t out_height, int32_t out_width, void* stream);

/* ---- JPEG decoding (nvJPEG) ----
 * A decoder for batches of up to max_batch JPEG files on one device: nvJPEG's hardware decoder where the GPU has one
 * (baseline JPEGs it accepts), its CUDA backend for the others (progressive, ...). Create returns TRTN_UNSUPPORTED
 * when this build has no nvJPEG, TRTN_NO_DEVICE without CUDA. Not thread-safe: one decoder per concurrent batch. */
TRTN_API trtn_status* trtn_jpeg_decoder_create(int32_t device, int32_t max_batch, trtn_jpeg_decoder** out);
TRTN_API void trtn_jpeg_decoder_destroy(trtn_jpeg_decoder* decoder);
/* 1 when the hardware decoder is in use, 0 when only the CUDA backend is (no hardware decoder, or three hardware
 * batches in a row failed: then the CUDA backend takes every file). */
TRTN_API int32_t trtn_jpeg_decoder_is_hardware(const trtn_jpeg_decoder* decoder);
/* Decodes count (1..max_batch) JPEG files (host memory: data[i], sizes[i] bytes; keep them unchanged until the
 * stream has passed the decode, as nvJPEG may copy them asynchronously; pinned memory is fastest) to
 * interleaved 8-bit RGB (a grey JPEG gives R = G = B) in device memory the decoder owns, queued on stream.
 * images (host, count entries) receives each image's address, size and status: an image nvJPEG refuses fails alone
 * (status != TRTN_OK) and the others are decoded. The pixels stay valid until the next decode or destroy; read them
 * on stream (or after it). The call's own status is an error only when nothing could be attempted (bad arguments,
 * out of device memory, a CUDA error). */
TRTN_API trtn_status* trtn_jpeg_decoder_decode(trtn_jpeg_decoder* decoder, const void* const* data, const uint64_t* sizes,
                                               int32_t count, void* stream, trtn_jpeg_image* images);

#ifdef __cplusplus
}
#endif

#endif /* TRTNATIVE_H */
