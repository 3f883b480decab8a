import json
import os
import subprocess
import sys

from keras_cvcls.cli.main import main


def test_dataset_info_json_reports_good_and_bad_files(mixed_folder, capsys):
    root, good, bad, hidden = mixed_folder
    assert main(["dataset", "info", root, "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)  # exactly one JSON object
    assert set(report) == {"num_images", "labels", "counts", "skipped"}
    assert report["num_images"] == len(good)
    assert report["labels"] == ["cat", "dog"]
    assert sum(report["counts"].values()) == len(good)
    skipped = {os.path.relpath(s["path"], root).replace(os.sep, "/"): s["reason"] for s in report["skipped"]}
    assert set(skipped) == set(bad) | set(hidden)
    assert all(os.path.isabs(s["path"]) for s in report["skipped"])
    assert all(reason for reason in skipped.values())
    assert "Traceback" not in err


def test_dataset_info_strict_exits_non_zero(mixed_folder, capsys):
    root, *_ = mixed_folder
    assert main(["dataset", "info", root, "--strict"]) == 1
    out, err = capsys.readouterr()
    assert "truncated" in out and "bad file" in err


def test_dataset_info_text_and_wrong_path(sample_dir, tmp_path, capsys):
    assert main(["dataset", "info", sample_dir]) == 0
    assert "checks   12" in capsys.readouterr().out
    assert main(["dataset", "info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "existing folder" in err and "Traceback" not in err


def test_console_script_runs_quietly(mixed_folder):
    root, *_ = mixed_folder
    exe = os.path.join(os.path.dirname(sys.executable), "keras-cvcls")
    done = subprocess.run([exe, "dataset", "info", root, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    assert "Traceback" not in done.stderr
    assert not any(tag in done.stderr for tag in ("E0000", "I0000", "oneDNN", "cuda")), done.stderr
