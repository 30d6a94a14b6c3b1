#!/usr/bin/env bash
# The shortest device run that both checks and measures models, for sessions with little device time. From
# .carry/gpu (scripts/carry-sync.sh): one native build (gpu-test.sh's) while the models export, the GPU model tests
# for those models only (ModelGpuTests.MatchesOnnxRuntime: fp32, fp16, bf16 against ONNX Runtime), then
# gpu-bench.sh; the native self-test runs while the models export. No node tests (gpu-full.sh runs those). Logs
# under $OUT.
# On a warm machine a second call reuses the first one's native build (same native/) and exported models.
# Environment: TRTN_MODELS (default "vit_b_16 resnet50"), TRTN_REFERENCE_N (default 64), TRTN_QUICK_TESTS=0 skips
#              the tests, TRTN_QUICK_SELFTEST=0 the native self-test, and gpu-bench.sh's TRTN_BENCH_*
#              (TRTN_BENCH_MODELS defaults to TRTN_MODELS).
set -uo pipefail
here="$(pwd)"
OUTDIR="${OUT:-$here/out}"
mkdir -p "$OUTDIR" /tmp/trtn-models
models="${TRTN_MODELS:-vit_b_16 resnet50}"
t0=$SECONDS
# A second call on the same warm machine keeps the previous call's native build when native/ and cmake/ are the
# same (the bundle holds no libtrtnative.so, so unpacking it again leaves the built one in place): the build is 80 s.
same_native=0
[ -f /tmp/bundle/bin/libtrtnative.so ] && diff -rq native /tmp/bundle/native >/dev/null 2>&1 \
  && diff -rq cmake /tmp/bundle/cmake >/dev/null 2>&1 && same_native=1
tar -xJf bundle.tar.xz -C /tmp || exit 1
# The bundle carries native/ and cmake/ as they were when it was made; use this tree's (they may be newer).
rm -rf /tmp/bundle/native /tmp/bundle/cmake && cp -r native /tmp/bundle/native && cp -r cmake /tmp/bundle/cmake
cp scripts/*.sh scripts/*.py /tmp/bundle/scripts/ 2>/dev/null
export PYTHONUNBUFFERED=1
# Models a previous call on this machine exported (with their references) are not exported again.
to_export=""
for m in $models; do
  for f in onnx json input.f32 ort.f32; do [ -f "/tmp/trtn-models/$m.$f" ] || { to_export="$to_export $m"; break; }; done
done
: > "$OUTDIR/export.log"
[ -n "$to_export" ] && python3 scripts/export_models.py /tmp/trtn-models --reference "${TRTN_REFERENCE_N:-64}" $to_export > "$OUTDIR/export.log" 2>&1 &
export_pid=$!
# Native build only: a filter no test matches.
[ "$same_native" = 1 ] && echo "== native: this machine's build of the same native/ is kept" && export TRTN_SKIP_NATIVE=1
OUT="$OUTDIR" bash /tmp/bundle/scripts/gpu-test.sh -method "NoTestHasThisName" > "$OUTDIR/native-console.log" 2>&1
unset TRTN_SKIP_NATIVE
grep -E "built|FAILED" "$OUTDIR/native-console.log" | head -5
echo "== native built ($((SECONDS - t0)) s)"
# The native self-test (kernels, cuDNN graphs, nvJPEG) while the export still runs; TRTN_QUICK_SELFTEST=0 skips it.
if [ "${TRTN_QUICK_SELFTEST:-1}" != 0 ] && [ -x /tmp/bundle/build/native/trtn_selftest ]; then
  timeout 240 /tmp/bundle/build/native/trtn_selftest > "$OUTDIR/selftest.log" 2>&1
  echo "== selftest rc=$? ($((SECONDS - t0)) s): $(grep -E 'FAIL' "$OUTDIR/selftest.log" | head -10 | tr '\n' ';') $(tail -1 "$OUTDIR/selftest.log")"
fi
wait $export_pid
grep -E "exported|rc=|Error|error" "$OUTDIR/export.log" | tail -6
echo "== models exported ($((SECONDS - t0)) s)"
if [ "${TRTN_QUICK_TESTS:-1}" != 0 ]; then
  TRTN_SKIP_NATIVE=1 TRTN_MODELS_DIR=/tmp/trtn-models OUT="$OUTDIR" bash /tmp/bundle/scripts/gpu-test.sh -method "*MatchesOnnxRuntime*" \
    > "$OUTDIR/gpu-test-console.log" 2>&1
  grep -E "^RESULT|\[FAIL\]|passed, " "$OUTDIR/gpu-test-console.log" | head -30
  echo "== tests done ($((SECONDS - t0)) s)"
fi
TRTN_BENCH_MODELS="${TRTN_BENCH_MODELS:-$models}" bash scripts/gpu-bench.sh "$OUTDIR" | grep -v "^BENCH engine=pytorch"
echo "== done ($((SECONDS - t0)) s)"
rm -f "$OUTDIR/gpu-tests.trx" "$OUTDIR/gpu-tests.xml"
# At most 8 files come back from a device call: RESULTS.md and bench.log travel alone, every other log in logs.tgz
# (session 9 lost selftest.log, the only record of which tactics the self-test's autotuned layers chose).
(cd "$OUTDIR" && ls | grep -vxE "RESULTS.md|bench.log|logs.tgz" | tar -czf logs.tgz -T - && ls | grep -vxE "RESULTS.md|bench.log|logs.tgz" | xargs rm -f)
