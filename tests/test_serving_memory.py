"""Hostile REST bodies against a real server process, its peak memory measured (issue 13, item 2).

The server runs in a subprocess so that its resident memory is its own: before each request the
kernel's peak-RSS counter is reset (``/proc/PID/clear_refs``), after it ``VmHWM`` is the peak.
"""

import base64
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import requests
from PIL import Image

from keras_cvcls.export import export_for_serving
from keras_cvcls.serving.testing import make_tiny_classifier

LABELS = ["cat", "dog", "fox"]
NAME = "clf"
MiB = 1 << 20
# What a request may cost beyond 4x its tensor: the body itself, held by aiohttp while it is
# handled, and aiohttp's buffer while it arrives (2 x 38 MB); the model's activations for
# thousands of 16x16 images and TensorFlow's per-run buffers (~40 MB); the response; malloc's
# per-thread arenas and the slack of a process that has just handled a request.
CONSTANT = 200 * MiB

_SERVER = """
import json, sys
from keras_cvcls.serving import ModelServer
server = ModelServer(sys.argv[1], sys.argv[2], rest_port=0, grpc_port=None, host="127.0.0.1").start()
print(json.dumps({"url": server.rest_url}), flush=True)
sys.stdin.read()  # until the test closes stdin
server.stop()
"""


def _status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_rss_increase(pid, request):
    """Runs ``request()``; returns (its result, the process's peak RSS during it minus its RSS before)."""
    before = _status(pid, "VmRSS")
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    result = request()
    return result, _status(pid, "VmHWM") - before


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to measure a process's peak memory")
    base = tmp_path_factory.mktemp("memory") / NAME
    classifier = make_tiny_classifier(LABELS, (16, 16), seed=0)
    export_for_serving(classifier, base, labels=LABELS, image_size=(16, 16), resize_mode="crop", warmup=False)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(base), NAME],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        url = json.loads(proc.stdout.readline())["url"] + f"/v1/models/{NAME}:predict"
        # Warm both signatures up, so the measured requests pay only for themselves.
        small = {"signature_name": "predict_images", "instances": np.zeros((64, 16, 16, 3)).tolist()}
        assert requests.post(url, json=small, timeout=60).status_code == 200
        yield proc.pid, url
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_a_38_mb_body_of_numbers_costs_at_most_4x_its_tensor(server):
    pid, url = server
    images = 6100
    pixels = np.random.default_rng(0).integers(0, 25600, (images, 16, 16, 3)) / 100  # 2 decimals
    body = json.dumps({"signature_name": "predict_images", "instances": pixels.tolist()}).encode()
    del pixels
    assert len(body) >= 38_000_000
    tensor_bytes = images * 16 * 16 * 3 * 4  # float32
    response, increase = peak_rss_increase(pid, lambda: requests.post(url, data=body, timeout=60))
    assert response.status_code == 200, response.text[:500]
    scores = [prediction["scores"] for prediction in response.json()["predictions"]]
    assert np.array(scores).shape == (images, len(LABELS))
    assert increase <= 4 * tensor_bytes + CONSTANT, (increase / MiB, tensor_bytes / MiB)


def _bomb_png(side=20000):
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, "PNG")  # 1.2 GB as RGB once decoded, 50 kB as a file
    return buf.getvalue()


def test_a_decompression_bomb_is_refused_before_it_is_decoded(server):
    pid, url = server
    body = {"instances": [{"b64": base64.b64encode(_bomb_png()).decode("ascii")}]}
    response, increase = peak_rss_increase(pid, lambda: requests.post(url, json=body, timeout=60))
    assert response.status_code == 400
    assert "Image too large: 20000x20000 = 400000000 pixels exceeds max_pixels=89478485" in response.json()["error"]
    assert increase < 100 * MiB, increase / MiB  # decoding it would take 1.2 GB


def test_a_body_that_is_not_dense_is_refused_in_bounded_memory(server):
    pid, url = server
    # 4.8 million numbers in ragged rows: json.loads alone would make ~400 MB of Python objects.
    rows = ", ".join(["[1.5, 2.5, 3.5]", "[1.5]"] * 800_000)
    body = ('{"signature_name": "predict_images", "instances": [%s]}' % rows).encode()
    response, increase = peak_rss_increase(pid, lambda: requests.post(url, data=body, timeout=60))
    assert response.status_code == 400
    assert "values outside dense numeric arrays" in response.json()["error"]
    assert increase <= CONSTANT, increase / MiB
