#!/usr/bin/env bash
# ResNet-50 fp16 benchmark of TrtNative.Server on a GPU host without dotnet (what the device runs); a benchmark, not a test.
# Needs, in the repo root (or TRTN_SERVER_TAR):
#   .carry/server.tar.xz  self-contained linux-x64 publish of src/TrtNative.Server with demo/gpu/EngineBench published
#                         into the same folder "server/" (they share the runtime files)
#   .carry/patch/*.dll    optional newer managed DLLs laid over it (TRTN_PATCH_DIR)
# Builds native/ (Release, sm_${TRTN_CUDA_ARCH:-90}), exports a random-weight ResNet-50 (opset 17, dynamic batch) to a
# tar.gz, then resnet50_bench.py serves it over loopback HTTP, creates the service with the issue's call and measures.
# --cpu: no native build, server started with --cpu (mllib tensorrt falls back to ONNX Runtime CPU): checks the flow.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/out}"; mkdir -p "$out"
work="${TRTN_BENCH_WORK:-/tmp/r50bench}"; mkdir -p "$work"
cpu=""; [ "${1:-}" = "--cpu" ] && cpu="--cpu"
py="${PYTHON:-python3}"
tarball="${TRTN_SERVER_TAR:-$root/.carry/server.tar.xz}"
t0=$SECONDS
echo "== $(date -u '+%F %T')"
[ -z "$cpu" ] && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
echo "== server"
rm -rf "$work/srv" && mkdir -p "$work/srv" && tar -xJf "$tarball" -C "$work/srv" || exit 1
srv="$work/srv/server"
echo "server bundle built at commit $(cat "$srv/COMMIT" 2>/dev/null || echo "unknown (an older bundle without COMMIT)")"
patch="${TRTN_PATCH_DIR:-$root/.carry/patch}"
[ -d "$patch" ] && cp "$patch"/* "$srv/" && echo "patched: $(ls "$patch" | tr '\n' ' ')"
if [ -z "$cpu" ]; then
  echo "== native build"
  bash scripts/native-release.sh "${TRTN_NATIVE_BUILD:-/tmp/nb-bench}" "$srv/libtrtnative.so" "$out/native.log" || exit 1
  echo "native built ($((SECONDS - t0)) s so far)"
fi
chmod +x "$srv/TrtNative.Server" "$srv/TrtNative.EngineBench"
echo "== model"
[ -f "$work/www/resnet_50_onnx.tar.gz" ] || "$py" demo/gpu/export_resnet50.py "$work/www" 2>&1 | tail -2
echo "model ready ($((SECONDS - t0)) s so far)"
echo "== bench"
PYTHONUNBUFFERED=1 "$py" demo/gpu/resnet50_bench.py "$srv/TrtNative.Server" 18090 "$work" "$out" $cpu --engine-bench "$srv/TrtNative.EngineBench"
rc=$?
echo "== done rc $rc in $((SECONDS - t0)) s"
exit $rc
