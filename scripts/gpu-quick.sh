#!/usr/bin/env bash
# The shortest device run that both checks and measures models, for sessions with little device time. From
# .carry/gpu (scripts/carry-sync.sh): one native build (gpu-test.sh's) while the models export, the GPU model tests
# for those models only (ModelGpuTests.MatchesOnnxRuntime: fp32, fp16, bf16 against ONNX Runtime), then
# gpu-bench.sh; the native self-test runs while the models export. No node tests (gpu-full.sh runs those). Logs
# under $OUT.
# On a warm machine a later call rebuilds only what changed in native/ and reuses the exported models.
# Environment: TRTN_MODELS (default "vit_b_16 resnet50"), TRTN_REFERENCE_N (default 64), TRTN_QUICK_TESTS=0 skips
#              the tests, TRTN_QUICK_TEST_METHOD the tests' xunit -method pattern (default "*MatchesOnnxRuntime*";
#              empty: every GPU test, the precision-protection and engine tests too), TRTN_QUICK_SELFTEST=0 the native
#              self-test, TRTN_QUICK_SELFTEST_AB settings (space-separated VAR=value) each run the self-test once
#              more with that setting (selftest-VAR=value.log; e.g. "TRTN_PDL=0"), TRTN_QUICK_BENCH=0 the benchmarks,
#              and gpu-bench.sh's TRTN_BENCH_* (TRTN_BENCH_MODELS defaults to TRTN_MODELS).
set -uo pipefail
here="$(pwd)"
OUTDIR="${OUT:-$here/out}"
mkdir -p "$OUTDIR" /tmp/trtn-models
models="${TRTN_MODELS:-vit_b_16 resnet50}"
t0=$SECONDS
# The bundle carries native/ and cmake/ as they were when it was made; this tree's are used (they may be newer). They
# replace the unpacked copies only where they differ, so that on a machine still warm from an earlier call CMake's
# incremental build of the same sources is a no-op (the full build takes 80 s).
tar -xJf bundle.tar.xz -C /tmp --exclude=bundle/native --exclude=bundle/cmake || exit 1
for d in native cmake; do
  diff -rq "$d" "/tmp/bundle/$d" >/dev/null 2>&1 || { rm -rf "/tmp/bundle/$d" && cp -r "$d" "/tmp/bundle/$d"; }
done
cp scripts/*.sh scripts/*.py /tmp/bundle/scripts/ 2>/dev/null
export PYTHONUNBUFFERED=1
# Models an earlier call on this machine exported, with as many reference inputs, are not exported again (the .json
# is written last).
n_ref="${TRTN_REFERENCE_N:-64}"
to_export=""
for m in $models; do
  grep -qs "\"input\": \[$n_ref," "/tmp/trtn-models/$m.json" && [ -f "/tmp/trtn-models/$m.ort.f32" ] || to_export="$to_export $m"
done
: > "$OUTDIR/export.log"
[ -n "$to_export" ] && python3 scripts/export_models.py /tmp/trtn-models --reference "$n_ref" $to_export > "$OUTDIR/export.log" 2>&1 &
export_pid=$!
# Native build only: a filter no test matches.
OUT="$OUTDIR" bash /tmp/bundle/scripts/gpu-test.sh -method "NoTestHasThisName" > "$OUTDIR/native-console.log" 2>&1
grep -E "built|FAILED" "$OUTDIR/native-console.log" | head -5
echo "== native built ($((SECONDS - t0)) s)"
[ -f /tmp/bundle/bin/libtrtnative.so ] || { echo "no libtrtnative.so: the native build failed (native-build.log)"; exit 1; }
# The native self-test (kernels, cuDNN graphs, nvJPEG) while the export still runs; TRTN_QUICK_SELFTEST=0 skips it.
selftest() {  # log [VAR=value]
  local log="$OUTDIR/$1"; shift
  timeout 240 env "$@" /tmp/bundle/build/native/trtn_selftest > "$log" 2>&1
  echo "== selftest${1:+ with $1} rc=$? ($((SECONDS - t0)) s): $(grep -E 'FAIL' "$log" | head -10 | tr '\n' ';') $(tail -1 "$log")"
}
if [ "${TRTN_QUICK_SELFTEST:-1}" != 0 ] && [ -x /tmp/bundle/build/native/trtn_selftest ]; then
  selftest selftest.log
  for setting in ${TRTN_QUICK_SELFTEST_AB:-}; do selftest "selftest-$setting.log" "$setting"; done
fi
wait $export_pid
grep -E "exported|rc=|Error|error" "$OUTDIR/export.log" | tail -6
echo "== models exported ($((SECONDS - t0)) s)"
if [ "${TRTN_QUICK_TESTS:-1}" != 0 ]; then
  method="${TRTN_QUICK_TEST_METHOD-*MatchesOnnxRuntime*}"
  filter=(); [ -n "$method" ] && filter=(-method "$method")
  TRTN_SKIP_NATIVE=1 TRTN_MODELS_DIR=/tmp/trtn-models OUT="$OUTDIR" bash /tmp/bundle/scripts/gpu-test.sh "${filter[@]}" \
    > "$OUTDIR/gpu-test-console.log" 2>&1
  grep -E "^RESULT|\[FAIL\]|passed, " "$OUTDIR/gpu-test-console.log" | head -30
  echo "== tests done ($((SECONDS - t0)) s)"
fi
if [ "${TRTN_QUICK_BENCH:-1}" != 0 ]; then
  TRTN_BENCH_MODELS="${TRTN_BENCH_MODELS:-$models}" bash scripts/gpu-bench.sh "$OUTDIR" | grep -v "^BENCH engine=pytorch"
fi
echo "== done ($((SECONDS - t0)) s)"
rm -f "$OUTDIR/gpu-tests.trx" "$OUTDIR/gpu-tests.xml"
# At most 8 files come back from a device call: RESULTS.md and bench.log travel alone, every other log in logs.tgz
# (session 9 lost selftest.log, the only record of which tactics the self-test's autotuned layers chose).
(cd "$OUTDIR" && ls | grep -vxE "RESULTS.md|bench.log|logs.tgz" | tar -czf logs.tgz -T - && ls | grep -vxE "RESULTS.md|bench.log|logs.tgz" | xargs rm -f)
