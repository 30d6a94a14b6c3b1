#!/usr/bin/env bash
# One full device run (GPU host, from .carry/gpu): export models + ORT references, build native, native self-test,
# managed GPU tests from the bundle, optional benchmark. Logs under $OUT.
# Usage: scripts/gpu-full.sh [test-runner args...]   env: TRTN_BENCH=1 runs bench after tests, TRTN_MODELS="resnet50 ...",
#        TRTN_REFERENCE_N (fresh random inputs per model, a multiple of 64; default 1024)
set -uo pipefail
here="$(pwd)"
OUTDIR="${OUT:-$here/out}"
mkdir -p "$OUTDIR"
models="${TRTN_MODELS:-resnet50 mobilenet_v2 mobilenet_v3_large efficientnet_b0 vit_b_16 convnext_tiny}"
mkdir -p /tmp/trtn-models /tmp/trtn-node
tar -xJf nodetests.tar.xz -C /tmp/trtn-node
tar -xJf bundle.tar.xz -C /tmp
# Newer managed assemblies than the bundle's (same dependencies), built with dotnet build -c Release.
[ -d patch ] && cp patch/* /tmp/bundle/bin/ && echo "== patched bundle with: $(ls patch | tr '\n' ' ')"
# The bundle carries native/ and cmake/ as they were when built; use this tree's (they may be newer).
rm -rf /tmp/bundle/native /tmp/bundle/cmake && cp -r native /tmp/bundle/native && cp -r cmake /tmp/bundle/cmake
cp scripts/*.sh /tmp/bundle/scripts/ 2>/dev/null
export PYTHONUNBUFFERED=1
( python3 scripts/export_models.py /tmp/trtn-models --reference "${TRTN_REFERENCE_N:-1024}" $models > "$OUTDIR/export.log" 2>&1; echo "export rc=$?" >> "$OUTDIR/export.log" ) &
export_pid=$!
# Native self-test (own build dir) while the export runs.
cmake -S native -B /tmp/nb -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUTDIR/selftest-build.log" 2>&1 && cmake --build /tmp/nb -j 8 >> "$OUTDIR/selftest-build.log" 2>&1 \
  && /tmp/nb/trtn_selftest > "$OUTDIR/selftest.log" 2>&1
echo "== native selftest: $(tail -1 "$OUTDIR/selftest.log" 2>/dev/null)"
wait $export_pid
grep -E "exported|reference|rc=|Error|error" "$OUTDIR/export.log" | tail -20
export TRTN_MODELS_DIR=/tmp/trtn-models TRTN_NODE_TESTS=/tmp/trtn-node
OUT="$OUTDIR" bash /tmp/bundle/scripts/gpu-test.sh "$@" > "$OUTDIR/gpu-test-console.log" 2>&1
rc=$?
grep -E "RESULT|FAIL|\[FAIL\]|passed, |native build" "$OUTDIR/gpu-test-console.log" | grep -v "^\s*$" | head -80
grep -E "BISECT" "$OUTDIR/gpu-test-console.log" | grep -v OUTPUT | head -80
echo "== selftest"; grep -E "FAIL|passed|autotuned" "$OUTDIR/selftest.log" | head -40
if [ "${TRTN_BENCH:-0}" = 1 ] && [ -x scripts/gpu-bench.sh ]; then bash scripts/gpu-bench.sh "$OUTDIR"; fi
# At most 8 files come back: drop the bulky duplicates.
rm -f "$OUTDIR/gpu-tests.trx" "$OUTDIR/gpu-tests.xml"
grep -q "passed" "$OUTDIR/selftest.log" 2>/dev/null && rm -f "$OUTDIR/selftest-build.log"
exit $rc
