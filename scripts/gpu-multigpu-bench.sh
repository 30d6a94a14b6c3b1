#!/usr/bin/env bash
# Multi-GPU throughput of TrtNative.Server (issue 14's target: 2 GPUs >= 1.8x one GPU for ResNet-50 fp16 at 64 and 256
# concurrent clients). A benchmark, not a test: runs demo/gpu/resnet50_bench.sh (same needs: the server tarball, a
# native build) with THROUGHPUT_ONLY=1 for gpuid 0 and gpuid "all" at CLIENTS=64 and 256, then prints the ratios.
# On a machine with fewer than 2 GPUs it says so and exits 0 without running anything.
# Results: $OUT/multigpu/{gpu0,all}-c{64,256}/resnet50_bench.json and $OUT/multigpu/summary.json.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-$root/out}/multigpu"; mkdir -p "$out"
n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
if [ "${n:-0}" -lt 2 ]; then
  echo "multi-GPU benchmark: needs 2 GPUs, this machine has ${n:-0}; nothing run"
  exit 0
fi
export TRTN_NATIVE_BUILD="${TRTN_NATIVE_BUILD:-/tmp/nb-bench}"  # built once, reused by every run
rc=0
for clients in 64 256; do
  for gpuid in 0 '"all"'; do
    tag=$([ "$gpuid" = 0 ] && echo gpu0 || echo all)-c$clients
    echo "== gpuid $gpuid, $clients clients"
    OUT="$out/$tag" GPUID="$gpuid" CLIENTS=$clients THROUGHPUT_ONLY=1 bash demo/gpu/resnet50_bench.sh > "$out/$tag.log" 2>&1 || rc=1
    grep -E "images/s|throughput|Error|error" "$out/$tag.log" | tail -3
  done
done
python3 - "$out" "$n" <<'PY'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
def ips(tag):
    try:
        return json.load(open(os.path.join(out, tag, "resnet50_bench.json")))["throughput"]["images_per_s"]
    except Exception as e:
        return None
summary = {"gpus": n}
for c in (64, 256):
    one, all_ = ips(f"gpu0-c{c}"), ips(f"all-c{c}")
    summary[f"c{c}"] = {"gpu0_images_per_s": one, "all_images_per_s": all_,
                        "speedup": round(all_ / one, 2) if one and all_ else None}
    print(f"{c} clients: 1 GPU {one} images/s, {n} GPUs {all_} images/s, speedup {summary[f'c{c}']['speedup']} (target >= 1.8 with 2 GPUs)")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
PY
exit $rc
