#!/usr/bin/env python3
"""PyTorch baseline for bench/RESULTS.md: eager torchvision models on the GPU, timed like TrtNative's bench
(CUDA events around each forward, median after warm-up, inputs already on the GPU).
fp32 runs with TF32 off (cudnn.allow_tf32 = matmul.allow_tf32 = False), as TrtNative's fp32 engines do;
fp16 runs the model in half precision. Prints one BENCH line per (model, precision, batch).
Usage: bench_torch.py MODEL[,MODEL] BATCH[,BATCH] [--iters N] [--warmup N]
"""
import sys

import torch
import torchvision


def main():
    models = sys.argv[1].split(",")
    batches = [int(b) for b in sys.argv[2].split(",")]
    iters = int(sys.argv[sys.argv.index("--iters") + 1]) if "--iters" in sys.argv else 200
    warmup = int(sys.argv[sys.argv.index("--warmup") + 1]) if "--warmup" in sys.argv else 20
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    for name in models:
        for precision in ("Fp32", "Fp16"):
            torch.manual_seed(0)
            model = getattr(torchvision.models, name)(weights=None).eval().to(dev)
            dtype = torch.float16 if precision == "Fp16" else torch.float32
            model = model.to(dtype)
            for batch in batches:
                x = torch.randn(batch, 3, 224, 224, device=dev, dtype=dtype)
                with torch.inference_mode():
                    for _ in range(warmup):
                        model(x)
                    torch.cuda.synchronize()
                    times = []
                    for _ in range(iters):
                        s = torch.cuda.Event(enable_timing=True)
                        e = torch.cuda.Event(enable_timing=True)
                        s.record()
                        model(x)
                        e.record()
                        e.synchronize()
                        times.append(s.elapsed_time(e))
                times.sort()
                med = times[len(times) // 2]
                p90 = times[int(len(times) * 0.9)]
                print(f"BENCH engine=pytorch model={name} precision={precision} batch={batch} median_ms={med:.4f} "
                      f"p90_ms={p90:.4f} imgs_per_s={batch / med * 1000:.1f} torch={torch.__version__}", flush=True)
            del model
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
