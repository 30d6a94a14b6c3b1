#!/usr/bin/env bash
# GPU check of TrtNative.Server on a GPU host without dotnet (what the device runs). Needs, in the repo root:
#   .carry/server.tar.xz   self-contained linux-x64 publish of src/TrtNative.Server (folder "server/")
#   .carry/patch/*.dll     optional newer managed DLLs laid over it
# Builds native/ (Release, sm_${TRTN_CUDA_ARCH:-90}), exports a random-weight ResNet-18, runs gpu_server_check.py.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/out}"; mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== server"
rm -rf /tmp/srv && mkdir -p /tmp/srv && tar -xJf .carry/server.tar.xz -C /tmp/srv
[ -d .carry/patch ] && cp .carry/patch/* /tmp/srv/server/
echo "== native build"
bash scripts/native-release.sh /tmp/nb /tmp/srv/server/libtrtnative.so "$out/native.log" || exit 1
chmod +x /tmp/srv/server/TrtNative.Server
echo "== model"
python3 demo/gpu/export_resnet18.py /tmp/gpucheck/resnet18 2>&1 | tail -2
echo "== check"
python3 demo/gpu/gpu_server_check.py /tmp/srv/server/TrtNative.Server 18080 "$root/demo" "$out"
