"""``keras-cvcls serve`` listens on every interface by default, as TF Serving does, and says so."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from keras_cvcls.cli.main import main


def test_serve_help_says_it_listens_on_every_interface(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "By default it listens on all network interfaces (--host 0.0.0.0), as TF Serving does" in text
    assert "--host 127.0.0.1 to serve this machine only" in text


def test_serve_prints_the_address_it_is_bound_to(tmp_path):
    base = tmp_path / "models" / "photos"
    base.mkdir(parents=True)  # no version: the server starts all the same, as TF Serving
    argv = [sys.executable, "-m", "keras_cvcls", "serve", "--model-base", str(base), "--name", "photos"]
    argv += ["--rest-port", "0", "--grpc-port", "0", "--poll-seconds", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = ""
        deadline = time.monotonic() + 120
        while "Ctrl-C to stop" not in banner:
            assert time.monotonic() < deadline and proc.poll() is None, banner
            banner += proc.stderr.readline()
        bound = re.search(
            r"keras-cvcls: serving photos on every network interface \(--host 0\.0\.0\.0, as TF Serving does; "
            r"--host 127\.0\.0\.1 serves this machine only\): REST http://0\.0\.0\.0:(\d+), gRPC 0\.0\.0\.0:(\d+)\n",
            banner,
        )
        assert bound, banner
        rest, grpc = bound.groups()
        assert f"keras-cvcls: on this machine: REST http://127.0.0.1:{rest}, gRPC 127.0.0.1:{grpc} (Ctrl-C to stop)" in banner
        assert "http://127.0.0.1" not in banner.split("on this machine")[0]  # no longer passed off as the bound one

        # The address printed for this machine answers, with TF Serving's JSON.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/models/photos", timeout=30) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            body = e.read()
        assert isinstance(json.loads(body), dict)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
