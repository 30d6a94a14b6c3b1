#!/usr/bin/env bash
# Server on a GPU host without dotnet (what the device runs), from the repository root:
#   1. builds native/ (Release, sm_${TRTN_CUDA_ARCH:-90}) into /tmp/nb-server unless already built there;
#   2. unpacks the server bundle (./build.sh bundle-server; TRTN_SERVER_TAR, default .carry/server-bundle.tar.xz)
#      under out/srv (inside the repository: the tests find demo/digits by walking up) and runs the server's xunit
#      tests there on the GPU: every service they create runs on the GPU backend;
#   3. unless TRTN_SERVER_BENCH=0: the ResNet-50 fp16 service benchmark (demo/gpu/resnet50_bench.sh), and with 2+ GPUs
#      the multi-GPU one (scripts/gpu-multigpu-bench.sh: gpuid 0 against "all" at 64 and 256 clients).
# Logs under $OUT. Exit status: the tests' (the benchmark is reported, not asserted).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-$root/out/results}"; mkdir -p "$out"
arch="${TRTN_CUDA_ARCH:-90}"
tarball="${TRTN_SERVER_TAR:-$root/.carry/server-bundle.tar.xz}"
t0=$SECONDS
if [ ! -f /tmp/nb-server/libtrtnative.so ]; then
  echo "== native build (sm_$arch)"
  { cmake -S native -B /tmp/nb-server -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DTRTN_CUDA_ARCHITECTURES="$arch" &&
    cmake --build /tmp/nb-server -j "$(nproc)"; } > "$out/server-native.log" 2>&1 || { tail -40 "$out/server-native.log"; exit 1; }
fi
srv="$root/out/srv/server"
rm -rf "$root/out/srv" && mkdir -p "$root/out/srv" && tar -xJf "$tarball" -C "$root/out/srv" || exit 1
cp -L "$(find /tmp/nb-server -name 'libtrtnative.so*' \( -type f -o -type l \) | sort | head -1)" "$srv/libtrtnative.so"
echo "== server tests on the GPU ($((SECONDS - t0)) s so far)"
(cd "$srv" && ./TrtNative.Server.Tests -reporter verbose) > "$out/server-tests.log" 2>&1
rc=$?
grep -E "\[FAIL\]|\[SKIP\]|Total:|Failed |Error Message" -A3 "$out/server-tests.log" | head -60
echo "server tests rc=$rc"
if [ "${TRTN_SERVER_BENCH:-1}" != 0 ]; then
  echo "== ResNet-50 service benchmark ($((SECONDS - t0)) s so far)"
  TRTN_SERVER_TAR="$tarball" TRTN_PATCH_DIR=/nonexistent TRTN_NATIVE_BUILD=/tmp/nb-server bash demo/gpu/resnet50_bench.sh 2>&1 | tail -60
fi
if [ "${TRTN_SERVER_BENCH:-1}" != 0 ] && [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')" -ge 2 ]; then
  echo "== multi-GPU benchmark: gpuid 0 vs \"all\" ($((SECONDS - t0)) s so far)"
  OUT="$out" TRTN_SERVER_TAR="$tarball" TRTN_PATCH_DIR=/nonexistent TRTN_NATIVE_BUILD=/tmp/nb-server bash scripts/gpu-multigpu-bench.sh 2>&1 | tail -20
fi
echo "== done in $((SECONDS - t0)) s"
exit $rc
