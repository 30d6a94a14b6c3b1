#!/usr/bin/env python3
"""Turns BENCH lines (TrtNative and PyTorch, same run, same GPU) into the markdown table of bench/RESULTS.md.
PyTorch's figure is its best variant (bench_torch.py: eager / CUDA graph, NCHW / channels_last, compile); the
ratio is PyTorch best / TrtNative (> 1: TrtNative faster). Repeated TrtNative lines for one cell (several cold
builds) are all listed, and the spread between them reported.
Usage: bench_report.py LOG GPU_NAME > RESULTS.md"""
import re
import sys

trt = {}    # (model, precision, batch) -> [median_ms, ...] in log order (one per build)
torch = {}  # (model, precision, batch) -> {variant: median_ms}
for line in open(sys.argv[1]):
    if not line.startswith("BENCH "):
        continue
    kv = dict(re.findall(r"(\w+)=(\S+)", line))
    key = (kv["model"], kv["precision"].capitalize(), int(kv["batch"]))
    if kv["engine"] == "trtnative":
        trt.setdefault(key, []).append(float(kv["median_ms"]))
    else:
        torch.setdefault(key, {})[kv.get("variant", "eager-nchw")] = float(kv["median_ms"])

gpu = sys.argv[2] if len(sys.argv) > 2 else "?"
print(f"Measured in one run on {gpu}. Median GPU time per batch (CUDA events around each run, inputs on the GPU,")
print("after warm-up). PyTorch best = the fastest of eager and CUDA-graph replay, NCHW and channels_last (and")
print("torch.compile when run); fp32 with TF32 off. Ratio = PyTorch best / TrtNative (> 1: TrtNative faster).\n")
print("| model | precision | batch | TrtNative ms | PyTorch best ms (variant) | PyTorch eager NCHW ms | ratio vs best | TrtNative img/s |")
print("|---|---|---|---|---|---|---|---|")
for key in sorted(set(trt) | set(torch)):
    m, p, b = key
    t = trt.get(key)
    v = torch.get(key, {})
    best = min(v.items(), key=lambda kv: kv[1]) if v else None
    tm = t[0] if t else None
    tcell = " / ".join(f"{x:.3f}" for x in t) if t else "n/a"
    if t and len(t) > 1:
        tcell += f" (spread {max(t) / min(t) - 1:.0%})"
    bcell = f"{best[1]:.3f} ({best[0]})" if best else "n/a"
    ecell = f"{v['eager-nchw']:.3f}" if "eager-nchw" in v else "n/a"
    ratio = f"{best[1] / tm:.2f}" if tm and best else "n/a"
    ips = f"{b / tm * 1000:.0f}" if tm else "n/a"
    print(f"| {m} | {p} | {b} | {tcell} | {bcell} | {ecell} | {ratio} | {ips} |")

# bf16 against fp16 (issue 13's bar: within 5%), where both ran: the first build's figure of each.
pairs = sorted((m, b) for (m, p, b) in trt if p == "Bf16" and (m, "Fp16", b) in trt)
if pairs:
    print("\n| model | batch | fp16 ms | bf16 ms | bf16 against fp16 |")
    print("|---|---|---|---|---|")
    for m, b in pairs:
        f16, b16 = trt[(m, "Fp16", b)][0], trt[(m, "Bf16", b)][0]
        print(f"| {m} | {b} | {f16:.3f} | {b16:.3f} | {b16 / f16 - 1:+.1%} |")
