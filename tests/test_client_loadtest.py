"""ScoringClient (REST and gRPC), the load test, hot version switches under load, and the CLI."""

import argparse
import base64
import functools
import http.server
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import requests
import tensorflow as tf
from conftest import gradient, jpeg_bytes
from PIL import Image

from keras_cvcls.cli import serving_commands
from keras_cvcls.data.decode import decode_image
from keras_cvcls.export import export_for_serving
from keras_cvcls.serving import ModelServer, ScoringClient, ScoringError, parse_serialized_result, run_loadtest
from keras_cvcls.serving.image_upload import prepare_image
from keras_cvcls.serving.testing import make_tiny_classifier

LABELS = ["cat", "dog", "fox"]
TINY = {"labels": LABELS, "image_size": (16, 16), "resize_mode": "crop"}  # what export needs of a plain model
NAME = "clf"
BATCHING = {"max_batch_size": 32, "batch_timeout_micros": 2000, "max_enqueued_batches": 100}


@pytest.fixture(scope="module")
def classifier():
    return make_tiny_classifier(LABELS, (16, 16), seed=7)


@pytest.fixture(scope="module")
def server(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("client") / NAME
    export_for_serving(classifier, base, **TINY)
    with ModelServer(base, NAME, rest_port=0, grpc_port=0, host="127.0.0.1", batching_parameters=BATCHING) as running:
        yield running


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    paths = []
    for seed in range(3):
        path = root / f"img{seed}.jpg"
        path.write_bytes(jpeg_bytes(gradient(48, 64, seed=seed), quality=90))
        paths.append(str(path))
    return paths


def clients(server, **kwargs):
    return [
        ScoringClient(url=server.rest_url, model_name=NAME, **kwargs),
        ScoringClient(grpc=server.grpc_target, model_name=NAME, **kwargs),
    ]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def in_process(classifier, files):
    batch = tf.stack([decode_image(read(f), (16, 16), orientation=None) for f in files])
    return classifier(batch, training=False).numpy()


def test_rest_and_grpc_clients_agree_with_in_process_predictions(server, classifier, image_files):
    expected = in_process(classifier, image_files)
    for client in clients(server):
        with client:
            results = client.score_images(image_files)
            single = client.score_image(image_files[0])
            assert client.class_map == LABELS
        np.testing.assert_allclose([r.scores for r in results], expected, atol=1e-5)
        assert [r.label for r in results] == [LABELS[i] for i in expected.argmax(-1)]
        assert results[0].labels == tuple(LABELS)
        np.testing.assert_allclose(single.scores, expected[0], atol=1e-5)
        assert set(single.probabilities()) == set(LABELS)
        assert single.top_k(1)[0][0] == single.label
    assert results[0].model_version == 1  # gRPC responses name the version


def test_status_and_metadata_are_the_same_over_rest_and_grpc(server):
    rest, grpc_client = clients(server)
    assert (
        rest.model_status()
        == grpc_client.model_status()
        == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }
    )
    assert rest.metadata() == grpc_client.metadata()
    assert rest.metadata()["model_spec"]["name"] == NAME


def test_errors_carry_the_servers_message(server, image_files):
    for client in clients(server):
        with pytest.raises(ScoringError, match="Unknown image file format") as info:
            client.score_image(b"not an image at all")
        assert info.value.code == "INVALID_ARGUMENT"
    for unknown in (
        ScoringClient(url=server.rest_url, model_name="nope"),
        ScoringClient(grpc=server.grpc_target, model_name="nope"),
    ):
        with pytest.raises(ScoringError) as info:
            unknown.score_image(image_files[0])
        assert (info.value.code, info.value.message) == ("NOT_FOUND", "Servable not found for request: Latest(nope)")
    rest = ScoringClient(url=server.rest_url, model_name=NAME, version=4)
    with pytest.raises(ScoringError) as info:
        rest.model_status()
    assert (info.value.code, info.value.http_status) == ("NOT_FOUND", 404)
    assert info.value.message == f"Could not find version 4 of model {NAME}"


def test_only_unavailable_is_retried(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for kwargs in ({"url": f"http://127.0.0.1:{port}"}, {"grpc": f"127.0.0.1:{port}"}):
        client = ScoringClient(model_name=NAME, timeout=2.0, max_retries=2, retry_backoff=0.2, **kwargs)
        start = time.monotonic()
        with pytest.raises(ScoringError) as info:
            client.model_status()
        assert info.value.code == "UNAVAILABLE"
        assert time.monotonic() - start >= 0.6  # 0.2 + 0.4 s of back-off: two retries


def test_exif_orientation_and_resize_are_applied_client_side(tmp_path):
    upright = gradient(48, 64)  # red at the top
    exif = Image.Exif()
    exif[274] = 6  # stored rotated; viewers turn it 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    sent = Image.open(io.BytesIO(prepare_image(buf.getvalue())))
    assert sent.size == (64, 48)
    pixels = np.asarray(sent, np.float32)
    assert pixels[:4, :, 0].mean() > pixels[-4:, :, 0].mean() + 100  # red on top: upright
    resized = Image.open(io.BytesIO(prepare_image(buf.getvalue(), (32, 16))))
    assert (resized.size, resized.format) == ((32, 24), "JPEG")  # aspect kept: the smallest 4:3 covering 32x16
    shorter = Image.open(io.BytesIO(prepare_image(buf.getvalue(), 24)))
    assert shorter.size == (32, 24)
    plain = jpeg_bytes(upright)
    assert prepare_image(plain) is plain  # upright and no resize: sent untouched
    with pytest.raises(ValueError, match=r"Received: image_resize_dims=\(0, 3\)"):
        prepare_image(plain, (0, 3))


def test_cvtk_compatibility(server, image_files, tmp_path):
    client = ScoringClient(url=server.rest_url, model_name=NAME)
    result = client.score_image(image_files[0], image_resize_dims=[64, 48], parameters={"add_softmax": True})
    scores = parse_serialized_result(result.to_json())
    np.testing.assert_allclose(scores, result.scores)
    assert client.class_map[int(np.argmax(scores))] == result.label
    assert abs(float(scores.sum()) - 1.0) < 1e-5
    body = requests.post(
        f"{server.rest_url}/v1/models/{NAME}:predict",
        json={"instances": [{"b64": base64.b64encode(read(image_files[0])).decode()}]},
    ).json()
    np.testing.assert_allclose(
        parse_serialized_result(json.dumps(body)), [client.score_image(image_files[0]).scores], atol=1e-6
    )
    assert parse_serialized_result("[0.25, 0.75]").tolist() == [0.25, 0.75]
    with pytest.raises(ValueError, match="no scores found"):
        parse_serialized_result('{"label": "cat"}')
    with pytest.raises(ValueError, match=r"Received: parameters=\{'softmax': True\}"):
        client.score_image(image_files[0], parameters={"softmax": True})


def test_images_from_urls_arrays_and_pil(server, image_files):
    root = os.path.dirname(image_files[0])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.log_message = lambda *a: None
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{files.server_address[1]}/{os.path.basename(image_files[0])}"
        with pytest.raises(ValueError, match=r"Could not download the image \(refused: 127\.0\.0\.1 is a loopback address"):
            ScoringClient(grpc=server.grpc_target, model_name=NAME).score_image(url)
        client = ScoringClient(grpc=server.grpc_target, model_name=NAME, allow_private_addresses=True)
        by_url = client.score_image(url)
        np.testing.assert_allclose(by_url.scores, client.score_image(image_files[0]).scores)
        with pytest.raises(ValueError, match="Could not download the image"):
            client.score_image(url + ".missing")
    finally:
        files.shutdown()
        files.server_close()
    array = gradient(16, 16)
    assert client.score_image(array).scores.shape == (3,)
    assert client.score_image(Image.fromarray(array)).label in LABELS
    with pytest.raises(ValueError, match="Received: image of type int"):
        client.score_image(42)


def test_client_arguments_are_checked():
    with pytest.raises(ValueError, match="exactly one of url and grpc"):
        ScoringClient(model_name=NAME)
    with pytest.raises(ValueError, match="exactly one of url and grpc"):
        ScoringClient(url="http://x", grpc="x:1", model_name=NAME)
    with pytest.raises(ValueError, match="Received: model_name=None"):
        ScoringClient(url="http://localhost:8501")
    with pytest.raises(ValueError, match="Received: timeout=0"):
        ScoringClient(url="http://localhost:8501", model_name=NAME, timeout=0)
    with pytest.raises(ValueError, match="url must look like"):
        ScoringClient(url="localhost:8501", model_name=NAME)


def test_loadtest_at_concurrency_32_has_no_errors(server, image_files, capsys):
    report = run_loadtest(url=server.rest_url, model_name=NAME, concurrency=32, duration=5, images=image_files)
    assert set(report) == {"requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms", "errors_by_kind"}
    assert report["errors"] == 0 and report["errors_by_kind"] == {}, report
    assert report["requests"] > 100 and report["rps"] > 20
    assert 0 < report["p50_ms"] <= report["p90_ms"] <= report["p99_ms"]
    assert "loadtest" in capsys.readouterr().err  # the progress bar
    report = run_loadtest(
        grpc=server.grpc_target, model_name=NAME, concurrency=32, requests=600, images=image_files, progress=False
    )
    assert (report["requests"], report["errors"]) == (600, 0), report


def test_loadtest_counts_errors_by_kind(server):
    report = run_loadtest(
        url=server.rest_url, model_name=NAME, concurrency=4, requests=20, images=[b"junk"], progress=False
    )
    assert (report["requests"], report["errors"], report["errors_by_kind"]) == (20, 20, {"INVALID_ARGUMENT": 20})
    with pytest.raises(ValueError, match="give requests, duration or both"):
        run_loadtest(url=server.rest_url, model_name=NAME, concurrency=1, images=[b"x"])
    with pytest.raises(ValueError, match="Received: concurrency=0"):
        run_loadtest(url=server.rest_url, model_name=NAME, concurrency=0, requests=1, images=[b"x"])


def _states(server):
    body = requests.get(f"{server.rest_url}/v1/models/{NAME}", timeout=10).json()
    return {int(v["version"]): v["state"] for v in body["model_version_status"]}


def test_new_version_under_load_switches_with_zero_failed_requests(classifier, image_files, tmp_path):
    base = tmp_path / "models" / NAME
    export_for_serving(classifier, base, **TINY, version=1)
    staging = tmp_path / "staging"
    new_labels = ["cat2", "dog2", "fox2"]
    ready = export_for_serving(make_tiny_classifier(new_labels, (16, 16), seed=8), staging, version=2, **{**TINY, "labels": new_labels})
    with ModelServer(
        base,
        NAME,
        rest_port=0,
        grpc_port=0,
        host="127.0.0.1",
        batching_parameters=BATCHING,
        file_system_poll_wait_seconds=0.1,
    ) as srv:
        reports = {}

        def load(protocol, **target):
            reports[protocol] = run_loadtest(
                model_name=NAME, concurrency=8, duration=5, images=image_files, progress=False, **target
            )

        threads = [
            threading.Thread(target=load, args=("rest",), kwargs={"url": srv.rest_url}),
            threading.Thread(target=load, args=("grpc",), kwargs={"grpc": srv.grpc_target}),
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        os.rename(ready, base / "2")  # dropped into the base path in one step
        deadline = time.monotonic() + 20
        while _states(srv) != {2: "AVAILABLE", 1: "END"}:
            assert time.monotonic() < deadline, _states(srv)
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        for protocol, report in reports.items():
            assert report["errors"] == 0 and report["requests"] > 50, (protocol, report)
        client = ScoringClient(grpc=srv.grpc_target, model_name=NAME)
        result = client.score_image(image_files[0])
        assert result.model_version == 2 and result.label in new_labels and client.class_map == new_labels


@pytest.mark.slow
def test_acceptance_30_seconds_at_concurrency_32(server, image_files):
    report = run_loadtest(
        url=server.rest_url, model_name=NAME, concurrency=32, duration=30, images=image_files, progress=False
    )
    assert report["errors"] == 0 and report["requests"] > 1000, report


# The CLI commands (wired into keras-cvcls by cli/main.py; tested here on their own parser).


def cli(argv):
    parser = argparse.ArgumentParser(prog="keras-cvcls")
    commands = parser.add_subparsers(dest="command", required=True)
    serving_commands.register(commands)
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_score_and_loadtest_json(server, image_files, capsys):
    assert cli(["score", "--url", server.rest_url, "--model", NAME, *image_files, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in report["results"]] == image_files
    assert all(r["label"] in LABELS and set(r["scores"]) == set(LABELS) for r in report["results"])
    assert cli(["score", "--grpc", server.grpc_target, "--model", NAME, image_files[0], "--resize", "32x24"]) == 0
    assert capsys.readouterr().out.startswith(image_files[0] + "\t")
    args = ["loadtest", "--grpc", server.grpc_target, "--model", NAME, "--concurrency", "4", "--requests", "40"]
    assert cli([*args, *image_files, "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms"]
    assert (out["requests"], out["errors"]) == (40, 0)
    assert cli(["score", "--url", server.rest_url, "--model", "nope", image_files[0]]) == 1
    assert "NOT_FOUND: Servable not found for request: Latest(nope)" in capsys.readouterr().err


def test_cli_export(tmp_path, capsys):
    from keras_cvcls.models import ImageClassifier

    run = tmp_path / "run"
    ImageClassifier(list(LABELS), "resnet18", weights=None, image_size=16).save(str(run / "model"))
    base = str(tmp_path / "models" / NAME)
    assert cli(["export", str(run), "--base", base, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"path": os.path.join(base, "1"), "version": 1}
    assert cli(["export", str(run), "--base", base, "--version", "5", "--no-warmup"]) == 0
    assert capsys.readouterr().out.strip() == f"exported version 5: {os.path.join(base, '5')}"
    assert cli(["export", str(run), "--base", base, "--version", "5"]) == 1
    assert "version 5 already exists" in capsys.readouterr().err
    assert sorted(os.listdir(base)) == ["1", "5"]


def test_cli_serve_runs_until_sigterm_and_shuts_down_gracefully(classifier, tmp_path, image_files):
    base = tmp_path / NAME
    export_for_serving(classifier, base, **TINY)
    script = (
        "import argparse, sys\n"
        "from keras_cvcls.cli import serving_commands\n"
        "p = argparse.ArgumentParser(); c = p.add_subparsers(required=True); serving_commands.register(c)\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.run(a))\n"
    )
    argv = ["serve", "--model-base", str(base), "--name", NAME, "--rest-port", "0", "--grpc-port", "0"]
    argv += ["--host", "127.0.0.1", "--max-batch-size", "16", "--batch-timeout-micros", "1000"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-c", script, *argv], stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = ""
        deadline = time.monotonic() + 90
        while "Ctrl-C to stop" not in banner:
            assert time.monotonic() < deadline and proc.poll() is None, banner
            banner += proc.stderr.readline()
        rest = re.search(r"REST (http://\S+),", banner).group(1)
        grpc_target = re.search(r"gRPC (\S+) \(", banner).group(1)
        for client in (ScoringClient(url=rest, model_name=NAME), ScoringClient(grpc=grpc_target, model_name=NAME)):
            assert client.score_image(image_files[0]).label in LABELS
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
