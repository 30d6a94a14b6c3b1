#!/usr/bin/env python3
"""Turns BENCH lines (TrtNative and PyTorch, same run, same GPU) into the markdown table of bench/RESULTS.md.
Usage: bench_report.py LOG GPU_NAME > RESULTS.md"""
import re
import sys

rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("BENCH "):
        continue
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    rows[(kv["engine"], kv["model"], kv["precision"], int(kv["batch"]))] = kv
gpu = sys.argv[2] if len(sys.argv) > 2 else "?"
print(f"Measured in one run on {gpu}. Median GPU time per batch (CUDA events around each run, inputs on the GPU,")
print("after warm-up). PyTorch: eager torchvision model, fp32 with TF32 off, fp16 = model.half().")
print("Ratio = PyTorch median / TrtNative median (> 1: TrtNative faster).\n")
print("| model | precision | batch | TrtNative ms | PyTorch ms | ratio | TrtNative img/s |")
print("|---|---|---|---|---|---|---|")
keys = sorted({(m, p, b) for (e, m, p, b) in rows})
for m, p, b in keys:
    t = rows.get(("trtnative", m, p, b))
    q = rows.get(("pytorch", m, p, b))
    tm = float(t["median_ms"]) if t else None
    qm = float(q["median_ms"]) if q else None
    ratio = f"{qm / tm:.2f}" if tm and qm else "n/a"
    print(f"| {m} | {p} | {b} | {tm if tm is not None else 'n/a'} | {qm if qm is not None else 'n/a'} | {ratio} | {t['imgs_per_s'] if t else 'n/a'} |")
