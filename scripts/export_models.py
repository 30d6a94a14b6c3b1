#!/usr/bin/env python3
"""Exports torchvision classifiers with random weights to ONNX (opset 17, dynamic batch) and, with --reference N,
computes ONNX Runtime (CPU) outputs on N fresh random inputs for the GPU tests.

Usage: export_models.py OUTDIR [--reference N] [model ...]
  default models: resnet50 mobilenet_v2 mobilenet_v3_large efficientnet_b0 vit_b_16 convnext_tiny
Files per model: NAME.onnx; with --reference: NAME.input.f32 (raw little-endian float32 [N,3,224,224], N(0,1)),
NAME.ort.f32 (ORT CPU output [N,1000]), NAME.json (shapes, seed, timings, PyTorch fp16's agreement with ORT).
The GPU tests read the inputs as sets of 64 (N a multiple of 64; the device scripts use 1024).
Runs on the GPU host (torch 2.11: the TorchScript exporter, dynamo=False, which folds BatchNorm in eval mode) and
on developer machines (torch 1.13). Gradients stay on: with them off, nn.MultiheadAttention takes a fused fast
path the exporter cannot export.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision

ALL = ["resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "vit_b_16", "convnext_tiny"]


def export(name, outdir):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    # Some architectures zero-initialize layers (ViT's classification head): the logits would be all zeros and
    # any comparison vacuous. Give every all-zero parameter small random values instead.
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.numel() > 0 and float(p.abs().max()) == 0.0:
                p.normal_(0.0, 0.02)
                print(f"  {name}: {pname} was all zeros, now N(0, 0.02)", flush=True)
    x = torch.randn(1, 3, 224, 224)
    path = os.path.join(outdir, name + ".onnx")
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=17,
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    t0 = time.time()
    try:
        torch.onnx.export(model, (x,), path, dynamo=False, **kwargs)
    except TypeError:  # torch < 2.5 has no dynamo argument
        torch.onnx.export(model, (x,), path, **kwargs)
    print(f"exported {name} -> {path} ({os.path.getsize(path) / 1e6:.1f} MB, {time.time() - t0:.1f} s)", flush=True)
    return path, model


def torch_fp16_agreement(model, x, y):
    """PyTorch's own fp16 (model.half() on the GPU) against the ORT fp32 reference on the same inputs: how much fp16
    alone moves the logits and the top-1 class, to read TrtNative's fp16 figures against."""
    if not torch.cuda.is_available():
        return None
    m = model.half().cuda().eval()
    with torch.no_grad():
        yt = np.concatenate([m(torch.from_numpy(x[i:i + 16]).half().cuda()).float().cpu().numpy() for i in range(0, len(x), 16)])
    rel = float(np.linalg.norm(yt - y) / max(np.linalg.norm(y), 1e-30))
    same = yt.argmax(1) == y.argmax(1)
    per_set = [int(same[i:i + 64].sum()) for i in range(0, len(x) - len(x) % 64, 64)]
    return {"rel_l2": rel, "top1_agree": int(same.sum()), "n": len(x), "top1_agree_per_64": per_set}


def reference(name, path, model, outdir, n):
    import onnxruntime as ort
    seed = int.from_bytes(os.urandom(4), "little")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 224, 224), dtype=np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = os.cpu_count() or 4
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    t0 = time.time()
    # In sets of 64: one ORT run over all N inputs would hold every intermediate of N images at once.
    y = np.concatenate([sess.run(None, {"input": x[i:i + 64]})[0].astype(np.float32) for i in range(0, n, 64)])
    dt = time.time() - t0
    x.tofile(os.path.join(outdir, name + ".input.f32"))
    y.tofile(os.path.join(outdir, name + ".ort.f32"))
    t16 = torch_fp16_agreement(model, x, y)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump({"model": name, "seed": seed, "input": list(x.shape), "output": list(y.shape), "ort_seconds": dt,
                   "ort_version": ort.__version__, "torch_version": torch.__version__, "torch_fp16_vs_ort": t16}, f)
    print(f"reference {name}: seed {seed}, ORT CPU {n} inputs in {dt:.1f} s", flush=True)
    if t16:
        sets = t16["top1_agree_per_64"]
        print(f"reference {name}: PyTorch fp16 on the GPU vs ORT fp32, same inputs: rel L2 {t16['rel_l2']:.3e}, "
              f"top-1 agrees on {t16['top1_agree']}/{t16['n']}; sets of 64 with at least 63: "
              f"{sum(a >= 63 for a in sets)}/{len(sets)} (worst {min(sets, default=0)}/64)", flush=True)


def main():
    args = sys.argv[1:]
    outdir = args.pop(0)
    n = 0
    if args and args[0] == "--reference":
        n = int(args[1])
        args = args[2:]
    os.makedirs(outdir, exist_ok=True)
    for name in (args or ALL):
        path, model = export(name, outdir)
        if n > 0:
            reference(name, path, model, outdir, n)


if __name__ == "__main__":
    main()
