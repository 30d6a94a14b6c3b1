#!/usr/bin/env python3
"""Exports a torchvision classifier to ONNX for TrtNative's whole-model tests.

Usage: export_torchvision.py MODEL OUTPUT.onnx
  MODEL: resnet18 | resnet50 | mobilenet_v2 | mobilenet_v3_large | efficientnet_b0 | vit_b_16 | vit_b_16_torch2 |
         convnext_tiny

vit_b_16_torch2 is vit_b_16 with nn.MultiheadAttention exported the way torch 2.x writes it (the packed in-projection
as unflatten/unsqueeze/transpose/squeeze/index, heads viewed 4-D, scaled_dot_product_attention as torch's ONNX
symbolic emits it): the graph the GPU host's torch exports, reproduced on torch 1.13.

Weights are random (torch.manual_seed(0)): the architectures' own initializers, then every parameter that those
leave constant is randomized too (BatchNorm statistics and affine terms, LayerNorm affine terms, biases, ViT's
class token and zero-initialized head), so that no part of the model is an identity or a zero and the logits
depend on every layer. The model is in eval mode,
the batch axis of input and output is dynamic ("batch"). Opset 17 (torch 1.13 exports LayerNormalization
natively there). Needs Debian's python3-torch and python3-torchvision; exits with status 3 and a message naming
them when they are missing.
"""
import os
import sys

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "vit_b_16", "vit_b_16_torch2", "convnext_tiny")
OPSET = 17


def randomize_constant_parameters(torch, model):
    nn = torch.nn
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0.0, 0.1)
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.normal_(0.0, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                if m.weight.abs().max() == 0:  # ViT's head starts at zero
                    m.weight.normal_(0.0, 0.02)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.02)
            elif isinstance(m, nn.MultiheadAttention):
                if m.in_proj_bias is not None:
                    m.in_proj_bias.normal_(0.0, 0.02)
        for pname, p in model.named_parameters():
            if pname == "class_token":
                p.normal_(0.0, 0.02)
            elif pname.endswith("layer_scale"):  # ConvNeXt scales each block's branch by 1e-6: nearly an identity
                p.uniform_(0.05, 0.2)


def torch2_multi_head_attention_forward(torch):
    """torch 2.x's F.multi_head_attention_forward for what ViT calls (self-attention, need_weights=False, no masks)."""
    F = torch.nn.functional

    def forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
                add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
                need_weights=True, attn_mask=None, **unused):
        assert query is key and key is value and not need_weights and attn_mask is None and key_padding_mask is None
        tgt_len, bsz, embed_dim = query.shape
        head_dim = embed_dim // num_heads
        proj = F.linear(query, in_proj_weight, in_proj_bias)
        # unflatten(-1, (3, E)); torch 1.13 cannot export unflatten, torch 2's symbolic is this Reshape.
        proj = proj.reshape(proj.shape[:-1] + (3, embed_dim)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()
        q, k, v = proj[0], proj[1], proj[2]
        q = q.view(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
        k = k.view(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
        v = v.view(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
        src_len = k.size(1)
        q = q.view(bsz, num_heads, tgt_len, head_dim)
        k = k.view(bsz, num_heads, src_len, head_dim)
        v = v.view(bsz, num_heads, src_len, head_dim)
        # scaled_dot_product_attention as torch's opset-14 symbolic writes it: Q and K^T each scaled by sqrt(scale),
        # the scale computed from Shape(Q).
        scale = 1.0 / torch.sqrt(torch._shape_as_tensor(q)[-1:].to(q.dtype))
        s = torch.sqrt(scale)
        out = torch.softmax((q * s) @ (k.transpose(-2, -1) * s), dim=-1) @ v
        out = out.permute(2, 0, 1, 3).contiguous().view(bsz * tgt_len, embed_dim)
        out = F.linear(out, out_proj_weight, out_proj_bias)
        return out.view(tgt_len, bsz, out.size(1)), None

    return forward


def main(argv):
    if len(argv) != 3 or argv[1] not in MODELS:
        print(f"usage: {argv[0]} {{{'|'.join(MODELS)}}} OUTPUT.onnx", file=sys.stderr)
        return 2
    name, out = argv[1], argv[2]
    try:
        import torch
        import torchvision
    except ImportError as e:
        print(f"cannot import torch/torchvision ({e}); install the Debian packages python3-torch and "
              f"python3-torchvision (apt-get install python3-torch python3-torchvision)", file=sys.stderr)
        return 3

    if name == "vit_b_16_torch2":
        torch.nn.functional.multi_head_attention_forward = torch2_multi_head_attention_forward(torch)
        name = "vit_b_16"
    torch.manual_seed(0)
    # weights=None: random initialization, nothing is downloaded.
    model = getattr(torchvision.models, name)(weights=None)
    randomize_constant_parameters(torch, model)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    tmp = out + ".tmp"
    # Not under torch.no_grad(): with gradients off, torch 1.13's nn.MultiheadAttention (vit_b_16) takes its fused
    # fast path (aten::_native_multi_head_attention), which the ONNX exporter cannot export.
    torch.onnx.export(
        model, x, tmp,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=OPSET, do_constant_folding=True)
    os.replace(tmp, out)
    print(f"exported {name} (torch {torch.__version__}, torchvision {torchvision.__version__}, opset {OPSET}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
