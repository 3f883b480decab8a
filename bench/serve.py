"""Serving throughput and latency: our model server vs. the in-process ceiling vs. a naive server.

One run, one exported model (``ImageClassifier(labels, BACKBONE, image_size=N)``, random init,
written with ``export_for_serving`` to a temporary base path), the same 512x384 JPEG photos
(``make_photos``), one image per request:

1. **Ceiling** (in this process, no server): the SavedModel loaded with
   ``tf.saved_model.load``; its ``serving_default`` signature called on batches of 32 encoded
   JPEGs, converted exactly as the server converts a request (``tf.constant`` of the bytes, run,
   ``.numpy()``), so decode + resize + model are included: images/s. Then the same signature with
   batch 1: single-image latency (p50 ms). Both are measured before and after the servers run
   (``in_process.before`` / ``.after``); the targets use the faster ceiling and the lower p50 of
   the two, which is the conservative choice on a noisy machine.
2. **Ours**: ``keras-cvcls serve`` (the embedded TF-Serving-compatible server, batching on,
   ``--max-batch-size/--batch-timeout-micros/--num-batch-threads`` below), loaded by REST and by
   gRPC with :func:`keras_cvcls.serving.run_loadtest` (``ScoringClient``, one image per request,
   closed loop) at concurrency 1, 8 and 32. Batching defaults, tuned on 2 cores:
   ``max_batch_size 32, batch_timeout_micros 0, num_batch_threads 1``. A nonzero timeout adds
   itself to a lone request's latency (concurrency 1) and does not fill the batches at 32: it
   counts from the first queued request's arrival, which in a closed loop is long past when the
   batch thread frees up, so batches still alternate (about 2 + 30). A second batch thread runs
   two model calls on 2 cores at once: smaller batches, same throughput, worse tail latency.
3. **Naive**: what one writes without us: ``http.server.ThreadingHTTPServer``; each POST carries
   one raw JPEG, decoded with PIL (RGB, centre crop + resize to the model size with
   ``ImageOps.fit``, the same "crop" the signature does), then ``model.predict(x[None])`` on the
   ``ImageClassifier`` loaded from a ``.keras`` file, answered as JSON. Loaded by the same
   ``run_loadtest`` loop (a duck-typed client that posts the raw bytes). ``--naive-predict
   predict_on_batch`` gives a less naive baseline (Keras 3's ``predict`` costs ~50 ms per call
   on top of the model, ``predict_on_batch`` does not).

Fairness, the same for both servers:

* Each server runs in its **own process** (a subprocess started by this script: our CLI,
  ``keras-cvcls serve``, and this file's ``--naive-server`` mode), so the load generator's
  threads and its GIL do not run inside the server. The load generator (this process) still
  shares the machine's cores with the server; its CPU use is reported per point
  (``client_cpu_cores``, ``server_cpu_cores``: CPU seconds per wall second) so the cost of the
  client is visible; ``other_cpu_cores`` is what the rest of the machine used meanwhile (noise:
  it should be ~0). The ceiling is measured with no client and no server load.
* Both servers get the default TensorFlow thread settings, loopback (127.0.0.1), keep-alive
  connections and TCP_NODELAY (the naive server speaks HTTP/1.1, sets TCP_NODELAY, without
  which its separate header and body writes meet the client's delayed ACK and stall ~40 ms per
  request, and has a listen backlog of 128 so that 32 clients connecting at once are not turned
  into SYN retries) and a warm-up at each
  concurrency (``--warmup`` seconds, not timed) before the timed ``--duration`` seconds.
* The naive server gets the cheapest wire format (raw JPEG bytes, no JSON or base64); ours
  gets TF Serving's (REST: JSON with base64 images; gRPC: ``PredictRequest`` protos), because
  that is the protocol it exists to speak.
* Requests are not retried: every failure is counted in ``errors``.

Targets (reported in ``targets_met``, not tuned to pass): at concurrency 32 >= 90% of the
ceiling and >= 3x the naive server; at concurrency 1 p50 within 5 ms of the in-process
single-image p50.

Prints one JSON object on stdout; progress on stderr.

    python bench/serve.py [--backbone resnet18] [--image-size 224] [--duration 10]
    python bench/serve.py --image-size 64 --duration 3          # a quick check
"""

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

LABELS = ["class_0", "class_1", "class_2", "class_3"]
MODEL_NAME = "bench"
CONCURRENCIES = (1, 8, 32)
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def log(message):
    print(f"[serve-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- naive server
def naive_server_main(model_path, port, call="predict"):
    """``--naive-server``: ThreadingHTTPServer + PIL decode + ``model.predict`` (or ``call``) per request."""
    import http.server
    import io

    import keras
    from PIL import Image, ImageOps

    # Registers ImageClassifier for load_model (keras_cvcls.models itself imports on first use).
    import keras_cvcls.models.image_classifier  # noqa: F401

    model = keras.saving.load_model(model_path)
    height, width = model.image_size
    labels = list(model.labels)
    if call == "predict":
        run = lambda x: model.predict(x, verbose=0)  # noqa: E731
    else:
        run = getattr(model, call)

    def predict(data):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        image = ImageOps.fit(image, (width, height), Image.BILINEAR)
        x = np.asarray(image, dtype=np.float32)[None]
        scores = np.asarray(run(x))[0]
        return {"label": labels[int(np.argmax(scores))], "scores": [float(s) for s in scores]}

    with open(_warmup_image_path(model_path), "rb") as f:
        predict(f.read())  # traces predict_function before the first request

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the clients of both servers use
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def do_POST(self):  # noqa: N802
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                status, body = 200, json.dumps(predict(data)).encode()
            except Exception as e:  # a naive server still answers errors
                status, body = 500, json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128
        daemon_threads = True

    server = Server(("127.0.0.1", port), Handler)
    print(f"naive-server: listening on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


def _warmup_image_path(model_path):
    return os.path.join(os.path.dirname(model_path), "warmup.jpg")


class NaiveClient:
    """Quacks like ``ScoringClient`` for ``run_loadtest``: posts raw JPEG bytes to the naive server."""

    def __init__(self, url, timeout):
        import requests

        self._requests = requests
        self.session = requests.Session()
        self.url = url.rstrip("/") + "/predict"
        self.timeout = timeout
        self.class_map = None

    def encode_image(self, image, image_resize_dims=None):
        return image

    def score_image(self, data):
        from keras_cvcls.serving import ScoringError

        try:
            response = self.session.post(
                self.url, data=data, headers={"Content-Type": "image/jpeg"}, timeout=self.timeout
            )
        except self._requests.Timeout as e:
            raise ScoringError("DEADLINE_EXCEEDED", str(e)) from e
        except self._requests.ConnectionError as e:
            raise ScoringError("UNAVAILABLE", str(e)) from e
        if response.status_code != 200:
            raise ScoringError("INTERNAL", response.text[:200], http_status=response.status_code)
        return response.json()

    def close(self):
        self.session.close()


# ----------------------------------------------------------------------------- processes
def _cpu_seconds(pid):
    """utime + stime of a process (all threads), from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def _self_cpu_seconds():
    t = os.times()
    return t.user + t.system


class ServerProcess:
    """A server in a subprocess; stderr goes to a log file that is scanned for its address line."""

    def __init__(self, name, argv, pattern, log_path, env=None, timeout=300):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._log, env=env)
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                match = regex.search(f.read())
            if match:
                self.match = match
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    tail = f.read()[-3000:]
                raise RuntimeError(f"{name} did not start (exit {self.proc.returncode}); its log:\n{tail}")
            time.sleep(0.2)

    def cpu_seconds(self):
        return _cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ----------------------------------------------------------------------------- measurements
def _percentiles(ms):
    ms = np.asarray(ms)
    return {q: round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)}


class InProcess:
    """``serving_default`` of the exported SavedModel in this process, called as the server calls it."""

    def __init__(self, export_dir, payloads):
        import tensorflow as tf

        self._tf = tf
        self.fn = tf.saved_model.load(export_dir, tags=["serve"]).signatures["serving_default"]
        self.payloads = payloads
        self._next = 0

    def _batch(self, size):
        batch = np.empty(size, dtype=object)
        batch[:] = [self.payloads[(self._next + j) % len(self.payloads)] for j in range(size)]
        self._next += size
        return batch

    def run(self, batch):  # what keras_cvcls.serving.signature_run.run_signature does
        outputs = self.fn(image_bytes=self._tf.constant(batch))
        return {k: v.numpy() for k, v in outputs.items()}

    def ceiling(self, batch_size, duration, warmup):
        """images/s calling the signature back to back on batches of ``batch_size`` encoded JPEGs."""
        end = time.perf_counter() + warmup
        while time.perf_counter() < end:
            self.run(self._batch(batch_size))
        count, cpu0, start = 0, _self_cpu_seconds(), time.perf_counter()
        while True:
            self.run(self._batch(batch_size))
            count += batch_size
            elapsed = time.perf_counter() - start
            if elapsed >= duration and count >= 3 * batch_size:
                break
        return {"images_per_s": round(count / elapsed, 2), "cpu_cores": round((_self_cpu_seconds() - cpu0) / elapsed, 2)}

    def single(self, duration, warmup):
        """Latency of one-image calls, back to back."""
        end = time.perf_counter() + warmup
        while time.perf_counter() < end:
            self.run(self._batch(1))
        latencies, start = [], time.perf_counter()
        while time.perf_counter() - start < duration or len(latencies) < 20:
            t0 = time.perf_counter()
            self.run(self._batch(1))
            latencies.append((time.perf_counter() - t0) * 1000)
        q = _percentiles(latencies)
        return {
            "images_per_s": round(len(latencies) / (time.perf_counter() - start), 2),
            "p50_ms": q[50],
            "p90_ms": q[90],
            "p99_ms": q[99],
        }


def _machine_busy_seconds():
    """CPU seconds all processes of the machine have used (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = values[:7]
    return (user + nice + system + irq + softirq) / CLK_TCK


def load_point(client_factory, payloads, concurrency, duration, warmup, server):
    """One closed-loop point: untimed warm-up, then ``duration`` s timed, with CPU accounting."""
    from keras_cvcls.serving import run_loadtest

    if warmup > 0:
        run_loadtest(client_factory, concurrency=concurrency, duration=warmup, images=payloads, progress=False)
    server0, client0, machine0 = server.cpu_seconds(), _self_cpu_seconds(), _machine_busy_seconds()
    wall0 = time.perf_counter()
    stats = run_loadtest(client_factory, concurrency=concurrency, duration=duration, images=payloads, progress=False)
    wall = time.perf_counter() - wall0
    server1, client1, machine1 = server.cpu_seconds(), _self_cpu_seconds(), _machine_busy_seconds()
    point = {
        "images_per_s": stats["rps"],
        "requests": stats["requests"],
        "errors": stats["errors"],
        "p50_ms": stats["p50_ms"],
        "p90_ms": stats["p90_ms"],
        "p99_ms": stats["p99_ms"],
    }
    if stats["errors_by_kind"]:
        point["errors_by_kind"] = stats["errors_by_kind"]
    point["client_cpu_cores"] = round((client1 - client0) / wall, 2)
    if server0 is not None and server1 is not None:
        point["server_cpu_cores"] = round((server1 - server0) / wall, 2)
        if machine0 is not None and machine1 is not None:  # anything else running on the machine: noise
            other = (machine1 - machine0 - (server1 - server0) - (client1 - client0)) / wall
            point["other_cpu_cores"] = round(max(0.0, other), 2)
    return point


def _fmt(point):
    return (
        f"{point['images_per_s']:.1f} img/s, p50 {point['p50_ms']:.1f} ms, p90 {point['p90_ms']:.1f} ms, "
        f"p99 {point['p99_ms']:.1f} ms, errors {point['errors']}; cpu cores: server {point.get('server_cpu_cores')}, "
        f"client {point['client_cpu_cores']}, other {point.get('other_cpu_cores')}"
    )


def machine():
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, TF {tf.__version__}"


def _cli_argv():
    script = os.path.join(os.path.dirname(sys.executable), "keras-cvcls")
    if os.path.exists(script):
        return [sys.executable, script]
    return [sys.executable, "-m", "keras_cvcls.cli.main"]


def _in_process(result, in_process, args, warmup, when):
    """Ceiling and single-image latency, measured ``when`` ("before" / "after") the servers ran."""
    other0, cpu0, wall0 = _machine_busy_seconds(), _self_cpu_seconds(), time.perf_counter()
    ceiling = in_process.ceiling(args.batch_size, args.duration, warmup)
    log(f"ceiling {when} (batch {args.batch_size}): {ceiling['images_per_s']:.1f} images/s, {ceiling['cpu_cores']} cores")
    single = in_process.single(args.duration, warmup)
    log(f"in-process single image {when}: p50 {single['p50_ms']:.2f} ms, p90 {single['p90_ms']:.2f} ms")
    if other0 is not None:
        wall = time.perf_counter() - wall0
        other = (_machine_busy_seconds() - other0 - (_self_cpu_seconds() - cpu0)) / wall
        ceiling["other_cpu_cores"] = round(max(0.0, other), 2)
    result["in_process"][when] = {"ceiling": ceiling, "single": single}


# ----------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-images", type=int, default=64, help="distinct JPEGs, sent round robin")
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT of the generated JPEGs")
    parser.add_argument("--duration", type=float, default=10.0, help="timed seconds per point")
    parser.add_argument(
        "--warmup", type=float, default=None, help="untimed seconds before each point (default: duration/4 in [1, 3])"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of the in-process ceiling")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCIES)), help="comma list (default 1,8,32)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="our server's batching (default 32)")
    parser.add_argument("--batch-timeout-micros", type=int, default=0, help="our server's batching (default 0)")
    parser.add_argument("--num-batch-threads", type=int, default=1, help="our server's batching (default 1)")
    parser.add_argument("--max-enqueued-batches", type=int, default=100, help="our server's batching (default 100)")
    parser.add_argument(
        "--naive-predict",
        choices=("predict", "predict_on_batch"),
        default="predict",
        help="what the naive server calls per request (default model.predict)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="client seconds per request")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: ceiling, rest, grpc, naive")
    parser.add_argument("--naive-server", nargs=3, metavar=("MODEL_KERAS", "PORT", "CALL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.naive_server:
        naive_server_main(args.naive_server[0], int(args.naive_server[1]), args.naive_server[2])
        return None

    warmup = args.warmup if args.warmup is not None else min(3.0, max(1.0, args.duration / 4))
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    skip = {s for s in args.skip.split(",") if s}
    width, height = (int(v) for v in args.size.lower().split("x"))

    from pipeline import make_photos

    from keras_cvcls.export import export_for_serving
    from keras_cvcls.models import ImageClassifier
    from keras_cvcls.serving import ScoringClient

    batching = {
        "max_batch_size": args.max_batch_size,
        "batch_timeout_micros": args.batch_timeout_micros,
        "num_batch_threads": args.num_batch_threads,
        "max_enqueued_batches": args.max_enqueued_batches,
    }
    result = {
        "benchmark": "serve",
        "machine": machine(),
        "model": (
            f"ImageClassifier({args.backbone}, image_size={args.image_size}, {len(LABELS)} classes, random init), "
            f"serving_default on {args.size} JPEGs, one image per request"
        ),
        "duration_s": args.duration,
        "warmup_s": warmup,
        "batching": batching,
        "naive_predict": f"model.{args.naive_predict}",
    }
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH", "")) if p)

    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        log(f"writing {args.num_images} photos {args.size}")
        paths = make_photos(os.path.join(tmp, "photos"), args.num_images, width, height)
        payloads = []
        for path in paths:
            with open(path, "rb") as f:
                payloads.append(f.read())

        log(f"building and exporting ImageClassifier({args.backbone}, image_size={args.image_size})")
        classifier = ImageClassifier(LABELS, args.backbone, weights=None, image_size=args.image_size)
        base = os.path.join(tmp, "models", MODEL_NAME)
        export_dir = export_for_serving(classifier, base)
        keras_path = os.path.join(tmp, "naive", "classifier.keras")
        os.makedirs(os.path.dirname(keras_path))
        classifier.save(keras_path)
        with open(_warmup_image_path(keras_path), "wb") as f:
            f.write(payloads[0])
        del classifier

        in_process = None
        if "ceiling" not in skip:
            result["in_process"] = {}
            in_process = InProcess(export_dir, payloads)
            _in_process(result, in_process, args, warmup, "before")

        result["ours"] = {}
        if not {"rest", "grpc"} <= skip:
            argv = _cli_argv() + [
                "serve", "--model-base", base, "--name", MODEL_NAME, "--host", "127.0.0.1",
                "--rest-port", "0", "--grpc-port", "0",
            ]  # fmt: skip
            for key, value in batching.items():
                argv += ["--" + key.replace("_", "-"), str(value)]
            log("starting our server: keras-cvcls " + " ".join(argv[2:]))
            server = ServerProcess(
                "keras-cvcls serve",
                argv,
                r"REST (http://\S+), gRPC (\S+) \(Ctrl-C",
                os.path.join(tmp, "ours.log"),
                env=env,
            )
            try:
                url, target = server.match.group(1), server.match.group(2)
                for protocol in ("rest", "grpc"):
                    if protocol in skip:
                        continue
                    kwargs = {"url": url} if protocol == "rest" else {"grpc": target}
                    factory = lambda kwargs=kwargs: ScoringClient(  # noqa: E731
                        model_name=MODEL_NAME, timeout=args.timeout, max_retries=0, **kwargs
                    )
                    points = result["ours"][protocol] = {}
                    for c in concurrencies:
                        points[str(c)] = load_point(factory, payloads, c, args.duration, warmup, server)
                        log(f"ours {protocol} c={c}: {_fmt(points[str(c)])}")
            finally:
                server.stop()

        result["naive"] = {}
        if "naive" not in skip:
            argv = [sys.executable, os.path.abspath(__file__), "--naive-server", keras_path, "0", args.naive_predict]
            log(f"starting the naive server (model.{args.naive_predict} per request)")
            server = ServerProcess(
                "naive server", argv, r"listening on (http://\S+)", os.path.join(tmp, "naive.log"), env=env
            )
            try:
                url = server.match.group(1)
                factory = lambda: NaiveClient(url, args.timeout)  # noqa: E731
                points = result["naive"]["rest"] = {}
                for c in concurrencies:
                    points[str(c)] = load_point(factory, payloads, c, args.duration, warmup, server)
                    log(f"naive http c={c}: {_fmt(points[str(c)])}")
            finally:
                server.stop()

        if in_process is not None:
            _in_process(result, in_process, args, warmup, "after")
            runs = result["in_process"]
            # Conservative for the targets: the faster ceiling and the lower single-image p50 of the two runs.
            result["ceiling_images_per_s"] = max(r["ceiling"]["images_per_s"] for r in runs.values())
            result["in_process_single_p50_ms"] = min(r["single"]["p50_ms"] for r in runs.values())

    result["ratios"], result["targets_met"] = ratios_and_targets(result, concurrencies)
    json.dump(result, sys.stdout)
    print()
    return result


def ratios_and_targets(result, concurrencies):
    """The ratios the project tracks and whether its targets are met (None where not measured)."""
    ours = result.get("ours", {})
    naive = result.get("naive", {}).get("rest", {})
    ceiling = result.get("ceiling_images_per_s")
    single = result.get("in_process_single_p50_ms")
    hi, lo = str(max(concurrencies)), str(min(concurrencies))

    def ips(protocol, c):
        point = ours.get(protocol, {}).get(c)
        return point["images_per_s"] if point else None

    ratios, targets = {}, {}
    for protocol in ("grpc", "rest"):
        value = ips(protocol, hi)
        if value is not None and ceiling:
            ratios[f"ours_{protocol}_{hi}_vs_ceiling"] = round(value / ceiling, 3)
            targets[f"ours_{protocol}_{hi}_ge_90pct_ceiling"] = value >= 0.9 * ceiling
    best = max((v for v in (ips("rest", hi), ips("grpc", hi)) if v is not None), default=None)
    if best is not None and naive.get(hi):
        ratios[f"ours_best_{hi}_vs_naive_{hi}"] = round(best / naive[hi]["images_per_s"], 3)
        targets[f"ours_best_{hi}_ge_3x_naive_{hi}"] = best >= 3 * naive[hi]["images_per_s"]
    deltas = {}
    for protocol in ("rest", "grpc"):
        point = ours.get(protocol, {}).get(lo)
        if point and single is not None:
            deltas[protocol] = round(point["p50_ms"] - single, 3)
            targets[f"ours_{protocol}_c{lo}_p50_within_5ms"] = deltas[protocol] <= 5.0
    if deltas:
        ratios[f"p50_c{lo}_minus_in_process_ms"] = deltas
    return ratios, targets


if __name__ == "__main__":
    main()
