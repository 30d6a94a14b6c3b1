#!/usr/bin/env bash
# Prepares a device run: copies this tree (without build outputs and .git) to /work/main/.carry/gpu, adds
# out/bundle.tar.xz (./build.sh bundle) and a tarball of the ONNX node tests of the ops the GPU engine supports.
# Then: run tool, carry [".carry/gpu"], command `cd .carry/gpu && TRTN_BENCH=1 bash scripts/gpu-full.sh`.
# Optional: scripts/carry-patch.sh to overwrite the bundle's managed assemblies with fresh Release builds.
set -e
SRC=$(cd "$(dirname "$0")/.." && pwd)
DST=${TRTN_CARRY:-/work/main/.carry/gpu}
rm -rf "$DST"; mkdir -p "$DST"
tar -C "$SRC" --exclude=./.git --exclude=./.carry --exclude=./TestResults --exclude='*/bin' --exclude='*/obj' --exclude=./native/build --exclude=./out -cf - . | tar -C "$DST" -xf -
if [ -f "$SRC/out/bundle.tar.xz" ]; then cp "$SRC/out/bundle.tar.xz" "$DST/"; else echo "no out/bundle.tar.xz: run ./build.sh bundle first" >&2; fi
NODE=/usr/share/libonnx-testdata/data/node
if [ -d "$NODE" ]; then
  (cd "$NODE" && tar -cJf "$DST/nodetests.tar.xz" $(ls -d test_conv* test_gemm* test_matmul* test_maxpool* test_averagepool* \
    test_globalaveragepool* test_globalmaxpool* test_softmax* test_logsoftmax* test_relu test_sigmoid* test_add* test_mul* test_sub* \
    test_div* test_layer_normalization* test_reduce_mean* test_reduce_sum* test_reduce_max* test_transpose* test_concat* test_reshape* \
    test_flatten* test_gather_* test_slice* test_split* test_expand* test_clip* test_leakyrelu* test_tanh* test_elu* test_hardsigmoid* \
    test_hardswish* test_batchnorm* test_erf test_sqrt* test_exp* test_pow* test_abs test_neg* test_resize* test_prelu* test_squeeze* \
    test_unsqueeze* test_gelu* 2>/dev/null))
else
  echo "no $NODE (apt-get install libonnx-testdata): node tests will be skipped" >&2
fi
du -sh "$DST"
