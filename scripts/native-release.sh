#!/usr/bin/env bash
# Builds native/ (Release, CUDA arch $TRTN_CUDA_ARCH, default 90, extra configure arguments $TRTN_CMAKE_ARGS) into
# BUILD_DIR, a no-op when it is up to date, and copies libtrtnative.so to DEST (a file). DEST is removed first, so a
# failed build never leaves an earlier library to be used. The build log goes to LOG; on failure its tail is printed,
# status 1.
# Usage, from the repository root (a CMake cache is tied to one source path: one BUILD_DIR per checkout):
#   scripts/native-release.sh BUILD_DIR DEST LOG
set -uo pipefail
[ $# -eq 3 ] || { echo "usage: $0 BUILD_DIR DEST LOG" >&2; exit 2; }
nb="$1" dest="$2" log="$3"
arch="${TRTN_CUDA_ARCH:-90}"
rm -f "$dest"
# shellcheck disable=SC2086
if ! { cmake -S native -B "$nb" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DTRTN_CUDA_ARCHITECTURES="$arch" ${TRTN_CMAKE_ARGS:-} >"$log" 2>&1 &&
       cmake --build "$nb" -j "$(nproc)" >>"$log" 2>&1; }; then
  tail -40 "$log"
  exit 1
fi
lib="$(find "$nb" -name 'libtrtnative.so*' \( -type f -o -type l \) | sort | head -1)"
[ -n "$lib" ] || { echo "the native build in $nb produced no libtrtnative.so" >&2; exit 1; }
cp -L "$lib" "$dest"
