#!/usr/bin/env bash
# Runs on the GPU host from an unpacked bundle (out/bundle.tar.xz, made by ./build.sh bundle):
#   bundle/bin/      self-contained TrtNative.GpuTests and TrtNative.Sample (no dotnet needed)
#   bundle/native/   the CUDA shim's sources (CMake)
#   bundle/scripts/gpu-test.sh (this file)
# Builds native/ (Release, CUDA arch $TRTN_CUDA_ARCH, default 90), puts libtrtnative.so next to the test exe,
# runs the GPU tests and prints "N passed, N failed, N skipped". Results and logs go to $OUT if set, else
# bundle/results. Extra arguments go to the xunit.v3 test runner (e.g. -method "*Cuda*").
# Environment: TRTN_CUDA_ARCH (default 90), TRTN_CMAKE_ARGS (extra cmake configure arguments),
#              TRTN_SKIP_NATIVE=1 (run the managed GPU tests without building the shim),
#              TRTN_EXPORT_MODELS=1 or "resnet50 vit_b_16 ..." (export torchvision models + ONNX Runtime references
#              with scripts/export_models.py into bundle/models, TRTN_REFERENCE_N inputs, default 1024, and set
#              TRTN_MODELS_DIR), TRTN_MODELS_DIR / TRTN_NODE_TESTS (default: bundle/node-tests if present).
set -uo pipefail
bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$bundle"
results="${OUT:-$bundle/results}"
mkdir -p "$results"
arch="${TRTN_CUDA_ARCH:-90}"
chmod +x bin/TrtNative.GpuTests bin/TrtNative.Sample 2>/dev/null || true  # a bundle made on Windows has no x bits

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "(nvidia-smi failed)"

# cuDNN: the image has it as the pip wheel nvidia-cudnn-cu13; native/CMakeLists reads CUDNN_ROOT.
if [ -z "${CUDNN_ROOT:-}" ]; then
  CUDNN_ROOT="$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)"
  [ -n "$CUDNN_ROOT" ] && export CUDNN_ROOT && echo "== cuDNN from the Python wheel: $CUDNN_ROOT"
fi
libdirs="$bundle/bin"
[ -n "${CUDNN_ROOT:-}" ] && [ -d "$CUDNN_ROOT/lib" ] && libdirs="$libdirs:$CUDNN_ROOT/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libdirs="$libdirs:$d"; done

native_rc=0
if [ "${TRTN_SKIP_NATIVE:-0}" = 1 ]; then
  echo "== native: skipped (TRTN_SKIP_NATIVE=1)"
elif [ ! -f native/CMakeLists.txt ]; then
  echo "== native: bundle has no native/CMakeLists.txt; running the managed GPU tests only"
else
  echo "== native: cmake (Release, CUDA arch $arch)"
  if TRTN_CUDA_ARCH="$arch" bash scripts/native-release.sh build/native bin/libtrtnative.so "$results/native-build.log"; then
    echo "   built build/native -> bin/libtrtnative.so"
  else
    native_rc=1
    echo "   native build FAILED (log: $results/native-build.log)"
  fi
fi
# The .NET host looks next to the app first; LD_LIBRARY_PATH covers dlopen from native code.
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "== LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

if [ -z "${TRTN_NODE_TESTS:-}" ] && [ -d "$bundle/node-tests" ]; then
  export TRTN_NODE_TESTS="$bundle/node-tests"
fi
if [ -n "${TRTN_EXPORT_MODELS:-}" ] && [ "${TRTN_EXPORT_MODELS}" != 0 ] && [ -z "${TRTN_MODELS_DIR:-}" ]; then
  models=()
  [ "$TRTN_EXPORT_MODELS" != 1 ] && read -r -a models <<<"$TRTN_EXPORT_MODELS"
  echo "== exporting models: ${models[*]:-all}"
  if python3 "$bundle/scripts/export_models.py" "$bundle/models" --reference "${TRTN_REFERENCE_N:-1024}" "${models[@]}" \
       >"$results/export-models.log" 2>&1; then
    export TRTN_MODELS_DIR="$bundle/models"
  else
    echo "   model export FAILED; last lines of $results/export-models.log:"
    tail -n 30 "$results/export-models.log"
  fi
fi
echo "== TRTN_MODELS_DIR=${TRTN_MODELS_DIR:-} TRTN_NODE_TESTS=${TRTN_NODE_TESTS:-}"

echo "== GPU tests"
"$bundle/bin/TrtNative.GpuTests" -noColor -noLogo -showLiveOutput -result-xml "$results/gpu-tests.xml" \
  -result-trx "$results/gpu-tests.trx" "$@" 2>&1 | tee "$results/gpu-tests.log"
test_rc=${PIPESTATUS[0]}

summary="$(grep -o '<assembly [^>]*>' "$results/gpu-tests.xml" 2>/dev/null | head -1)"
get() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$summary"; }
if [ -n "$summary" ]; then
  passed="$(get passed)"; failed="$(get failed)"; errors="$(get errors)"; skipped="$(get skipped)"
  echo "$passed passed, $((failed + ${errors:-0})) failed, $skipped skipped"
else
  echo "no test results written (runner crashed? exit $test_rc)"
  test_rc=${test_rc:-1}
  [ "$test_rc" -eq 0 ] && test_rc=1
fi
[ "$native_rc" -ne 0 ] && echo "native build failed (see native-build.log)"
[ "$test_rc" -ne 0 ] && exit "$test_rc"
exit "$native_rc"
