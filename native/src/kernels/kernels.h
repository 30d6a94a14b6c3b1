// Host-side launchers of the shim's own CUDA kernels. Each validates its arguments, launches on the given
// stream and checks the launch. Element type is TRTN_FLOAT32, TRTN_FLOAT16 or TRTN_BFLOAT16 unless stated; arithmetic is fp32.
#pragma once

#include "../common.h"

#include <cuda_runtime.h>

namespace trtn::kernels {

constexpr int kMaxDims = TRTN_MAX_DIMS;

// A shape with per-dim strides for one operand (0 = broadcast).
struct Strided {
    int rank = 0;
    int64_t dims[kMaxDims] = {};     // iteration dims (the output's)
    int64_t in_strides[kMaxDims] = {};
    int64_t out_strides[kMaxDims] = {};
    int64_t in_offset = 0;
    int64_t out_offset = 0;
};

void unary(int32_t dtype, const void* x, void* y, int64_t n, int32_t op, float alpha, float beta, cudaStream_t s);

// y = act(a op b); a_strides / b_strides are element strides per output dim (0 for broadcast dims).
void binary(int32_t dtype, const void* a, const void* b, void* y, int rank, const int64_t* out_dims,
            const int64_t* a_strides, const int64_t* b_strides, int32_t op, const trtn_activation& act, cudaStream_t s);

// Conv epilogue over NHWC / row-major [rows, channels]: y = act(y + bias[c] + r).
void bias_act(int32_t dtype, void* y, const float* bias, const void* residual, int64_t rows, int64_t channels,
              const trtn_activation& act, cudaStream_t s);

// General strided copy with dtype conversion (float32 <-> float16 or bfloat16, or same-type copies of any dtype).
void strided_copy(int32_t in_dtype, int32_t out_dtype, const void* x, void* y, const Strided& desc, cudaStream_t s);

// Scratch bytes pool_nhwc needs for these shapes (a global average over a large H*W with few N x C is split in slices).
size_t pool_nhwc_workspace(int32_t dtype, int64_t n, int64_t h, int64_t w, int64_t c, int64_t p, int64_t q, const trtn_pool_params& prm);

void pool_nhwc(int32_t dtype, const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t p,
               int64_t q, const trtn_pool_params& prm, void* workspace, size_t workspace_bytes, cudaStream_t s);

void softmax(int32_t dtype, const void* x, void* y, int64_t outer, int64_t len, int64_t inner, bool log, cudaStream_t s);

void layernorm(int32_t dtype, const void* x, const float* scale, const float* bias, void* y, int64_t rows,
               int64_t cols, float eps, cudaStream_t s);

// Reduces over the dims whose bit is set in mask; output keeps them with size 1.
void reduce(int32_t dtype, const void* x, void* y, int rank, const int64_t* dims, int32_t mask, int32_t op, cudaStream_t s);

void gather(int32_t dtype, const void* data, const int32_t* idx, void* y, int64_t outer, int64_t axis_len,
            int64_t n_idx, int64_t inner, cudaStream_t s);

void resize(int32_t dtype, const void* x, void* y, int rank, const int64_t* in_dims, const int64_t* out_dims,
            const trtn_resize_params& prm, cudaStream_t s);

void pad(int32_t dtype, const void* x, void* y, int rank, const int64_t* in_dims, const int64_t* out_dims,
         const int64_t* begin, int32_t mode, float value, cudaStream_t s);

}  // namespace trtn::kernels

namespace trtn::kernels {

// Direct NHWC convolution with epilogue: X [N,H,W,C], W [K,R,S,C/groups], Y [N,P,Q,K].
void conv_direct(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                 const int64_t* x_dims, const int64_t* w_dims, const int64_t* y_dims, const trtn_conv_params& p, cudaStream_t s);

// How conv_depthwise shares its outputs among threads: each thread computes `columns` neighbouring output columns
// (4, 2 or 1) of its channels, which are the channels one 16-byte load holds (8 at 16 bits, 4 at fp32) or, `narrow`,
// 2 (at 2 or 1 columns). Autotuning times each split: fewer columns and channels give a small layer more threads
// and take fewer registers, more reuse each loaded input pixel and filter tap for more outputs.
struct DepthwiseSplit {
    int columns = 4;
    bool narrow = false;
};

// Depthwise NHWC convolution (W [C,R,S,1], groups = C = K) with the same epilogue; applies when C is a multiple of
// the channels one 16-byte load holds and the filter's taps fit shared memory.
bool conv_depthwise_applies(int32_t dtype, const int64_t* x_dims, const int64_t* w_dims, const trtn_conv_params& p);
void conv_depthwise(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                    const int64_t* x_dims, const int64_t* w_dims, const int64_t* y_dims, const trtn_conv_params& p, cudaStream_t s,
                    DepthwiseSplit split);

// NHWC convolution over fewer than 8 input channels (an image stem) on tensor cores, with the same epilogue; applies to
// fp16/bf16, one group, 16 to 64 output channels in multiples of 16, on compute capability 8.0 and later.
bool conv_small_channel_applies(int32_t dtype, const int64_t* x_dims, const int64_t* w_dims, const trtn_conv_params& p);
void conv_small_channel(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                        const int64_t* x_dims, const int64_t* w_dims, const int64_t* y_dims, const trtn_conv_params& p, cudaStream_t s);

// Pointwise NHWC convolution (1x1 weights, one group, no padding, any stride) on tensor cores, as a GEMM of output
// pixels by input channels times input by output channels, with the same epilogue; applies to fp16/bf16 with input and
// output channels multiples of 8 on compute capability 8.0 and later. A block computes `tile`: 64 pixels x 64 channels,
// 32 x 64 or 32 x 32 (kPointwiseTiles); autotuning times each, the smaller ones giving a small layer (batch 1) more blocks.
struct PointwiseTile {
    int pixels = 64;
    int channels = 64;
};
inline constexpr PointwiseTile kPointwiseTiles[] = {{64, 64}, {32, 64}, {32, 32}};
// A tile as names and messages give it: "64x32" is 64 pixels (rows) by 32 channels (columns).
inline std::string tile_text(PointwiseTile tile) { return std::to_string(tile.pixels) + "x" + std::to_string(tile.channels); }
bool conv_pointwise_applies(int32_t dtype, const int64_t* x_dims, const int64_t* w_dims, const trtn_conv_params& p);
void conv_pointwise(int32_t dtype, const void* x, const void* w, const float* bias, const void* residual, void* y,
                    const int64_t* x_dims, const int64_t* w_dims, const int64_t* y_dims, const trtn_conv_params& p, cudaStream_t s,
                    PointwiseTile tile);

// The same kernel as a GEMM layer's: per batch, row-major Y (M x N) = act(alpha * A (M x K) times B^T + bias + R), B
// stored N x K (a Linear layer's weights), bias (N values) and R (Y's shape) of the output's type; an operand shared
// by every batch is stored once. Applies to fp16/bf16 with K and N multiples of 8 (and the same limits).
struct GemmMmaShape {
    int64_t batch, M, N, K;
    bool a_shared, b_shared;
};
// With `norm`, each row of A is first layer-normalised over its K values: (a - mean) / sqrt(var + eps) * scale + shift,
// scale and shift float32 [K] (shift may be null), 16-byte aligned.
struct GemmRowNorm {
    const float* scale;
    const float* shift;
    float eps;
};
bool gemm_mma_applies(int32_t dtype, int64_t batch, int64_t M, int64_t N, int64_t K);
void gemm_mma(int32_t dtype, const void* a, const void* b, const void* bias, const void* residual, void* y, const GemmMmaShape& shape,
              float alpha, const trtn_activation& act, cudaStream_t s, PointwiseTile tile, const GemmRowNorm* norm = nullptr);

// O = softmax(scale * Q K^T) V over views with element strides {lead0, lead1, seq, dim} per operand: Q [n0,n1,sq,d],
// K [n0,n1,skv,d], V [n0,n1,skv,dv], O [n0,n1,sq,dv].
void attention(int32_t dtype, const void* q, const void* k, const void* v, void* o, int64_t n0, int64_t n1, int64_t sq,
               int64_t skv, int64_t d, int64_t dv, const int64_t* q_strides, const int64_t* k_strides,
               const int64_t* v_strides, const int64_t* o_strides, float scale, cudaStream_t s);

// The same on tensor cores (fp16/bf16) for short key sequences: one warp owns 16 query rows with their scores against
// every key in shared memory, the block's `warps` warps share K and V staged once. Applies when the feature dims are
// multiples of 16 up to 256 and K, V and a warp's rows fit the device's shared memory (attention_mma_applies).
bool attention_mma_applies(int32_t dtype, int64_t skv, int64_t d, int64_t dv, int warps);
void attention_mma(int32_t dtype, const void* q, const void* k, const void* v, void* o, int64_t n0, int64_t n1, int64_t sq,
                   int64_t skv, int64_t d, int64_t dv, const int64_t* q_strides, const int64_t* k_strides,
                   const int64_t* v_strides, const int64_t* o_strides, float scale, int warps, cudaStream_t s);

// ||a - b|| / ||b|| over n elements (synchronizes s). NaN in a counts as a huge difference.
double relative_l2(int32_t dtype, const void* a, const void* b, int64_t n, cudaStream_t s);

}  // namespace trtn::kernels

namespace trtn::kernels {

// Batch of interleaved uint8 images (height x width x src_channels each) -> normalised values of out_dtype,
// planar (NCHW) or interleaved (NHWC); params: one trtn_image_params per image, in device memory.
void preprocess_images(const uint8_t* pixels, const trtn_image_params* params, int64_t batch, int64_t height, int64_t width,
                       int src_channels, int out_channels, int32_t out_dtype, bool planar, void* y, cudaStream_t s);

// Per item (device memory): resize + crop of an 8-bit interleaved image to out_h x out_w (see trtn_resize_images).
void resize_images(const trtn_resize_item* items, int count, int src_channels, int out_channels, int out_h, int out_w, cudaStream_t s);

}  // namespace trtn::kernels
