import json
import os

import numpy as np
import pytest
from conftest import gradient, save

from keras_cvcls.data import ClassificationDataset, ImageValidationError
from keras_cvcls.data.split import stratified_split_indices
from keras_cvcls.datasets import make_sample


def rel(dataset, path):
    return os.path.relpath(path, dataset.root).replace(os.sep, "/")


def test_mixed_folder_keeps_every_good_image_and_reports_every_bad_file(mixed_folder):
    root, good, bad, hidden = mixed_folder
    ds = ClassificationDataset.from_directory(root)
    assert sorted(r.id for r in ds.images) == sorted(good)
    reasons = {rel(ds, s.path): s.reason for s in ds.skipped}
    assert set(reasons) == set(bad) | set(hidden)
    assert "truncated" in reasons["cat/truncated.jpg"]
    assert reasons["cat/empty.jpg"] == "empty file (0 bytes)"
    assert "HTML" in reasons["cat/page.jpg"]
    assert "corrupt" in reasons["dog/corrupt.png"]
    assert "unsupported format TIFF" in reasons["dog/scan.tiff"]
    assert "decompression bomb" in reasons["dog/bomb.png"]
    assert "not an image file" in reasons["dog/notes.txt"]
    assert "no usable images" in reasons["empty_label"]
    for h in hidden:
        assert "hidden" in reasons[h]
    assert ds.labels == ["cat", "dog"]  # the empty label folder is left out


def test_strict_raises_one_error_listing_every_bad_file(mixed_folder):
    root, good, bad, hidden = mixed_folder
    with pytest.raises(ImageValidationError, match="cannot be used as images") as info:
        ClassificationDataset.from_directory(root, strict=True)
    listed = {os.path.relpath(s.path, root).replace(os.sep, "/") for s in info.value.skipped}
    assert listed == set(bad)  # hidden files are not errors
    for name in bad:
        assert name in str(info.value).replace(os.sep, "/")


def test_pixel_cap_is_configurable(tmp_path):
    save(str(tmp_path / "a" / "big.png"), np.zeros((300, 400, 3), np.uint8))
    save(str(tmp_path / "a" / "small.png"), np.zeros((30, 40, 3), np.uint8))
    ds = ClassificationDataset.from_directory(tmp_path, max_pixels=100_000)
    assert [r.name for r in ds.images] == ["small.png"]
    assert "exceeds max_pixels=100000" in ds.skipped[0].reason
    assert len(ClassificationDataset.from_directory(tmp_path)) == 2


def test_records_have_name_label_path_and_stable_id(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    again = ClassificationDataset.from_directory(sample_dir)
    assert [r.id for r in ds.images] == [r.id for r in again.images]
    first = ds.images[0]
    assert first.id == "checks/checks_0000.jpg"
    assert first.name == "checks_0000.jpg"
    assert first.label == "checks"
    assert os.path.isabs(first.path) and os.path.exists(first.path)
    assert ds.labels == ["checks", "dots", "stripes"]
    assert len(ds) == 36
    assert ds.label_ids == [0] * 12 + [1] * 12 + [2] * 12
    assert ds.summary()["counts"] == {"checks": 12, "dots": 12, "stripes": 12}


def test_create_from_dir_is_the_cvtk_spelling(sample_dir):
    ds = ClassificationDataset.create_from_dir("shapes", sample_dir)
    assert ds.name == "shapes" and len(ds) == 36


def test_split_is_deterministic_and_stratified(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    a_train, a_test = ds.split(train_size=0.66, seed=7)
    b_train, b_test = ds.split(train_size=0.66, seed=7)
    c_train, _ = ds.split(train_size=0.66, seed=8)
    assert [r.id for r in a_train] == [r.id for r in b_train]
    assert [r.id for r in a_test] == [r.id for r in b_test]
    assert [r.id for r in a_train] != [r.id for r in c_train]
    assert not {r.id for r in a_train} & {r.id for r in a_test}
    assert len(a_train) + len(a_test) == len(ds)
    assert a_train.counts() == {"checks": 8, "dots": 8, "stripes": 8}
    assert a_test.counts() == {"checks": 4, "dots": 4, "stripes": 4}
    assert a_train.labels == a_test.labels == ds.labels


@pytest.mark.parametrize("train_size", [0.05, 0.5, 0.95])
def test_every_label_with_two_images_is_on_both_sides(train_size):
    labels = ["a"] * 2 + ["b"] * 3 + ["c"] * 40 + ["d"]
    train, test = stratified_split_indices(labels, train_size, seed=0)
    train_labels = {labels[i] for i in train}
    test_labels = {labels[i] for i in test}
    assert {"a", "b", "c"} <= train_labels and {"a", "b", "c"} <= test_labels
    assert "d" in train_labels and "d" not in test_labels
    assert sorted(train + test) == list(range(len(labels)))


def test_split_rejects_bad_train_size(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    with pytest.raises(ValueError, match="Received: train_size=1.5"):
        ds.split(train_size=1.5)


def test_label_fixes_survive_a_reload(tmp_path):
    root = make_sample(str(tmp_path / "data"), images_per_label=3, image_size=32)
    ds = ClassificationDataset.from_directory(root)
    ds.relabel("checks/checks_0000.jpg", "dots")
    ds.exclude(ds.images[-1])
    assert ds.counts() == {"checks": 2, "dots": 4, "stripes": 2}
    sidecar = os.path.join(root, ".keras_cvcls", "label_fixes.json")
    with open(sidecar) as f:
        saved = json.load(f)
    assert saved["relabel"] == {"checks/checks_0000.jpg": "dots"}
    assert saved["exclude"] == ["stripes/stripes_0002.jpg"]

    reloaded = ClassificationDataset.from_directory(root)
    assert reloaded.counts() == {"checks": 2, "dots": 4, "stripes": 2}
    record = [r for r in reloaded.images if r.id == "checks/checks_0000.jpg"][0]
    assert record.label == "dots" and record.original_label == "checks"
    assert [r.id for r in reloaded.excluded] == ["stripes/stripes_0002.jpg"]
    assert not any("keras_cvcls" in s.path for s in reloaded.skipped)

    # Undo both; a relabel back to the folder's label removes the fix.
    reloaded.relabel(record, "checks")
    reloaded.exclude("stripes/stripes_0002.jpg", excluded=False)
    assert ClassificationDataset.from_directory(root).counts() == {"checks": 3, "dots": 3, "stripes": 3}


def test_label_fixes_through_a_split_reach_the_sidecar(sample_dir, tmp_path):
    root = make_sample(str(tmp_path / "d"), images_per_label=4, image_size=32)
    train, test = ClassificationDataset.from_directory(root).split(seed=0)
    test.relabel(test.images[0], "stripes")
    assert ClassificationDataset.from_directory(root).counts()["stripes"] == 5


def test_relabel_rejects_unknown_label_and_image(sample_dir):
    ds = ClassificationDataset.from_directory(sample_dir)
    with pytest.raises(ValueError, match="Received: label='horse'"):
        ds.relabel(ds.images[0], "horse")
    with pytest.raises(ValueError, match="not in this dataset"):
        ds.exclude("nope/none.jpg")


def test_from_list_and_from_csv(tmp_path):
    a = save(str(tmp_path / "imgs" / "a.png"), gradient())
    b = save(str(tmp_path / "imgs" / "b b.jpg"), gradient(seed=1))
    ds = ClassificationDataset.from_list([(a, "x"), (b, "y"), (str(tmp_path / "missing.jpg"), "x")])
    assert ds.labels == ["x", "y"] and len(ds) == 2
    assert ds.skipped[0].reason == "file not found"

    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,label\nimgs/a.png,x\nimgs/b b.jpg,y\n", encoding="utf-8")
    ds = ClassificationDataset.from_csv(str(csv_path))
    assert [(r.id, r.label) for r in ds.images] == [("imgs/a.png", "x"), ("imgs/b b.jpg", "y")]
    ds.relabel("imgs/a.png", "y")
    assert ClassificationDataset.from_csv(str(csv_path)).counts() == {"x": 0, "y": 2}

    headerless = tmp_path / "plain.csv"
    headerless.write_text("imgs/a.png,x\n", encoding="utf-8")
    assert len(ClassificationDataset.from_csv(str(headerless))) == 1


def test_bad_arguments_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="existing folder"):
        ClassificationDataset.from_directory(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No usable images"):
        ClassificationDataset.from_directory(tmp_path / "empty")
    with pytest.raises(ValueError, match="CSV file not found"):
        ClassificationDataset.from_csv(str(tmp_path / "none.csv"))
    with pytest.raises(ValueError, match=r"\(path, label\) pairs"):
        ClassificationDataset.from_list(["just-a-path.jpg"])


def test_check_results_are_cached_and_invalidated_on_change(tmp_path):
    root = make_sample(str(tmp_path / "d"), images_per_label=2, image_size=32)
    assert len(ClassificationDataset.from_directory(root)) == 6
    assert os.path.exists(os.path.join(root, ".keras_cvcls", "checks.json"))
    victim = os.path.join(root, "checks", "checks_0000.jpg")
    with open(victim, "r+b") as f:
        f.truncate(100)
    ds = ClassificationDataset.from_directory(root)
    assert len(ds) == 5 and "truncated" in ds.skipped[0].reason


def _rewrite_keeping_size_and_mtime(path, data):
    st = os.stat(path)
    assert len(data) == st.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_the_check_cache_sees_new_content_with_the_old_size_and_mtime(tmp_path):
    root = make_sample(str(tmp_path / "d"), images_per_label=2, image_size=32)
    assert len(ClassificationDataset.from_directory(root)) == 6
    victim = os.path.join(root, "dots", "dots_0001.jpg")
    garbage = bytes(np.random.default_rng(0).integers(0, 256, os.path.getsize(victim), dtype=np.uint8))
    _rewrite_keeping_size_and_mtime(victim, garbage)
    ds = ClassificationDataset.from_directory(root)
    assert len(ds) == 5 and [s.path for s in ds.skipped] == [victim] and "not an image" in ds.skipped[0].reason


def test_recheck_finds_files_that_went_bad_after_the_check_and_the_cache_learns_it(tmp_path):
    root = make_sample(str(tmp_path / "d"), images_per_label=2, image_size=32)
    ds = ClassificationDataset.from_directory(root)
    assert ds.recheck() == []
    # Corrupt pixel data between an intact head and tail: the content digest cannot see it.
    big = save(os.path.join(root, "dots", "big.png"), np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8))
    ds = ClassificationDataset.from_directory(root)
    data = bytearray(open(big, "rb").read())
    assert len(data) > 3 * 64 * 1024
    data[len(data) // 2 : len(data) // 2 + 5000] = bytes(5000)
    _rewrite_keeping_size_and_mtime(big, bytes(data))
    assert len(ClassificationDataset.from_directory(root)) == 7  # the digest of head and tail is unchanged
    # A file replaced by another picture also counts: the pipeline decodes by the recorded size.
    other = os.path.join(root, "checks", "checks_0000.jpg")
    save(other, gradient(20, 30))
    bad = {s.path: s.reason for s in ds.recheck()}
    assert sorted(bad) == sorted([big, other])
    assert "corrupt" in bad[big] and "changed since the dataset was checked: was JPEG 32x32" in bad[other]
    again = ClassificationDataset.from_directory(root)  # the cache now knows
    assert [s.path for s in again.skipped] == [big] and len(again) == 6


def test_control_characters_in_names_and_labels_are_refused_with_the_path_repr(tmp_path, capsys):
    from keras_cvcls.cli.main import main

    root = make_sample(str(tmp_path / "d"), images_per_label=2, image_size=32)
    fake = os.path.join(root, "dots", "x.jpg: ok\n  fake.jpg")  # would print as two lines in dataset info
    save(fake, gradient(32, 32))
    save(os.path.join(root, "bad\x1blabel", "a.jpg"), gradient(32, 32))
    save(os.path.join(root, "dots", "sub\rdir", "b.jpg"), gradient(32, 32))
    ds = ClassificationDataset.from_directory(root)
    assert ds.labels == ["checks", "dots", "stripes"] and len(ds) == 6
    reasons = {s.path: s.reason for s in ds.skipped}
    assert "file name contains the control character '\\n'" in reasons[fake]
    assert "label folder name contains the control character '\\x1b'" in reasons[os.path.join(root, "bad\x1blabel")]
    assert "folder name contains the control character '\\r'" in reasons[os.path.join(root, "dots", "sub\rdir")]
    assert main(["dataset", "info", root]) == 0
    out = capsys.readouterr().out
    assert repr(fake) in out and not any(line.startswith("  fake.jpg") for line in out.splitlines())
    assert main(["dataset", "info", root, "--json"]) == 0
    assert repr(fake) in [s["path"] for s in json.loads(capsys.readouterr().out)["skipped"]]

    good = os.path.join(root, "dots", "dots_0000.jpg")
    listed = ClassificationDataset.from_list([(good, "new\nline"), (good, "dots"), (fake, "dots")])
    assert len(listed) == 1 and listed.labels == ["dots"]
    assert [s.reason for s in listed.skipped] == [
        "its label 'new\\nline' contains the control character '\\n': fix the label",
        "its path contains the control character '\\n': rename it",
    ]
    with pytest.raises(ImageValidationError, match=r"'.*x\.jpg: ok\\n  fake\.jpg'"):
        ClassificationDataset.from_directory(root, strict=True)


def test_a_malformed_exif_block_is_reported_once_naming_the_file(tmp_path):
    import struct
    import warnings

    from PIL import Image

    from keras_cvcls.data.image_check import ImageWarning

    root = make_sample(str(tmp_path / "d"), images_per_label=2, image_size=32)
    # 300 EXIF tags, each claiming more data than the file holds: Pillow warns once per tag.
    entries = b"".join(struct.pack("<HHII", 0x9000 + i, 1, 5000, 8) for i in range(300))
    tiff = b"II*\x00" + struct.pack("<IH", 8, 300) + entries + b"\x00" * 4
    broken = os.path.join(root, "dots", "broken_exif.jpg")
    Image.fromarray(gradient(32, 32)).save(broken, "JPEG", exif=b"Exif\x00\x00" + tiff)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ClassificationDataset.from_directory(root)
    assert len(ds) == 7  # the pixels are fine: the image is used
    assert [str(w.message)[: len(repr(broken))] for w in caught] == [repr(broken)]
    assert caught[0].category is ImageWarning and "600 problem(s)" in str(caught[0].message)
    assert "Skipping tag" in str(caught[0].message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ClassificationDataset.from_directory(root)
    assert caught == []  # checked once: the cached result is not reported again


@pytest.mark.parametrize("umask", [0o002, 0o077])
def test_records_beside_the_data_follow_the_umask(tmp_path, umask):
    root = make_sample(str(tmp_path / "d"), images_per_label=2, image_size=32)
    old = os.umask(umask)
    try:
        ds = ClassificationDataset.from_directory(root)
        ds.relabel(ds.images[0], "dots")
    finally:
        os.umask(old)
    sidecar = os.path.join(root, ".keras_cvcls")
    assert sorted(os.listdir(sidecar)) == ["checks.json", "label_fixes.json"]  # no temporary file left
    for name in os.listdir(sidecar):
        assert oct(os.stat(os.path.join(sidecar, name)).st_mode & 0o777) == oct(0o666 & ~umask), name


def test_make_sample_is_deterministic(tmp_path):
    a = make_sample(str(tmp_path / "a"), images_per_label=2, image_size=32)
    b = make_sample(str(tmp_path / "b"), images_per_label=2, image_size=32)
    for label in ("checks", "dots", "stripes"):
        for name in sorted(os.listdir(os.path.join(a, label))):
            with open(os.path.join(a, label, name), "rb") as fa, open(os.path.join(b, label, name), "rb") as fb:
                assert fa.read() == fb.read()
    with pytest.raises(ValueError, match="Received: labels"):
        make_sample(str(tmp_path / "c"), labels=("cats",))


# ------------------------------------------------------------------ unlabelled datasets
def test_unlabeled_folder_reads_every_image_below_it_and_reports_bad_files(mixed_folder):
    root, good, bad, hidden = mixed_folder
    ds = ClassificationDataset.from_directory(root, labeled=False)
    assert not ds.labeled and ds.labels == [] and ds.counts() == {}
    assert sorted(r.id for r in ds.images) == sorted(good)
    assert all(r.label is None for r in ds.images)
    reasons = {rel(ds, s.path): s.reason for s in ds.skipped}
    assert set(bad) - {"empty_label"} <= set(reasons)
    assert "unlabeled" in repr(ds)


def test_from_files_keeps_the_given_order_of_ids_and_skips_missing_files(sample_dir):
    paths = [os.path.join(sample_dir, "dots", "dots_0001.jpg"), os.path.join("checks", "checks_0002.jpg")]
    ds = ClassificationDataset.from_files([*paths, "nowhere.jpg"], root=sample_dir)
    assert [r.id for r in ds.images] == sorted([paths[0].replace(os.sep, "/"), "checks/checks_0002.jpg"])
    assert [s.reason for s in ds.skipped] == ["file not found"]
    with pytest.raises(ValueError, match=r"labeled=False"):
        ClassificationDataset.from_files(sample_dir)
    with pytest.raises(ValueError, match="No usable images"):
        ClassificationDataset.from_files(["nowhere.jpg"], root=sample_dir)


def test_unlabeled_pipeline_yields_the_same_images_without_labels(sample_dir):
    labeled = ClassificationDataset.from_directory(sample_dir)
    unlabeled = ClassificationDataset.from_files([r.path for r in labeled.images])
    assert [r.path for r in unlabeled.images] == [r.path for r in labeled.images]
    with_labels = next(iter(labeled.to_tf_dataset(image_size=16, batch_size=8, normalization="unit")))
    images = next(iter(unlabeled.to_tf_dataset(image_size=16, batch_size=8, normalization="unit")))
    np.testing.assert_array_equal(images.numpy(), with_labels[0].numpy())


def test_unlabeled_datasets_score_but_refuse_what_needs_labels(sample_dir):
    import keras

    from keras_cvcls import ClassificationEvaluation, ImageClassifier, augment_dataset

    labeled = ClassificationDataset.from_directory(sample_dir)
    new = ClassificationDataset.from_directory(sample_dir, labeled=False)
    keras.utils.set_random_seed(0)
    model = ImageClassifier(labeled.labels, "resnet18", weights=None, image_size=16)
    np.testing.assert_allclose(model.predict_scores(new), model.predict_scores(labeled), atol=1e-6)
    train, test = new.split(train_size=0.5, seed=0)
    assert not train.labeled and len(train) + len(test) == len(new)
    for call in (
        lambda: new.label_ids,
        lambda: ClassificationEvaluation(model, new),
        lambda: augment_dataset(new, [lambda images: images], "out"),
        lambda: new.with_labels(labeled.labels),
        lambda: model.fit(new, epochs=1),
        lambda: model.fine_tune(new, epochs=0),
    ):
        with pytest.raises(ValueError, match="needs labelled images, but this dataset is unlabelled"):
            call()


def test_a_dataset_mixing_labelled_and_unlabelled_images_is_refused(sample_dir):
    labeled = ClassificationDataset.from_directory(sample_dir)
    new = ClassificationDataset.from_files([labeled.images[0].path])
    with pytest.raises(ValueError, match="all have labels, or none"):
        ClassificationDataset(labeled.images[:2] + new.images)
