#!/usr/bin/env python3
"""End-to-end GPU check of TrtNative.Server (run by gpu_server_check.sh on a GPU host).

Creates the same models as CPU (mllib onnxruntime) and GPU (mllib tensorrt, fp32 and fp16) services, compares their
scores, sends concurrent predicts (checking each answer against the single-request answer), reads /metrics, then
restarts the server and checks that the saved engine plan is reused. Prints and writes a JSON summary.
"""
import base64, io, json, os, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import requests
from PIL import Image

SERVER, PORT, ROOT, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
URL = f"http://127.0.0.1:{PORT}"
summary = {}
proc = None


def start():
    global proc
    log = open(os.path.join(OUT, f"server-{int(time.time())}.log"), "w")
    proc = subprocess.Popen([SERVER, "--port", str(PORT), "--allowed-root", ROOT, "--allowed-root", "/tmp/gpucheck",
                             "--max-batch-delay-ms", "3", "--build-wait-seconds", "600"], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if requests.get(URL + "/info", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit("server did not start")


def stop():
    proc.terminate()
    proc.wait(timeout=60)


def create(name, repo_src, files, mllib, dtype, input_params, max_batch):
    repo = f"/tmp/gpucheck/repos/{name}"
    os.makedirs(repo, exist_ok=True)
    for f in files:
        if not os.path.exists(os.path.join(repo, f)):
            shutil.copy(os.path.join(repo_src, f), repo)
    body = {"mllib": mllib, "description": name, "type": "supervised", "model": {"repository": repo},
            "parameters": {"input": dict(connector="image", **input_params),
                           "mllib": {"datatype": dtype, "maxBatchSize": max_batch}, "output": {"best": -1}}}
    r = requests.put(f"{URL}/services/{name}", json=body)
    assert r.status_code == 201, (name, r.text)
    t0 = time.time()
    while True:
        s = requests.get(f"{URL}/services/{name}").json()["body"]
        if s["state"] != "building":
            break
        time.sleep(0.2)
    info = {k: s.get(k) for k in ("state", "backend", "backend_reason", "engine_build_seconds", "engine_source", "engine_file",
                                  "gpu_memory_bytes", "error", "input_tensor", "output_tensor")}
    info["wall_seconds_to_ready"] = round(time.time() - t0, 3)
    print(name, json.dumps(info), flush=True)
    assert s["state"] == "ready", (name, s)
    return info


def predict(name, data):
    r = requests.post(URL + "/predict", json={"service": name, "parameters": {"output": {"best": -1, "confidence_threshold": -1e30}}, "data": data})
    assert r.status_code == 200, (name, r.text)
    return r.json()


def scores(resp):
    out = []
    for p in resp["body"]["predictions"]:
        d = {c["cat"]: c["prob"] for c in p["classes"]}
        out.append(np.array([d[k] for k in sorted(d, key=lambda c: int(c.split()[-1]) if c.split()[-1].isdigit() else c)]))
    return np.stack(out)


def b64_jpeg(seed, size=(320, 240)):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    img = np.stack([(xx * (seed % 7 + 1)) % 256, (yy * (seed % 5 + 1)) % 256, rng.integers(0, 256, (size[1], size[0]))], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return base64.b64encode(buf.getvalue()).decode()


os.makedirs("/tmp/gpucheck", exist_ok=True)
import atexit
atexit.register(lambda: proc and proc.poll() is None and proc.kill())
start()
digits_dir = os.path.join(ROOT, "digits")
samples = [os.path.join(digits_dir, "samples", f"digit_{k}.png") for k in range(10)]
dig_in = dict(width=8, height=8, bw=True, scale=1 / 255, interp="area")
res_in = dict(width=224, height=224, mean=[0.406 * 255, 0.456 * 255, 0.485 * 255], std=[0.225 * 255, 0.224 * 255, 0.229 * 255])
svc = {}
svc["digits_cpu"] = create("digits_cpu", digits_dir, ["digits.onnx", "corresp.txt"], "onnxruntime", "fp32", dig_in, 32)
svc["digits_gpu"] = create("digits_gpu", digits_dir, ["digits.onnx", "corresp.txt"], "tensorrt", "fp32", dig_in, 32)
svc["digits_gpu16"] = create("digits_gpu16", digits_dir, ["digits.onnx", "corresp.txt"], "tensorrt", "fp16", dig_in, 32)
svc["resnet_cpu"] = create("resnet_cpu", "/tmp/gpucheck/resnet18", ["model.onnx"], "onnxruntime", "fp32", res_in, 16)
svc["resnet_gpu"] = create("resnet_gpu", "/tmp/gpucheck/resnet18", ["model.onnx"], "tensorrt", "fp32", res_in, 16)
svc["resnet_gpu16"] = create("resnet_gpu16", "/tmp/gpucheck/resnet18", ["model.onnx"], "tensorrt", "fp16", res_in, 16)
# The GPU settings: fp16 with maxBatchSize 128 (checked below against CPU, and a 128-image predict vs singles).
svc["resnet_gpu16_bs128"] = create("resnet_gpu16_bs128", "/tmp/gpucheck/resnet18", ["model.onnx"], "tensorrt", "fp16", res_in, 128)
summary["services"] = svc

d_cpu = scores(predict("digits_cpu", samples))
cmp = {}
for g in ("digits_gpu", "digits_gpu16"):
    s = scores(predict(g, samples))
    cmp[g] = {"max_abs_diff_vs_cpu": float(np.abs(s - d_cpu).max()),
              "top1_agree": int((s.argmax(1) == d_cpu.argmax(1)).sum()), "top1_correct": int((s.argmax(1) == np.arange(10)).sum())}
imgs = [b64_jpeg(i) for i in range(8)]
r_cpu = scores(predict("resnet_cpu", imgs))
for g in ("resnet_gpu", "resnet_gpu16", "resnet_gpu16_bs128"):
    s = scores(predict(g, imgs))
    rel = np.linalg.norm(s - r_cpu) / np.linalg.norm(r_cpu)
    cmp[g] = {"max_abs_diff_vs_cpu": float(np.abs(s - r_cpu).max()), "relative_l2_vs_cpu": float(rel),
              "top1_agree": int((s.argmax(1) == r_cpu.argmax(1)).sum()), "of": len(imgs)}
# One predict of 128 images (one full engine batch at maxBatchSize 128) must give each image's single-predict answer.
imgs128 = [b64_jpeg(200 + i % 16, (256, 256)) for i in range(128)]
single16 = {i: scores(predict("resnet_gpu16_bs128", [imgs128[i]]))[0] for i in range(16)}
s128 = scores(predict("resnet_gpu16_bs128", imgs128))
cmp["resnet_gpu16_bs128"]["batch128_max_rel_diff_vs_single"] = max(
    float(np.abs(s128[i] - single16[i % 16]).max() / np.abs(single16[i % 16]).max()) for i in range(128))
cmp["resnet_gpu16_bs128"]["batch128_top1_equal_single"] = int(sum(s128[i].argmax() == single16[i % 16].argmax() for i in range(128)))
assert cmp["resnet_gpu16_bs128"]["batch128_top1_equal_single"] == 128, cmp["resnet_gpu16_bs128"]
summary["vs_cpu"] = cmp
print("vs_cpu", json.dumps(cmp), flush=True)

# Concurrency on the GPU: 96 requests of 1-3 images, 16 threads; each answer must equal its single-request answer.
many = [b64_jpeg(100 + i, (256, 256)) for i in range(24)]
single = {i: scores(predict("resnet_gpu", [many[i]]))[0] for i in range(24)}
reqs = [[(i + j) % 24 for j in range(1 + i % 3)] for i in range(96)]
t0 = time.time()
with ThreadPoolExecutor(16) as ex:
    answers = list(ex.map(lambda ids: (ids, scores(predict("resnet_gpu", [many[k] for k in ids]))), reqs))
wall = time.time() - t0
worst = max(float(np.abs(a[j] - single[ids[j]]).max() / (np.abs(single[ids[j]]).max())) for ids, a in answers for j in range(len(ids)))
stats = requests.get(URL + "/services/resnet_gpu").json()["body"]["service_stats"]
summary["concurrency"] = {"requests": len(reqs), "images": sum(len(r) for r in reqs), "wall_s": round(wall, 3),
                          "images_per_s": round(sum(len(r) for r in reqs) / wall, 1), "worst_rel_diff_vs_single": worst,
                          "avg_engine_batch_size": stats["avg_engine_batch_size"], "engine_batches": stats["engine_batches"]}
print("concurrency", json.dumps(summary["concurrency"]), flush=True)
# Throughput through the server, CPU vs GPU: 48 concurrent requests of 4 images (best 1), after one warm-up.
def throughput(name):
    data = [many[i % 24] for i in range(4)]
    body = {"service": name, "parameters": {"output": {"best": 1}}, "data": data}
    requests.post(URL + "/predict", json=body)
    t0 = time.time()
    with ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(lambda _: requests.post(URL + "/predict", json=body).status_code, range(48)))
    assert all(c == 200 for c in codes), codes
    return round(48 * 4 / (time.time() - t0), 1)
summary["throughput_images_per_s"] = {n: throughput(n) for n in ("resnet_cpu", "resnet_gpu", "resnet_gpu16")}
print("throughput", json.dumps(summary["throughput_images_per_s"]), flush=True)
metrics = requests.get(URL + "/metrics").text
summary["metrics_gpu_memory_lines"] = [l for l in metrics.splitlines() if l.startswith("trtnative_gpu_memory_bytes")]
summary["metrics_build_lines"] = [l for l in metrics.splitlines() if l.startswith("trtnative_engine_build_seconds")]
open(os.path.join(OUT, "metrics.txt"), "w").write(metrics)

# Restart: the plans saved in the repositories are loaded instead of rebuilt.
before = scores(predict("resnet_gpu", imgs))
stop()
start()
summary["after_restart"] = {
    "resnet_gpu": create("resnet_gpu", "/tmp/gpucheck/resnet18", ["model.onnx"], "tensorrt", "fp32", res_in, 16),
    "digits_gpu16": create("digits_gpu16", digits_dir, ["digits.onnx", "corresp.txt"], "tensorrt", "fp16", dig_in, 32),
}
after = scores(predict("resnet_gpu", imgs))
summary["after_restart"]["resnet_max_abs_diff_vs_before"] = float(np.abs(after - before).max())
stop()
json.dump(summary, open(os.path.join(OUT, "gpu_check.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
