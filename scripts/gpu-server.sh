#!/usr/bin/env bash
# Server on a GPU host without dotnet (what the device runs), from the repository root:
#   1. builds native/ (Release, sm_${TRTN_CUDA_ARCH:-90}) into /tmp/nb-server (scripts/native-release.sh: a no-op when up to date);
#   2. unpacks the server bundle (./build.sh bundle-server; TRTN_SERVER_TAR, default .carry/server-bundle.tar.xz)
#      under out/srv (inside the repository: the tests find demo/digits by walking up) and runs the server's xunit
#      tests there on the GPU: every service they create runs on the GPU backend;
#   3. unless TRTN_SERVER_BENCH=0: the ResNet-50 fp16 service benchmark (demo/gpu/resnet50_bench.sh), and with 2+ GPUs
#      the multi-GPU one (scripts/gpu-multigpu-bench.sh: gpuid 0 against "all" at 64 and 256 clients);
#   4. with TRTN_SERVER_LOADGEN=1: issue 10's load-generator run (demo/gpu/loadgen_bench.sh: TrtNative.Sample loadgen at
#      1-256 clients, 640x480 and 1920x1080, by path and base64, the engine's images/s at each batch, 256 clients for
#      60 s with the server's memory sampled; its TRTN_LG_* variables apply), logs under $OUT/loadgen.
#      TRTN_SERVER_LOADGEN=1 TRTN_SERVER_BENCH=0: the server tests, then the load-generator run only.
# Environment: OUT [out/results], TRTN_CUDA_ARCH [90], TRTN_SERVER_TAR [.carry/server-bundle.tar.xz],
#   TRTN_SERVER_BENCH [1], TRTN_SERVER_LOADGEN [0], TRTN_SERVER_TESTS [1] (0: no tests, e.g. a second load-generator call
#   on a machine where the first call ran them).
# Logs under $OUT. Exit status: the tests' (the benchmark is reported, not asserted).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-$root/out/results}"; mkdir -p "$out"
arch="${TRTN_CUDA_ARCH:-90}"
tarball="${TRTN_SERVER_TAR:-$root/.carry/server-bundle.tar.xz}"
t0=$SECONDS
srv="$root/out/srv/server"
rm -rf "$root/out/srv" && mkdir -p "$root/out/srv" && tar -xJf "$tarball" -C "$root/out/srv" || exit 1
echo "== native build (sm_$arch)"
bash scripts/native-release.sh /tmp/nb-server "$srv/libtrtnative.so" "$out/server-native.log" || exit 1
rc=0
if [ "${TRTN_SERVER_TESTS:-1}" != 0 ]; then
  echo "== server tests on the GPU ($((SECONDS - t0)) s so far)"
  (cd "$srv" && ./TrtNative.Server.Tests -reporter verbose) > "$out/server-tests.log" 2>&1
  rc=$?
  grep -E "\[FAIL\]|\[SKIP\]|Total:|Failed |Error Message" -A3 "$out/server-tests.log" | head -60
  echo "server tests rc=$rc"
fi
if [ "${TRTN_SERVER_BENCH:-1}" != 0 ]; then
  echo "== ResNet-50 service benchmark ($((SECONDS - t0)) s so far)"
  TRTN_SERVER_TAR="$tarball" TRTN_PATCH_DIR=/nonexistent TRTN_NATIVE_BUILD=/tmp/nb-server bash demo/gpu/resnet50_bench.sh 2>&1 | tail -60
fi
if [ "${TRTN_SERVER_BENCH:-1}" != 0 ] && [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')" -ge 2 ]; then
  echo "== multi-GPU benchmark: gpuid 0 vs \"all\" ($((SECONDS - t0)) s so far)"
  OUT="$out" TRTN_SERVER_TAR="$tarball" TRTN_PATCH_DIR=/nonexistent TRTN_NATIVE_BUILD=/tmp/nb-server bash scripts/gpu-multigpu-bench.sh 2>&1 | tail -20
fi
if [ "${TRTN_SERVER_LOADGEN:-0}" = 1 ]; then
  echo "== load generator: demo/gpu/loadgen_bench.sh ($((SECONDS - t0)) s so far)"
  OUT="$out/loadgen" TRTN_SERVER_DIR="$srv" TRTN_NATIVE_BUILD=/tmp/nb-server bash demo/gpu/loadgen_bench.sh 2>&1 | tail -80
fi
# At most 8 files come back from a device call: the load generator's many logs and JSONs travel as one archive.
[ -d "$out/loadgen" ] && tar -czf "$out/loadgen.tgz" -C "$out" loadgen && rm -rf "$out/loadgen"
echo "== done in $((SECONDS - t0)) s"
exit $rc
