#!/usr/bin/env bash
# Benchmarks TrtNative (Sample bench, from the unpacked bundle in /tmp/bundle) against PyTorch at its best (eager and
# CUDA-graph replay, NCHW and channels_last; torch.compile with TRTN_BENCH_COMPILE=1) in the same run on the same
# GPU; writes $1/bench.log and $1/RESULTS.md. Models must be exported in /tmp/trtn-models.
# Environment: TRTN_BENCH_MODELS, TRTN_BENCH_BATCHES (default 1,32,128), TRTN_BENCH_FP32 (models also run in fp32,
#              default resnet50), TRTN_BENCH_BUILDS (cold builds of the first model, fp16, for the build spread;
#              default 1), TRTN_BENCH_AB (A/B runs: space-separated SETTING:model,model entries, each model benched
#              again in fp16 with the environment SETTING, e.g. "TRTN_PATCHIFY=0:vit_b_16,convnext_tiny
#              TRTN_CONV_GRAPH=0:resnet50 TRTN_LAYERNORM_LANES=0:vit_b_16"; their BENCH lines go into bench.log as
#              "AB SETTING BENCH ...", so the table keeps the default engine's figures; default none),
#              TRTN_BENCH_BF16 (models also run in bf16, default none; PyTorch is timed in fp16 only: compare
#              with the fp16 row), TRTN_BENCH_CACHE_BUILD (1: the first model's build with a cold, then a warm timing
#              cache; default 1), TRTN_BENCH_TORCH (0: no PyTorch runs, for bf16-against-fp16 calls that need no
#              ratios; default 1).
set -uo pipefail
OUTDIR="${1:-${OUT:-./out}}"
models="${TRTN_BENCH_MODELS:-resnet50 mobilenet_v3_large efficientnet_b0 vit_b_16 convnext_tiny}"
batches="${TRTN_BENCH_BATCHES:-1,32,128}"
fp32_models="${TRTN_BENCH_FP32:-resnet50}"
builds="${TRTN_BENCH_BUILDS:-1}"
max_batch="${batches##*,}"
export LD_LIBRARY_PATH="/tmp/bundle/bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log="$OUTDIR/bench.log"
: > "$log"
# Every build logs each autotuning candidate's time and each layer's choice ("TUNE ..." lines in the logs): session 9's
# depthwise kernel and split-K variants were never chosen and nothing said whether they lost or were refused.
export TRTN_AUTOTUNE_LOG="${TRTN_AUTOTUNE_LOG:-1}"
# Every TrtNative figure of a run (table rows and A/B lines alike) is measured with the same options.
sample=(/tmp/bundle/bin/TrtNative.Sample bench)
timing=(--profile "1:32:$max_batch" --batch "$batches" --iters 100 --warmup 20)
bench() {  # model precision [label]
  /usr/bin/time -f "BUILD+BENCH wall_s=%e model=$1 precision=$2 ${3:-}" \
    "${sample[@]}" /tmp/trtn-models/$1.onnx --$2 "${timing[@]}" ${4:-} >> "$log" 2>&1 || echo "bench $1 $2 failed" >> "$log"
}
# RESULTS.md from bench.log as it stands (bench_report.py), on the card named once.
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
report() { python3 scripts/bench_report.py "$log" "$gpu_name" > "$OUTDIR/RESULTS.md"; }
# --layers: each layer's time and what it ran (cuDNN engine, cuBLASLt, our kernel) for the per-layer analysis (fp32 too:
# ResNet-50 fp32 ran at 0.54x PyTorch's fp32 at batch 1 in session 5, with no profile to say why).
compile=(); [ "${TRTN_BENCH_COMPILE:-0}" = 1 ] && compile=(--compile)
# Each model's PyTorch figures are taken right after its TrtNative ones: a run cut short by the device's time limit
# still leaves whole table rows.
for m in $models; do
  bench "$m" fp16 "" --layers
  fp32=""
  for f in $fp32_models; do [ "$f" = "$m" ] && bench "$m" fp32 "" --layers && fp32="$m"; done
  # bf16 with its profile too: ResNet-50 and MobileNetV3 ran 11-15% slower in bf16 than in fp16 (session 8, H100).
  for f in ${TRTN_BENCH_BF16:-}; do [ "$f" = "$m" ] && bench "$m" bf16 "" --layers; done
  if [ "${TRTN_BENCH_TORCH:-1}" = 1 ]; then
    python3 scripts/bench_torch.py "$m" "$batches" --precisions fp16 --fp32-models "$fp32" --iters 100 "${compile[@]}" >> "$log" 2>&1 \
      || echo "PyTorch bench $m failed" >> "$log"
  fi
  # The table so far after each model: session 17's first call reached its time limit in the last model's PyTorch
  # runs and left no RESULTS.md.
  report
done
first="${models%% *}"
for i in $(seq 2 "$builds"); do bench "$first" fp16 "cold-build=$i"; done
for ab in ${TRTN_BENCH_AB:-}; do
  setting="${ab%%:*}"
  for m in $(echo "${ab#*:}" | tr ',' ' '); do
    env "$setting" "${sample[@]}" /tmp/trtn-models/$m.onnx --fp16 "${timing[@]}" --layers > "$OUTDIR/bench-ab.log" 2>&1 \
      || echo "A/B bench $setting $m failed" >> "$log"
    sed "s/^BENCH /AB $setting BENCH /" "$OUTDIR/bench-ab.log" | grep '^AB ' >> "$log"
    cat "$OUTDIR/bench-ab.log" >> "$OUTDIR/bench-ab-all.log"
  done
done
# Issue 9's build with a warm timing cache (target <= 1 s for ResNet-50): a cold build fills a fresh cache, then the
# same build reads it, with precision protection (the default) and without; each build's phase lines and its
# "built ... in N s" line go into bench.log as "CACHE-BUILD <model> <which>: ...". TRTN_BENCH_CACHE_BUILD=0 leaves it out.
if [ "${TRTN_BENCH_CACHE_BUILD:-1}" = 1 ]; then
  tc="$OUTDIR/bench-timing.cache"; rm -f "$tc"
  for which in cold warm warm-unprotected; do
    extra=(); [ "$which" = warm-unprotected ] && extra=(--no-precision-protection)
    /tmp/bundle/bin/TrtNative.Sample build /tmp/trtn-models/$first.onnx --fp16 --profile 1:32:$max_batch --timing-cache "$tc" \
      -o "/tmp/trtn-cache-build-$which.plan" "${extra[@]}" 2>&1 | sed "s/^/CACHE-BUILD $first $which: /" >> "$log"
  done
fi
report
grep -E "^BENCH|^AB |BUILD\+BENCH|^CACHE-BUILD .*(built|error)" "$log"
cat "$OUTDIR/RESULTS.md"
