#!/usr/bin/env python3
"""Exports a torchvision classifier to ONNX for TrtNative's whole-model tests.

Usage: export_torchvision.py MODEL OUTPUT.onnx
  MODEL: resnet18 | resnet50 | mobilenet_v2 | mobilenet_v3_large | efficientnet_b0 | vit_b_16 | convnext_tiny

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

MODELS = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "vit_b_16", "convnext_tiny")
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
