#!/usr/bin/env python3
"""Exports torchvision classifiers with random weights to ONNX (opset 17, dynamic batch).

Usage: export_models.py OUTDIR [model ...]   (default: resnet50 mobilenet_v2 efficientnet_b0 vit_b_16)
Runs on the GPU host (torch 2.11) and on developer machines (torch 1.13); the TorchScript exporter is used
where it exists (dynamo=False), since it folds BatchNorm into Conv in eval mode and emits opset 17 directly.
"""
import os
import sys
import time

import torch
import torchvision

ALL = ["resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b_16"]


def export(name, outdir):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    path = os.path.join(outdir, name + ".onnx")
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=17,
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    t0 = time.time()
    try:
        torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
    except TypeError:  # torch < 2.5: no dynamo argument
        torch.onnx.export(model, (x,), path, **kwargs)
    print(f"exported {name} -> {path} ({os.path.getsize(path) / 1e6:.1f} MB, {time.time() - t0:.1f} s)", flush=True)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name in (sys.argv[2:] or ALL):
        export(name, outdir)


if __name__ == "__main__":
    main()
