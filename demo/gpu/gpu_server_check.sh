#!/usr/bin/env bash
# GPU check of TrtNative.Server on a GPU host without dotnet (what the device runs). Needs, in the repo root:
#   .carry/server.tar.xz   self-contained linux-x64 publish of src/TrtNative.Server (folder "server/")
#   .carry/patch/*.dll     optional newer managed DLLs laid over it
# Builds native/ (Release, sm_${TRTN_CUDA_ARCH:-90}), exports a random-weight ResNet-18, runs gpu_server_check.py.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/out}"; mkdir -p "$out"
arch="${TRTN_CUDA_ARCH:-90}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== native build"
if ! { cmake -S native -B /tmp/nb -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DTRTN_CUDA_ARCHITECTURES="$arch" >"$out/native.log" 2>&1 &&
       cmake --build /tmp/nb -j "$(nproc)" >>"$out/native.log" 2>&1; }; then
  tail -40 "$out/native.log"; exit 1
fi
echo "== server"
rm -rf /tmp/srv && mkdir -p /tmp/srv && tar -xJf .carry/server.tar.xz -C /tmp/srv
[ -d .carry/patch ] && cp .carry/patch/* /tmp/srv/server/
cp -L "$(find /tmp/nb -name 'libtrtnative.so*' \( -type f -o -type l \) | sort | head -1)" /tmp/srv/server/libtrtnative.so
chmod +x /tmp/srv/server/TrtNative.Server
echo "== model"
python3 demo/gpu/export_resnet18.py /tmp/gpucheck/resnet18 2>&1 | tail -2
echo "== check"
python3 demo/gpu/gpu_server_check.py /tmp/srv/server/TrtNative.Server 18080 "$root/demo" "$out"
