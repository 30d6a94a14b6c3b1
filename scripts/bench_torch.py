#!/usr/bin/env python3
"""PyTorch at its best, for bench/RESULTS.md: torchvision models (random weights) timed the way a user who cares
about speed would run them, in the same run and on the same GPU as TrtNative's bench.

For every (model, precision, batch) it times each variant and prints one BENCH line per variant:
  eager-nchw     model(x), NCHW
  eager-cl       model and input in channels_last memory format
  graph-nchw     the forward captured once in a CUDA graph, replayed (torch.cuda.CUDAGraph)
  graph-cl       the same in channels_last
  compile        torch.compile(mode="max-autotune"), channels_last (only with --compile: minutes per model)
bench_report.py takes the fastest variant as PyTorch's figure. fp32 runs with TF32 off (as TrtNative's fp32
engines); fp16 runs the model in half precision. Times: CUDA events around each call, median after warm-up,
inputs already on the GPU.

Usage: bench_torch.py MODEL[,MODEL] BATCH[,BATCH] [--precisions fp16,fp32] [--fp32-models resnet50]
                      [--iters N] [--warmup N] [--compile] [--device cuda|cpu]
--device cpu runs the eager variants only, for checking this script on a machine without a GPU.
"""
import argparse
import statistics

import torch
import torchvision


def time_calls(fn, iters, warmup, cuda):
    for _ in range(warmup):
        fn()
    if not cuda:
        import time
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return times
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return times


def graphed(model, x):
    """The forward of model on the static input x captured in a CUDA graph; returns the replay function."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        model(x)
    return g.replay


def variants(model, x, cuda, with_compile):
    """Yields (name, callable) pairs; each callable runs one forward on a fixed input. Module.to() converts the
    model in place, so each variant sets the memory format it needs just before it is timed."""
    def nchw():
        return model.to(memory_format=torch.contiguous_format), x.contiguous()

    def cl():
        return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    m, xi = nchw()
    yield "eager-nchw", lambda: m(xi)
    m, xi = cl()
    yield "eager-cl", lambda: m(xi)
    if cuda:
        m, xi = nchw()
        yield "graph-nchw", graphed(m, xi.clone())
        m, xi = cl()
        yield "graph-cl", graphed(m, xi.clone())
    if with_compile:
        m, xi = cl()
        compiled = torch.compile(m, mode="max-autotune")
        yield "compile", lambda: compiled(xi)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models")
    ap.add_argument("batches")
    ap.add_argument("--precisions", default="fp16")
    ap.add_argument("--fp32-models", default="", help="models also timed in fp32 (comma-separated)")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    cuda = a.device == "cuda"
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)
    fp32_models = set(filter(None, a.fp32_models.split(",")))
    for name in a.models.split(","):
        precisions = [p for p in a.precisions.split(",") if p != "fp32" or not fp32_models or name in fp32_models]
        if name in fp32_models and "fp32" not in precisions:
            precisions.append("fp32")
        for precision in precisions:
            torch.manual_seed(0)
            dtype = torch.float16 if precision == "fp16" else torch.float32
            model = getattr(torchvision.models, name)(weights=None).eval().to(dev).to(dtype)
            for batch in (int(b) for b in a.batches.split(",")):
                x = torch.randn(batch, 3, 224, 224, device=dev, dtype=dtype)
                with torch.inference_mode():
                    for variant, fn in variants(model, x, cuda, a.compile):
                        try:
                            times = time_calls(fn, a.iters, a.warmup, cuda)
                        except Exception as e:  # one variant failing (e.g. compile) leaves the others' figures
                            print(f"BENCH-FAILED engine=pytorch model={name} precision={precision.capitalize()} "
                                  f"batch={batch} variant={variant} error={type(e).__name__}: {e}", flush=True)
                            continue
                        med = statistics.median(times)
                        print(f"BENCH engine=pytorch model={name} precision={precision.capitalize()} batch={batch} "
                              f"variant={variant} median_ms={med:.4f} imgs_per_s={batch / med * 1000:.1f} "
                              f"torch={torch.__version__}", flush=True)
                model = model.to(memory_format=torch.contiguous_format)
            del model
            if cuda:
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
