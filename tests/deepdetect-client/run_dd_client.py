#!/usr/bin/env python3
"""Runs DeepDetect's own Python client (dd_client, unchanged) and its bench.py against TrtNative.Server.

The server must hold the demo service 'digits' (as --demo creates it) and allow reading files under --demo-dir (--demo
adds it to the allowed roots; otherwise --allowed-root). Every check that fails raises; the exit code is 0 only when all passed.
"""

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cv2  # noqa: E402  (dd_client imports it too; imported here to fail early with a clear message)
import requests  # noqa: E402

import dd_client  # noqa: E402
from dd_client import DD  # noqa: E402


def _numpy_without_tostring():
    """The unchanged client PNG-encodes numpy images with cv2.imencode(...)[1].tostring(); NumPy 2.3 removed
    ndarray.tostring (deprecated since 1.19 as an alias of tobytes). Where it is gone (pip's NumPy on the GPU host;
    Debian's python3-numpy still has it), the client's cv2 is wrapped so imencode's buffer has the old alias back:
    the client's files stay byte for byte DeepDetect's and send exactly the bytes they always sent."""
    import numpy

    if hasattr(numpy.ndarray, "tostring"):
        return

    class Buffer(numpy.ndarray):
        def tostring(self, order="C"):
            return self.tobytes(order)

    class Cv2:
        def __getattr__(self, name):
            return getattr(cv2, name)

        def imencode(self, *args, **kwargs):
            ok, buf = cv2.imencode(*args, **kwargs)
            return ok, buf.view(Buffer)

    dd_client.cv2 = Cv2()
    print("note: numpy %s has no ndarray.tostring; the client's cv2.imencode buffers get it back (= tobytes)"
          % numpy.__version__, flush=True)


_numpy_without_tostring()

# The service_stats fields DeepDetect's ServiceStats::to (src/service_stats.cc) writes.
SERVICE_STATS = [
    "inference_count", "predict_success", "predict_failure", "predict_count", "avg_batch_size",
    "avg_predict_duration_ms", "avg_transform_duration_ms", "avg_predict_duration_s", "avg_transform_duration_s",
    "total_predict_duration_ms", "total_transform_duration_ms", "avg_predict_duration", "avg_transform_duration",
]


class Failed(Exception):
    pass


def check(cond, what, detail=None):
    if not cond:
        raise Failed(what + ("" if detail is None else ": " + json.dumps(detail)[:2000]))
    print("ok:", what, flush=True)


def http_error(call):
    """Runs call(), which must raise requests.HTTPError; returns (HTTP status, JSON body)."""
    try:
        call()
    except requests.HTTPError as e:
        return e.response.status_code, e.response.json()
    raise Failed("expected an HTTP error, got success")


def top(pred):
    return pred["classes"][0]["cat"]


def copy_model(demo_dir, dest):
    os.makedirs(dest, exist_ok=True)
    for f in ("digits.onnx", "corresp.txt"):
        shutil.copy(os.path.join(demo_dir, f), os.path.join(dest, f))
    return dest


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def client_calls(dd, args, work, samples, files_url):
    paths = [os.path.join(samples, "digit_%d.png" % k) for k in range(10)]
    expected = ["digit %d" % k for k in range(10)]

    # /info
    info = dd.info()
    check(info["head"]["method"] == "/info", "info: head.method is /info", info)
    check("digits" in [s["name"] for s in info["head"]["services"]], "info lists the demo service", info)

    # Wait for the demo engine (built in the background at start).
    for _ in range(600):
        svc = dd.get_service("digits")
        if svc["body"].get("state", "ready") != "building":
            break
        time.sleep(0.1)
    check(svc["status"]["code"] == 200, "get_service digits: status 200", svc)

    # put_service: a service of our own from a copy of the demo model.
    repo = copy_model(args.demo_dir, os.path.join(work, "ddclient_repo"))
    created = dd.put_service(
        "ddclient",
        {"repository": repo},
        "digits through dd_client",
        "tensorrt",
        {"connector": "image", "width": 8, "height": 8, "bw": True, "scale": 1.0 / 255, "interp": "area"},
        {"nclasses": 10, "maxBatchSize": 16},
        {"best": 3},
    )
    check(created["status"]["code"] == 201 and created["status"]["msg"] == "Created", "put_service: 201 Created", created)
    code, body = http_error(lambda: dd.put_service("ddclient", {"repository": repo}, "again", "tensorrt",
                                                   {"connector": "image"}, {}, {}))
    check(code == 409 and body["status"].get("dd_code") == 1014, "put_service twice: 409/1014", body)

    # get_service: DeepDetect's service object.
    svc = dd.get_service("ddclient")
    b = svc["body"]
    check(svc["status"]["code"] == 200, "get_service: status 200", svc)
    check((b["name"], b["mllib"], b["mltype"], b["type"]) == ("ddclient", "tensorrt", "classification", "supervised"),
          "get_service: name, mllib, mltype, type", b)
    check(b["repository"] == repo and (b["width"], b["height"]) == (8, 8), "get_service: repository, width, height", b)
    check(all(k in b["service_stats"] for k in SERVICE_STATS), "get_service: every DeepDetect service_stats field",
          b["service_stats"])
    check(b["service_stats"]["predict_count"] == 0, "get_service: no predict yet", b["service_stats"])
    check(b.get("jobs") == [] and isinstance(b.get("model_stats"), dict), "get_service: jobs [] and model_stats", b)
    check(b["model_stats"].get("params", 0) > 0, "get_service: model_stats.params", b["model_stats"])
    code, body = http_error(lambda: dd.get_service("no_such_service"))
    check(code == 404 and body["status"].get("dd_code") == 1002, "get_service unknown: 404/1002", body)

    # post_predict with server-side paths: the demo samples are classified right, in data order.
    by_path = dd.post_predict("ddclient", paths, {}, {}, {"best": -1})
    preds = by_path["body"]["predictions"]
    check(by_path["status"]["code"] == 200 and by_path["head"]["method"] == "/predict"
          and by_path["head"]["service"] == "ddclient" and by_path["head"]["time"] > 0,
          "post_predict by path: status, head", by_path["head"])
    check([p["uri"] for p in preds] == paths, "post_predict by path: uris in data order", preds)
    check([top(p) for p in preds] == expected, "post_predict by path: every sample classified right",
          [top(p) for p in preds])
    for p in preds:
        probs = [c["prob"] for c in p["classes"]]
        check(len(probs) == 10 and probs == sorted(probs, reverse=True) and p["classes"][-1].get("last") is True
              and not any("last" in c for c in p["classes"][:-1]),
              "post_predict best=-1: 10 classes, sorted, last on the final one (%s)" % p["uri"], p)

    # post_predict with base64 of client-side files: same scores, uris are the indices.
    b64 = dd.post_predict("ddclient", paths, {}, {}, {"best": -1}, use_base64=True)
    bp = b64["body"]["predictions"]
    check([p["uri"] for p in bp] == [str(i) for i in range(10)], "post_predict base64 files: uris are indices", bp)
    same = all(
        {c["cat"]: c["prob"] for c in a["classes"]} == {c["cat"]: c["prob"] for c in c2["classes"]}
        for a, c2 in zip(preds, bp)
    )
    check(same, "post_predict base64 files: the same scores as by path")

    # post_predict with numpy images (the client PNG-encodes them with OpenCV and sends base64).
    imgs = [cv2.imread(p) for p in paths]
    check(all(i is not None for i in imgs), "cv2 reads the samples")
    arr = dd.post_predict("ddclient", imgs, {}, {}, {"best": 1})
    check([top(p) for p in arr["body"]["predictions"]] == expected, "post_predict numpy images: classified right",
          arr["body"]["predictions"])
    check(all(len(p["classes"]) == 1 for p in arr["body"]["predictions"]), "post_predict best=1: one class each")

    # URLs: fetched by the client (use_base64) and by the server.
    urls = [files_url + "/digit_%d.png" % k for k in (3, 7)]
    cl = dd.post_predict("ddclient", urls, {}, {}, {}, use_base64=True)
    check([top(p) for p in cl["body"]["predictions"]] == ["digit 3", "digit 7"], "post_predict URL via client base64",
          cl["body"])
    sv = dd.post_predict("ddclient", urls, {}, {}, {})
    check([p["uri"] for p in sv["body"]["predictions"]] == urls
          and [top(p) for p in sv["body"]["predictions"]] == ["digit 3", "digit 7"], "post_predict URL fetched by the server",
          sv["body"])

    # Output and input parameters at predict time.
    thr = dd.post_predict("ddclient", paths[:1], {}, {}, {"best": -1, "confidence_threshold": 0.5})
    cls = thr["body"]["predictions"][0]["classes"]
    check(len(cls) >= 1 and all(c["prob"] >= 0.5 for c in cls), "post_predict confidence_threshold 0.5", cls)
    other = dd.post_predict("ddclient", paths[:1], {"interp": "nearest"}, {}, {"best": 1})
    check(other["status"]["code"] == 200, "post_predict with a predict-time input override", other)

    # Client mistakes come back as DeepDetect's errors.
    code, body = http_error(lambda: dd.post_predict("no_such_service", paths[:1], {}, {}, {}))
    check(code == 404 and body["status"].get("dd_code") == 1002, "post_predict unknown service: 404/1002", body)
    code, body = http_error(lambda: dd.post_predict("ddclient", [os.path.join(samples, "missing.png")], {}, {}, {}))
    check(code == 400 and body["status"].get("dd_code") == 1005, "post_predict missing file: 400/1005", body)

    # The statistics followed the calls above (failures included).
    st = dd.get_service("ddclient")["body"]["service_stats"]
    check(st["predict_success"] == 7 and st["predict_failure"] == 1 and st["predict_count"] == 8,
          "service_stats counts 7 successes and 1 failure (a predict on an unknown service is no service's)", st)
    check(st["inference_count"] == 10 + 10 + 10 + 2 + 2 + 1 + 1, "service_stats inference_count", st)
    check(st["total_transform_duration_ms"] > 0 and st["total_predict_duration_ms"] > st["total_transform_duration_ms"],
          "service_stats durations measured", st)

    # The other return formats.
    dd.set_return_format(dd.RETURN_JSON)
    text = dd.info()
    check(isinstance(text, str) and json.loads(text)["head"]["method"] == "/info", "RETURN_JSON: info as text")
    dd.set_return_format(dd.RETURN_NONE)
    check(dd.get_service("ddclient") is None, "RETURN_NONE: nothing returned")
    dd.set_return_format(dd.RETURN_PYTHON)

    # delete_service, with each clear mode.
    deleted = dd.delete_service("ddclient")
    check(deleted["status"]["code"] == 200, "delete_service (clear=mem): 200", deleted)
    check(os.path.exists(os.path.join(repo, "digits.onnx")), "clear=mem keeps the repository")
    code, body = http_error(lambda: dd.get_service("ddclient"))
    check(code == 404, "deleted service is gone", body)
    for clear in ("mem", "lib", "full", "dir"):
        r = copy_model(args.demo_dir, os.path.join(work, "clear_" + clear))
        name = "clear" + clear
        dd.put_service(name, {"repository": r}, "", "tensorrt", {"connector": "image", "width": 8, "height": 8, "bw": True},
                       {"nclasses": 10}, {})
        if clear == "dir":
            # A difference on purpose (server README): clear=dir removes only a repository this server made
            # (create_repository); a directory made by the user is refused with 400/400, service and files left.
            code, body = http_error(lambda: dd.delete_service(name, clear=clear))
            check(code == 400 and body["status"].get("dd_code") == 400, "delete_service clear=dir of a user's directory: 400/400", body)
            check(os.path.exists(os.path.join(r, "digits.onnx")), "refused clear=dir left the repository")
            check(dd.delete_service(name)["status"]["code"] == 200, "delete_service after the refused clear=dir: 200")
            continue
        check(dd.delete_service(name, clear=clear)["status"]["code"] == 200, "delete_service clear=%s: 200" % clear)
        left = os.listdir(r) if os.path.isdir(r) else None
        want = {"mem": lambda: "digits.onnx" in left, "lib": lambda: "digits.onnx" in left,
                "full": lambda: left == []}[clear]
        check(want(), "delete_service clear=%s left the repository as DeepDetect does" % clear, left)
    return expected


def run_bench(args, work, samples, label, extra):
    """Runs bench.py unchanged; returns its JSON output after checking every batch size ran without failure."""
    listing = os.path.join(work, "bench_files.txt")
    with open(listing, "w") as f:
        for i in range(16):
            f.write("digit_%d.png\n" % (i % 10))
    out_json = os.path.join(work, "bench_%s.json" % label)
    out_csv = os.path.join(work, "bench_%s.csv" % label)
    cmd = [sys.executable, "-B", os.path.join(HERE, "dd_client", "bench.py"),
           "--host", args.host, "--port", str(args.port),
           "--img-width", "8", "--img-height", "8", "--bw",
           "--max-batch-size", "16", "--npasses", "3",
           "--remote-bench-data-dir", samples, "--list-bench-files", listing,
           "--json-output", out_json, "--csv-output", out_csv] + extra
    print("$ " + " ".join(cmd), flush=True)
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=600)
    print(p.stdout, flush=True)
    check(p.returncode == 0, "bench.py %s: exit code 0 (got %d)" % (label, p.returncode))
    summaries = [line for line in p.stdout.splitlines() if line.startswith(">>> batch size = ")]
    check(len(summaries) == 5 and all(line.endswith("fail = False") for line in summaries),
          "bench.py %s: batch sizes 1, 2, 4, 8, 16 without failure" % label, summaries)
    with open(out_json) as f:
        res = json.load(f)
    check([r["batch_size"] for r in res] == [1, 2, 4, 8, 16] and all(r["mean_processing_time"] > 0 for r in res),
          "bench.py %s: JSON output for every batch size" % label, res)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--demo-dir", required=True, help="demo/digits (the server's --demo-dir)")
    ap.add_argument("--work", help="scratch directory (default: a new temporary one, removed at the end)")
    args = ap.parse_args()
    args.demo_dir = os.path.abspath(args.demo_dir)
    samples = os.path.join(args.demo_dir, "samples")
    work = args.work or tempfile.mkdtemp(prefix="dd-client-")
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietFiles, directory=samples))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        dd = DD(args.host, args.port)
        dd.set_return_format(dd.RETURN_PYTHON)
        client_calls(dd, args, work, samples, "http://127.0.0.1:%d" % files.server_address[1])

        # bench.py on the demo service as it is.
        run_bench(args, work, samples, "demo", ["--sname", "digits"])
        st = dd.get_service("digits")["body"]["service_stats"]
        # 1 load call, then npasses + 1 calls per batch size.
        check(st["predict_success"] == 1 + 5 * 4 and st["predict_failure"] == 0, "demo service_stats after bench", st)
        # bench.py creating its own tensorrt service (and deleting it: --auto-kill).
        bench_repo = copy_model(args.demo_dir, os.path.join(work, "bench_repo"))
        run_bench(args, work, samples, "create",
                  ["--sname", "bench", "--create", bench_repo, "--mllib", "tensorrt", "--nclasses", "10",
                   "--scale", str(1.0 / 255), "--auto-kill"])
        code, _ = http_error(lambda: dd.get_service("bench"))
        check(code == 404, "bench.py --auto-kill deleted its service")
        # bench.py recreating the service for every batch size (its TensorRT mode).
        recreate_repo = copy_model(args.demo_dir, os.path.join(work, "recreate_repo"))
        run_bench(args, work, samples, "recreate",
                  ["--sname", "benchre", "--create", recreate_repo, "--mllib", "tensorrt", "--nclasses", "10",
                   "--recreate"])
        code, _ = http_error(lambda: dd.get_service("benchre"))
        check(code == 404, "bench.py --recreate deleted its service after the last batch size")
    except Failed as e:
        print("FAILED:", e, flush=True)
        return 1
    finally:
        files.shutdown()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print("dd_client and bench.py: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
