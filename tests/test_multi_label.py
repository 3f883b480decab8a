"""Multi-label classification: data, model, thresholds and evaluation (synthetic images; fast).

The real-photo acceptance (mosaics of hymenoptera photos), export and serving are in
tests/test_multi_label_photos.py.
"""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image
from sklearn import metrics

from keras_cvcls.data import ClassificationDataset, MultiLabelDataset
from keras_cvcls.data.iterative_split import iterative_split_indices
from keras_cvcls.evaluation import MultiLabelEvaluation, PrecisionRecallDisplay, tune_thresholds, write_report
from keras_cvcls.models import ImageClassifier
from keras_cvcls.training.label_metric import LabelMetric


def _red_blue_images(folder, n=30, seed=0):
    """Images whose left half is red when labelled "red", right half blue when "blue"; a CSV of them."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    rows = []
    for i in range(n):
        red, blue = i % 3 != 1, i % 3 != 0  # {red}, {blue}, {blue, red}
        image = np.full((32, 32, 3), 128, np.int64)
        image[:, :16, 0] = 255 if red else 128
        image[:, 16:, 2] = 255 if blue else 128
        image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(os.path.join(folder, f"{i}.png"))
        rows.append(f"{i}.png," + " ".join(name for name, on in (("red", red), ("blue", blue)) if on))
    path = os.path.join(folder, "labels.csv")
    with open(path, "w") as f:
        f.write("path,labels\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def csv_path(tmp_path):
    return _red_blue_images(str(tmp_path / "shelves"))


# ----------------------------------------------------------------------------- data
def test_csv_with_separators_gives_label_sets_and_skips_bad_rows(tmp_path):
    folder = tmp_path / "d"
    _red_blue_images(str(folder), n=3)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "semi.csv").write_text(
        "filename,labels\n0.png,red\n1.png,blue;red\n2.png,\nbroken.jpg,red\nmissing.png,blue\n"
    )
    ds = MultiLabelDataset.from_csv(str(folder / "semi.csv"), separator=";")
    assert ds.labels == ["blue", "red"] and ds.multi_label
    assert {r.id: r.label for r in ds.images} == {"0.png": ("red",), "1.png": ("blue", "red")}
    np.testing.assert_array_equal(ds.label_matrix, [[0, 1] if r.id == "0.png" else [1, 1] for r in ds.images])
    reasons = sorted(os.path.basename(s.path) + ": " + s.reason.split(" (")[0] for s in ds.skipped)
    assert reasons[0].startswith("2.png: no label") and reasons[2] == "missing.png: file not found"
    assert reasons[1].startswith("broken.jpg")
    with pytest.raises(ValueError, match="one label id"):
        ds.label_ids
    with pytest.raises(ValueError, match="no folder layout.*from_csv"):
        MultiLabelDataset.from_directory(str(folder))
    with pytest.raises(ValueError, match="header"):
        (folder / "bad.csv").write_text("image,tags,x\n0.png,red,1\n")
        MultiLabelDataset.from_csv(str(folder / "bad.csv"))


def test_from_list_takes_lists_or_joined_strings(tmp_path):
    _red_blue_images(str(tmp_path), n=2)
    ds = MultiLabelDataset.from_list([("0.png", ["red"]), ("1.png", "blue red")], root=str(tmp_path))
    assert {r.id: r.label for r in ds.images} == {"0.png": ("red",), "1.png": ("blue", "red")}
    with pytest.raises(ValueError, match="pairs"):
        MultiLabelDataset.from_list(["0.png"], root=str(tmp_path))


def test_summary_counts_and_co_occurrence(csv_path):
    ds = MultiLabelDataset.from_csv(csv_path)
    summary = json.loads(json.dumps(ds.summary()))
    y = np.array([[("blue" in r.label), ("red" in r.label)] for r in ds.images], int)
    assert summary["counts"] == {"blue": int(y[:, 0].sum()), "red": int(y[:, 1].sum())} == {"blue": 20, "red": 20}
    assert summary["co_occurrence"]["blue"]["red"] == int((y[:, 0] & y[:, 1]).sum()) == 10
    assert summary["labels_per_image"] == {"1": 20, "2": 10}
    from keras_cvcls.data import make_pipeline

    _, labels = next(iter(make_pipeline(ds, image_size=16, batch_size=8)))  # float32 multi-hot, for the sigmoid head
    assert labels.dtype.name == "float32"
    np.testing.assert_array_equal(labels.numpy(), ds.label_matrix[:8])


def test_iterative_split_keeps_every_label_on_both_sides_and_is_deterministic():
    rng = np.random.default_rng(3)
    y = (rng.random((60, 5)) < [0.5, 0.3, 0.1, 0.05, 0.02]).astype(int)
    y[[7, 8], 4] = 1  # a label of exactly two (or a few) items
    train, test = iterative_split_indices(y, 0.7, seed=0)
    assert sorted(train + test) == list(range(60)) and not set(train) & set(test)
    assert (train, test) == iterative_split_indices(y, 0.7, seed=0)
    for j in range(5):
        assert y[train, j].sum() >= 1 and y[test, j].sum() >= 1, j
    # Proportions per label close to 70/30 (better than a random split would promise).
    for j in range(2):
        assert abs(y[train, j].sum() / y[:, j].sum() - 0.7) < 0.1
    assert abs(len(train) / 60 - 0.7) < 0.05


def test_dataset_split_and_label_fixes_survive_a_reload(csv_path):
    ds = MultiLabelDataset.from_csv(csv_path)
    train, test = ds.split(0.6, seed=0)
    assert len(train) + len(test) == len(ds) and train.labels == test.labels == ds.labels
    assert all(count > 0 for part in (train, test) for count in part.counts().values())
    both = next(r for r in ds.images if len(r.label) == 2)
    single = next(r for r in ds.images if len(r.label) == 1)
    assert ds.toggle_label(both, "blue") == ("red",)
    assert ds.toggle_label(single, "blue" if single.label == ("red",) else "red") == ("blue", "red")
    ds.exclude(ds.images[2])
    lonely = next(r for r in ds.images if len(r.label) == 1)
    with pytest.raises(ValueError, match="at least one label"):
        ds.toggle_label(lonely, lonely.label[0])
    with pytest.raises(ValueError, match="one or more of"):
        ds.relabel(both, ["green"])
    sidecar = json.load(open(os.path.join(os.path.dirname(csv_path), ".keras_cvcls", "labels.csv.label-fixes.json")))
    assert sidecar["relabel"][both.id] == ["red"]
    again = MultiLabelDataset.from_csv(csv_path)
    assert [r.label for r in again.images] == [r.label for r in ds.images]
    assert len(again) == len(ds) == 29


# ---------------------------------------------------------------------------- model
def test_classifier_config_round_trips_and_rejects_bad_thresholds():
    model = ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32, multi_label=True,
                            thresholds=[0.3, 0.7])
    assert model.get_layer("predictions").activation.__name__ == "sigmoid"
    config = model.get_config()
    assert config["multi_label"] is True and config["thresholds"] == [0.3, 0.7]
    clone = ImageClassifier.from_config(config)
    assert clone.get_config() == config
    assert "multi_label" not in ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32).get_config()
    with pytest.raises(ValueError, match=r"thresholds must be 2 numbers in \[0, 1\].*Received: thresholds=\[0.3\]"):
        ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32, multi_label=True, thresholds=[0.3])
    with pytest.raises(ValueError, match="thresholds are for a multi-label model"):
        ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32, thresholds=[0.3, 0.4])
    with pytest.raises(ValueError, match="multi-label model"):
        ImageClassifier(["a", "b"], "resnet18", weights=None, image_size=32).predict_labels(np.zeros((1, 32, 32, 3)))


def test_label_metric_equals_scikit_learn_and_round_trips():
    rng = np.random.default_rng(0)
    y, p = (rng.random((50, 3)) < 0.4).astype(int), rng.random((50, 3))
    for kind, oracle in (("f1", metrics.f1_score), ("accuracy", metrics.accuracy_score)):
        metric = LabelMetric(1, kind, threshold=0.5, name=f"{kind}_b")
        metric.update_state(y[:25], p[:25])
        metric.update_state(y[25:], p[25:])
        assert float(metric.result()) == pytest.approx(oracle(y[:, 1], p[:, 1] >= 0.5), abs=1e-6)
        clone = LabelMetric.from_config(metric.get_config())
        assert clone.get_config() == metric.get_config()
    with pytest.raises(ValueError, match="kind must be one of"):
        LabelMetric(0, "auc")


def test_compile_defaults_and_a_mismatched_dataset_is_refused(csv_path):
    ds = MultiLabelDataset.from_csv(csv_path)
    model = ImageClassifier(ds.labels, "resnet18", weights=None, image_size=32, multi_label=True)
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    single = ImageClassifier(ds.labels, "resnet18", weights=None, image_size=32)
    with pytest.raises(ValueError, match="multi-label model needs a MultiLabelDataset"):
        single.fit(ds, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="multi-label model needs a MultiLabelDataset"):
        model.fine_tune(ClassificationDataset.from_list([(r.path, r.label[0]) for r in ds.images]), verbose=0)


@pytest.mark.slow
def test_cli_train_multi_label_then_evaluate_json(csv_path, tmp_path, capsys):
    """train --multi-label (the fine-tune recipe, thresholds tuned) -> the saved model -> evaluate --json."""
    from keras_cvcls.cli.main import main
    from keras_cvcls.models import load_classifier

    run = str(tmp_path / "run")
    argv = ["train", csv_path, "--multi-label", "--image-size", "32", "--epochs", "1", "--batch-size", "16",
            "--test-size", "0.4", "--out", run, "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["recipe"] == "fine-tune"
    split = json.load(open(os.path.join(run, "split.json")))
    assert split["multi_label"] is True and split["separator"] == " "
    model = load_classifier(os.path.join(run, "model"))
    assert model.multi_label and model.thresholds != [0.5, 0.5]
    assert model.training_config["thresholds"]["tuned"] == dict(zip(model.labels, model.thresholds, strict=True))

    import glob

    import tensorflow as tf

    tags = set()
    for event_file in glob.glob(os.path.join(run, "logs", "extras", "events.*")):
        for record in tf.data.TFRecordDataset(event_file):
            tags |= {v.tag for v in tf.compat.v1.Event.FromString(record.numpy()).summary.value}
    assert "pr_curves" in tags and "confusion_matrix" not in tags  # TensorBoard extras, multi-label

    ds = MultiLabelDataset.from_csv(csv_path)
    test = ds.subset(split["test"])
    scores = model.predict_scores(test)
    expected = [tuple(lab for lab, s, t in zip(model.labels, row, model.thresholds, strict=True) if s >= t) for row in scores]
    assert model.predict_labels(test) == expected
    assert [r.present for r in model.classify([r.path for r in test.images])] == expected
    assert expected == [r.label for r in test.images]  # red/blue halves are easy

    assert main(["evaluate", run, "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    y, y_pred = test.label_matrix, (scores >= model.thresholds).astype(int)
    assert reported["multi_label"] and reported["thresholds"] == pytest.approx(model.thresholds)
    assert reported["mAP"] == pytest.approx(metrics.average_precision_score(y, scores), abs=1e-6)
    assert reported["hamming_loss"] == pytest.approx(metrics.hamming_loss(y, y_pred))
    assert reported["averages"]["samples"]["f1"] == pytest.approx(metrics.f1_score(y, y_pred, average="samples"))
    assert main(["evaluate", run]) == 0
    assert "mAP" in capsys.readouterr().out
    with pytest.raises(ValueError, match="threshold_objective"):
        model.fine_tune(test, threshold_objective="recall", verbose=0)
    with pytest.raises(ValueError, match="reads a CSV file"):
        from keras_cvcls.training_run import TrainingRun

        TrainingRun.create(str(tmp_path / "run2"), str(tmp_path), multi_label=True)


# ----------------------------------------------------------------------- thresholds
def test_tuned_thresholds_maximise_f1_and_reach_a_target_precision():
    rng = np.random.default_rng(1)
    y = (rng.random((80, 3)) < 0.4).astype(int)
    scores = np.clip(y * 0.35 + rng.random((80, 3)) * 0.65, 0, 1)
    tuned = tune_thresholds(y, scores, ["a", "b", "c"])
    for j, label in enumerate("abc"):
        brute = max(metrics.f1_score(y[:, j], scores[:, j] >= t) for t in np.unique(scores[:, j]))
        t = tuned[label]["threshold"]
        assert metrics.f1_score(y[:, j], scores[:, j] >= t) == pytest.approx(brute) == pytest.approx(tuned[label]["f1"])
    precise = tune_thresholds(y, scores, ["a", "b", "c"], objective="precision", target_precision=0.9)
    for j, label in enumerate("abc"):
        t = precise[label]["threshold"]
        assert precise[label]["reached"]
        assert metrics.precision_score(y[:, j], scores[:, j] >= t) >= 0.9
        # The lowest such threshold: one score lower the precision falls below the target (or recall does not grow).
        lower = scores[:, j][scores[:, j] < t]
        if lower.size:
            assert metrics.precision_score(y[:, j], scores[:, j] >= lower.max()) < 0.9
    with pytest.warns(UserWarning, match="No threshold reaches precision 1.0"):
        noisy = tune_thresholds([[1], [0], [1]], [[0.2], [0.9], [0.8]], ["a"], objective="precision", target_precision=1.0)
    assert noisy["a"]["reached"] is False
    with pytest.raises(ValueError, match="target_precision"):
        tune_thresholds(y, scores, ["a", "b", "c"], objective="precision")
    with pytest.raises(ValueError, match="objective must be one of"):
        tune_thresholds(y, scores, ["a", "b", "c"], objective="auc")


# ----------------------------------------------------------------------- evaluation
def _random_case(seed=0, n=60, c=4):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < 0.35).astype(int)
    y[0] = 1  # every label present at least once
    scores = np.clip(y * 0.3 + rng.random((n, c)) * 0.7, 0, 1)
    return y, scores, ["ant", "bee", "can", "carton"][:c], np.array([0.5, 0.4, 0.6, 0.55])[:c]


def test_metrics_equal_scikit_learns_on_the_same_scores():
    y, scores, labels, thresholds = _random_case()
    ev = MultiLabelEvaluation.from_scores(y, scores, labels, thresholds=thresholds)
    y_pred = (scores >= thresholds).astype(int)
    d = json.loads(json.dumps(ev.to_dict()))
    p, r, f, s = metrics.precision_recall_fscore_support(y, y_pred, zero_division=0)
    for j, label in enumerate(labels):
        assert d["per_class"][label] == pytest.approx({"precision": p[j], "recall": r[j], "f1": f[j], "support": s[j]})
        assert d["average_precision"][label] == pytest.approx(metrics.average_precision_score(y[:, j], scores[:, j]))
        assert d["roc_auc"][label] == pytest.approx(metrics.roc_auc_score(y[:, j], scores[:, j]))
    for average in ("micro", "macro", "samples"):
        for name, fn in (("precision", metrics.precision_score), ("recall", metrics.recall_score), ("f1", metrics.f1_score)):
            assert d["averages"][average][name] == pytest.approx(fn(y, y_pred, average=average, zero_division=0))
    assert d["mAP"] == pytest.approx(metrics.average_precision_score(y, scores, average="macro"))
    assert d["average_precision"]["micro"] == pytest.approx(metrics.average_precision_score(y, scores, average="micro"))
    assert d["hamming_loss"] == pytest.approx(metrics.hamming_loss(y, y_pred))
    assert d["exact_match_ratio"] == pytest.approx(metrics.accuracy_score(y, y_pred))
    np.testing.assert_array_equal(ev.compute_confusion_matrix(), metrics.multilabel_confusion_matrix(y, y_pred))
    for j, label in enumerate(labels):
        precision, recall, curve_thresholds = metrics.precision_recall_curve(y[:, j], scores[:, j])
        np.testing.assert_allclose(ev.pr_curves()[label]["precision"], precision)
        np.testing.assert_allclose(ev.pr_curves()[label]["recall"], recall)
    missed = ((y == 1) & (y_pred == 0)).sum(0)
    added = ((y == 0) & (y_pred == 1)).sum(0)
    assert dict(d["most_confused"]["missed"]) == {lab: int(m) for lab, m in zip(labels, missed, strict=True) if m}
    assert dict(d["most_confused"]["added"]) == {lab: int(a) for lab, a in zip(labels, added, strict=True) if a}
    counts = [count for _, count in ev.most_confused()["missed"]]
    assert counts == sorted(counts, reverse=True)


def test_label_names_as_truth_and_bad_input():
    ev = MultiLabelEvaluation.from_scores([["ant"], ["ant", "bee"]], [[0.9, 0.2], [0.8, 0.7]], ["ant", "bee"])
    np.testing.assert_array_equal(ev.y_true, [[1, 0], [1, 1]])
    assert ev.mean_average_precision() == 1.0 and ev.exact_match_ratio() == 1.0
    with pytest.raises(ValueError, match="names a label not in"):
        MultiLabelEvaluation.from_scores([["owl"]], [[0.9, 0.2]], ["ant", "bee"])
    with pytest.raises(ValueError, match="multi-hot"):
        MultiLabelEvaluation.from_scores([[1, 2]], [[0.9, 0.2]], ["ant", "bee"])
    with pytest.raises(ValueError, match="Top-k accuracy needs one true class"):
        ev.top_k_accuracy(1)


def test_displays_and_html_report(tmp_path):
    y, scores, labels, thresholds = _random_case(seed=2)
    ev = MultiLabelEvaluation.from_scores(y, scores, labels, thresholds=thresholds)
    display = PrecisionRecallDisplay.from_evaluation(ev)
    assert {line.get_label().split(" ")[0] for line in display.ax_.get_lines()} >= set(labels)
    path = write_report(ev, tmp_path / "report.html", title="Shelves")
    page = open(path, encoding="utf-8").read()
    for section in ('id="summary"', 'id="per-class"', 'id="most-confused"', 'id="pr"', 'id="roc"'):
        assert section in page
    assert f'data-metric="mAP">{ev.mean_average_precision():.3f}<' in page
    assert f'data-metric="Hamming loss">{ev.hamming_loss():.3f}<' in page
    assert 'id="confusion-matrix"' not in page


def test_label_mixing_is_refused_for_a_multi_label_model(csv_path):
    import keras

    ds = MultiLabelDataset.from_csv(csv_path)
    model = ImageClassifier(ds.labels, "resnet18", weights=None, image_size=32, multi_label=True)
    with pytest.raises(ValueError, match="MixUp and CutMix mix one label per image.*multi_label=True"):
        model.fine_tune(ds, epochs=1, augment=keras.layers.MixUp(alpha=0.2))
