#!/usr/bin/env bash
# Builds the managed assemblies (Release) and puts them in /work/main/.carry/gpu/patch, to overwrite the bundle's
# copies on the GPU host (valid while package dependencies are unchanged).
set -e
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p /work/main/.carry/gpu/patch
for f in tests/TrtNative.GpuTests/bin/Release/net10.0/TrtNative.dll tests/TrtNative.GpuTests/bin/Release/net10.0/TrtNative.GpuTests.dll \
         src/TrtNative.Sample/bin/Release/net10.0/TrtNative.Sample.dll; do
  cp "$SRC/$f" /work/main/.carry/gpu/patch/
done
ls -la /work/main/.carry/gpu/patch
