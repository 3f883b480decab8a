"""The command line answers ``--help`` without TensorFlow, and reports errors as JSON under ``--json``."""

import argparse
import json
import os
import subprocess
import sys
import time

import pytest

from keras_cvcls.cli.main import _build_parser, main
from keras_cvcls.models import list_backbones
from keras_cvcls.augment import list_augmentations

HEAVY = ("tensorflow", "keras", "tensorflow_serving", "grpc", "aiohttp")


def _commands(parser, prefix=()):
    """Every command path of the parser: (), ("train",), ("dataset", "info"), ..."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))


COMMANDS = list(_commands(_build_parser()))


def test_every_command_is_listed():
    assert {("train",), ("serve",), ("dataset", "info"), ("dataset", "download")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "keras-cvcls")
def test_help_answers_in_under_a_second_without_tensorflow(command):
    """``python -m keras_cvcls ... --help``: exit 0 within a second, and no TensorFlow or Keras imported.

    The machine may be busy, so the time is the best of three runs; the module check is exact:
    ``-X importtime`` lists every module the process imported.
    """
    argv = [sys.executable, "-X", "importtime", "-m", "keras_cvcls", *command, "--help"]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=dict(os.environ))
        best = min(best, time.perf_counter() - start)
        assert done.returncode == 0, done.stderr[-2000:]
        if best < 1.0:
            break
    assert "usage: keras-cvcls" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    assert best < 1.0, f"{' '.join(command)} --help took {best:.2f} s"


def test_help_in_process_imports_no_tensorflow():
    """``main([..., "--help"])`` in a fresh interpreter leaves TensorFlow and Keras unimported."""
    script = (
        "import sys\n"
        "from keras_cvcls.cli.main import main\n"
        f"for command in {COMMANDS!r}:\n"
        "    try:\n"
        "        main([*command, '--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (command, e.code)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_choices_come_from_the_registries(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ", ".join(list_backbones()) in out
    assert "{" + ",".join(["auto", *list_augmentations()]) + "}" in out  # auto: the recipe's own


def _one_json_error(capsys):
    out, err = capsys.readouterr()
    error = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert set(error) == {"error", "kind"} and error["error"]
    assert "Traceback" not in err
    return error


def test_json_errors_are_one_json_object(tmp_path, capsys):
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG not really")
    # Parsing fails (required options missing).
    assert main(["score", "--json", str(image)]) == 2
    assert _one_json_error(capsys)["kind"] == "usage"
    # An unknown backbone: the registry's choices.
    assert main(["train", "data", "--out", str(tmp_path / "run"), "--backbone", "resnet19", "--json"]) == 2
    error = _one_json_error(capsys)
    assert error["kind"] == "usage" and "resnet19" in error["error"]
    # A bad value the command checks.
    target = ["--url", "http://127.0.0.1:9", "--model", "m"]
    assert main(["score", *target, "--resize", "big", str(image), "--json"]) == 2
    error = _one_json_error(capsys)
    assert error["kind"] == "usage" and error["error"].endswith("Received: --resize='big'")
    # A missing file.
    assert main(["score", *target, str(tmp_path / "missing.png"), "--json"]) == 2
    assert _one_json_error(capsys)["kind"] == "not_found"
    # The server cannot be reached: the command ran and failed.
    assert main(["score", *target, str(image), "--timeout", "2", "--json"]) == 1
    error = _one_json_error(capsys)
    assert error["kind"] == "scoring" and error["error"].startswith("UNAVAILABLE")


def test_errors_without_json_are_one_line_on_stderr(tmp_path, capsys):
    assert main(["score", "--url", "http://127.0.0.1:9", "--model", "m", "--resize", "big", "x.png"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("keras-cvcls: error: --resize must look like") and err.count("\n") == 1
