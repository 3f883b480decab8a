import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, roc_auc_score

from keras_cvcls.cli.main import main
from keras_cvcls.datasets import make_sample
from keras_cvcls.evaluation import ClassificationEvaluation
from keras_cvcls.models import ImageClassifier, ScikitClassifier, load_classifier
from keras_cvcls.training_run import TrainingRun


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    data = make_sample(str(base / "data"), images_per_label=10, image_size=(32, 40))
    run = str(base / "run")
    argv = [
        "train", data, "--backbone", "resnet18", "--weights", "none", "--image-size", "32", "--epochs", "3", "--batch-size", "8",
        "--lr", "0.01x2,0.001", "--test-size", "0.34", "--augment", "light", "--seed", "1", "--out", run, "--json",
    ]
    return data, run, argv


def test_train_json_and_run_folder(trained_run, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_CVCLS_PRECISION")  # the default, --precision auto, as users get it
    data, run, argv = trained_run
    assert main(argv) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # exactly one JSON object on stdout; progress went to stderr
    assert set(result) == {"history", "eval_accuracy", "train_seconds", "train_images_per_s", "recipe", "weights",
                           "precision", "precision_reason", "run_dir"}
    assert result["recipe"] == "full" and result["weights"] == "none (random initialisation)"
    from keras_cvcls.models.precision import detect_precision

    assert (result["precision"], result["precision_reason"]) == detect_precision()  # --precision auto
    assert result["history"]["lr"] == pytest.approx([0.01, 0.01, 0.001])
    assert len(result["history"]["train_accuracy"]) == len(result["history"]["eval_accuracy"]) == 3
    assert result["eval_accuracy"] == result["history"]["eval_accuracy"][-1]
    assert result["train_images_per_s"] > 0 and result["run_dir"] == os.path.abspath(run)
    for name in ("model", "class_map.json", "split.json", "history.json", "training_curve.png", "logs"):
        assert os.path.exists(os.path.join(run, name)), name
    with open(os.path.join(run, "split.json"), encoding="utf-8") as f:
        split = json.load(f)
    assert len(split["train"]) == 21 and len(split["test"]) == 9 and not set(split["train"]) & set(split["test"])
    with open(os.path.join(run, "class_map.json"), encoding="utf-8") as f:
        assert json.load(f) == {"0": "checks", "1": "dots", "2": "stripes"}
    model = load_classifier(run)
    assert isinstance(model, ImageClassifier) and model.training_config["lr_per_epoch"] == [0.01, 0.01, 0.001]
    assert model.training_config["weights"] == "none (random initialisation)"


def test_evaluate_json_matches_scikit_learn(trained_run, capsys, tmp_path):
    data, run, argv = trained_run
    if not os.path.exists(os.path.join(run, "model")):
        assert main(argv) == 0
        capsys.readouterr()
    report = str(tmp_path / "report.html")
    assert main(["evaluate", run, "--json", "--report", report]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"accuracy", "class_avg_accuracy", "per_class", "confusion_matrix", "labels", "roc_auc", "average_precision"}
    # Independent oracle: in-process scores of the held-out split, metrics by scikit-learn.
    _, test = TrainingRun.load(run).split
    scores = load_classifier(run).predict_scores(test)
    y_true, y_pred = np.asarray(test.label_ids), scores.argmax(1)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics["class_avg_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert metrics["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist()
    assert metrics["roc_auc"]["macro"] == pytest.approx(roc_auc_score(y_true, scores, multi_class="ovr", average="macro"))
    assert os.path.getsize(report) > 1000


def test_evaluate_on_another_folder_and_errors(trained_run, capsys, tmp_path):
    data, run, argv = trained_run
    if not os.path.exists(os.path.join(run, "model")):
        assert main(argv) == 0
        capsys.readouterr()
    other = make_sample(str(tmp_path / "other"), images_per_label=3, image_size=32, labels=("dots", "stripes"), seed=5)
    assert main(["evaluate", run, "--data", other, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["labels"] == ["checks", "dots", "stripes"]
    assert metrics["per_class"]["checks"]["support"] == 0
    assert sum(metrics["per_class"][label]["support"] for label in ("dots", "stripes")) == 6
    assert main(["evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Not a training run folder" in err and "Traceback" not in err


def test_evaluation_works_for_the_scikit_classifier_too(trained_run, capsys):
    data, run, argv = trained_run
    if not os.path.exists(os.path.join(run, "model")):
        assert main(argv) == 0
        capsys.readouterr()
    train, test = TrainingRun.load(run).split
    svm = ScikitClassifier(load_classifier(run)).train(train, verbose=0)
    ev = ClassificationEvaluation(svm, test)
    scores = svm.predict_scores(test)
    assert ev.compute_accuracy(class_averaged=False) == pytest.approx(accuracy_score(test.label_ids, scores.argmax(1)))
    assert np.array_equal(ev.compute_confusion_matrix(), confusion_matrix(test.label_ids, scores.argmax(1), labels=[0, 1, 2]))


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _command(argv):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    return [sys.executable, "-m", "keras_cvcls", *argv], env


def _wait_for_a_backed_up_epoch(proc, run, timeout=180):
    """Waits until ``keras-cvcls train`` has backed up a finished epoch of ``run`` (BackupAndRestore's marker)."""
    marker = os.path.join(run + ".partial", "backup", "fit-0", "training_metadata.json")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            with open(marker) as f:
                if json.load(f)["epoch"] >= 1:
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("no epoch was backed up in time")


def test_sigkill_during_a_retrain_keeps_the_finished_run_and_resume_completes_it(trained_run, tmp_path, capsys):
    data, finished, argv = trained_run
    if not os.path.exists(os.path.join(finished, "model")):
        assert main(argv) == 0
        capsys.readouterr()
    run = shutil.copytree(finished, str(tmp_path / "run"))
    before = {name: open(os.path.join(run, name), "rb").read() for name in ("split.json", "model/model.keras")}

    # A finished run is not trained over by accident.
    assert main([*argv[:-3], "--out", run]) == 2
    assert "already holds a training run" in capsys.readouterr().err

    # Re-train with another split, killed after an epoch is backed up.
    retrain = [
        "train", data, "--backbone", "resnet18", "--weights", "none", "--image-size", "32", "--epochs", "5",
        "--batch-size", "8", "--lr", "0.02x2,0.005", "--augment", "none", "--seed", "7", "--out", run,
    ]
    command, env = _command([*retrain, "--overwrite"])
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_a_backed_up_epoch(proc, run)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # The finished run is whole: its own model with its own split (no test image leaks into training).
    assert {name: open(os.path.join(run, name), "rb").read() for name in before} == before
    assert TrainingRun.load(run).test_ids == TrainingRun.load(finished).test_ids
    assert main(["train", data, "--out", run]) == 2
    assert "An interrupted run of this folder is in" in capsys.readouterr().err

    assert main([*retrain, "--resume", "--json"]) == 0  # in this process: the command as a user runs it
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert "Resuming the interrupted run" in err
    epochs_run = [line.split()[1] for line in err.splitlines() if line.startswith("Epoch ")]
    assert epochs_run and epochs_run[0] != "1/5" and epochs_run[-1] == "5/5"  # continued, not started over
    # As many epochs as an uninterrupted run, and no gaps.
    history = result["history"]
    assert history["lr"] == pytest.approx([0.02] * 2 + [0.005] * 3)
    assert all(len(history[key]) == 5 and None not in history[key] for key in ("train_accuracy", "eval_accuracy"))
    with open(os.path.join(run, "history.json")) as f:
        keras_history = json.load(f)["keras"]
    assert keras_history["val_loss"] and all(len(v) == 5 and None not in v for v in keras_history.values())
    with open(os.path.join(run, "split.json")) as f:
        assert json.load(f)["seed"] == 7
    assert sorted(os.listdir(tmp_path)) == ["run"]

    # Resuming a complete run trains nothing and reports it.
    assert main([*retrain, "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["history"] == history


def _read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").mkdir()
    except PermissionError:
        return folder
    (folder / "probe").rmdir()  # root writes anyway: use a file system that refuses even root
    try:
        os.mkdir("/sys/keras-cvcls-probe")
    except OSError:
        return "/sys"
    pytest.skip("no folder here refuses writes")


def test_a_read_only_out_is_a_clear_error(trained_run, tmp_path, capsys):
    data, _, _ = trained_run
    out = os.path.join(_read_only_folder(tmp_path), "run")
    argv = ["train", data, "--backbone", "resnet18", "--weights", "none", "--image-size", "32", "--out", out]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-cvcls: error: Cannot write the run folder:") and "Traceback" not in err
    assert main([*argv, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["kind"] == "invalid_value"
