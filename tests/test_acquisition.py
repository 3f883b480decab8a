"""Dataset acquisition against a real HTTP server on 127.0.0.1 (no other network)."""

import argparse
import collections
import hashlib
import http.server
import io
import json
import os
import threading
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.data.acquisition import DownloadReport, ImageSearchProvider, JsonImageSearchProvider
from keras_cvcls.data.acquisition import MissingSearchKeyError, download_dataset, read_query_file
from keras_cvcls.data.acquisition import safe_label, safe_stem
from keras_cvcls.data.acquisition.search import ENDPOINT_ENV, KEY_ENV

SEARCH_KEY = "test-key"
# Short timeouts keep the slow-server cases fast; the test server is on loopback, which
# downloads refuse unless told otherwise.
FAST = dict(timeout=0.5, total_timeout=3.0, retries=1, backoff=0.01, max_bytes=2**20, workers=4, progress=False,
            allow_private_addresses=True)


def picture(seed, size=64):
    """A smooth random picture; different seeds are far apart in difference hash."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)


def encode(image, fmt="JPEG", **kwargs):
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


JPEG_A = encode(picture(1), quality=90)
JPEG_A_NEAR = encode(picture(1).resize((56, 56)), quality=60)  # same picture, re-encoded and resized
PNG_B = encode(picture(2), "PNG")
PNG_C = encode(picture(4), "PNG")
TRUNCATED = encode(picture(3, 128), quality=95)[:900]
HTML = b"<!DOCTYPE html><html><body>A page about cats</body></html>"
EVIL = {name: encode(picture(seed)) for seed, name in enumerate(["evil.jpg", "evil2.jpg", "evil3", "evil4"], start=5)}
SEARCH_IMAGES = {"/img/s1.jpg": encode(picture(9)), "/img/s2.png": encode(picture(10), "PNG")}
FLAKY = encode(picture(13), "PNG")
LOCAL_1, LOCAL_2 = encode(picture(11), "PNG"), encode(picture(12))


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type="image/jpeg", headers=()):
        try:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if body is not None:
                self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body or b"")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        server = self.server
        parts = urllib.parse.urlsplit(self.path)
        with server.lock:
            server.counts[parts.path] += 1
            count = server.counts[parts.path]
        route = server.routes.get(parts.path)
        if route is not None:
            return route(self, urllib.parse.parse_qs(parts.query), count)
        if "evil" in parts.path:  # traversal-style URL paths, however the client normalised them
            name = urllib.parse.unquote(parts.path).rsplit("/", 1)[-1]
            return self.send(200, EVIL[name])
        self.send(404, b"not found", "text/plain")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are expected here


def _routes(base):
    def image(data, content_type="image/jpeg"):
        return lambda h, q, n: h.send(200, data, content_type)

    def redirect(target, status=302):
        return lambda h, q, n: h.send(status, b"", "text/plain", [("Location", target)])

    def slow(h, q, n):
        time.sleep(2.0)
        h.send(200, JPEG_A)

    def huge(h, q, n):
        h.send(200, bytes(3 * 2**20))

    def huge_chunked(h, q, n):  # no Content-Length: the size cap must stop the stream
        try:
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.end_headers()
            for _ in range(48):
                h.wfile.write(bytes(64 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def flaky(h, q, n):
        if n == 1:
            return h.send(503, b"busy", "text/plain", [("Retry-After", "0")])
        h.send(200, FLAKY, "image/png")

    def download(h, q, n):
        disposition = {
            "7": 'attachment; filename="../../evil3.jpg"',
            "8": "attachment; filename*=UTF-8''..%2F..%2Fevil4.jpg",
        }[q["id"][0]]
        h.send(200, EVIL["evil3" if q["id"][0] == "7" else "evil4"], "image/jpeg", [("Content-Disposition", disposition)])

    def search(h, q, n):
        if h.headers.get("Authorization") != f"Bearer {SEARCH_KEY}":
            return h.send(401, b'{"error": "bad key"}', "application/json")
        assert q["q"] == ["dog photo"] and int(q["count"][0]) >= 1
        value = [{"contentUrl": base + p, "name": p} for p in ("/img/s1.jpg", "/img/a.jpg", "/img/s2.png", "/missing2.jpg")]
        h.send(200, json.dumps({"value": value[: int(q["count"][0])]}).encode(), "application/json")

    def paged_search(h, q, n):  # honours offset and count, says where the next page starts
        items = [{"contentUrl": f"{base}/p{i}.jpg"} for i in range(5)]
        offset, count = int(q["offset"][0]), int(q["count"][0])
        answer = {"value": items[offset : offset + count]}
        if offset + count < len(items):
            answer["nextOffset"] = offset + count
        h.send(200, json.dumps(answer).encode(), "application/json")

    return {
        "/paged": paged_search,
        "/img/a.jpg": image(JPEG_A),
        "/img/a-copy.jpg": image(JPEG_A),
        "/img/a-near.jpg": image(JPEG_A_NEAR),
        "/img/b.png": image(PNG_B, "image/png; charset=binary"),
        "/img/c.png": image(PNG_C, "application/octet-stream"),
        "/img/truncated.jpg": image(TRUNCATED),
        "/page.jpg": image(HTML, "text/html; charset=utf-8"),
        "/liar.jpg": image(HTML, "image/jpeg"),
        "/slow.jpg": slow,
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect(base + "/loop-a", 301),
        "/moved": redirect("/img/c.png", 301),
        "/to-file": redirect("file:///etc/passwd"),
        "/huge.jpg": huge,
        "/huge-chunked.jpg": huge_chunked,
        "/flaky.png": flaky,
        "/dl": download,
        "/search": search,
        **{path: image(data, "image/png" if path.endswith("png") else "image/jpeg") for path, data in SEARCH_IMAGES.items()},
    }


@pytest.fixture
def server(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the test server is on loopback, never behind a proxy
    httpd = _Server(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.base, httpd.lock, httpd.counts = base, threading.Lock(), collections.Counter()
    httpd.routes = _routes(base)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def search_env(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SEARCH_KEY)
    monkeypatch.setenv(ENDPOINT_ENV, server.base + "/search")


def write_query_file(path, queries):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(queries, f)
    return str(path)


def make_local_folder(root):
    files = {"l1.png": LOCAL_1, "l2.jpg": LOCAL_2, "broken.jpg": TRUNCATED, "a-again.jpg": JPEG_A,
             "notes.txt": b"not an image", ".hidden.jpg": LOCAL_1}
    os.makedirs(root, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return str(root)


def all_files(root):
    return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files}


def dataset_files(out):
    """(label, file name) -> sha256 for the dataset's images (sidecar folder left out)."""
    found = {}
    for label in os.listdir(out):
        if label == ".keras_cvcls":
            continue
        for name in os.listdir(os.path.join(out, label)):
            with open(os.path.join(out, label, name), "rb") as f:
                found[(label, name)] = sha(f.read())
    return found


def test_download_dataset_end_to_end(server, search_env, tmp_path):
    b = server.base
    make_local_folder(tmp_path / "local")
    query_file = write_query_file(tmp_path / "queries" / "queries.json", {
        "cat": [f"{b}/img/a.jpg", f"{b}/img/a-copy.jpg", f"{b}/img/a-near.jpg", f"{b}/img/truncated.jpg",
                f"{b}/page.jpg", f"{b}/liar.jpg", "../local"],
        "dog": ["dog photo", f"{b}/slow.jpg", f"{b}/loop-a", f"{b}/moved", f"{b}/missing.jpg", f"{b}/huge.jpg",
                f"{b}/huge-chunked.jpg", f"{b}/flaky.png", f"{b}/to-file", "ftp://127.0.0.1/x.jpg"],
        "../escape": [f"{b}/../../evil.jpg", f"{b}/x/..%2F..%2Fevil2.jpg", f"{b}/dl?id=7", f"{b}/dl?id=8"],
    })
    out = tmp_path / "out"
    before = all_files(tmp_path)
    start = time.monotonic()
    report = download_dataset(query_file, out, max_per_query=10, **FAST)
    elapsed = time.monotonic() - start

    # Exactly the good, unique images, in safe folders.
    files = dataset_files(out)
    expected = {
        "cat": {sha(JPEG_A), sha(JPEG_A_NEAR), sha(LOCAL_1), sha(LOCAL_2)},
        "dog": {sha(d) for d in SEARCH_IMAGES.values()} | {sha(PNG_C), sha(FLAKY)},
        "escape": {sha(d) for d in EVIL.values()},
    }
    assert {label: {s for (l, _), s in files.items() if l == label} for label in expected} == expected
    assert len(files) == sum(map(len, expected.values()))
    assert report.counts == {label: len(shas) for label, shas in expected.items()}
    assert report.labels == {"cat": "cat", "dog": "dog", "../escape": "escape"}
    assert sorted(name for label, name in files if label == "escape") == ["evil.jpg", "evil2.jpg", "evil3.jpg", "evil4.jpg"]
    assert ("cat", "l1.png") in files and ("dog", "c.png") in files  # names from the source, extension from the format
    assert len(report.downloaded) == len(files)

    # Every bad source is reported with its reason.
    reasons = {r["source"].get("url") or os.path.basename(r["source"].get("path", "")): r["reason"] for r in report.failures}
    patterns = {
        f"{b}/img/truncated.jpg": "bad image: corrupt or truncated",
        "broken.jpg": "bad image: corrupt or truncated",
        f"{b}/page.jpg": "Content-Type text/html, not an image",
        f"{b}/liar.jpg": "bad image: not an image: it holds HTML",
        f"{b}/slow.jpg": "timed out",
        f"{b}/loop-a": "redirect loop",
        f"{b}/missing.jpg": "HTTP 404",
        f"{b}/missing2.jpg": "HTTP 404",
        f"{b}/huge.jpg": "too large: Content-Length",
        f"{b}/huge-chunked.jpg": "too large: body exceeds max_bytes",
        f"{b}/to-file": "unsupported URL scheme 'file'",
        "ftp://127.0.0.1/x.jpg": "unsupported URL scheme 'ftp'",
    }
    assert set(reasons) == set(patterns)
    for source, pattern in patterns.items():
        assert pattern in reasons[source], (source, reasons[source])
    permanent = {r["source"].get("url"): r["permanent"] for r in report.failures}
    assert permanent[f"{b}/slow.jpg"] is False and permanent[f"{b}/missing.jpg"] is True
    duplicates = {(r["folder"], r["source"].get("url") or os.path.basename(r["source"]["path"])): r["duplicate_of"]
                  for r in report.duplicates}
    assert duplicates == {("cat", f"{b}/img/a-copy.jpg"): "cat/a.jpg", ("cat", "a-again.jpg"): "cat/a.jpg",
                          ("dog", f"{b}/img/a.jpg"): "cat/a.jpg"}
    assert server.counts["/flaky.png"] == 2  # retried after a 503
    assert server.counts["/loop-a"] == 1
    assert server.counts["/search"] == 1  # a short page ends the results

    # The manifest records sources, labels, files, hashes and reasons.
    with open(report.manifest_path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    ok = [r for r in records if r.get("status") == "ok"]
    assert {(r["file"].split("/")[0], r["sha256"]) for r in ok} == {(l, s) for l, shas in expected.items() for s in shas}
    search = next(r for r in ok if r["source"]["kind"] == "search")
    assert search["source"]["query"] == "dog photo" and search["source"]["url"].startswith(b)
    assert all(r["reason"] for r in records if r.get("status") == "failed")

    # Nothing was written outside OUT_DIR.
    outside = {p for p in all_files(tmp_path) - before if not p.startswith(str(out) + os.sep)}
    assert outside == set()
    assert not [p for p in os.listdir(tmp_path.parent) if "evil" in p]
    assert not [name for name in os.listdir(out / ".keras_cvcls") if name.startswith("download-tmp")]

    # The result reads back as a clean folder dataset.
    dataset = ClassificationDataset.from_directory(str(out))
    assert len(dataset.images) == len(files) and not [s for s in dataset.skipped if s.error]
    assert elapsed < 30  # the slow URL costs (retries + 1) x timeout, not the server's 2 s delay

    # A second run downloads nothing new; only the transient failure is tried again
    # (and the bad local file checked again, in case it was fixed).
    server.counts.clear()
    again = download_dataset(query_file, out, max_per_query=10, **FAST)
    assert again.downloaded == [] and again.duplicates == []
    assert sorted(r["source"].get("url") or r["source"]["path"] for r in again.failures) == [
        str(tmp_path / "local" / "broken.jpg"), f"{b}/slow.jpg"]
    assert set(server.counts) == {"/slow.jpg"}
    assert again.already_done == len(files) + len(duplicates) + len(patterns) - 2
    assert again.counts == report.counts and dataset_files(out) == files


def test_near_duplicates_hardlinks_and_custom_provider(server, tmp_path):
    b = server.base

    class Fixed(ImageSearchProvider):
        def __init__(self):
            self.calls = []

        def search(self, query, count):
            self.calls.append((query, count))
            return [{"content_url": f"{b}/img/s1.jpg"}, {"content_url": f"{b}/img/s2.png"}][:count]

    local = make_local_folder(tmp_path / "local")
    query_file = write_query_file(tmp_path / "q.json", {
        "cat": [f"{b}/img/a.jpg", f"{b}/img/a-near.jpg", local],
        "dog": ["anything"],
    })
    provider = Fixed()
    out = tmp_path / "out"
    report = download_dataset(query_file, out, max_per_query=1, search_provider=provider, dedupe="near",
                              local_files="hardlink", **FAST)
    near = {r["source"].get("url"): r for r in report.duplicates}
    assert near[f"{b}/img/a-near.jpg"]["duplicate_of"] == "cat/a.jpg" and near[f"{b}/img/a-near.jpg"]["distance"] > 0
    # max_per_query=1: one file from the folder (sorted: a-again.jpg, an exact copy), one search result.
    assert provider.calls == [("anything", 1)]
    assert report.counts == {"cat": 1, "dog": 1}
    assert not any(r["source"].get("path", "").endswith("l1.png") for r in report.downloaded + report.duplicates)

    report = download_dataset(query_file, out, max_per_query=5, search_provider=provider, dedupe="near",
                              local_files="hardlink", **FAST)
    assert provider.calls[-1] == ("anything", 5)  # asked again: more results wanted than remembered
    assert os.path.samefile(out / "cat" / "l1.png", os.path.join(local, "l1.png"))
    assert report.counts == {"cat": 3, "dog": 2}


def test_missing_search_key_names_the_variable(server, tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(ENDPOINT_ENV, server.base + "/search")
    query_file = write_query_file(tmp_path / "q.json", {"dog": ["dog photo", f"{server.base}/img/a.jpg"]})
    with pytest.raises(MissingSearchKeyError, match=KEY_ENV):
        download_dataset(query_file, tmp_path / "out", **FAST)
    assert not (tmp_path / "out").exists() and sum(server.counts.values()) == 0
    # Without text queries no key is needed.
    urls_only = write_query_file(tmp_path / "urls.json", {"dog": [f"{server.base}/img/a.jpg"]})
    assert download_dataset(urls_only, tmp_path / "out", **FAST).counts == {"dog": 1}


def test_wrong_search_key_is_reported_and_retried_next_time(server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "wrong")
    monkeypatch.setenv(ENDPOINT_ENV, server.base + "/search")
    query_file = write_query_file(tmp_path / "q.json", {"dog": ["dog photo"]})
    report = download_dataset(query_file, tmp_path / "out", **FAST)
    assert report.counts == {"dog": 0}
    [failure] = report.failures
    assert "HTTP 401" in failure["reason"] and KEY_ENV in failure["reason"]
    monkeypatch.setenv(KEY_ENV, SEARCH_KEY)
    assert download_dataset(query_file, tmp_path / "out", **FAST).counts == {"dog": 3}


def test_search_provider_sends_key_header(server):
    provider = JsonImageSearchProvider(server.base + "/search", SEARCH_KEY, env={})
    results = provider.search("dog photo", 2)
    assert [r["content_url"] for r in results] == [server.base + "/img/s1.jpg", server.base + "/img/a.jpg"]
    assert SEARCH_KEY not in repr(provider)
    paged = JsonImageSearchProvider(server.base + "/paged", "k", key_header="Ocp-Apim-Subscription-Key", page_size=2, env={})
    assert [r["content_url"][-7:] for r in paged.search("x", 10)] == [f"/p{i}.jpg" for i in range(5)]
    assert server.counts["/paged"] == 3
    with pytest.raises(MissingSearchKeyError, match=ENDPOINT_ENV):
        JsonImageSearchProvider(api_key="k", env={})


def test_label_folder_linked_outside_is_refused(server, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "cat")
    query_file = write_query_file(tmp_path / "q.json", {"cat": [f"{server.base}/img/a.jpg"]})
    report = download_dataset(query_file, out, **FAST)
    assert report.downloaded == [] and "outside the output folder" in report.failures[0]["reason"]
    assert os.listdir(outside) == []


def test_query_file_classification(tmp_path):
    (tmp_path / "photos" / "cats").mkdir(parents=True)
    query_file = write_query_file(tmp_path / "q" / "q.json", {
        "cat": ["tabby cat", "../photos/cats", "https://example.com/c.jpg", "file:///etc/passwd", "AC/DC"],
        "dog": "single query",
    })
    entries = read_query_file(query_file)
    assert [(e.folder, e.kind) for e in entries] == [
        ("cat", "query"), ("cat", "folder"), ("cat", "url"), ("cat", "url"), ("cat", "query"), ("dog", "query")]
    assert entries[1].value == str(tmp_path / "photos" / "cats")


@pytest.mark.parametrize("content, match", [
    ([], "non-empty JSON object"),
    ({"cat": []}, "non-empty list"),
    ({"cat": [3]}, "non-empty strings"),
    ({"..": ["x"]}, "Received: label='..'"),
    ({"Cat": ["x"], "cat/": ["y"]}, "map to the same folder"),
])
def test_query_file_errors(tmp_path, content, match):
    with pytest.raises(ValueError, match=match):
        read_query_file(write_query_file(tmp_path / "q.json", content))


def test_safe_names():
    assert safe_label("../escape") == "escape"
    assert safe_label("/abs/path") == "abs_path"
    assert safe_label("...hidden") == "hidden"
    assert safe_label("CON") == "CON_"
    with pytest.raises(ValueError, match="Received: label=''"):
        safe_label("")
    assert safe_stem("../../evil.jpg") == "evil"
    assert safe_stem("..\\..\\evil.jpg") == "evil"
    assert safe_stem("") == "image"
    assert safe_stem("invoice\u202egpj.exe") == "invoice_gpj"


def test_argument_errors(tmp_path):
    query_file = write_query_file(tmp_path / "q.json", {"cat": ["https://example.com/a.jpg"]})
    with pytest.raises(ValueError, match="Received: max_per_query=0"):
        download_dataset(query_file, tmp_path / "out", max_per_query=0)
    with pytest.raises(ValueError, match="Received: local_files='move'"):
        download_dataset(query_file, tmp_path / "out", local_files="move")
    with pytest.raises(ValueError, match="Received: timeout=0"):
        download_dataset(query_file, tmp_path / "out", timeout=0)
    with pytest.raises(ValueError, match="Received: query_file="):
        download_dataset(tmp_path / "missing.json", tmp_path / "out")


def test_cli_download_json(server, tmp_path, capsys):
    from keras_cvcls.cli import acquisition_commands

    parser = argparse.ArgumentParser(prog="keras-cvcls dataset")
    acquisition_commands.register(parser.add_subparsers(dest="dataset_command"))
    query_file = write_query_file(tmp_path / "q.json", {
        "cat": [f"{server.base}/img/a.jpg", f"{server.base}/img/a-copy.jpg", f"{server.base}/missing.jpg"]})
    args = parser.parse_args(["download", query_file, str(tmp_path / "out"), "--max-per-query", "3", "--json",
                              "--timeout", "0.5", "--retries", "0", "--no-progress", "--allow-private-addresses"])
    assert args.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["downloaded"] == 1 and summary["counts"] == {"cat": 1}
    assert [d["duplicate_of"] for d in summary["duplicates"]] == ["cat/a.jpg"]
    assert [(f["source"], f["permanent"]) for f in summary["failures"]] == [(f"{server.base}/missing.jpg", True)]
    assert "HTTP 404" in summary["failures"][0]["reason"]
    assert set(summary) == set(DownloadReport("", "", {}).to_dict())
    os.remove(tmp_path / "out" / "cat" / "a.jpg")  # a deleted image is fetched again
    assert args.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["downloaded"] == 1 and summary["already_done"] == 2 and os.path.isfile(tmp_path / "out" / "cat" / "a.jpg")
