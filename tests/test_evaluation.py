import io
"""Tests of keras_cvcls.evaluation: every number is checked against scikit-learn."""

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics

from keras_cvcls.evaluation import (
    ClassificationEvaluation,
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    TopLossesDisplay,
    TrainingCurveDisplay,
    graph_confusion_matrix,
    graph_pr_curve,
    graph_roc_curve,
    write_report,
)

LABELS = ["cat", "dog", "fox", "owl"]
CAT, DOG, FOX, OWL = range(4)


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _make_scores():
    """24 images of cat/dog/fox; fox is never predicted, owl never true but predicted."""
    rng = np.random.default_rng(0)
    y_true = np.tile([CAT, DOG, FOX], 8)
    logits = rng.normal(size=(24, 4))
    logits[np.arange(24), y_true] += 1.5
    logits[:, FOX] -= 4.0
    logits[:2, OWL] += 6.0
    return y_true, _softmax(logits)


Y_TRUE, SCORES = _make_scores()
Y_ONEHOT = np.eye(4, dtype=int)[Y_TRUE]


@pytest.fixture
def ev():
    return ClassificationEvaluation.from_scores(Y_TRUE, SCORES, LABELS)


@pytest.fixture(autouse=True)
def no_warnings():
    """Every test runs with warnings as errors: no warning spam on edge cases."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_fixture_covers_edge_cases():
    y_pred = SCORES.argmax(axis=1)
    assert FOX in Y_TRUE and FOX not in y_pred  # class absent from the predictions
    assert OWL not in Y_TRUE and OWL in y_pred  # class absent from the test set
    assert (y_pred != Y_TRUE).sum() >= 3


# ---------------------------------------------------------------------- metrics


def test_accuracy_matches_sklearn(ev):
    y_pred = SCORES.argmax(axis=1)
    assert ev.compute_accuracy(class_averaged=False) == pytest.approx(metrics.accuracy_score(Y_TRUE, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = metrics.balanced_accuracy_score(Y_TRUE, y_pred)
    assert ev.compute_accuracy() == pytest.approx(expected)
    # cvtk semantics: the mean recall over the classes present in y_true.
    recall = metrics.recall_score(Y_TRUE, y_pred, labels=[CAT, DOG, FOX], average=None)
    assert ev.compute_accuracy(class_averaged=True) == pytest.approx(recall.mean())


def test_per_class_metrics_match_sklearn(ev):
    p, r, f, s = metrics.precision_recall_fscore_support(
        Y_TRUE, SCORES.argmax(axis=1), labels=[0, 1, 2, 3], zero_division=0
    )
    result = ev.per_class_metrics()
    assert list(result) == LABELS
    for i, label in enumerate(LABELS):
        assert result[label] == {
            "precision": pytest.approx(p[i]),
            "recall": pytest.approx(r[i]),
            "f1": pytest.approx(f[i]),
            "support": int(s[i]),
        }
        assert isinstance(result[label]["support"], int)
    assert result["fox"]["precision"] == 0.0 and result["fox"]["support"] == 8
    assert result["owl"]["recall"] == 0.0 and result["owl"]["support"] == 0


@pytest.mark.parametrize("normalize", [None, "true", "pred"])
def test_confusion_matrix_matches_sklearn(ev, normalize):
    expected = metrics.confusion_matrix(
        Y_TRUE, SCORES.argmax(axis=1), labels=[0, 1, 2, 3], normalize=normalize
    )
    cm = ev.compute_confusion_matrix(normalize=normalize)
    assert cm.shape == (4, 4)
    np.testing.assert_allclose(cm, expected)


def test_roc_curves_match_sklearn(ev):
    curves = ev.roc_curves()
    assert list(curves) == [*LABELS, "micro", "macro"]
    for i in (CAT, DOG, FOX):
        fpr, tpr, thresholds = metrics.roc_curve(Y_ONEHOT[:, i], SCORES[:, i])
        np.testing.assert_allclose(curves[LABELS[i]]["fpr"], fpr)
        np.testing.assert_allclose(curves[LABELS[i]]["tpr"], tpr)
        np.testing.assert_allclose(curves[LABELS[i]]["thresholds"], thresholds)
        assert curves[LABELS[i]]["auc"] == pytest.approx(metrics.roc_auc_score(Y_ONEHOT[:, i], SCORES[:, i]))
    assert math.isnan(curves["owl"]["auc"]) and curves["owl"]["fpr"].size == 0
    assert curves["micro"]["auc"] == pytest.approx(metrics.roc_auc_score(Y_ONEHOT, SCORES, average="micro"))
    assert curves["macro"]["auc"] == pytest.approx(
        metrics.roc_auc_score(Y_ONEHOT[:, :3], SCORES[:, :3], average="macro")
    )
    macro = curves["macro"]
    assert macro["fpr"][0] == 0.0 and macro["fpr"][-1] == 1.0 and macro["tpr"][-1] == pytest.approx(1.0)
    assert np.all(np.diff(macro["tpr"]) >= 0)


def test_pr_curves_match_sklearn(ev):
    curves = ev.pr_curves()
    for i in (CAT, DOG, FOX):
        precision, recall, thresholds = metrics.precision_recall_curve(Y_ONEHOT[:, i], SCORES[:, i])
        np.testing.assert_allclose(curves[LABELS[i]]["precision"], precision)
        np.testing.assert_allclose(curves[LABELS[i]]["recall"], recall)
        assert curves[LABELS[i]]["average_precision"] == pytest.approx(
            metrics.average_precision_score(Y_ONEHOT[:, i], SCORES[:, i])
        )
    assert math.isnan(curves["owl"]["average_precision"])
    assert curves["micro"]["average_precision"] == pytest.approx(
        metrics.average_precision_score(Y_ONEHOT, SCORES, average="micro")
    )
    assert curves["macro"]["average_precision"] == pytest.approx(
        metrics.average_precision_score(Y_ONEHOT[:, :3], SCORES[:, :3], average="macro")
    )
    macro = curves["macro"]
    assert macro["recall"][0] == 1.0 and macro["recall"][-1] == 0.0
    assert np.all((macro["precision"] >= 0) & (macro["precision"] <= 1))


def test_curves_are_cached_and_read_only(ev):
    first = ev.roc_curves()
    assert ev.roc_curves()["cat"]["fpr"] is first["cat"]["fpr"]
    with pytest.raises(ValueError):
        first["cat"]["fpr"][0] = 5.0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_matches_sklearn(ev, k):
    expected = metrics.top_k_accuracy_score(Y_TRUE, SCORES, k=k, labels=[0, 1, 2, 3])
    assert ev.top_k_accuracy(k) == pytest.approx(expected)


def test_top_1_is_accuracy(ev):
    assert ev.top_k_accuracy(1) == pytest.approx(ev.compute_accuracy(class_averaged=False))


def test_top_k_accuracy_two_classes():
    y_true = [0, 1, 1, 0, 1]
    scores = np.array([[0.8, 0.2], [0.3, 0.7], [0.9, 0.1], [0.4, 0.6], [0.45, 0.55]])
    ev = ClassificationEvaluation.from_scores(y_true, scores, ["a", "b"])
    assert ev.top_k_accuracy(1) == pytest.approx(metrics.top_k_accuracy_score(y_true, scores[:, 1], k=1))
    assert ev.top_k_accuracy(1) == pytest.approx(metrics.accuracy_score(y_true, scores.argmax(axis=1)))


def test_flattened_precision_recall_curve_and_best_f1(ev):
    precision, recall, thresholds = ev.compute_precision_recall_curve()
    expected = metrics.precision_recall_curve(Y_ONEHOT.ravel(), SCORES.ravel())
    for got, want in zip((precision, recall, thresholds), expected, strict=True):
        np.testing.assert_allclose(got, want)
    threshold, f1 = ev.best_f1_threshold()
    assert f1 == pytest.approx(metrics.f1_score(Y_ONEHOT.ravel(), SCORES.ravel() >= threshold))
    best = max(metrics.f1_score(Y_ONEHOT.ravel(), SCORES.ravel() >= t) for t in np.unique(SCORES))
    assert f1 == pytest.approx(best)


def test_to_dict_shape_and_values(ev):
    data = json.loads(json.dumps(ev.to_dict(), allow_nan=False))
    assert set(data) == {
        "accuracy",
        "class_avg_accuracy",
        "per_class",
        "confusion_matrix",
        "labels",
        "roc_auc",
        "average_precision",
    }
    assert data["labels"] == LABELS
    assert data["accuracy"] == pytest.approx(metrics.accuracy_score(Y_TRUE, SCORES.argmax(axis=1)))
    assert data["class_avg_accuracy"] == pytest.approx(ev.compute_accuracy())
    assert (
        data["confusion_matrix"]
        == metrics.confusion_matrix(Y_TRUE, SCORES.argmax(axis=1), labels=[0, 1, 2, 3]).tolist()
    )
    assert set(data["per_class"]["dog"]) == {"precision", "recall", "f1", "support"}
    assert set(data["roc_auc"]) == {*LABELS, "micro", "macro"}
    assert data["roc_auc"]["owl"] is None and data["average_precision"]["owl"] is None
    assert data["roc_auc"]["dog"] == pytest.approx(metrics.roc_auc_score(Y_ONEHOT[:, DOG], SCORES[:, DOG]))
    assert data["average_precision"]["micro"] == pytest.approx(
        metrics.average_precision_score(Y_ONEHOT, SCORES, average="micro")
    )


def test_single_class_test_set():
    y_true = [0, 0, 0, 0]
    scores = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])
    ev = ClassificationEvaluation.from_scores(y_true, scores, ["a", "b", "c"])
    y_pred = scores.argmax(axis=1)
    assert ev.compute_accuracy(class_averaged=False) == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert ev.compute_accuracy() == pytest.approx(
        metrics.recall_score(y_true, y_pred, labels=[0], average="macro")
    )
    assert (
        ev.compute_confusion_matrix().tolist()
        == metrics.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).tolist()
    )
    assert ev.top_k_accuracy(2) == pytest.approx(
        metrics.top_k_accuracy_score(y_true, scores, k=2, labels=[0, 1, 2])
    )
    data = ev.to_dict()
    # No negatives for "a", no positives for "b" and "c": no per-class ROC at all.
    assert data["roc_auc"] == {
        "a": None,
        "b": None,
        "c": None,
        "micro": pytest.approx(metrics.roc_auc_score(np.eye(3)[y_true], scores, average="micro")),
        "macro": None,
    }
    assert data["average_precision"]["a"] == pytest.approx(
        metrics.average_precision_score([1, 1, 1, 1], scores[:, 0])
    )
    assert data["average_precision"]["macro"] == pytest.approx(data["average_precision"]["a"])
    assert data["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    display = RocCurveDisplay.from_evaluation(ev)
    assert list(display.lines_) == ["micro"]


def test_tied_scores():
    y_true = np.array([0, 1, 2, 1, 0, 2])
    scores = np.array(
        [
            [0.4, 0.4, 0.2],
            [0.4, 0.4, 0.2],
            [1 / 3, 1 / 3, 1 / 3],
            [0.2, 0.4, 0.4],
            [0.5, 0.25, 0.25],
            [0.25, 0.25, 0.5],
        ]
    )
    ev = ClassificationEvaluation.from_scores(y_true, scores, ["a", "b", "c"])
    np.testing.assert_array_equal(ev.y_pred, [0, 0, 0, 1, 0, 2])  # ties go to the first class
    y_onehot = np.eye(3, dtype=int)[y_true]
    curves = ev.roc_curves()
    for i, label in enumerate(["a", "b", "c"]):
        assert curves[label]["auc"] == pytest.approx(metrics.roc_auc_score(y_onehot[:, i], scores[:, i]))
    assert curves["micro"]["auc"] == pytest.approx(metrics.roc_auc_score(y_onehot, scores, average="micro"))
    for k in (1, 2):
        assert ev.top_k_accuracy(k) == pytest.approx(
            metrics.top_k_accuracy_score(y_true, scores, k=k, labels=[0, 1, 2])
        )
    assert ev.pr_curves()["micro"]["average_precision"] == pytest.approx(
        metrics.average_precision_score(y_onehot, scores, average="micro")
    )
    json.dumps(ev.to_dict(), allow_nan=False)


def test_label_strings_equal_ids():
    by_name = ClassificationEvaluation.from_scores([LABELS[i] for i in Y_TRUE], SCORES, LABELS)
    assert by_name.to_dict() == ClassificationEvaluation.from_scores(Y_TRUE, SCORES, LABELS).to_dict()


# -------------------------------------------------------------- interpretation


@pytest.fixture
def hand_made(tmp_path):
    """6 images of a/b/c with known confusions: b->a twice, c->a once, a->c once."""
    y_true = ["a", "a", "b", "b", "b", "c"]
    scores = np.array(
        [
            [0.9, 0.05, 0.05],  # a -> a
            [0.3, 0.1, 0.6],  # a -> c, p(true) 0.3
            [0.7, 0.2, 0.1],  # b -> a, p(true) 0.2
            [0.8, 0.1, 0.1],  # b -> a, p(true) 0.1
            [0.1, 0.8, 0.1],  # b -> b
            [0.5, 0.1, 0.4],  # c -> a, p(true) 0.4
        ]
    )
    paths = [tmp_path / f"img{i}.png" for i in range(6)]
    for i, path in enumerate(paths):
        Image.new("RGB", (32, 32), (40 * i, 100, 200 - 30 * i)).save(path)
    return ClassificationEvaluation.from_scores(y_true, scores, ["a", "b", "c"], paths=paths), scores, paths


def test_most_confused(hand_made):
    ev, _, _ = hand_made
    assert ev.most_confused() == [("b", "a", 2), ("a", "c", 1), ("c", "a", 1)]
    assert ev.most_confused(min_count=2) == [("b", "a", 2)]


def test_top_losses(hand_made):
    ev, scores, paths = hand_made
    top = ev.top_losses(3)
    assert [item["path"] for item in top] == [str(paths[3]), str(paths[2]), str(paths[1])]
    assert top[0] == {
        "path": str(paths[3]),
        "true_label": "b",
        "predicted_label": "a",
        "score": pytest.approx(0.8),
        "loss": pytest.approx(-math.log(0.1)),
    }
    assert [item["loss"] for item in top] == sorted((item["loss"] for item in top), reverse=True)
    assert len(ev.top_losses(100)) == 6
    y_true = [0, 0, 1, 1, 1, 2]
    assert ev.losses().sum() == pytest.approx(
        metrics.log_loss(y_true, scores, normalize=False, labels=[0, 1, 2])
    )


# ------------------------------------------------------------------ validation


def test_lazy_scoring_from_classifier_and_dataset():
    class FakeClassifier:
        labels = LABELS

        def __init__(self):
            self.calls = []

        def predict_scores(self, dataset, batch_size):
            self.calls.append(batch_size)
            return SCORES

    dataset = SimpleNamespace(
        images=[SimpleNamespace(path=f"/x/{i}.png", label=LABELS[y]) for i, y in enumerate(Y_TRUE)]
    )
    classifier = FakeClassifier()
    ev = ClassificationEvaluation(classifier, dataset, batch_size=8)
    assert classifier.calls == []
    assert ev.to_dict() == ClassificationEvaluation.from_scores(Y_TRUE, SCORES, LABELS).to_dict()
    ev.top_losses(3)
    ev.compute_confusion_matrix()
    assert classifier.calls == [8]
    assert ev.paths[0] == "/x/0.png"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y_true": [0, 1], "scores": [[0.5, 0.5]], "labels": ["a", "b"]}, "Received: scores with shape"),
        (
            {"y_true": ["a", "zebra"], "scores": [[0.5, 0.5]] * 2, "labels": ["a", "b"]},
            "Received: y_true containing 'zebra'",
        ),
        (
            {"y_true": [0, 2], "scores": [[0.5, 0.5]] * 2, "labels": ["a", "b"]},
            "Received: y_true containing 2",
        ),
        ({"y_true": [0, 1], "scores": [[0.5, 0.5]] * 2, "labels": ["a", "a"]}, "Received: labels="),
        (
            {"y_true": [0.0, 1.0], "scores": [[0.5, 0.5]] * 2, "labels": ["a", "b"]},
            "Received: y_true with dtype",
        ),
        (
            {"y_true": [0, 1], "scores": [[0.5, np.nan]] * 2, "labels": ["a", "b"]},
            "Received: scores containing NaN",
        ),
    ],
)
def test_from_scores_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassificationEvaluation.from_scores(**kwargs)


def test_methods_reject_bad_arguments(ev):
    with pytest.raises(ValueError, match="Received: normalize='all'"):
        ev.compute_confusion_matrix(normalize="all")
    with pytest.raises(ValueError, match="Received: k=0"):
        ev.top_k_accuracy(0)
    with pytest.raises(ValueError, match="Received: k=2.0"):
        ev.top_losses(2.0)
    with pytest.raises(ValueError, match="Received: min_count=0"):
        ev.most_confused(min_count=0)
    with pytest.raises(ValueError, match="Received: average="):
        RocCurveDisplay.from_evaluation(ev, average=["weighted"])
    reserved = ClassificationEvaluation.from_scores([0, 1], [[0.6, 0.4], [0.3, 0.7]], ["macro", "portrait"])
    assert reserved.compute_accuracy() == 1.0
    with pytest.raises(ValueError, match="Received: labels containing \\['macro'\\]"):
        reserved.roc_curves()


# ----------------------------------------------------------------------- plots


def _assert_png(figure, path):
    figure.savefig(path, format="png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 2  # not blank


def test_confusion_matrix_display(ev, tmp_path):
    display = ConfusionMatrixDisplay.from_evaluation(ev)
    cm = metrics.confusion_matrix(Y_TRUE, SCORES.argmax(axis=1), labels=[0, 1, 2, 3])
    assert [t.get_text() for t in display.ax_.get_xticklabels()] == LABELS
    assert [t.get_text() for t in display.ax_.get_yticklabels()] == LABELS
    texts = np.vectorize(lambda t: t.get_text())(display.text_)
    np.testing.assert_array_equal(texts, cm.astype(str))
    _assert_png(display.figure_, tmp_path / "cm.png")

    normalized = ConfusionMatrixDisplay.from_predictions(Y_TRUE, SCORES, LABELS, normalize="true")
    rates = metrics.confusion_matrix(Y_TRUE, SCORES.argmax(axis=1), labels=[0, 1, 2, 3], normalize="true")
    assert normalized.text_[0, 0].get_text() == f"{rates[0, 0]:.2f}"


def test_displays_draw_on_given_axes(ev):
    from matplotlib.figure import Figure

    figure = Figure()
    axes = figure.subplots(1, 3)
    assert graph_confusion_matrix(ev, ax=axes[0]).figure_ is figure
    assert graph_roc_curve(ev, ax=axes[1]).ax_ is axes[1]
    assert graph_pr_curve(ev, ax=axes[2]).ax_ is axes[2]


def test_roc_display_lines(ev, tmp_path):
    display = RocCurveDisplay.from_evaluation(ev)
    # cat, dog, fox, micro, macro (owl has no curve) and the chance diagonal.
    assert list(display.lines_) == ["cat", "dog", "fox", "micro", "macro"]
    assert len(display.ax_.get_lines()) == 6
    auc = metrics.roc_auc_score(Y_ONEHOT[:, DOG], SCORES[:, DOG])
    assert display.lines_["dog"].get_label() == f"dog (AUC = {auc:.3f})"
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert len(legend) == 5 and not any(text.startswith("owl") for text in legend)
    _assert_png(display.figure_, tmp_path / "roc.png")

    averages_only = RocCurveDisplay.from_predictions(
        Y_TRUE, SCORES, LABELS, per_class=False, average=["micro"]
    )
    assert len(averages_only.ax_.get_lines()) == 2


def test_pr_display_lines(ev, tmp_path):
    display = PrecisionRecallDisplay.from_evaluation(ev)
    assert list(display.lines_) == ["cat", "dog", "fox", "micro", "macro"]
    assert len(display.ax_.get_lines()) == 5
    ap = metrics.average_precision_score(Y_ONEHOT, SCORES, average="micro")
    assert display.lines_["micro"].get_label() == f"micro (AP = {ap:.3f})"
    _assert_png(display.figure_, tmp_path / "pr.png")


def test_training_curve_display(tmp_path):
    history = {
        "train_accuracy": [0.4, 0.6, 0.8, 0.9],
        "eval_accuracy": [0.35, 0.5, 0.7, 0.72],
        "lr": [0.01, 0.01, 0.001, 0.001],
    }
    display = TrainingCurveDisplay.from_history(history)
    assert sorted(display.lines_) == ["eval_accuracy", "lr", "train_accuracy"]
    np.testing.assert_allclose(display.lines_["eval_accuracy"].get_ydata(), history["eval_accuracy"])
    assert display.ax_lr_.get_yscale() == "log"
    assert [t.get_text() for t in display.ax_.get_legend().get_texts()] == [
        "train accuracy",
        "eval accuracy",
        "learning rate",
    ]
    _assert_png(display.figure_, tmp_path / "training.png")

    no_lr = TrainingCurveDisplay.from_history({"train_accuracy": [0.5, 0.7], "eval_accuracy": [0.4, 0.6]})
    assert no_lr.ax_lr_ is None and len(no_lr.ax_.get_lines()) == 2
    with pytest.raises(ValueError, match="Received: history with keys \\['loss'\\]"):
        TrainingCurveDisplay.from_history({"loss": [1.0]})


def test_top_losses_display(hand_made, tmp_path):
    ev, _, paths = hand_made
    display = TopLossesDisplay.from_evaluation(ev, k=4)
    assert len(display.ax_) == 4
    assert display.ax_[0].get_title() == "true: b\npred: a\nscore: 0.80"
    assert all(len(ax.get_images()) == 1 for ax in display.ax_)
    assert display.ax_[0].get_images()[0].get_array().shape == (32, 32, 3)
    _assert_png(display.figure_, tmp_path / "top_losses.png")

    missing = TopLossesDisplay(
        [
            {
                "path": str(tmp_path / "gone.png"),
                "true_label": "a",
                "predicted_label": "b",
                "score": 0.5,
                "loss": 1.0,
            }
        ]
    ).plot()
    assert [t.get_text() for t in missing.ax_[0].texts] == ["image unavailable"]


def test_plotting_leaves_pyplot_alone():
    # TensorFlow and Keras import matplotlib themselves, so "not imported" cannot be asserted
    # in-process; what we promise is lazy imports in our modules and no global pyplot figures.
    import ast
    import inspect

    import matplotlib.pyplot as plt

    from keras_cvcls.evaluation import displays, report

    for module in (displays, report):
        top_level = [n for n in ast.parse(inspect.getsource(module)).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top_level for a in n.names] + [getattr(n, "module", "") or "" for n in top_level]
        assert not any("matplotlib" in name for name in names), module.__name__
    before = plt.get_fignums()
    ev = ClassificationEvaluation.from_scores([0, 1], [[0.9, 0.1], [0.3, 0.7]], ["a", "b"])
    graph_confusion_matrix(ev).figure_.savefig(io.BytesIO())
    graph_roc_curve(ev)
    assert plt.get_fignums() == before


# ---------------------------------------------------------------------- report


def test_write_report_is_self_contained(hand_made, tmp_path):
    ev, _, _ = hand_made
    path = write_report(ev, tmp_path / "out" / "report.html", title="Birds <&> beasts", max_misclassified=2)
    text = Path(path).read_text(encoding="utf-8")
    for section in ("summary", "per-class", "confusion-matrix", "roc", "pr", "misclassified"):
        assert f'<section id="{section}">' in text
    assert 'id="training-curve"' not in text
    assert "<title>Birds &lt;&amp;&gt; beasts</title>" in text
    assert "http://" not in text and "https://" not in text and "<link" not in text and "<script" not in text
    assert text.count('src="data:image/png;base64,') == 3  # confusion matrix, ROC, PR
    assert text.count('src="data:image/jpeg;base64,') == 2  # max_misclassified
    assert "4 misclassified image(s), highest loss first; showing 2." in text


def test_write_report_rejects_bad_arguments(ev, tmp_path):
    with pytest.raises(ValueError, match="Received: max_misclassified=-1"):
        write_report(ev, tmp_path / "r.html", max_misclassified=-1)
