#!/usr/bin/env bash
# Developer run on the GPU host: report the toolchain, build native/ for sm_90 and run the native self-test.
# Usage: scripts/gpu-dev.sh [outdir]   (logs go to outdir, default ./out)
set -uo pipefail
OUTDIR=${1:-${OUT:-./out}}
mkdir -p "$OUTDIR"
{
  echo "== host"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "== nvcc"; nvcc --version | tail -2
  echo "== cmake"; cmake --version | head -1
  echo "== cudnn"; ls /usr/include/x86_64-linux-gnu/cudnn*.h /usr/include/cudnn*.h 2>/dev/null | head; ls /usr/lib/x86_64-linux-gnu/libcudnn.so* 2>/dev/null | head -3
  grep -h -E "define CUDNN_(MAJOR|MINOR|PATCHLEVEL)" /usr/include/x86_64-linux-gnu/cudnn_version*.h /usr/include/cudnn_version*.h 2>/dev/null | head -3
  echo "== cublasLt"; ls /usr/local/cuda/lib64/libcublasLt.so* /usr/lib/x86_64-linux-gnu/libcublasLt.so* 2>/dev/null | head -3
  echo "== python"; python3 -c 'import torch, torchvision, onnx, onnxruntime; print(torch.__version__, torchvision.__version__, onnx.__version__, onnxruntime.__version__)'
} 2>&1 | tee "$OUTDIR/env.txt"
ARCH=${TRTN_ARCH:-90}
BUILD=native/build
cmake -S native -B $BUILD -G Ninja -DTRTN_CUDA_ARCHITECTURES=$ARCH -DCMAKE_CUDA_ARCHITECTURES=$ARCH 2>&1 | tee "$OUTDIR/cmake.txt" | tail -5
time cmake --build $BUILD -j 16 2>&1 | tee "$OUTDIR/build.txt" | grep -E "error|warning: unused|FAILED|Linking" | head -60
ls -la $BUILD/libtrtnative.so* || exit 1
$BUILD/trtn_selftest 2>&1 | tee "$OUTDIR/selftest.txt"
