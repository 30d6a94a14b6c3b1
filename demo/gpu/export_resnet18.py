#!/usr/bin/env python3
"""Exports torchvision ResNet-18 with seeded random weights (nothing is downloaded) to ONNX with a dynamic batch,
into OUT_DIR/model.onnx, for the server's GPU check. Usage: export_resnet18.py OUT_DIR"""
import os, sys
import torch, torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
m = torchvision.models.resnet18(weights=None).eval()
x = torch.randn(1, 3, 224, 224)
kw = dict(input_names=["data"], output_names=["prob"], dynamic_axes={"data": {0: "batch"}, "prob": {0: "batch"}}, opset_version=17)
try:
    torch.onnx.export(m, x, os.path.join(out, "model.onnx"), dynamo=False, **kw)
except TypeError:
    torch.onnx.export(m, x, os.path.join(out, "model.onnx"), **kw)
print("exported", os.path.join(out, "model.onnx"), os.path.getsize(os.path.join(out, "model.onnx")), "bytes")
