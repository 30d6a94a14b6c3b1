#!/usr/bin/env python3
"""ResNet-50 fp16 benchmark of TrtNative.Server (run by resnet50_bench.sh; a benchmark, not a test).

Usage: resnet50_bench.py SERVER PORT WORK OUT [--cpu] [--engine-bench EXE]
  SERVER  the server executable; WORK holds www/resnet_50_onnx.tar.gz (export_resnet50.py); OUT gets the JSON + logs.
  --cpu   start the server with --cpu (mllib "tensorrt" then falls back to ONNX Runtime CPU with a stated reason):
          the same flow with fewer requests, to check the script where there is no GPU.

Steps: serve the model archive over loopback HTTP; start the server; create the service with the issue's exact call;
wait for the engine build; check the fp16 maxBatchSize-128 GPU service against an ONNX Runtime CPU service of the
same model (8 images, all classes) and a 128-image predict against single predicts; 200 sequential single-JPEG
predicts after 20 warm-ups (head.time and client round trip, p50/p99); 64 concurrent keep-alive clients sending
single-image predicts for DURATION s (images/s, average engine batch from service_stats); stop the server; the
engine's raw throughput (TrtNative.EngineBench on the plan the server saved) at the batch the server reached, 64 and
128; PyTorch fp16 eager throughput (NCHW and channels_last) at the same batch sizes; the latency and throughput phases
again on a server started with --gpu-decode false (every JPEG decoded on the CPU: the A/B of the GPU JPEG path) and
with --gpu-lanes 1 (the A/B of the concurrent GPU lanes).
The JPEGs are IMG=WxH (default 640x480). Prints a table last and writes OUT/resnet50_bench.json after every step.
"""
import http.client, json, math, multiprocessing as mp, os, shutil, subprocess, sys, threading, time
import numpy as np
from PIL import Image

args = sys.argv[1:]
CPU = "--cpu" in args
ENGINE_BENCH = args[args.index("--engine-bench") + 1] if "--engine-bench" in args else None
pos = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--engine-bench")]
SERVER, PORT, WORK, OUT = pos[0], int(pos[1]), os.path.abspath(pos[2]), os.path.abspath(pos[3])
HTTP_PORT = PORT + 1
N_WARM, N_SEQ = 20, int(os.environ.get("N_SEQ", 40 if CPU else 200))
CLIENTS = int(os.environ.get("CLIENTS", 64))
# parameters.mllib.gpuid as JSON (0, [0,1], "all"): scripts/gpu-multigpu-bench.sh compares one GPU with all of them.
GPUID = json.loads(os.environ.get("GPUID", "0"))
# 1: stop after the concurrent-clients throughput (no engine or PyTorch runs), for repeated runs.
THROUGHPUT_ONLY = os.environ.get("THROUGHPUT_ONLY") == "1"
DURATION = float(os.environ.get("DURATION", 4 if CPU else 15))
BIG = int(os.environ.get("BIG", 16 if CPU else 128))
REPO = os.path.join(WORK, "model") + "/"
# The predicts' JPEG size (IMG=WxH): photos arrive at about 640x480; 224x224 skips most of the decode and resize work.
IMG_W, IMG_H = (int(v) for v in os.environ.get("IMG", "640x480").split("x"))
res = {"mode": "cpu-fallback" if CPU else "gpu", "started": time.strftime("%Y-%m-%d %H:%M:%S")}
procs = []


def save():
    with open(os.path.join(OUT, "resnet50_bench.json"), "w") as f:
        json.dump(res, f, indent=1)


def log(*a):
    print(*a, flush=True)


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port=PORT):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, path, body=None, retry=False):
        data = None if body is None else json.dumps(body).encode()
        try:
            self.c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = self.c.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            if not retry:
                raise
            self.c.close()  # the server closed the keep-alive connection: one retry on a new one
            self.reconnects = getattr(self, "reconnects", 0) + 1
            self.c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            r = self.c.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text else None)


def wait_http(port, path, seconds):
    for _ in range(int(seconds * 5)):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}")


def jpeg(path, seed, w=IMG_W, h=IMG_H):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * (seed % 7 + 1)) % 256, (yy * (seed % 5 + 1)) % 256, rng.integers(0, 256, (h, w))], -1)
    Image.fromarray(img.astype(np.uint8)).save(path, format="JPEG", quality=90)


def pct(v, q):
    return round(float(np.percentile(np.asarray(v), q)), 3)


def stats(c, name="testonnx"):
    st, s = c.call("GET", f"/services/{name}", retry=True)
    return s["body"]


# --- setup: model archive over loopback HTTP, images, server --------------------------------------------------------
os.makedirs(OUT, exist_ok=True)
shutil.rmtree(REPO, ignore_errors=True)
os.makedirs(REPO)
img_dir = os.path.join(WORK, "img")
os.makedirs(img_dir, exist_ok=True)
images = [os.path.join(img_dir, f"img_{i}.jpg") for i in range(16)]
for i, p in enumerate(images):
    jpeg(p, i)
image = images[0]
procs.append(subprocess.Popen([sys.executable, "-m", "http.server", str(HTTP_PORT), "--bind", "127.0.0.1", "--directory",
                               os.path.join(WORK, "www")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
server_log = open(os.path.join(OUT, "server.log"), "w")
cmd = [SERVER, "--port", str(PORT), "--allowed-root", WORK, "--model-root", WORK, "--build-wait-seconds", "600"] + (["--cpu"] if CPU else [])
res["server_command"] = " ".join(cmd)
server = subprocess.Popen(cmd, stdout=server_log, stderr=subprocess.STDOUT)
procs.append(server)
import atexit
atexit.register(lambda: [p.kill() for p in procs if p.poll() is None])
wait_http(HTTP_PORT, "/", 30)
wait_http(PORT, "/info", 60)

# --- the issue's service creation, verbatim but for the two paths -----------------------------------------------------
create = {"description": "image classification", "mllib": "tensorrt",
          "model": {"init": f"http://127.0.0.1:{HTTP_PORT}/resnet_50_onnx.tar.gz", "repository": REPO},
          "parameters": {"input": {"connector": "image", "height": 224, "rgb": True, "scale": 0.0039, "width": 224},
                         "mllib": {"gpuid": GPUID, "maxBatchSize": 128, "datatype": "fp16", "maxWorkspaceSize": 6096, "nclasses": 1000}},
          "type": "supervised"}
res["create_body"] = create
c = Client()
t0 = time.time()
st, body = c.call("PUT", "/services/testonnx", create)
res["create"] = {"http": st, "answer": body, "seconds": round(time.time() - t0, 3)}
log("PUT /services/testonnx ->", st, json.dumps(body))
assert st == 201, body
BUILD_LIMIT = float(os.environ.get("BUILD_LIMIT", 240))
while True:
    s = stats(c)
    if s.get("state") != "building":
        break
    if time.time() - t0 > BUILD_LIMIT:
        res["service"] = {"state": "building", "gave_up_after_s": BUILD_LIMIT}
        save()
        raise SystemExit(f"the engine build took over {BUILD_LIMIT} s; gave up (BUILD_LIMIT)")
    time.sleep(0.5)
res["service"] = {k: s.get(k) for k in ("state", "backend", "backend_reason", "jpeg_decode", "engine_build_seconds", "engine_source",
                                        "engine_file", "gpu_memory_bytes", "error", "input_tensor", "output_tensor")}
res["service"]["seconds_to_ready"] = round(time.time() - t0, 3)
log("service", json.dumps(res["service"]))
save()
assert s["state"] == "ready", s
if not CPU:
    assert s.get("backend") == "trtnative-gpu", s

predict = {"data": [image], "parameters": {"input": {"height": 224, "width": 224}, "output": {"best": 1}}, "service": "testonnx"}
st, body = c.call("POST", "/predict", predict)
res["first_predict"] = {"http": st, "answer": body}
log("POST /predict ->", st, json.dumps(body))
assert st == 200, body


# --- correctness of the fp16 bs128 service: vs ONNX Runtime CPU, and a BIG-image predict vs single predicts ----------
def scores(answer):
    out = []
    for p in answer["body"]["predictions"]:
        d = {int(cl["cat"].split("_")[1]): cl["prob"] for cl in p["classes"]}
        out.append(np.array([d[k] for k in range(1000)]))
    return np.stack(out)


def all_classes(name, data):
    st, body = c.call("POST", "/predict", {"service": name, "data": data,
                                           "parameters": {"output": {"best": -1, "confidence_threshold": -1e30}}})
    assert st == 200, body
    return scores(body)


cpu_repo = os.path.join(WORK, "model_cpu")
shutil.rmtree(cpu_repo, ignore_errors=True)
os.makedirs(cpu_repo)
for f in ("model.onnx", "corresp.txt"):
    shutil.copy(os.path.join(REPO, f), cpu_repo)
cpu_body = json.loads(json.dumps(create))
cpu_body["mllib"] = "onnxruntime"
del cpu_body["model"]["init"]
cpu_body["model"]["repository"] = cpu_repo
st, body = c.call("PUT", "/services/testonnx_cpu", cpu_body)
assert st == 201, body
while stats(c, "testonnx_cpu").get("state") == "building":
    time.sleep(0.2)
eight = images[:8]
ref = all_classes("testonnx_cpu", eight)
got = all_classes("testonnx", eight)
big = [images[i % len(images)] for i in range(BIG)]
single = {p: all_classes("testonnx", [p])[0] for p in images}
batched = all_classes("testonnx", big)
res["check"] = {
    "vs_onnxruntime_cpu_relative_l2": float(np.linalg.norm(got - ref) / np.linalg.norm(ref)),
    "vs_onnxruntime_cpu_top1_agree": int((got.argmax(1) == ref.argmax(1)).sum()), "of": len(eight),
    "big_request_images": BIG,
    "big_vs_single_max_rel_diff": float(max(np.abs(batched[i] - single[p]).max() / np.abs(single[p]).max() for i, p in enumerate(big))),
    "big_top1_equal_single": int(sum(batched[i].argmax() == single[p].argmax() for i, p in enumerate(big))),
}
log("check", json.dumps(res["check"]))
# The CPU reference service stays (idle) unless DELETE_CPU_SERVICE=1. (The server crashes first seen around this
# DELETE were the ONNX Runtime RunOptions lifetime bug fixed in OnnxRuntimeBackend, not the deletion.)
if os.environ.get("DELETE_CPU_SERVICE") == "1":
    st, body = c.call("DELETE", "/services/testonnx_cpu")
    res["check"]["delete_cpu_service"] = st
save()
c = Client()  # a fresh keep-alive connection for the timed loop

# --- latency: sequential single-JPEG predicts over one keep-alive connection ------------------------------------------
def latency_loop(cl):
    head, rtt = [], []
    for i in range(N_WARM + N_SEQ):
        t = time.perf_counter()
        st, body = cl.call("POST", "/predict", predict)
        dt = (time.perf_counter() - t) * 1000
        assert st == 200, body
        if i >= N_WARM:
            head.append(body["head"]["time"])
            rtt.append(dt)
    return {"requests": N_SEQ, "warmup": N_WARM,
            "head_time_ms": {"p50": pct(head, 50), "p99": pct(head, 99), "mean": round(float(np.mean(head)), 3)},
            "round_trip_ms": {"p50": pct(rtt, 50), "p99": pct(rtt, 99), "mean": round(float(np.mean(rtt)), 3)}}


res["latency"] = latency_loop(c)
log("latency", json.dumps(res["latency"]))
save()


# --- throughput: 64 concurrent keep-alive clients, single-image predicts ---------------------------------------------
def client_proc(n_threads, deadline, q):
    counts, lat, errors = [0] * n_threads, [[] for _ in range(n_threads)], [0] * n_threads

    def run(k):
        cl = Client()
        while time.time() < deadline:
            t = time.perf_counter()
            try:
                st, _ = cl.call("POST", "/predict", predict)
            except Exception:
                errors[k] += 1
                cl = Client()
                continue
            if st == 200:
                counts[k] += 1
                lat[k].append((time.perf_counter() - t) * 1000)
            else:
                errors[k] += 1

    ts = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put((sum(counts), sum(errors), [x for l in lat for x in l]))


def metric_sums():
    """(sum, count) of the server's histograms for this service and for /predict, from GET /metrics."""
    cm = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    cm.request("GET", "/metrics")
    text = cm.getresponse().read().decode()
    out = {}
    for line in text.splitlines():
        for kind in ("_sum", "_count"):
            name = line.split("{")[0]
            if name.endswith(kind) and ('service="testonnx"' in line or 'predict' in line):
                stage = line.split('stage="', 1)[1].split('"', 1)[0] if 'stage="' in line else ""
                out[(name[: -len(kind)] + (":" + stage if stage else ""), kind)] = float(line.rsplit(" ", 1)[1])
    return out


def server_side(m0, m1):
    """Per-batch backend time, per-image queue time and per-request server time over the phase, in ms (means)."""
    r = {}
    for name, key in (("trtnative_batch_run_seconds", "batch_run_ms_mean"), ("trtnative_queue_time_seconds", "queue_ms_mean"),
                      ("trtnative_request_duration_seconds", "request_ms_mean"),
                      ("trtnative_batch_stage_seconds:host_submit", "stage_host_submit_ms_mean"),
                      ("trtnative_batch_stage_seconds:gpu_decode", "stage_gpu_decode_ms_mean"),
                      ("trtnative_batch_stage_seconds:gpu_prepare", "stage_gpu_prepare_ms_mean"),
                      ("trtnative_batch_stage_seconds:gpu_engine", "stage_gpu_engine_ms_mean")):
        ds = m1.get((name, "_sum"), 0) - m0.get((name, "_sum"), 0)
        dc = m1.get((name, "_count"), 0) - m0.get((name, "_count"), 0)
        r[key] = round(1000 * ds / dc, 3) if dc else None
    return r


n_proc = max(1, min(8, (os.cpu_count() or 2) // 2))


def throughput_run(c):
    m_before = metric_sums()
    before = stats(c)["service_stats"]
    ctxmp = mp.get_context("fork")
    q = ctxmp.Queue()
    start = time.time() + 0.5
    deadline = start + DURATION
    ps = [ctxmp.Process(target=client_proc, args=(CLIENTS // n_proc + (1 if k < CLIENTS % n_proc else 0), deadline, q)) for k in range(n_proc)]
    for p in ps:
        p.start()
    parts = [q.get() for _ in ps]
    for p in ps:
        p.join()
    wall = time.time() - start
    after = stats(c)["service_stats"]
    done = sum(p[0] for p in parts)
    lat = [x for p in parts for x in p[2]]
    d_batches = after["engine_batches"] - before["engine_batches"]
    d_items = after["avg_engine_batch_size"] * after["engine_batches"] - before["avg_engine_batch_size"] * before["engine_batches"]
    return {"clients": CLIENTS, "client_processes": n_proc, "seconds": round(wall, 2), "images": done,
            "errors": sum(p[1] for p in parts), "images_per_s": round(done / wall, 1),
            "engine_batches": d_batches, "avg_engine_batch": round(d_items / d_batches, 2) if d_batches else 0,
            "round_trip_ms": {"p50": pct(lat, 50), "p99": pct(lat, 99)} if lat else None,
            "server_side": server_side(m_before, metric_sums())}


res["throughput"] = throughput_run(c)
log("throughput", json.dumps(res["throughput"]))
st, metrics = None, None
cm = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
cm.request("GET", "/metrics")
metrics = cm.getresponse().read().decode()
open(os.path.join(OUT, "metrics.txt"), "w").write(metrics)
save()
plan = s.get("engine_file")
if plan and not os.path.isabs(plan):
    plan = os.path.join(REPO, plan)  # service_stats gives the plan's file name in the repository
res["replicas"] = stats(c).get("replicas")  # per GPU: batches and images of the whole run
server.terminate()
server.wait(timeout=60)
if THROUGHPUT_ONLY:
    save()
    sys.exit(0)

# --- raw engine and PyTorch at the same batch sizes ----------------------------------------------------------------
reached = max(1, int(round(res["throughput"]["avg_engine_batch"])))
batches = sorted({reached, 64, 128}) if not CPU else [1, 2]
res["batches"] = batches
if ENGINE_BENCH and plan and os.path.exists(plan):
    ej = os.path.join(OUT, "engine_bench.json")
    r = subprocess.run([ENGINE_BENCH, plan, "--batch", ",".join(map(str, batches)), "--iters", "50", "--warmup", "10", "--json", ej],
                       capture_output=True, text=True, timeout=300)
    log(r.stdout + r.stderr)
    res["engine"] = json.load(open(ej))["results"] if r.returncode == 0 and os.path.exists(ej) else {"error": (r.stdout + r.stderr)[-2000:]}
else:
    res["engine"] = {"error": f"not run: engine bench {ENGINE_BENCH!r}, plan {plan!r}" + (" (no GPU: the service fell back to CPU)" if CPU else "")}
save()

try:
    import torch, torchvision
    dev = "cpu" if CPU or not torch.cuda.is_available() else "cuda"
    dtype = torch.float16 if dev == "cuda" else torch.float32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    m0 = torchvision.models.resnet50(weights=None).eval().to(dev, dtype)
    tres = {"torch": torch.__version__, "torchvision": torchvision.__version__, "device": dev, "dtype": str(dtype),
            "gpu": torch.cuda.get_device_name() if dev == "cuda" else None, "results": []}
    iters, warm = (30, 10) if dev == "cuda" else (2, 1)
    for layout in ("nchw", "channels_last"):
        m = m0.to(memory_format=torch.channels_last) if layout == "channels_last" else m0
        for b in batches:
            x = torch.rand(b, 3, 224, 224, device=dev, dtype=dtype)
            if layout == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                for _ in range(warm):
                    m(x)
                ms = []
                for _ in range(iters):
                    if dev == "cuda":
                        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        e0.record()
                        y = m(x)
                        e1.record()
                        e1.synchronize()
                        ms.append(e0.elapsed_time(e1))
                    else:
                        t = time.perf_counter()
                        y = m(x)
                        ms.append((time.perf_counter() - t) * 1000)
                finite = bool(torch.isfinite(y).all())
            med = float(np.median(ms))
            tres["results"].append({"layout": layout, "batch": b, "ms_median": round(med, 3), "images_per_s": round(b / med * 1000, 1), "outputs_finite": finite})
            log("TORCH", json.dumps(tres["results"][-1]))
    res["torch"] = tres
except Exception as e:  # noqa: BLE001 - report, keep the rest
    res["torch"] = {"error": repr(e)}
save()

# --- latency again with --max-batch-delay-ms 0 (the plan saved above is loaded, not rebuilt) ------------------------
try:
    cmd0 = cmd + ["--max-batch-delay-ms", "0"]
    server = subprocess.Popen(cmd0, stdout=server_log, stderr=subprocess.STDOUT)
    procs.append(server)
    wait_http(PORT, "/info", 60)
    c = Client()
    t0 = time.time()
    st, body = c.call("PUT", "/services/testonnx", create)
    assert st == 201, body
    while (s0 := stats(c)).get("state") == "building":
        time.sleep(0.2)
    assert s0["state"] == "ready", s0
    res["latency_delay0"] = latency_loop(Client())
    res["latency_delay0"].update(server_command=" ".join(cmd0), engine_source=s0.get("engine_source"), seconds_to_ready=round(time.time() - t0, 3))
    log("latency_delay0", json.dumps(res["latency_delay0"]))
    server.terminate()
    server.wait(timeout=60)
except Exception as e:  # noqa: BLE001 - report, keep the table
    res["latency_delay0"] = {"error": repr(e)}
save()

# --- A/Bs: the same latency and throughput on a server started with --gpu-decode false (every JPEG decoded and resized
# on the CPU), and with --gpu-lanes 1 (one stream and execution context: no overlap of one batch's staging with the
# other's engine run) ---------------------------------------------------------------------------------------------------
AB = [("gpu_decode_off", ["--gpu-decode", "false"]), ("gpu_lanes_1", ["--gpu-lanes", "1"])]
if not CPU:
    for key, extra in AB:
        try:
            cmd_ab = cmd + extra
            server = subprocess.Popen(cmd_ab, stdout=server_log, stderr=subprocess.STDOUT)
            procs.append(server)
            wait_http(PORT, "/info", 60)
            c = Client()
            st, body = c.call("PUT", "/services/testonnx", create)
            assert st == 201, body
            while (s0 := stats(c)).get("state") == "building":
                time.sleep(0.2)
            assert s0["state"] == "ready", s0
            res[key] = {"server_command": " ".join(cmd_ab), "latency": latency_loop(Client()), "throughput": throughput_run(c)}
            log(key, json.dumps(res[key]))
            server.terminate()
            server.wait(timeout=60)
        except Exception as e:  # noqa: BLE001 - report, keep the table
            res[key] = {"error": repr(e)}
        save()

# --- table --------------------------------------------------------------------------------------------------------
L, T = res["latency"], res["throughput"]
print("\n== ResNet-50", "fp16 GPU" if not CPU else "(CPU fallback run: not the GPU figures)", "—", res["service"].get("backend"), "—", res["service"].get("engine_source"))
print(f"build/ready {res['service']['seconds_to_ready']} s; check: rel L2 vs ORT CPU {res['check']['vs_onnxruntime_cpu_relative_l2']:.2e}, "
      f"top-1 {res['check']['vs_onnxruntime_cpu_top1_agree']}/{res['check']['of']}; {BIG}-image predict vs single max rel diff {res['check']['big_vs_single_max_rel_diff']:.2e}")
print(f"single JPEG predict ({L['requests']}x): head.time p50 {L['head_time_ms']['p50']} ms p99 {L['head_time_ms']['p99']} ms; "
      f"round trip p50 {L['round_trip_ms']['p50']} ms p99 {L['round_trip_ms']['p99']} ms")
L0 = res.get("latency_delay0", {})
if "head_time_ms" in L0:
    print(f"same, --max-batch-delay-ms 0: head.time p50 {L0['head_time_ms']['p50']} ms p99 {L0['head_time_ms']['p99']} ms; "
          f"round trip p50 {L0['round_trip_ms']['p50']} ms p99 {L0['round_trip_ms']['p99']} ms")
print(f"{CLIENTS} clients, {T['seconds']} s: {T['images_per_s']} images/s, avg engine batch {T['avg_engine_batch']}, errors {T['errors']}")
print(f"JPEGs {IMG_W}x{IMG_H}; the above with the defaults (GPU decode on, 2 GPU lanes); A/Bs:")
for key, extra in AB:
    off = res.get(key, {})
    if "latency" in off:
        Lo, To = off["latency"], off["throughput"]
        print(f"  {' '.join(extra)}: single predict round trip p50 {Lo['round_trip_ms']['p50']} ms p99 {Lo['round_trip_ms']['p99']} ms; "
              f"{CLIENTS} clients {To['images_per_s']} images/s, avg engine batch {To['avg_engine_batch']}, errors {To['errors']}")
    else:
        print(f"  {' '.join(extra)}: not measured:", off.get("error", "CPU run"))
print(f"{'batch':>6} {'engine img/s':>13} {'engine+copies':>14} {'torch nchw':>11} {'torch cl':>9} {'engine/torch best':>18}")
eng = {r["batch"]: r for r in res["engine"]} if isinstance(res["engine"], list) else {}
tor = {}
for r in res["torch"].get("results", []) if isinstance(res["torch"], dict) else []:
    tor[(r["layout"], r["batch"])] = r["images_per_s"]
for b in batches:
    e = eng.get(b, {})
    tn, tc = tor.get(("nchw", b)), tor.get(("channels_last", b))
    best = max([v for v in (tn, tc) if v] or [0])
    ratio = f"{e['images_per_s'] / best:.2f}" if e and best else "-"
    print(f"{b:>6} {e.get('images_per_s', '-'):>13} {e.get('host_run_images_per_s', '-'):>14} {tn or '-':>11} {tc or '-':>9} {ratio:>18}")
if not eng:
    print("engine:", res["engine"].get("error") if isinstance(res["engine"], dict) else res["engine"])
print(f"server throughput / engine at batch {reached}: " + (f"{T['images_per_s'] / eng[reached]['images_per_s']:.2f}" if reached in eng else "-"))
res["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
save()
