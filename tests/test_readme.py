"""Every code block of README.md runs as shown: in order, in one fresh folder, as a reader would.

A reader runs the README top to bottom in a folder holding their photos. This test does the same
with a small generated ``photos/`` folder (labels ``cat`` and ``dog``, the README's file names)
and a few loose images, and runs every fenced block:

- ``python`` blocks share one namespace, like cells of one notebook;
- ``bash`` blocks run line by line through bash, with ``.venv/bin/`` meaning this interpreter's
  scripts folder; a bracketed optional flag (``[--json]``) is run as written without it; long-running
  servers (``keras-cvcls serve``, ``keras-cvcls ui``, ``tensorboard``) are started in the background and
  must come up;
- ``json`` blocks preceded by ``<!-- readme: file NAME -->`` are written to that file.

A block preceded by ``<!-- readme: skip REASON -->`` is not run; the test checks that every such
block says why. The README's placeholder hosts (``https://example.org/`` for images,
``https://your-search-api/images`` for an image search service) are served on loopback by this
test, with the images and the Bing-shaped JSON they stand for; since loopback is refused by
default, the test allows private addresses through ``KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES=1``, as
a reader fetching from their own network would.
"""

import functools
import http.server
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
BLOCK = re.compile(r"(?:<!-- readme: (?P<directive>[^>]*?) -->\s*\n)?^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```", re.S | re.M)
BACKGROUND = ("keras-cvcls serve", "keras-cvcls ui", "tensorboard ")
SCRIPTS = os.path.dirname(sys.executable)

pytestmark = pytest.mark.slow


def readme_blocks():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return [(m["directive"] or "", m["lang"], m["code"]) for m in BLOCK.finditer(text)]


def _photo(rng, size, kind):
    """A textured photo-like image: smooth colour field, per-label texture, noise."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + rng.uniform(0, 6)), np.cos(5 * y + rng.uniform(0, 6)), x * y], -1)
    texture = np.sin(40 * x)[..., None] if kind == "cat" else (np.sin(40 * x) * np.sin(40 * y))[..., None]
    image = 127 + 60 * base + 50 * texture + rng.normal(0, 8, (h, w, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def make_world(root):
    """photos/ (cat, dog), val_photos/, new/, more_cats/ and loose cat.jpg, dog.jpg, b.png."""
    rng = np.random.default_rng(0)
    names = {
        "cat": ["001.jpg", "002.jpg"] + [f"c{i}.jpg" for i in range(5)],
        "dog": ["a.png", "b.jpeg"] + [f"d{i}.jpg" for i in range(5)],
    }
    for label, files in names.items():
        for name in files:
            path = os.path.join(root, "photos", label, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _photo(rng, (96, 128), label).save(path)
        for i in range(3):
            path = os.path.join(root, "val_photos", label, f"v{i}.jpg")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _photo(rng, (96, 128), label).save(path)
    os.makedirs(os.path.join(root, "new"))
    os.makedirs(os.path.join(root, "more_cats"))
    os.makedirs(os.path.join(root, "web"))
    _photo(rng, (120, 160), "cat").save(os.path.join(root, "new", "a.jpg"))
    _photo(rng, (120, 160), "dog").save(os.path.join(root, "new", "b.jpg"))
    _photo(rng, (96, 128), "cat").save(os.path.join(root, "more_cats", "m.jpg"))
    _photo(rng, (96, 128), "cat").save(os.path.join(root, "cat.jpg"))
    _photo(rng, (96, 128), "dog").save(os.path.join(root, "dog.jpg"))
    _photo(rng, (96, 128), "cat").save(os.path.join(root, "web", "cat.jpg"))
    _photo(rng, (96, 128), "dog").save(os.path.join(root, "web", "b.png"))
    for i in range(3):
        _photo(rng, (96, 128), "dog").save(os.path.join(root, "web", f"beagle{i}.jpg"))
        _photo(rng, (96, 128), "cat").save(os.path.join(root, "web", f"tabby{i}.jpg"))


class _WebHandler(http.server.SimpleHTTPRequestHandler):
    """Static images from web/, and ``/images?q=...`` answered in Bing Image Search v7's shape."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        if parts.path == "/images":
            query = urllib.parse.parse_qs(parts.query).get("q", [""])[0]
            prefix = "beagle" if "beagle" in query else "tabby"
            base = f"http://{self.headers['Host']}/"
            body = json.dumps({"value": [{"contentUrl": f"{base}{prefix}{i}.jpg"} for i in range(3)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture
def world(tmp_path, monkeypatch):
    make_world(str(tmp_path))
    handler = functools.partial(_WebHandler, directory=str(tmp_path / "web"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_CVCLS_ALLOW_PRIVATE_ADDRESSES", "1")  # example.org stands in on loopback
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    yield tmp_path, {"https://example.org/": base, "https://your-search-api/images": base + "images"}
    server.shutdown()


def _port_opens(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _bash_lines(code):
    """Logical lines of a bash block (continuations joined, comments kept for bash to drop)."""
    return [line for line in code.replace("\\\n", " ").splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _as_run(line):
    line = re.sub(r"(?<=\s)\.venv/bin/", SCRIPTS + "/", " " + line).strip()
    return re.sub(r"\s\[[^\]]*\]", "", line)  # "[--json]": optional, run without


def _ports(line):
    return [int(p) for p in re.findall(r"--(?:rest-|grpc-)?port[ =](\d+)", line)] or ([8765] if " ui " in line else [])


def test_readme_skips_say_why():
    for directive, lang, code in readme_blocks():
        if directive.startswith("skip"):
            assert len(directive.split(None, 1)) == 2, f"a skipped README block must say why: {code[:80]!r}"


def test_every_readme_block_runs_as_shown(world):
    root, hosts = world
    env = dict(os.environ, PATH=SCRIPTS + os.pathsep + os.environ.get("PATH", ""), TF_CPP_MIN_LOG_LEVEL="3")
    namespace = {"__name__": "__readme__"}
    background = []
    ran = 0
    try:
        for directive, lang, code in readme_blocks():
            for placeholder, real in hosts.items():
                code = code.replace(placeholder, real)
            if directive.startswith("skip") or lang not in ("python", "bash", "json"):
                continue
            if directive.startswith("file "):
                with open(directive.split(None, 1)[1].strip(), "w", encoding="utf-8") as f:
                    f.write(code)
                continue
            if lang == "json":
                continue
            ran += 1
            if lang == "python":
                exec(compile(code, f"README.md python block {ran}", "exec"), namespace)
                continue
            for line in _bash_lines(code):
                command = _as_run(line)
                if line.startswith("export "):
                    name, _, value = command[len("export "):].partition("=")
                    env[name] = shlex.split(value.split("#")[0])[0] if value.split("#")[0].strip() else ""
                    continue
                if any(line.replace(".venv/bin/", "").startswith(b) for b in BACKGROUND):
                    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, text=True)
                    background.append(proc)
                    for port in _ports(line):
                        assert _port_opens(port, 90), f"{line!r} did not start listening on {port}: {proc.poll()}"
                    assert proc.poll() is None, f"{line!r} exited: {proc.stderr.read()}"
                    continue
                done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"README line {line!r} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    finally:
        for proc in background:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if "kc" in namespace:
            from keras_cvcls.ui import stop_all

            stop_all()
    assert ran >= 10, f"only {ran} README blocks ran: did the fences change?"
