"""Sweeps: a Keras Tuner grid of 4 tiny combinations, one run folder each, a table (CSV, JSON, HTML) listing them all."""

import csv
import json
import os

import pytest

from keras_cvcls.cli.main import main
from keras_cvcls.datasets import make_sample
from keras_cvcls.sweep import COLUMNS, sweep
from keras_cvcls.training_run import TrainingRun


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_sample(str(tmp_path_factory.mktemp("sweep")), images_per_label=6, image_size=(32, 40), seed=5)


@pytest.mark.slow
def test_sweep_of_four_combinations_lists_them_all(data, tmp_path, capsys):
    out = str(tmp_path / "sweep")
    code = main(["sweep", data, "--out", out, "--image-size", "32,40", "--lr", "default,0.001", "--epochs", "1",
                 "--batch-size", "8", "--precision", "float32", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    combos = {(r["image_size"], r["lr"]) for r in result["rows"]}
    assert combos == {(32, None), (32, 0.001), (40, None), (40, 0.001)} and len(result["rows"]) == 4
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [list(row) for row in table] == [list(COLUMNS)] * 4
    assert {row["run"] for row in table} == {r["run"] for r in result["rows"]}
    for row in result["rows"]:  # every row is a run folder whose own record says the same
        run = TrainingRun.load(row["run_dir"])
        assert run.history["eval_accuracy"][-1] == pytest.approx(row["eval_accuracy"])
        assert list(run.model.image_size) == [row["image_size"]] * 2
        record = run.model.training_config["unfreeze"]
        assert record["schedule"] == "cosine" and record["lr"] == ([row["lr"]] if row["lr"] else 3e-4)
    summary = result["summary"]
    assert len(summary) == 4 and [s["mean_accuracy"] for s in summary] == sorted(
        (s["mean_accuracy"] for s in summary), reverse=True)
    page = open(os.path.join(out, "results.html"), encoding="utf-8").read()
    assert 'id="scatter"' in page and "data:image/png;base64," in page
    assert all(row["run"] in page for row in result["rows"])
    assert os.path.isdir(os.path.join(out, "tuner"))  # Keras Tuner's own state


def test_sweep_errors(data, tmp_path):
    with pytest.raises(ValueError, match="Unknown backbone|not registered|Received"):
        sweep(data, str(tmp_path / "a"), backbones=["no_such_net"])
    with pytest.raises(ValueError, match="Cannot read 'big' in image_sizes"):
        sweep(data, str(tmp_path / "a"), image_sizes=["big"])
    with pytest.raises(ValueError, match="lists a value twice"):
        sweep(data, str(tmp_path / "a"), lrs=[0.001, 0.001])
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(ValueError, match="not empty.*overwrite=True"):
        sweep(data, str(tmp_path / "taken"))


def test_a_failing_training_stops_the_sweep_with_its_own_error(data, tmp_path):
    """Keras Tuner would record the failure and go on; the sweep raises the training's error as it was."""
    with pytest.raises(ValueError, match="test_size must be a number between 0 and 1"):
        sweep(data, str(tmp_path / "s"), image_sizes=[32], test_size=1.5, epochs=0)
