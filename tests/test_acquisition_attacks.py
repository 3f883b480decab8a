"""Downloads under attack, reproduced on loopback (issue 13, items 1, 3 and 4).

Concurrent writers into one folder, slow-drip servers, redirects and search results pointing
at loopback, DNS rebinding, credentials in URLs and a header flood. Servers are real HTTP
servers on 127.0.0.x; ``127.0.0.2`` plays a public host where a test needs one (the address
table itself is tested on its own, with real public and non-public addresses).
"""

import collections
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from keras_cvcls.cli.main import main
from keras_cvcls.data.acquisition import JsonImageSearchProvider, download_dataset
from keras_cvcls.data.acquisition import public_address
from keras_cvcls.data.acquisition.public_address import non_public_kind
from keras_cvcls.serving.image_source import read_image_bytes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = dict(timeout=5.0, retries=0, backoff=0.01, workers=4, progress=False)


def png(seed):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


SECRET = png(999)  # what a service on the user's own machine would hand out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type="image/png", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        server = self.server
        with server.lock:
            server.counts[path] += 1
            server.hosts.append(self.headers.get("Host"))
        route = server.routes.get(path)
        try:
            if route is None:
                return self.send(404, b"not found", "text/plain")
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients cut off at their deadline are expected


def start_server(routes, host="127.0.0.1", port=0):
    server = _Server((host, port), _Handler)
    server.routes, server.counts, server.hosts, server.lock = routes, collections.Counter(), [], threading.Lock()
    server.base = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def image(data):
    return lambda h: h.send(200, data)


def redirect(target):
    return lambda h: h.send(302, b"", "text/plain", [("Location", target)])


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(public_address.ALLOW_PRIVATE_ENV, raising=False)


@pytest.fixture
def servers():
    started = []

    def start(routes, host="127.0.0.1", port=0):
        server = start_server(routes, host, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def public_stand_in(monkeypatch):
    """127.0.0.2 counts as a public address; everything else is judged as usual."""
    try:
        socket.create_server(("127.0.0.2", 0)).close()
    except OSError:
        pytest.skip("this system cannot bind 127.0.0.2 (Linux routes all of 127/8 to loopback)")
    original = public_address.non_public_kind
    monkeypatch.setattr(public_address, "non_public_kind", lambda a: None if a == "127.0.0.2" else original(a))


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return str(path)


def manifest_records(out):
    with open(os.path.join(out, ".keras_cvcls", "manifest.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ----------------------------------------------------------------- item 1
def test_two_download_processes_into_one_folder(servers, tmp_path):
    """A second run into a busy folder stops at once naming the first; nothing is mislabelled or failed."""
    images = {f"/img/{i}.png": png(i) for i in range(12)}
    first_request, release = threading.Event(), threading.Event()

    def held(data):
        def route(h):
            first_request.set()
            release.wait(150)  # the first run holds the folder while the second one starts
            h.send(200, data)
        return route

    server = servers({path: held(data) for path, data in images.items()})
    paths = sorted(images, key=lambda p: int(p.split("/")[-1].split(".")[0]))
    expected_label = {server.base + p: ("cat" if i < 6 else "dog") for i, p in enumerate(paths)}
    cats = write_json(tmp_path / "cats.json", {"cat": [u for u, label in expected_label.items() if label == "cat"]})
    dogs = write_json(tmp_path / "dogs.json", {"dog": [u for u, label in expected_label.items() if label == "dog"]})
    out = str(tmp_path / "out")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]), TF_CPP_MIN_LOG_LEVEL="3")

    def download(query_file):
        argv = [sys.executable, "-m", "keras_cvcls", "dataset", "download", query_file, out, "--json", "--no-progress",
                "--allow-private-addresses", "--workers", "2", "--retries", "0", "--timeout", "170", "--total-timeout", "170"]
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = download(cats)
    try:
        assert first_request.wait(180), first.communicate(timeout=5)
        second = download(dogs)
        stdout, stderr = second.communicate(timeout=180)
        assert second.returncode == 1, (stdout, stderr)
        error = json.loads(stdout)
        assert error["kind"] == "busy" and f"process {first.pid} is downloading into it" in error["error"]
        assert "Traceback" not in stderr
    finally:
        release.set()
        stdout, stderr = first.communicate(timeout=180)
    assert first.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["downloaded"] == 6 and summary["failures"] == [], summary["failures"]

    # The refused run, run again once the folder is free, completes it.
    assert main(["dataset", "download", dogs, out, "--json", "--no-progress", "--allow-private-addresses"]) == 0

    records = manifest_records(out)
    assert [r for r in records if r.get("status") == "failed"] == []
    ok = [r for r in records if r.get("status") == "ok"]
    assert len(ok) == 12
    for record in ok:
        url = record["source"]["url"]
        assert record["folder"] == expected_label[url] and record["file"].startswith(expected_label[url] + "/")
        with open(os.path.join(out, record["file"]), "rb") as f:
            data = f.read()
        assert sha(data) == record["sha256"] == sha(images[urllib.parse.urlsplit(url).path])
    assert sorted(os.listdir(os.path.join(out, ".keras_cvcls"))) == ["download.lock", "manifest.jsonl"]


def test_manifest_line_cut_short_does_not_swallow_the_next_record(tmp_path):
    from keras_cvcls.data.acquisition.manifest import Manifest

    path = tmp_path / "manifest.jsonl"
    path.write_text('{"key": "a", "type": "image"}\n{"key": "b", "ty', encoding="utf-8")  # a killed run's last line
    Manifest(str(path)).append({"key": "c", "type": "image"})
    assert set(Manifest(str(path))._latest) == {"a", "c"}


# ----------------------------------------------------------------- item 3
def _drip_body(h):
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    for _ in range(30):  # 30 s, far past the tests' limits, so a regression fails instead of hanging
        h.wfile.write(b"\x89")
        h.wfile.flush()
        time.sleep(1.0)


def _drip_headers(h):
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(30):
        h.wfile.write(b"X")
        h.wfile.flush()
        time.sleep(1.0)


def test_slow_drip_servers_are_cut_at_total_timeout_and_hold_up_nothing(servers, tmp_path):
    import tensorflow  # noqa: F401  (the image check's decoder; imported before the clock starts)

    fast = {f"/fast/{i}.png": png(100 + i) for i in range(3)}
    server = servers({"/drip-body.png": _drip_body, "/drip-headers.png": _drip_headers,
                      **{p: image(d) for p, d in fast.items()}})
    served = {}
    for path in fast:  # note when each fast image was served
        route = server.routes[path]
        server.routes[path] = lambda h, route=route, path=path: (route(h), served.__setitem__(path, time.monotonic()))
    b = server.base
    query_file = write_json(tmp_path / "q.json", {
        "x": [f"{b}/drip-body.png", f"{b}/drip-headers.png", *(b + p for p in fast)]})
    start = time.monotonic()
    report = download_dataset(query_file, tmp_path / "out", total_timeout=2.0, allow_private_addresses=True,
                              **{**QUICK, "retries": 2})
    elapsed = time.monotonic() - start
    assert elapsed < 5.0, elapsed  # 2 s, not 30 s x 3 attempts
    failures = {r["source"]["url"]: r for r in report.failures}
    assert set(failures) == {f"{b}/drip-body.png", f"{b}/drip-headers.png"}
    for record in failures.values():
        assert record["reason"].startswith("too slow: not complete within total_timeout=2 s") and not record["permanent"]
    assert server.counts["/drip-body.png"] == 1  # no retry started once the deadline had passed
    assert report.counts == {"x": 3}
    assert max(served.values()) - start < 1.5  # the fast images did not wait for the slow ones

    # The scoring client's URL inputs: its timeout is a wall-clock limit too.
    start = time.monotonic()
    with pytest.raises(ValueError, match="Could not download the image .*too slow"):
        read_image_bytes(f"{b}/drip-body.png", timeout=1.0, allow_private_addresses=True)
    assert time.monotonic() - start < 3.0


def test_run_timeout_ends_the_run(servers, tmp_path):
    server = servers({f"/drip{i}.png": _drip_body for i in range(3)})
    query_file = write_json(tmp_path / "q.json", {"x": [f"{server.base}/drip{i}.png" for i in range(3)]})
    start = time.monotonic()
    report = download_dataset(query_file, tmp_path / "out", total_timeout=60.0, run_timeout=1.5,
                              allow_private_addresses=True, **{**QUICK, "workers": 1})
    assert time.monotonic() - start < 5.0
    reasons = [r["reason"] for r in report.failures]
    assert reasons[0] == "too slow: not complete within the run's run_timeout"
    assert reasons[1:] == ["not started: run_timeout=1.5 s passed first"] * 2
    assert not any(r["permanent"] for r in report.failures)  # the next run tries them again


# ----------------------------------------------------------------- item 4
@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "a loopback address"), ("127.8.9.10", "a loopback address"), ("::1", "a loopback address"),
    ("10.1.2.3", "a private address"), ("172.16.0.1", "a private address"), ("192.168.1.1", "a private address"),
    ("fd12:3456::1", "a private address"), ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"), ("224.0.0.251", "a multicast address"), ("ff02::1", "a multicast address"),
    ("0.0.0.0", "an unspecified address"), ("::", "an unspecified address"), ("240.0.0.1", "a reserved address"),
    ("100.64.0.1", "an address that is not publicly routable"), ("198.18.0.1", "a private address"),
    ("::ffff:127.0.0.1", "a loopback address"), ("::ffff:169.254.169.254", "a link-local address"),
    ("2002:a00:1::", "a private address"), ("64:ff9b::7f00:1", "a loopback address"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "a private address"),  # Teredo, client 10.0.0.1
    ("8.8.8.8", None), ("2606:4700::1111", None), ("::ffff:8.8.8.8", None), ("64:ff9b::808:808", None),
])
def test_address_table(address, kind):
    assert non_public_kind(address) == kind


def test_loopback_is_refused_by_default_and_allowed_on_request(servers, tmp_path):
    server = servers({"/img.png": image(SECRET)})
    port = server.server_address[1]
    urls = [f"{server.base}/img.png", f"http://localhost:{port}/img.png", f"http://2130706433:{port}/img.png"]
    query_file = write_json(tmp_path / "q.json", {"x": urls})
    report = download_dataset(query_file, tmp_path / "out", **QUICK)
    assert report.counts == {"x": 0} and sum(server.counts.values()) == 0  # not even connected
    for record in report.failures:
        assert "is a loopback address" in record["reason"] or "resolves to 127.0.0.1, a loopback address" in record["reason"]
        assert "--allow-private-addresses" in record["reason"] and not record["permanent"]
    # A re-run on the user's say-so fetches them (refusals are not permanent).
    assert main(["dataset", "download", query_file, str(tmp_path / "out"), "--json", "--no-progress",
                 "--allow-private-addresses"]) == 0
    assert server.counts["/img.png"] == 3 and len(os.listdir(tmp_path / "out" / "x")) == 1  # the others: duplicates


def test_redirects_and_search_results_to_loopback_are_refused(servers, public_stand_in, tmp_path):
    private = servers({"/secret.png": image(SECRET)})
    secret_url = private.base + "/secret.png"
    public = servers({
        "/cat.png": image(png(1)),
        "/to-secret.png": redirect(secret_url),
        "/to-localhost.png": redirect(f"http://localhost:{private.server_address[1]}/secret.png"),
        "/search": lambda h: h.send(200, json.dumps({"value": [{"contentUrl": secret_url}]}).encode(), "application/json"),
    }, host="127.0.0.2")
    provider = JsonImageSearchProvider(public.base + "/search", "key", env={})
    query_file = write_json(tmp_path / "q.json", {
        "x": [public.base + "/cat.png", public.base + "/to-secret.png", public.base + "/to-localhost.png", "cat photo"]})
    report = download_dataset(query_file, tmp_path / "out", search_provider=provider, **QUICK)
    assert report.counts == {"x": 1} and [r["sha256"] for r in report.downloaded] == [sha(png(1))]
    assert private.counts["/secret.png"] == 0
    reasons = {r["source"]["url"]: r["reason"] for r in report.failures}
    assert set(reasons) == {public.base + "/to-secret.png", public.base + "/to-localhost.png", secret_url}
    assert all(r.startswith("refused: ") and "a loopback address" in r for r in reasons.values())

    # The same for the scoring client's and predict_images' URL inputs.
    from keras_cvcls.data.image_inputs import load_images

    with pytest.raises(ValueError, match="refused: 127.0.0.1 is a loopback address"):
        read_image_bytes(public.base + "/to-secret.png", timeout=5)
    with pytest.raises(ValueError, match="could not fetch it: refused: 127.0.0.1 is a loopback address"):
        load_images(public.base + "/to-secret.png", 16)
    assert private.counts["/secret.png"] == 0
    assert read_image_bytes(public.base + "/to-secret.png", timeout=5, allow_private_addresses=True) == SECRET


def test_dns_rebinding_cannot_switch_the_checked_address(servers, public_stand_in, tmp_path, monkeypatch):
    """The name answers 127.0.0.2 (public) when checked, then 127.0.0.1: the connection stays on the first."""
    for _ in range(20):  # both servers on one port, as a rebinding attacker's would be
        public = servers({"/img.png": image(png(7))}, host="127.0.0.2")
        try:
            private = servers({"/img.png": image(SECRET)}, port=public.server_address[1])
            break
        except OSError:
            continue
    port = public.server_address[1]
    answers = collections.Counter()
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_dns(host, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        answers[host] += 1
        return real_getaddrinfo("127.0.0.2" if answers[host] == 1 else "127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    query_file = write_json(tmp_path / "q.json", {"x": [f"http://rebind.test:{port}/img.png"]})
    report = download_dataset(query_file, tmp_path / "out", **QUICK)
    assert [r["sha256"] for r in report.downloaded] == [sha(png(7))]
    assert private.counts["/img.png"] == 0 and public.hosts == [f"rebind.test:{port}"]  # Host header kept
    assert answers["rebind.test"] == 1  # resolved once, connected to what was checked


def test_no_credentials_in_the_manifest_and_a_header_flood_is_permanent(servers, tmp_path):
    def flood(h):
        h.send_response(200)
        for i in range(200):
            h.send_header(f"X-Flood-{i}", "x")
        h.end_headers()

    server = servers({"/img.png": image(png(3)), "/flood.png": flood})
    port = server.server_address[1]
    query_file = write_json(tmp_path / "q.json", {
        "x": [f"http://alice:s3cret@127.0.0.1:{port}/img.png", f"http://127.0.0.1:{port}/flood.png"]})
    report = download_dataset(query_file, tmp_path / "out", allow_private_addresses=True, **{**QUICK, "retries": 2})
    assert report.counts == {"x": 1}
    [failure] = report.failures
    assert failure["reason"] == "the server broke the HTTP protocol: got more than 100 headers" and failure["permanent"]
    assert server.counts["/flood.png"] == 1  # not retried
    with open(report.manifest_path, encoding="utf-8") as f:
        manifest = f.read()
    assert "s3cret" not in manifest and "alice" not in manifest
    assert "s3cret" not in json.dumps(report.to_dict())
    assert f"http://127.0.0.1:{port}/img.png" in manifest
