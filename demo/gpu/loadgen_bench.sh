#!/usr/bin/env bash
# Issue 10's load-generator run on a GPU host without dotnet (a benchmark, not a test), from the repository root:
# TrtNative.Server serving ResNet-50 fp16 (maxBatchSize 128, created with the issue's PUT call as resnet50_bench.py
# does) under `TrtNative.Sample loadgen`:
#   640x480 JPEGs by path at 1,16,64,256 clients; 1920x1080 by path at 1,16,64,256; 640x480 as base64 at 1 and 64;
#   each run also times the engine alone (--engine-plan: the plan the server saved) at the average batch each level
#   formed, so server images/s ÷ engine images/s comes from one run; then 256 clients for 60 s while the server's RSS
#   (/proc) and GPU memory (nvidia-smi) are sampled every 5 s (first/last/max: "memory flat"). Accuracy: a CPU reference
#   service testonnx_cpu (ONNX Runtime, on a copy of the model repository, as resnet50_bench.py makes it) is created
#   next to the GPU service, and a run of its own before the others (accuracy-640x480: one client, 8 requests) first
#   predicts each 640x480 JPEG on both with every class (--reference-service): top-1 agreement and the scores'
#   relative L2, in its log, JSON and the summary; the reference service is deleted after it.
# Needs the server bundle (./build.sh bundle-server: TrtNative.Server, TrtNative.EngineBench and TrtNative.Sample in one
# folder server/) and python3 with torch + torchvision (demo/gpu/export_resnet50.py; the rest is the standard library).
# Usage: bash demo/gpu/loadgen_bench.sh [--cpu]
#   --cpu  no native build, server started with --cpu (mllib tensorrt falls back to ONNX Runtime CPU), no engine
#          figures: checks the flow where there is no GPU (use short durations and fewer clients there).
# Environment (defaults in brackets):
#   OUT                    where the JSON, logs and summary go [out/loadgen]
#   TRTN_SERVER_TAR        the server bundle [.carry/server-bundle.tar.xz]
#   TRTN_SERVER_DIR        an already unpacked server/ folder to use instead of the tarball (gets libtrtnative.so)
#   TRTN_PATCH_DIR         newer managed DLLs laid over the unpacked bundle, if the folder exists [.carry/patch]
#   TRTN_NATIVE_BUILD      native/ build folder, built there (or reused: cmake is incremental) [/tmp/nb-loadgen]
#   TRTN_CUDA_ARCH         CUDA architecture of the native build [90]
#   TRTN_LG_WORK           scratch folder: model archive, model repository, JPEGs, unpacked server [/tmp/lgbench]
#   TRTN_LG_PORT           server port (the model archive is served on PORT+1) [18190]
#   TRTN_LG_SECONDS        measured seconds per concurrency level [10]
#   TRTN_LG_WARMUP         unmeasured seconds before each level [2]
#   TRTN_LG_LEVELS         concurrency levels of the by-path runs [1,16,64,256]
#   TRTN_LG_1080P_LEVELS   concurrency levels of the 1920x1080 by-path run (empty: no such run) [TRTN_LG_LEVELS]
#   TRTN_LG_BASE64_LEVELS  concurrency levels of the 640x480 base64 run (empty: no such run) [1,64]
#   TRTN_LG_SOAK_SECONDS   the memory run's measured seconds (0: no memory run) [60]
#   TRTN_LG_SOAK_CLIENTS   the memory run's clients [256]
#   TRTN_LG_SAMPLE_SECONDS memory sampling period [5]
#   TRTN_LG_BUILD_LIMIT    seconds to wait for the engine build [600]
#   TRTN_LG_ACCURACY       0: no CPU reference service and no accuracy check [1]
#   TRTN_LG_DECODE_SECONDS measured seconds per decodebench line before the server starts (0: none) [2]
#   TRTN_LG_DECODERS       decodebench's numbers of concurrent decoders, before the server starts [1,2]
#   TRTN_LG_DECODE_ENGINE  1: after the load, decodebench again with the service's engine plan running on another
#                          stream (how much decoding and the engine slow each other down) [1]
#   TRTN_LG_ENGINE_DECODERS that run's numbers of concurrent decoders [1,2]
#   TRTN_LG_DECODE_ENGINE_ENV A/Bs of that run: once more for each ";"-separated group of VAR=value settings (e.g.
#                          "TRTN_JPEG_PREALLOCATE=1"), logged to OUT/decodebench-engine-d1.log, -d2, ... [none]
#   TRTN_LG_B_ENV          A/Bs: after everything else, for each ";"-separated group of VAR=value settings the server is
#                          restarted with them added to its environment (e.g. "TrtNative__GpuBatchesInFlight=3;
#                          TrtNative__JpegDecodersPerBatch=2"), the service created again (its plan is read back from
#                          the repository) and the 640x480 by-path run repeated ("path-640x480-b1", "-b2", ...: the
#                          server's log and the service's JSON under OUT/b1, OUT/b2, ...) [none]
#   TRTN_LG_B_LEVELS       that run's concurrency levels [64]
#   GPUID                  parameters.mllib.gpuid as JSON [0]
#   PYTHON                 [python3]
# Prints the loadgen tables, then a summary (with the ratio server/engine at 64 clients 640x480 and the accuracy line)
# written also to OUT/loadgen_summary.json. Exit status: 0 when the service came up, every loadgen run measured
# something and (unless TRTN_LG_ACCURACY=0) the accuracy check could be made.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="$(mkdir -p "${OUT:-$root/out/loadgen}" && cd "${OUT:-$root/out/loadgen}" && pwd)"
# A reused OUT: an earlier run's reports would read as this one's in the summary.
rm -rf "$out"/loadgen-*.json "$out"/loadgen-*.log "$out"/b "$out"/b[0-9]* "$out"/loadgen_summary.json "$out"/memory.csv "$out"/reference_service.json \
  "$out"/decodebench-engine*.log
work="${TRTN_LG_WORK:-/tmp/lgbench}"; mkdir -p "$work"; work="$(cd "$work" && pwd)"
cpu=""; [ "${1:-}" = "--cpu" ] && cpu="--cpu"
py="${PYTHON:-python3}"
tarball="${TRTN_SERVER_TAR:-$root/.carry/server-bundle.tar.xz}"
port="${TRTN_LG_PORT:-18190}"; http_port=$((port + 1))
secs="${TRTN_LG_SECONDS:-10}"; warm="${TRTN_LG_WARMUP:-2}"
levels="${TRTN_LG_LEVELS:-1,16,64,256}"; hd_levels="${TRTN_LG_1080P_LEVELS-$levels}"; b64_levels="${TRTN_LG_BASE64_LEVELS-1,64}"
soak_secs="${TRTN_LG_SOAK_SECONDS:-60}"; soak_clients="${TRTN_LG_SOAK_CLIENTS:-256}"; period="${TRTN_LG_SAMPLE_SECONDS:-5}"
build_limit="${TRTN_LG_BUILD_LIMIT:-600}"
url="http://127.0.0.1:$port"
t0=$SECONDS
echo "== $(date -u '+%F %T')"
[ -z "$cpu" ] && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader

echo "== server bundle"
if [ -n "${TRTN_SERVER_DIR:-}" ]; then
  srv="$(cd "$TRTN_SERVER_DIR" && pwd)" || exit 1
else
  rm -rf "$work/srv" && mkdir -p "$work/srv" && tar -xJf "$tarball" -C "$work/srv" || exit 1
  srv="$work/srv/server"
  patch="${TRTN_PATCH_DIR:-$root/.carry/patch}"
  [ -d "$patch" ] && cp "$patch"/* "$srv/" && echo "patched: $(ls "$patch" | tr '\n' ' ')"
fi
for exe in TrtNative.Server TrtNative.Sample; do
  [ -f "$srv/$exe" ] || { echo "$srv/$exe is missing: is this a ./build.sh bundle-server bundle?" >&2; exit 1; }
  chmod +x "$srv/$exe"
done
echo "server bundle built at commit $(cat "$srv/COMMIT" 2>/dev/null || echo "unknown (an older bundle without COMMIT)")"
if [ -z "$cpu" ]; then
  echo "== native build"
  bash scripts/native-release.sh "${TRTN_NATIVE_BUILD:-/tmp/nb-loadgen}" "$srv/libtrtnative.so" "$out/native.log" || exit 1
  echo "native built ($((SECONDS - t0)) s so far)"
fi

if [ -z "$cpu" ] && [ "${TRTN_LG_DECODE_SECONDS:-2}" != 0 ]; then
  # The ceiling of the server's GPU image path, without a server: nvJPEG decode + resize per batch size and number of
  # concurrent decoders, and SkiaSharp on the host's cores (the CPU fallback).
  echo "== decode ceiling: TrtNative.Sample decodebench"
  "$srv/TrtNative.Sample" decodebench --synthetic 640x480,1920x1080 --batch 16,32,64,128,12-28 --decoders "${TRTN_LG_DECODERS:-1,2}" \
    --duration "${TRTN_LG_DECODE_SECONDS:-2}s" 2>&1 | tee "$out/decodebench.log"
  echo "decodebench done ($((SECONDS - t0)) s so far)"
fi

echo "== model"
[ -f "$work/www/resnet_50_onnx.tar.gz" ] || "$py" demo/gpu/export_resnet50.py "$work/www" 2>&1 | tail -2
[ -f "$work/www/resnet_50_onnx.tar.gz" ] || { echo "no model archive in $work/www" >&2; exit 1; }
echo "model ready ($((SECONDS - t0)) s so far)"

echo "== server"
pids=()
cleanup() {
  # Only the processes started here, by their ids; the server gets a TERM first so that it can shut down cleanly.
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$py" -m http.server "$http_port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
rm -rf "$work/model" && mkdir -p "$work/model"  # a fresh repository: the engine is built, as in resnet50_bench.py
# start_server LOG [VAR=value...]: the server in the background with those settings added to its environment.
start_server() {
  local log="$1"; shift
  env "$@" "$srv/TrtNative.Server" --port "$port" --allowed-root "$work" --model-root "$work" --build-wait-seconds 600 $cpu >"$log" 2>&1 &
  spid=$!
  pids+=("$spid")
  echo "server pid $spid: $* $srv/TrtNative.Server --port $port --allowed-root $work --model-root $work --build-wait-seconds 600 $cpu"
}
start_server "$out/server.log"

# The issue's service creation, verbatim but for the two paths (the body resnet50_bench.py sends); prints the plan.
# create_service DIR [REFERENCE]: create.json and service.json go to DIR. With REFERENCE, the accuracy check's CPU
# reference (resnet50_bench.py's testonnx_cpu) is created next, once the GPU service is ready: the same body with mllib
# "onnxruntime" and no model.init, on a copy of the GPU service's model.onnx and corresp.txt; DIR/reference_service.json
# gets its state, and its failure leaves the GPU service's run going (the shell reads that file).
create_service() {
PORT="$port" HTTP_PORT="$http_port" REPO="$work/model/" CPU_REPO="$work/model_cpu" OUT="$1" REFERENCE="${2:-}" CPU="$cpu" \
  BUILD_LIMIT="$build_limit" GPUID="${GPUID:-0}" "$py" - <<'EOF'
import copy, http.client, json, os, shutil, sys, time
port, http_port, repo, out = int(os.environ["PORT"]), int(os.environ["HTTP_PORT"]), os.environ["REPO"], os.environ["OUT"]
def call(method, path, body=None, p=port):
    c = http.client.HTTPConnection("127.0.0.1", p, timeout=600)
    c.request(method, path, body=None if body is None else json.dumps(body).encode(), headers={"Content-Type": "application/json"} if body else {})
    r = c.getresponse(); text = r.read()
    return r.status, (json.loads(text) if text and r.getheader("Content-Type", "").startswith("application/json") else text)
def wait(p, path, seconds):
    for _ in range(int(seconds * 5)):
        try:
            if call("GET", path, p=p)[0] == 200: return
        except OSError: pass
        time.sleep(0.2)
    sys.exit(f"nothing answered on port {p}{path} in {seconds} s")
wait(http_port, "/", 30)
wait(port, "/info", 60)
create = {"description": "image classification", "mllib": "tensorrt",
          "model": {"init": f"http://127.0.0.1:{http_port}/resnet_50_onnx.tar.gz", "repository": repo},
          "parameters": {"input": {"connector": "image", "height": 224, "rgb": True, "scale": 0.0039, "width": 224},
                         "mllib": {"gpuid": json.loads(os.environ["GPUID"]), "maxBatchSize": 128, "datatype": "fp16",
                                   "maxWorkspaceSize": 6096, "nclasses": 1000}},
          "type": "supervised"}
json.dump(create, open(os.path.join(out, "create.json"), "w"), indent=1)
def create_and_wait(name, body, saved_as):
    """PUT /services/NAME, then its state once it is no longer building (with seconds_to_ready), also in OUT/saved_as."""
    t0 = time.time()
    st, answer = call("PUT", f"/services/{name}", body)
    print(f"PUT /services/{name} ->", st, json.dumps(answer) if isinstance(answer, dict) else answer, file=sys.stderr)
    if st != 201: sys.exit(f"service {name} was not created")
    while True:
        st, s = call("GET", f"/services/{name}")
        if st != 200 or not isinstance(s, dict): sys.exit(f"GET /services/{name} -> {st}")
        s = s["body"]
        if s.get("state") != "building": break
        if time.time() - t0 > float(os.environ["BUILD_LIMIT"]): sys.exit(f"service {name} took too long to build (TRTN_LG_BUILD_LIMIT)")
        time.sleep(0.5)
    s["seconds_to_ready"] = round(time.time() - t0, 3)
    json.dump(s, open(os.path.join(out, saved_as), "w"), indent=1)
    return s
s = create_and_wait("testonnx", create, "service.json")
print("service", json.dumps({k: s.get(k) for k in ("state", "backend", "backend_reason", "jpeg_decode", "engine_build_seconds",
                                                   "engine_file", "gpu_memory_bytes", "error", "seconds_to_ready")}), file=sys.stderr)
if s.get("state") != "ready": sys.exit("the service is not ready")
if not os.environ["CPU"] and s.get("backend") != "trtnative-gpu": sys.exit("the service is not on the GPU backend")
plan = s.get("engine_file") or ""
if plan and not os.path.isabs(plan): plan = os.path.join(repo, plan)  # service_stats gives the plan's name in the repository
if os.environ["REFERENCE"]:
    try:  # whatever goes wrong here, the GPU service's runs go on (the shell finds no ready reference_service.json)
        cpu_repo = os.environ["CPU_REPO"]
        shutil.rmtree(cpu_repo, ignore_errors=True)
        os.makedirs(cpu_repo)
        for f in ("model.onnx", "corresp.txt"):
            shutil.copy(os.path.join(repo, f), cpu_repo)
        reference = copy.deepcopy(create)
        reference["mllib"] = "onnxruntime"
        del reference["model"]["init"]
        reference["model"]["repository"] = cpu_repo
        r = create_and_wait(os.environ["REFERENCE"], reference, "reference_service.json")
        print("reference service", json.dumps({k: r.get(k) for k in ("state", "backend", "error", "seconds_to_ready")}), file=sys.stderr)
    except (SystemExit, Exception) as e:
        print(f"reference service: {e!r}", file=sys.stderr)
print(plan)
EOF
}
accuracy="${TRTN_LG_ACCURACY:-1}"
plan="$(create_service "$out" "$([ "$accuracy" != 0 ] && echo testonnx_cpu)")" \
  || { echo "service creation failed; server log tail:"; tail -30 "$out/server.log"; exit 1; }
engine=()
if [ -n "$plan" ] && [ -f "$plan" ]; then engine=(--engine-plan "$plan"); echo "engine plan: $plan"
else echo "no engine plan on disk ('$plan'): no engine figures${cpu:+ (--cpu: the service runs on ONNX Runtime CPU)}"; fi
echo "service ready ($((SECONDS - t0)) s so far)"

rc=0
reference=()
if [ "$accuracy" != 0 ]; then
  if "$py" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])).get("state") != "ready")' "$out/reference_service.json" 2>/dev/null; then
    reference=(--reference-service testonnx_cpu)
  else
    echo "the accuracy check's reference service testonnx_cpu is not ready: no accuracy check; server log tail:"
    tail -30 "$out/server.log"; rc=1
  fi
fi
# loadgen NAME SIZE LEVELS [EXTRA...]: one loadgen run, its JPEGs under WORK (the server's --allowed-root).
loadgen() {
  local name="$1" size="$2" lv="$3"; shift 3
  echo "== loadgen $name: $size, clients $lv $* ($((SECONDS - t0)) s so far)"
  "$srv/TrtNative.Sample" loadgen --url "$url" --service testonnx --concurrency "$lv" --duration "${secs}s" --warmup "${warm}s" \
    --synthetic "$size" --synthetic-dir "$work/img-$size" --json "$out/loadgen-$name.json" "$@" >"$out/loadgen-$name.log" 2>&1 &
  local lg=$! r
  pids+=("$lg")  # in the background: a TERM is then handled at once (bash runs traps only between commands)
  wait "$lg"; r=$?
  sed -n '/^loadgen http/,$p' "$out/loadgen-$name.log"
  [ $r -eq 0 ] || { echo "loadgen $name: rc $r"; tail -5 "$out/loadgen-$name.log"; rc=1; }
}
# The accuracy check in a run of its own (one client, a few requests): a failed check must not cost the table's runs.
# The reference service is then deleted, so that its ONNX Runtime session is not in the memory run's figures.
if [ ${#reference[@]} -gt 0 ]; then
  loadgen accuracy-640x480 640x480 1 --max-requests 8 "${reference[@]}"
  "$py" -c 'import http.client, sys; c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("DELETE", "/services/testonnx_cpu"); print("DELETE /services/testonnx_cpu ->", c.getresponse().status)' "$port"
fi
loadgen path-640x480 640x480 "$levels" "${engine[@]}"
[ -n "$hd_levels" ] && loadgen path-1920x1080 1920x1080 "$hd_levels" "${engine[@]}"
[ -n "$b64_levels" ] && loadgen base64-640x480 640x480 "$b64_levels" --base64 "${engine[@]}"

# Memory under sustained load: the server's RSS and its GPU memory (and the GPU's total, in case the process list
# does not show the server's pid, as inside some containers), before, every PERIOD s during, and after the run.
mem="$out/memory.csv"
gpu_index="${GPUID:-0}"; [[ "$gpu_index" =~ ^[0-9]+$ ]] || gpu_index=0  # "all" or a list: GPU 0's total
sample() {
  local rss gproc="" gtotal=""
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$spid/status" 2>/dev/null)
  if [ -z "$cpu" ]; then
    gproc=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null | awk -F', *' -v p="$spid" '$1==p{print $2}')
    gtotal=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$gpu_index" 2>/dev/null | head -1)
  fi
  echo "$1,$((SECONDS - soak_t0)),${rss:-},${gproc:-},${gtotal:-}" >>"$mem"
}
if [ "$soak_secs" -gt 0 ]; then
  echo "== loadgen soak-640x480: $soak_clients clients for $soak_secs s, memory every $period s ($((SECONDS - t0)) s so far)"
  echo "phase,t_s,server_rss_kib,server_gpu_mib,gpu_used_mib" >"$mem"
  soak_t0=$SECONDS
  sample before
  "$srv/TrtNative.Sample" loadgen --url "$url" --service testonnx --concurrency "$soak_clients" --duration "${soak_secs}s" --warmup "${warm}s" \
    --synthetic 640x480 --synthetic-dir "$work/img-640x480" --json "$out/loadgen-soak-640x480.json" >"$out/loadgen-soak-640x480.log" 2>&1 &
  lg=$!
  pids+=("$lg")
  while kill -0 "$lg" 2>/dev/null; do
    sleep "$period"
    kill -0 "$lg" 2>/dev/null && sample load
  done
  wait "$lg"; r=$?
  sample after
  sed -n '/^loadgen http/,$p' "$out/loadgen-soak-640x480.log"
  [ $r -eq 0 ] || { echo "loadgen soak: rc $r"; tail -5 "$out/loadgen-soak-640x480.log"; rc=1; }
fi
kill -0 "$spid" 2>/dev/null || { echo "the server is no longer running; log tail:"; tail -30 "$out/server.log"; rc=1; }

# Decoding next to the engine (the server idle): what one lane's decoding costs the other lane's engine run and back.
if [ -z "$cpu" ] && [ "${TRTN_LG_DECODE_ENGINE:-1}" = 1 ] && [ -n "${plan:-}" ] && [ -f "$plan" ]; then
  # The first run as the server runs; then once more for each ";"-separated group of TRTN_LG_DECODE_ENGINE_ENV.
  IFS=';' read -r -a d_groups <<<";${TRTN_LG_DECODE_ENGINE_ENV:-}"
  for d in "${!d_groups[@]}"; do
    [ "$d" -gt 0 ] && [ -z "${d_groups[$d]// /}" ] && continue
    for w in ${d_groups[$d]}; do
      [[ "$w" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || { echo "TRTN_LG_DECODE_ENGINE_ENV: '$w' is not VAR=value; group skipped"; continue 2; }
    done
    log="$out/decodebench-engine.log"; [ "$d" -gt 0 ] && log="$out/decodebench-engine-d$d.log"
    echo "== decode next to the engine: decodebench --engine-plan ${d_groups[$d]:+with ${d_groups[$d]} }($((SECONDS - t0)) s so far)"
    # shellcheck disable=SC2086 # the group is a list of VAR=value words
    env ${d_groups[$d]} "$srv/TrtNative.Sample" decodebench --synthetic 640x480 --batch 16,12-28 \
      --decoders "${TRTN_LG_ENGINE_DECODERS:-1,2}" --cpu-threads 0 --duration 1s --engine-plan "$plan" --engine-batch 20 2>&1 | tee "$log"
  done
fi

# The A/Bs: the same service under a server with other settings, at the 640x480 by-path levels of TRTN_LG_B_LEVELS.
IFS=';' read -r -a b_groups <<<"${TRTN_LG_B_ENV:-}"
b=0
for group in "${b_groups[@]}"; do
  read -r -a b_env <<<"$group"
  [ ${#b_env[@]} -gt 0 ] || continue
  b=$((b + 1))
  echo "== A/B b$b: the server again with ${b_env[*]} ($((SECONDS - t0)) s so far)"
  kill "$spid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$spid" 2>/dev/null
  mkdir -p "$out/b$b"
  echo "${b_env[*]}" >"$out/b$b/settings.txt"
  start_server "$out/b$b/server.log" "${b_env[@]}"
  if create_service "$out/b$b" >/dev/null; then
    loadgen "path-640x480-b$b" 640x480 "${TRTN_LG_B_LEVELS:-64}" "${engine[@]}"
  else
    echo "A/B b$b: service creation failed; server log tail:"; tail -30 "$out/b$b/server.log"; rc=1
  fi
done

echo "== summary ($((SECONDS - t0)) s in all)"
OUT="$out" ACCURACY="$accuracy" "$py" - <<'EOF'
import csv, json, os
out = os.environ["OUT"]
summary = {"runs": [], "memory": None, "accuracy": None}
print(f"{'run':<20} {'clients':>7} {'images/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'avg batch':>9} {'engine img/s':>13} {'srv/eng':>7}")
import re
b_runs = sorted((m.group(1) for m in (re.fullmatch(r"loadgen-(path-640x480-b(\d+))\.json", f) for f in os.listdir(out)) if m),
                key=lambda n: int(n.rsplit("-b", 1)[1]))
for name in ["path-640x480", "path-1920x1080", "base64-640x480", "soak-640x480"] + b_runs:
    p = os.path.join(out, f"loadgen-{name}.json")
    if not os.path.exists(p):
        if os.path.exists(os.path.join(out, f"loadgen-{name}.log")): print(f"{name:<20} (no report: see loadgen-{name}.log)")
        continue
    settings = os.path.join(out, name.rsplit("-", 1)[1], "settings.txt") if name in b_runs else None
    if settings and os.path.exists(settings): print(f"{name}: {open(settings).read().strip()}")
    r = json.load(open(p))
    for l in r["levels"]:
        lat, eng, b = l.get("latency_ms") or {}, l.get("engine"), l["server"].get("avg_batch_size")
        ratio = round(l["images_per_second"] / eng["images_per_second"], 3) if eng and eng["images_per_second"] else None
        row = {"run": name, "clients": l["concurrency"], "images_per_second": l["images_per_second"], "p50_ms": lat.get("p50"),
               "p99_ms": lat.get("p99"), "errors": l["errors"], "avg_batch": b, "engine_batch": eng and eng["batch"],
               "engine_images_per_second": eng and eng["images_per_second"], "server_over_engine": ratio}
        summary["runs"].append(row)
        f = lambda v, spec: "-" if v is None else format(v, spec)
        e = "-" if not eng else f"{eng['images_per_second']:.0f} @{eng['batch']}"
        print(f"{name:<20} {l['concurrency']:>7} {l['images_per_second']:>9.1f} {f(lat.get('p50'), '.2f'):>7} {f(lat.get('p99'), '.2f'):>7} "
              f"{l['errors']:>6} {f(b, '.2f'):>9} {e:>13} {f(ratio, '.3f'):>7}")
    for l in r["levels"]:
        st = l.get("stages")
        if st:
            g = lambda k: "-" if st.get(k) is None else f"{st[k]:.3f}"
            print(f"  {name} {l['concurrency']} clients, server side ms: queue {g('queue_ms')}, request {g('request_ms')}; per batch: "
                  f"run {g('batch_run_ms')} = host_submit {g('host_submit_ms')} + gpu_prepare {g('gpu_prepare_ms')} (of which decode {g('gpu_decode_ms')}) + gpu_engine "
                  f"{g('gpu_engine_ms')} (overlapping); share of time in host_submit {g('host_submit_busy')}")
    if (r.get("engine") or {}).get("error"):
        print(f"  {name}: engine: {r['engine']['error']}")
at64 = [x for x in summary["runs"] if x["run"] == "path-640x480" and x["clients"] == 64]
summary["ratio_64_clients_640x480"] = at64[0]["server_over_engine"] if at64 else None
ratio = summary["ratio_64_clients_640x480"]
print("server/engine at 64 clients 640x480 by path:", ratio if ratio is not None else
      "not measured" + (" (no engine figure)" if at64 else " (no 64-client level)"), "(target >= 0.8)")
# The accuracy check (the run accuracy-640x480, --reference-service): its report's "accuracy", or the error its log ends
# with; no log: the run never started, because the reference service was not ready.
check = os.path.join(out, "loadgen-accuracy-640x480")
acc = json.load(open(check + ".json")).get("accuracy") if os.path.exists(check + ".json") else None
if acc:
    summary["accuracy"] = {k: acc[k] for k in ("reference_service", "images", "top1_agree", "rel_l2_max", "rel_l2_mean")}
    g = lambda v: v if isinstance(v, str) else format(v, ".3g")  # "NaN" and "Infinity" come as strings
    print(f"accuracy vs reference service {acc['reference_service']}: top-1 agrees on {acc['top1_agree']}/{acc['images']} images, "
          f"rel L2 max {g(acc['rel_l2_max'])} (mean {g(acc['rel_l2_mean'])}) (per image: loadgen-accuracy-640x480.json)")
elif os.environ["ACCURACY"] == "0":
    print("accuracy: not checked (TRTN_LG_ACCURACY=0)")
else:
    ran = os.path.exists(check + ".log")
    errors = [l.strip() for l in open(check + ".log", errors="replace") if l.startswith("loadgen: accuracy vs reference service")] if ran else []
    summary["accuracy"] = {"error": errors[-1] if errors else "not checked: " + (
        "loadgen-accuracy-640x480 has no report (see its log)" if ran else "the reference service could not be created")}
    print("accuracy:", summary["accuracy"]["error"])
mp = os.path.join(out, "memory.csv")
if os.path.exists(mp):
    rows = list(csv.DictReader(open(mp)))
    mem = {}
    for col in ("server_rss_kib", "server_gpu_mib", "gpu_used_mib"):
        v = [(r["t_s"], int(r[col])) for r in rows if r[col]]
        if v:
            mem[col] = {"first": v[0][1], "last": v[-1][1], "max": max(x for _, x in v), "samples": len(v)}
    summary["memory"] = mem
    for col, m in mem.items():
        print(f"memory {col}: first {m['first']}, last {m['last']}, max {m['max']} ({m['samples']} samples; memory.csv)")
    if not mem:
        print("memory: no samples")
json.dump(summary, open(os.path.join(out, "loadgen_summary.json"), "w"), indent=1)
EOF
echo "== done rc $rc in $((SECONDS - t0)) s; JSON and logs in $out"
exit $rc
