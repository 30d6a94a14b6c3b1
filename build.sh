#!/usr/bin/env bash
# TrtNative build driver.
#   ./build.sh setup            install what the tests need and is missing (Debian/Ubuntu apt-get, as root or through
#                               sudo): cmake and a C++ compiler, the ONNX node tests, python3 with torch, torchvision,
#                               onnx, opencv and requests; `test` runs it first
#   ./build.sh build            dotnet build the solution; configure+build native/ into build/native when cmake is
#                               present (without nvcc native/ builds its non-CUDA parts)
#   ./build.sh test [args]      dotnet test the solution, then the package test (./build.sh pack, then
#                               scripts/package-test.sh, counted as one test), and print "N passed, N failed,
#                               N skipped" over all of them
#   ./build.sh pack             NuGet packages into out/packages: TrtNative (managed) and TrtNative.Runtime.linux-x64
#                               (runtimes/linux-x64/native/libtrtnative.so built by CMake; without nvcc the non-CUDA
#                               build, which loads anywhere and reports "no CUDA support")
#   ./build.sh run [args]       start the server (src/TrtNative.Server)
#   ./build.sh sample [args]    run the console sample (src/TrtNative.Sample)
#   ./build.sh bundle           self-contained linux-x64 GpuTests + Sample + native/ sources + scripts/ + ONNX node
#                               tests into out/bundle.tar.xz (must stay under 60 MiB)
#   ./build.sh bundle-server    self-contained linux-x64 TrtNative.Server + its tests + demo/gpu/EngineBench +
#                               TrtNative.Sample (its loadgen) in one folder server/ → out/server-bundle.tar.xz
#                               (must stay under 60 MiB; for scripts/gpu-server.sh on a GPU host)
# Environment: CONFIG (Debug|Release, default Debug for build/test), TRTN_CUDA_ARCH (CUDA architectures for
#              native/, default: its CMakeLists' list), TRTN_REQUIRE_NATIVE=1 makes a missing cmake an error,
#              TRTN_SKIP_PACKAGE_TEST=1 leaves the package test out of `test` (it is then counted as skipped).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
config="${CONFIG:-Debug}"

have_cuda_compiler() {
  [ -n "${CUDACXX:-}" ] && [ -x "${CUDACXX}" ] && return 0
  command -v nvcc >/dev/null 2>&1 && return 0
  [ -x /usr/local/cuda/bin/nvcc ] && return 0
  return 1
}

build_native() {
  if [ ! -f native/CMakeLists.txt ]; then
    echo "native: no native/CMakeLists.txt yet, nothing to build"
    return 0
  fi
  if ! command -v cmake >/dev/null 2>&1; then
    if [ "${TRTN_REQUIRE_NATIVE:-0}" = 1 ]; then
      echo "native: cannot build: cmake not found" >&2
      return 1
    fi
    echo "native: skipped (cmake not found); GPU engine tests need libtrtnative.so"
    return 0
  fi
  # Without a CUDA compiler native/ builds its non-CUDA parts only (its CMakeLists decides).
  have_cuda_compiler || echo "native: no CUDA compiler found: building the non-CUDA parts only"
  local args=(-DCMAKE_BUILD_TYPE=Release)
  [ -n "${TRTN_CUDA_ARCH:-}" ] && args+=("-DCMAKE_CUDA_ARCHITECTURES=${TRTN_CUDA_ARCH}")
  cmake -S native -B build/native "${args[@]}"
  cmake --build build/native -j "$(nproc 2>/dev/null || echo 2)"
}

# Debian packages the tests need, each with the check that says it is already there.
cmd_setup() {
  local need=()
  [ -d /usr/share/libonnx-testdata/data/node ] || need+=(libonnx-testdata)
  /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null || need+=(python3-torch python3-torchvision)
  /usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
  # DeepDetect's Python client (tests/deepdetect-client) imports cv2 and requests.
  /usr/bin/python3 -c 'import cv2, requests' 2>/dev/null || need+=(python3-opencv python3-requests)
  command -v cmake >/dev/null || need+=(cmake)
  command -v c++ >/dev/null || need+=(g++)
  if [ ${#need[@]} -eq 0 ]; then
    echo "setup: everything the tests need is installed"
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need ${need[*]}: run as root or install sudo" >&2; return 1; }
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null || { echo "setup: need ${need[*]}, and there is no apt-get here: install them by hand" >&2; return 1; }
  echo "setup: installing ${need[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

cmd_build() {
  dotnet build TrtNative.sln -c "$config"
  build_native
}

# Sums the <Counters> of every TRX file under $1 and prints "N passed, N failed, N skipped".
# Sets trx_failed and trx_files for the caller.
summarize_trx() {
  local dir="$1" passed=0 failed=0 skipped=0 f line k v total executed
  trx_files=0
  while IFS= read -r -d '' f; do
    trx_files=$((trx_files + 1))
    line="$(grep -o '<Counters [^>]*>' "$f" | head -1)"
    total=0 executed=0
    for k in total executed passed failed error timeout aborted; do
      v="$(sed -n "s/.* $k=\"\([0-9]*\)\".*/\1/p" <<<"$line")"
      v="${v:-0}"
      case "$k" in
        total) total=$v ;;
        executed) executed=$v ;;
        passed) passed=$((passed + v)) ;;
        *) failed=$((failed + v)) ;;
      esac
    done
    # VSTest's TRX counts a skipped test in neither passed nor failed nor notExecuted: it is total - executed.
    skipped=$((skipped + total - executed))
  done < <(find "$dir" -name '*.trx' -print0)
  trx_failed=$failed
  echo "$passed passed, $failed failed, $skipped skipped"
}

cmd_pack() {
  local out="$root/out/packages" lib="$root/build/native/libtrtnative.so" version
  TRTN_REQUIRE_NATIVE=1 build_native
  [ -f "$lib" ] || { echo "pack: $lib was not built" >&2; return 1; }
  version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -1)"
  mkdir -p "$out"
  rm -f "$out"/TrtNative.*.nupkg
  dotnet pack src/TrtNative.Runtime.linux-x64 -c Release -o "$out" -p:TrtnNativeLibrary="$lib"
  # The managed package depends on the native one: restoring that dependency needs the feed just written, and a
  # private packages folder so that no TrtNative package lands in (or is taken from) ~/.nuget/packages.
  NUGET_PACKAGES="$root/out/nuget-pack" dotnet pack src/TrtNative -c Release -o "$out" \
    -p:TrtnPackRuntimeDependency=true -p:RestoreAdditionalProjectSources="$out" \
    -p:RestoreAdditionalProjectFallbackFolders="${HOME}/.nuget/packages"
  # The next ordinary build must not reuse the assets of this restore (other packages folder, extra dependency).
  rm -f src/TrtNative/obj/project.assets.json src/TrtNative/obj/*.nuget.*
  echo "out/packages: $(cd "$out" && ls TrtNative*."$version".nupkg | tr '\n' ' ')"
}

# Writes a TRX file holding one result, so summarize_trx counts a check that is not an xunit test.
# $1: TRX path, $2: test name, $3: passed|failed|skipped, $4: message
write_trx() {
  local total=1 executed=1 passed=0 failed=0 outcome
  case "$3" in
    passed) passed=1; outcome=Passed ;;
    failed) failed=1; outcome=Failed ;;
    *) executed=0; outcome=NotExecuted ;;
  esac
  local msg="${4//&/&amp;}"
  msg="${msg//</&lt;}"
  msg="${msg//>/&gt;}"
  cat >"$1" <<XML
<?xml version="1.0" encoding="utf-8"?>
<TestRun id="$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo 00000000-0000-0000-0000-000000000000)" name="$2" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Results><UnitTestResult testName="$2" outcome="$outcome"><Output><StdOut>$msg</StdOut></Output></UnitTestResult></Results>
  <ResultSummary outcome="$outcome">
    <Counters total="$total" executed="$executed" passed="$passed" failed="$failed" error="0" timeout="0" aborted="0" inconclusive="0" passedButRunAborted="0" notRunnable="0" notExecuted="0" disconnected="0" warning="0" completed="0" inProgress="0" pending="0" />
  </ResultSummary>
</TestRun>
XML
}

# The packages as a user gets them: pack, then a fresh console project outside the solution uses them.
package_test() {
  local results="$1" log="$1/package-test.log"
  if [ "${TRTN_SKIP_PACKAGE_TEST:-0}" = 1 ]; then
    write_trx "$results/package-test.trx" PackageTest skipped "TRTN_SKIP_PACKAGE_TEST=1"
    echo "package test: skipped (TRTN_SKIP_PACKAGE_TEST=1)"
    return 0
  fi
  echo "package test: ./build.sh pack && scripts/package-test.sh (log: $log)"
  if { cmd_pack && scripts/package-test.sh; } >"$log" 2>&1; then
    write_trx "$results/package-test.trx" PackageTest passed "$(tail -20 "$log")"
    echo "package test: passed"
  else
    write_trx "$results/package-test.trx" PackageTest failed "$(tail -40 "$log")"
    echo "package test: FAILED; the end of $log:"
    tail -40 "$log"
  fi
}

cmd_test() {
  local results="$root/TestResults/run-$(date +%Y%m%d-%H%M%S)-$$" rc=0
  cmd_setup
  mkdir -p "$results"
  dotnet test TrtNative.sln -c "$config" --logger trx --results-directory "$results" "$@" || rc=$?
  echo
  package_test "$results"
  summarize_trx "$results"
  if [ "$trx_files" -eq 0 ]; then
    echo "no test results were written (build failure?)" >&2
    return 1
  fi
  if [ "$trx_failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    return 1
  fi
}

cmd_run() { dotnet run --project src/TrtNative.Server -c "$config" -- "$@"; }

cmd_sample() { dotnet run --project src/TrtNative.Sample -c "$config" -- "$@"; }

cmd_bundle() {
  local out="$root/out" stage="$root/out/bundle" limit=$((60 * 1024 * 1024))
  rm -rf "$stage" "$out/bundle.tar.xz"
  mkdir -p "$stage/bin" "$stage/scripts"
  # One folder for both apps: they share the runtime and TrtNative.dll, which keeps the bundle small.
  for p in tests/TrtNative.GpuTests src/TrtNative.Sample; do
    dotnet publish "$p" -c Release -r linux-x64 --self-contained true -o "$stage/bin" \
      -p:GenerateDocumentationFile=false -p:SatelliteResourceLanguages=en
  done
  # native/CMakeLists.txt takes its modules (FindCUDNN.cmake) from ../cmake: both go, side by side.
  # Windows builds of ONNX Runtime come along with the package even for linux-x64 (the Sample's check uses it).
  rm -f "$stage/bin"/onnxruntime*.dll
  cp -r native "$stage/native"
  cp -r cmake "$stage/cmake"
  cp scripts/*.sh "$stage/scripts/"
  cp scripts/*.py "$stage/scripts/" 2>/dev/null || true
  # ONNX backend node tests (1 MiB compressed) for the GPU node tests (TRTN_NODE_TESTS on the GPU host).
  local nodes="${TRTN_NODE_TESTS_SRC:-/usr/share/libonnx-testdata/data/node}"
  [ -d "$nodes" ] && cp -r "$nodes" "$stage/node-tests"
  chmod +x "$stage/scripts/gpu-test.sh" "$stage/bin/TrtNative.GpuTests" "$stage/bin/TrtNative.Sample"
  (cd "$out" && XZ_OPT="-6 -T0" tar -cJf bundle.tar.xz bundle)
  local size
  size=$(stat -c %s "$out/bundle.tar.xz")
  echo "out/bundle.tar.xz: $size bytes ($(awk "BEGIN{printf \"%.1f\", $size/1048576}") MiB, limit 60 MiB)"
  if [ "$size" -ge "$limit" ]; then
    echo "bundle is over 60 MiB" >&2
    return 1
  fi
}

cmd_bundle_server() {
  local out="$root/out" stage="$root/out/server-bundle" limit=$((60 * 1024 * 1024))
  rm -rf "$stage" "$out/server-bundle.tar.xz"
  mkdir -p "$stage/server"
  # TrtNative.Sample first: where it shares a file with the server at a lower version (System.Diagnostics.DiagnosticSource
  # from the runtime pack against the server's 11.0 package), the server's, published later, is the one left.
  for p in src/TrtNative.Sample src/TrtNative.Server tests/TrtNative.Server.Tests demo/gpu/EngineBench; do
    dotnet publish "$p" -c Release -r linux-x64 --self-contained true -o "$stage/server" \
      -p:GenerateDocumentationFile=false -p:SatelliteResourceLanguages=en
  done
  # Windows builds of ONNX Runtime come along with the package even for linux-x64 (17 MB the GPU host never loads).
  rm -f "$stage/server"/*.pdb "$stage/server"/onnxruntime*.dll
  chmod +x "$stage/server/TrtNative.Server" "$stage/server/TrtNative.Server.Tests" "$stage/server/TrtNative.EngineBench" \
    "$stage/server/TrtNative.Sample"
  # The commit the managed code was built from ("-dirty": with uncommitted changes), which the GPU scripts print: the
  # device's copy of the tree cannot say it (its git metadata may be older than its files).
  git -C "$root" describe --always --dirty > "$stage/server/COMMIT" 2>/dev/null || echo "unknown (not a git checkout)" > "$stage/server/COMMIT"
  (cd "$stage" && XZ_OPT="-9 -T0" tar -cJf "$out/server-bundle.tar.xz" server)
  local size
  size=$(stat -c %s "$out/server-bundle.tar.xz")
  echo "out/server-bundle.tar.xz: $size bytes ($(awk "BEGIN{printf \"%.1f\", $size/1048576}") MiB, limit 60 MiB)"
  [ "$size" -lt "$limit" ] || { echo "server bundle is over 60 MiB" >&2; return 1; }
}

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

sub="${1:-}"
[ $# -gt 0 ] && shift
case "$sub" in
  build) cmd_build "$@" ;;
  setup) cmd_setup "$@" ;;
  test) cmd_test "$@" ;;
  pack) cmd_pack "$@" ;;
  run) cmd_run "$@" ;;
  sample) cmd_sample "$@" ;;
  bundle) cmd_bundle "$@" ;;
  bundle-server) cmd_bundle_server "$@" ;;
  -h|--help|help|"") usage ;;
  *) echo "unknown command '$sub'" >&2; usage >&2; exit 2 ;;
esac
