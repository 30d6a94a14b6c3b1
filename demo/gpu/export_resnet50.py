#!/usr/bin/env python3
"""Exports torchvision ResNet-50 with seeded random weights (nothing is downloaded) to ONNX (opset 17, dynamic batch,
input "data", output "prob"), writes a 1000-line corresp.txt and packs both into resnet_50_onnx.tar.gz, the model.init
archive of demo/gpu/resnet50_bench.py. Usage: export_resnet50.py OUT_DIR"""
import os, sys, tarfile
import torch, torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
m = torchvision.models.resnet50(weights=None).eval()
x = torch.randn(1, 3, 224, 224)
onnx_path = os.path.join(out, "model.onnx")
kw = dict(input_names=["data"], output_names=["prob"], dynamic_axes={"data": {0: "batch"}, "prob": {0: "batch"}}, opset_version=17)
try:
    torch.onnx.export(m, x, onnx_path, dynamo=False, **kw)
except TypeError:  # torch < 2.5 has no dynamo argument
    torch.onnx.export(m, x, onnx_path, **kw)
with open(os.path.join(out, "corresp.txt"), "w") as f:
    for i in range(1000):
        f.write(f"{i} class_{i}\n")
archive = os.path.join(out, "resnet_50_onnx.tar.gz")
with tarfile.open(archive, "w:gz", compresslevel=1) as t:
    t.add(onnx_path, arcname="model.onnx")
    t.add(os.path.join(out, "corresp.txt"), arcname="corresp.txt")
print("exported", onnx_path, os.path.getsize(onnx_path), "bytes;", archive, os.path.getsize(archive), "bytes")
