"""The data-centric checks: label errors (cleanlab), leaks across the split, outliers, warnings.

The acceptance tests run on the hymenoptera photos with EfficientNet-Lite0 ImageNet features,
computed once for the module.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_cvcls.curation import DatasetIssues, Finding, dataset_features, find_issues
from keras_cvcls.curation.near_duplicates import near_duplicate_pairs
from keras_cvcls.curation.outliers import class_outlier_scores
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample

HYMENOPTERA = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "hymenoptera"))
needs_hymenoptera = pytest.mark.skipif(
    not os.path.isdir(HYMENOPTERA), reason="../shared/datasets/hymenoptera is absent (a user's clone)"
)


@pytest.fixture(scope="module")
def hymenoptera():
    """Train and val datasets of the read-only shared copy, and their Lite0 features (not cached on disk)."""
    if not os.path.isdir(HYMENOPTERA):
        pytest.skip("../shared/datasets/hymenoptera is absent (a user's clone)")
    # from_list: nothing is written next to the shared, read-only photos.
    train = ClassificationDataset.from_list(_pairs(os.path.join(HYMENOPTERA, "train")))
    val = ClassificationDataset.from_list(_pairs(os.path.join(HYMENOPTERA, "val")))
    return train, val, dataset_features(train, cache=False), dataset_features(val, cache=False)


def _pairs(root):
    return [
        (os.path.join(root, label, name), label)
        for label in sorted(os.listdir(root)) for name in sorted(os.listdir(os.path.join(root, label)))
    ]


# ------------------------------------------------------------------ acceptance
@needs_hymenoptera
@pytest.mark.slow
def test_flipped_labels_are_found_with_few_false_alarms(hymenoptera):
    train, val, x, _ = hymenoptera
    rng = np.random.default_rng(18)
    n = round(0.1 * len(train))
    flipped = set(rng.choice(len(train), n, replace=False).tolist())
    other = {"ants": "bees", "bees": "ants"}
    noisy = ClassificationDataset.from_list(
        [(r.path, other[r.label] if i in flipped else r.label) for i, r in enumerate(train.images)]
    )
    flipped_ids = {train.images[i].id for i in flipped}
    row = {r.id: i for i, r in enumerate(train.images)}
    issues = find_issues(noisy, features=x[[row[r.id] for r in noisy.images]])  # datasets sort by label

    ranked = issues.label_errors  # flagged by confident learning first, then "possible" ones
    top = [f.id for f in ranked[: 2 * n]]
    found = len(flipped_ids & set(top))
    # "Top findings" for false alarms: the label errors confident learning flags.
    flagged = [f.id for f in issues.of_kind("label_error")]
    false_alarms = set(flagged) - flipped_ids
    print(f"\n{n} flipped; {found} in the top {2 * n} label findings; {len(flagged)} flagged, "
          f"{len(false_alarms)} of them unflipped")
    assert found >= 0.8 * n
    assert len(false_alarms) <= 10
    # Each finding suggests the true label back, with a score; flagged ones come first.
    for f in ranked[: 2 * n]:
        if f.id in flipped_ids:
            assert f.suggested_label == other[f.label]
        assert 0.5 <= f.score <= 1
    assert [f.kind for f in ranked] == sorted((f.kind for f in ranked), key=("label_error", "possible_label_error").index)


@needs_hymenoptera
@pytest.mark.slow
def test_reencoded_copies_in_the_test_split_are_reported_as_leaks(hymenoptera, tmp_path):
    train, val, x, x_val = hymenoptera
    copies = []
    for k, record in enumerate(train.images[3::50][:5]):
        with Image.open(record.path) as image:
            image = image.convert("RGB")
            image = image.resize((int(image.width * 0.6), int(image.height * 0.6)), Image.Resampling.BILINEAR)
        path = tmp_path / f"copy{k}.jpg"
        image.save(path, quality=55)
        copies.append((record, str(path)))
    assert all(open(c, "rb").read() != open(r.path, "rb").read() for r, c in copies)
    extra = ClassificationDataset.from_list([(c, r.label) for r, c in copies])
    test = ClassificationDataset.from_list([(r.path, r.label) for r in val.images] + [(c, r.label) for r, c in copies])
    by_id = dict(zip([r.id for r in val.images + extra.images], [*x_val, *dataset_features(extra, cache=False)]))
    x_test = np.stack([by_id[r.id] for r in test.images])  # datasets sort their images by label

    issues = find_issues(train, test=test, features=x, test_features=x_test)
    leaks = {(f.id, f.other_id) for f in issues.leaks}
    expected = {(c, r.id) for r, c in copies}
    assert expected <= leaks
    assert leaks == expected  # and the hymenoptera photos themselves have no duplicate across the split
    first = issues.findings[0]  # leaks rank first
    assert first.kind == "duplicate" and first.split == "test" and "leak" in first.reason


@needs_hymenoptera
@pytest.mark.slow
def test_placeholder_image_is_the_top_outlier_and_json_round_trips(hymenoptera, tmp_path):
    train, _, x, _ = hymenoptera
    issues = find_issues(train, features=x)
    outliers = issues.of_kind("outlier")
    assert outliers[0].id.endswith("ants/imageNotFound.gif")
    assert 1 <= len(outliers) <= 8
    assert issues.of_kind("label_error") == []  # the photos' own labels are right
    assert issues.warnings == []  # 124 and 121 photos: balanced, and enough
    path = issues.save(tmp_path / "issues.json")
    again = DatasetIssues.load(path)
    assert again.findings == issues.findings and again.to_dict() == json.loads(open(path).read())


# ------------------------------------------------------------------ unit tests
def test_outlier_scores_single_out_the_odd_one_of_its_class():
    rng = np.random.default_rng(0)
    a = rng.normal([5, 0, 0, 0], 0.3, size=(20, 4))
    b = rng.normal([0, 5, 0, 0], 0.3, size=(20, 4))
    a[7] = [0, 0, 5, 0]  # unlike every other "a"
    z, distance = class_outlier_scores(np.concatenate([a, b]), [0] * 20 + [1] * 20, neighbors=3)
    assert int(np.argmax(z)) == 7 and z[7] > 10
    assert np.sort(z)[-2] < 3.5
    assert distance[7] > 0.5


def test_near_duplicate_pairs_by_hash_or_by_features():
    hashes = (np.array([0, 0xFFFF, 0xF0F0F0F0F0F0F0F0], np.uint64), np.array([True, True, True]))
    others = (np.array([0b111, 0xF0F0F0F0F0F0F0F0], np.uint64), np.array([True, False]))
    pairs = near_duplicate_pairs(hashes, others, hash_distance=5, similarity=None)
    assert [(p.first, p.second, p.hash_distance) for p in pairs] == [(0, 0, 3)]  # the invalid hash never matches
    f1 = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    f2 = np.array([[0, 2], [5, 5.2]], np.float32)
    pairs = near_duplicate_pairs(hashes, others, first_features=f1, second_features=f2, similarity=0.99, hash_distance=None)
    assert [(p.first, p.second) for p in pairs] == [(1, 0), (2, 1)]
    within = near_duplicate_pairs(hashes, first_features=f1, similarity=0.7, hash_distance=None)
    assert [(p.first, p.second) for p in within] == [(0, 2), (1, 2)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three labels x 8 images (32 px) and their Lite0 features at 64 px, cached beside the data."""
    root = make_sample(str(tmp_path_factory.mktemp("tiny")), images_per_label=8, image_size=(32, 32))
    return root


def test_features_are_cached_by_content_and_refreshed_when_a_file_changes(tiny, tmp_path):
    import shutil

    tiny = str(shutil.copytree(tiny, tmp_path / "data"))  # a file is changed below
    ds = ClassificationDataset.from_directory(tiny)
    first = dataset_features(ds, image_size=64)
    cache = os.path.join(tiny, ".keras_cvcls", "features", "efficientnet_lite0-64x64-crop.npz")
    assert os.path.isfile(cache) and first.shape == (24, 1280)
    stamp = os.stat(cache).st_mtime_ns
    np.testing.assert_array_equal(dataset_features(ds, image_size=64), first)
    assert os.stat(cache).st_mtime_ns == stamp  # all cached: nothing written
    changed = ds.images[0]
    Image.new("RGB", (32, 32), (255, 0, 0)).save(changed.path)
    again = dataset_features(ClassificationDataset.from_directory(tiny), image_size=64)
    assert not np.allclose(again[0], first[0])
    np.testing.assert_allclose(again[1:], first[1:], atol=1e-5)
    with np.load(cache) as data:
        assert len(data["ids"]) == 24  # the old entry was replaced, not kept beside the new one


def test_kept_labels_are_not_reported_again_and_warnings_name_the_label(tiny, tmp_path):
    import shutil

    root = shutil.copytree(tiny, tmp_path / "data")
    for name in sorted(os.listdir(root / "dots"))[2:]:
        os.remove(root / "dots" / name)  # dots: 2 images, 4x fewer than the others
    ds = ClassificationDataset.from_directory(root)
    x = dataset_features(ds, image_size=64)
    issues = find_issues(ds, features=x, min_images_per_label=5)
    kinds = {(w["kind"], w["label"]) for w in issues.warnings}
    assert kinds == {("few_images", "dots"), ("imbalance", "dots")}
    assert "'dots' has 2 image(s)" in issues.warnings[0]["message"]
    reported = [f.id for f in issues.label_errors]  # 32 px patterns at 64 px: some are confused
    assert reported
    ds.keep_label(reported[0])  # a person looked and kept the label
    with open(root / ".keras_cvcls" / "label_fixes.json") as f:
        assert json.load(f)["kept"] == [reported[0]]
    assert [f.id for f in find_issues(ds, features=x, min_images_per_label=5).label_errors] == reported[1:]


def test_bad_arguments_are_refused_with_the_value(tiny):
    with pytest.raises(ValueError, match="dataset must be a ClassificationDataset. Received: dataset='photos/'"):
        find_issues("photos/")
    ds = ClassificationDataset.from_directory(tiny)
    with pytest.raises(ValueError, match="cv_folds must be an int of at least 2. Received: cv_folds=1"):
        find_issues(ds, cv_folds=1)
    with pytest.raises(ValueError, match="duplicate_similarity must be a number between 0 and 1. Received: duplicate_similarity=2"):
        find_issues(ds, duplicate_similarity=2)
    with pytest.raises(ValueError, match=r"features must have one row per image \(24\). Received: features with shape \(3, 4\)"):
        find_issues(ds, features=np.zeros((3, 4)))
    unlabelled = ClassificationDataset.from_directory(tiny, labeled=False)
    with pytest.raises(ValueError, match="Finding dataset issues needs labelled images"):
        find_issues(unlabelled)
    with pytest.raises(ValueError, match="Not a findings file"):
        DatasetIssues.from_dict({"findings": [{"kind": "nope"}]})
    issues = DatasetIssues([Finding("outlier", "a.jpg", "/a.jpg", "a", 4.0, "odd")], [], labels=["a"], counts={}, num_images=1)
    with pytest.raises(ValueError, match="Unknown finding kind.*Received: kinds=\\['leak'\\]"):
        issues.of_kind("leak")


# ------------------------------------------------------------- active learning
@needs_hymenoptera
@pytest.mark.slow
def test_labelling_uncertain_photos_needs_fewer_labels_than_a_random_sample(hymenoptera):
    """As bench/active_learning.py (10 seeds, 5 labels a round), to 40 labels and 94% accuracy."""
    from keras_cvcls.curation.simulation import labels_to_reach, simulate_active_learning

    train, val, x, x_val = hymenoptera
    y, y_val = np.array(train.label_ids), np.array(val.label_ids)
    curves = {}
    for strategy in ("random", "uncertainty"):
        runs = [simulate_active_learning(x, y, x_val, y_val, strategy=strategy, max_labels=40, seed=s) for s in range(10)]
        curves[strategy] = (runs[0][0], np.mean([a for _, a in runs], axis=0))
    needed = {s: labels_to_reach(*curves[s], 0.94) for s in curves}
    print(f"\nlabels to reach 94%: {needed}")
    assert needed["uncertainty"] is not None
    assert needed["random"] is None or needed["uncertainty"] < needed["random"]


def test_rank_for_labelling_strategies():
    from keras_cvcls.curation import rank_for_labelling

    p = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0], [0.34, 0.33, 0.33], [0.6, 0.2, 0.2]])
    assert rank_for_labelling(p, count=3, strategy="uncertainty") == [3, 1, 2]  # 1 - max p
    assert rank_for_labelling(p, count=3, strategy="margin") == [2, 3, 1]  # 1 - (p1 - p2)
    # Diverse: rows 3, 1 and 2 are least confident, but 3 and 1 are the same photo twice.
    features = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0.01], [1, 1, 0]], np.float32)
    assert rank_for_labelling(p, count=2, strategy="diverse", features=features, pool_factor=2) == [3, 2]
    with pytest.raises(ValueError, match="strategy must be one of .*Received: strategy='entropy'"):
        rank_for_labelling(p, count=2, strategy="entropy")
    with pytest.raises(ValueError, match="count must be a positive integer. Received: count=0"):
        rank_for_labelling(p, count=0)
    with pytest.raises(ValueError, match="The diverse strategy needs one feature vector per photo"):
        rank_for_labelling(p, count=2, strategy="diverse")


@pytest.fixture(scope="module")
def tiny_model(tiny, tmp_path_factory):
    """A ScikitClassifier (Lite0 at 64 px + logistic regression) trained on the tiny sample, saved."""
    from sklearn.linear_model import LogisticRegression

    from keras_cvcls.models import ScikitClassifier

    clf = ScikitClassifier("efficientnet_lite0", LogisticRegression(max_iter=1000), image_size=64)
    clf.fit(ClassificationDataset.from_directory(tiny), verbose=0)
    return clf, clf.save(str(tmp_path_factory.mktemp("model") / "clf"))


def test_suggest_ranks_unlabelled_photos_by_the_models_uncertainty(tiny, tiny_model, tmp_path, capsys):
    from keras_cvcls.cli.main import main
    from keras_cvcls.curation import suggest_labels

    clf, model_dir = tiny_model
    new = make_sample(str(tmp_path / "new"), images_per_label=4, image_size=(32, 32), seed=7)
    photos = ClassificationDataset.from_directory(new, labeled=False)
    oracle = clf.predict_scores(photos)
    expected = np.argsort(-(1 - oracle.max(axis=1)), kind="stable")[:5]
    suggestions = suggest_labels(clf, new, count=5)
    assert [s.id for s in suggestions] == [photos.images[i].id for i in expected]
    assert [s.rank for s in suggestions] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose([s.score for s in suggestions], 1 - oracle.max(axis=1)[expected], atol=1e-6)
    assert suggestions[0].predicted_label == clf.labels[int(oracle[expected[0]].argmax())]
    diverse = suggest_labels(clf, photos, count=4, strategy="diverse")
    assert len({s.id for s in diverse}) == 4

    assert main(["dataset", "suggest", model_dir, new, "--count", "3", "--strategy", "margin", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = np.sort(oracle, axis=1)
    margin_order = np.argsort(-(1 - (top[:, -1] - top[:, -2])), kind="stable")[:3]
    assert [s["id"] for s in out["suggestions"]] == [photos.images[i].id for i in margin_order]
    assert out["strategy"] == "margin" and out["labels"] == clf.labels
    assert main(["dataset", "suggest", model_dir, new, "--count", "0", "--json"]) == 2
    assert "--count must be a positive integer. Received: --count=0" in json.loads(capsys.readouterr().out)["error"]


def test_cli_issues_prints_one_json_object_and_writes_the_findings_file(tiny, tmp_path, capsys):
    from keras_cvcls.cli.main import main

    out_file = tmp_path / "issues.json"
    argv = ["dataset", "issues", tiny, "--test", tiny, "--image-size", "64", "--output", str(out_file), "--json"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_file.read_text())
    assert printed["num_images"] == 24 and printed["num_test_images"] == 24
    # The same folder as the test side: every image leaks, as its own duplicate.
    leaks = [f for f in printed["findings"] if f["kind"] == "duplicate" and f["id"] == f["other_id"]]
    assert len(leaks) == 24 and printed["findings"][0]["kind"] == "duplicate"
    assert main(["dataset", "issues", tiny, "--image-size", "64", "--limit", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Checked 24 images:") and text.count("\n  ") <= 3


# ------------------------------------------------------------------ evaluation
@needs_hymenoptera
def test_evaluation_warns_when_test_images_duplicate_training_images(hymenoptera, tmp_path):
    from keras_cvcls.evaluation import ClassificationEvaluation
    from keras_cvcls.evaluation.leakage import LeakageWarning

    train, val, _, _ = hymenoptera
    paths = [r.path for r in val.images[:10]]
    for k, record in enumerate(train.images[:2]):
        with Image.open(record.path) as image:
            image.convert("RGB").resize((image.width // 2, image.height // 2)).save(tmp_path / f"c{k}.jpg", quality=60)
        paths.append(str(tmp_path / f"c{k}.jpg"))
    scores = np.tile([0.7, 0.3], (12, 1))
    train_paths = [r.path for r in train.images]
    with pytest.warns(LeakageWarning, match="2 of the 12 test images are near-duplicates of training images"):
        ev = ClassificationEvaluation.from_scores([0, 1] * 6, scores, ["ants", "bees"], paths=paths, train_paths=train_paths)
    assert [(t, s) for t, s, _ in ev.near_duplicates] == [(paths[10], train_paths[0]), (paths[11], train_paths[1])]
    assert ev.to_dict()["near_duplicates_of_train"] == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = ClassificationEvaluation.from_scores([0, 1] * 5, scores[:10], ["ants", "bees"], paths=paths[:10],
                                                     train_paths=train_paths)
    assert clean.near_duplicates == [] and clean.to_dict()["near_duplicates_of_train"] == 0
    assert "near_duplicates_of_train" not in ClassificationEvaluation.from_scores([0], scores[:1], ["ants", "bees"]).to_dict()
    with pytest.raises(ValueError, match="Checking for leaks needs the test images' paths"):
        ClassificationEvaluation.from_scores([0], scores[:1], ["ants", "bees"], train_paths=train_paths)


def test_training_run_evaluation_warns_about_its_leaked_test_images(tiny, tmp_path):
    """A run whose validation folder holds re-encoded, resized copies of two training photos."""
    import shutil
    import warnings

    from keras_cvcls.evaluation.leakage import LeakageWarning
    from keras_cvcls.training_run import TrainingRun

    val = make_sample(str(tmp_path / "val"), images_per_label=2, image_size=(32, 32), seed=11)
    for k, name in enumerate(["checks/checks_0000.jpg", "dots/dots_0003.jpg"]):
        with Image.open(os.path.join(tiny, name)) as image:
            image.convert("RGB").resize((48, 48)).save(os.path.join(val, name.split("/")[0], f"copy{k}.jpg"), quality=70)
    run = TrainingRun.create(tmp_path / "run", tiny, val_dir=val, image_size=32, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = run.evaluate().to_dict()
    leaks = [w for w in caught if issubclass(w.category, LeakageWarning)]
    assert len(leaks) == 1 and "2 of the 8 test images are near-duplicates of training images" in str(leaks[0].message)
    assert metrics["near_duplicates_of_train"] == 2
    shutil.rmtree(tmp_path / "run.partial", ignore_errors=True)
