#!/usr/bin/env bash
# Benchmarks TrtNative (Sample bench, from the unpacked bundle in /tmp/bundle) against PyTorch in the same run on
# the same GPU; writes $1/bench.log and $1/RESULTS.md. Models must be exported in /tmp/trtn-models.
set -uo pipefail
OUTDIR="${1:-${OUT:-./out}}"
models="${TRTN_BENCH_MODELS:-resnet50 mobilenet_v2 efficientnet_b0 vit_b_16}"
batches="${TRTN_BENCH_BATCHES:-1,32}"
export LD_LIBRARY_PATH="/tmp/bundle/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log="$OUTDIR/bench.log"
: > "$log"
for m in $models; do
  for p in fp32 fp16; do
    /tmp/bundle/bin/TrtNative.Sample bench /tmp/trtn-models/$m.onnx --$p --profile 1:32:32 --batch $batches --iters 100 --warmup 20 >> "$log" 2>&1 \
      || echo "bench $m $p failed" >> "$log"
  done
done
python3 scripts/bench_torch.py "$(echo $models | tr ' ' ',')" "$batches" --iters 100 >> "$log" 2>&1
python3 scripts/bench_report.py "$log" "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" > "$OUTDIR/RESULTS.md"
grep BENCH "$log"
cat "$OUTDIR/RESULTS.md"
