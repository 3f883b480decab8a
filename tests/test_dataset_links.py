"""Symbolic links in a dataset folder: followed inside it, not out of it, and listed by ``dataset info``."""

import json
import os

from conftest import gradient, save

from keras_cvcls.cli.main import main
from keras_cvcls.data import ClassificationDataset


def _linked_folder(tmp_path):
    """A dataset (cat, dog) with links into it and out of it; returns ``(root, {link: kind})``."""
    root = tmp_path / "data"
    outside = tmp_path / "elsewhere"
    for i in range(2):
        save(str(root / "cat" / f"{i}.png"), gradient(32, 32, seed=i))
        save(str(root / "dog" / f"{i}.png"), gradient(32, 32, seed=10 + i))
        save(str(outside / "foxes" / f"{i}.png"), gradient(32, 32, seed=20 + i))
    save(str(outside / "secret.png"), gradient(32, 32, seed=30))
    links = {
        "cat/secret.png": (outside / "secret.png", "file"),  # a file out of the dataset
        "dog/more": (outside / "foxes", "folder"),  # a folder below a label, out of the dataset
        "fox": (outside / "foxes", "label folder"),  # a label folder out of the dataset
        "cat/also-dog.png": (root / "dog" / "0.png", None),  # a file of the dataset: used
        "dog/cats": (root / "cat", None),  # a folder of the dataset below a label: not walked
        "kitten": (root / "cat", None),  # a label folder of the dataset: used
    }
    for link, (target, _) in links.items():
        os.symlink(target, root / link)
    return str(root), {link: kind for link, (_, kind) in links.items()}


def test_links_out_of_the_dataset_are_skipped_and_listed(tmp_path, capsys):
    root, links = _linked_folder(tmp_path)
    dataset = ClassificationDataset.from_directory(root)
    assert dataset.labels == ["cat", "dog", "kitten"]
    ids = sorted(r.id for r in dataset.images)
    assert ids == ["cat/0.png", "cat/1.png", "cat/also-dog.png", "dog/0.png", "dog/1.png", "kitten/0.png",
                   "kitten/1.png", "kitten/also-dog.png"]
    assert all(os.path.realpath(r.path).startswith(os.path.realpath(root) + os.sep) for r in dataset.images)
    skipped = {os.path.relpath(s.path, root): s for s in dataset.skipped}
    for link, kind in links.items():
        if kind is not None:  # out of the dataset: an error naming the target and the remedy
            assert skipped[link].error, link
            assert skipped[link].reason.startswith(f"symbolic link to a {kind} outside the dataset folder ("), link
            assert os.path.join(str(tmp_path), "elsewhere") in skipped[link].reason and "copy" in skipped[link].reason
    assert "the label is left out" in skipped["fox"].reason
    assert not skipped["dog/cats"].error and "not followed" in skipped["dog/cats"].reason
    assert "cat/also-dog.png" not in skipped and "kitten" not in skipped
    assert skipped["kitten/secret.png"].error  # the label folder linked in holds the file linked out

    # dataset info lists them, in JSON and in text; --strict counts those leading out as bad files.
    assert main(["dataset", "info", root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    listed = {os.path.relpath(s["path"], root): s["reason"] for s in report["skipped"]}
    assert {link for link, kind in links.items() if kind} <= set(listed) and report["num_images"] == 8
    assert main(["dataset", "info", root, "--strict"]) == 1
    out, err = capsys.readouterr()
    assert f"{os.path.join(root, 'fox')}: symbolic link to a label folder outside the dataset folder" in out
    assert "4 bad file(s)" in err  # the three links out, and cat/secret.png again as kitten/secret.png


def test_unlabelled_folder_skips_links_out_of_it(tmp_path):
    root, _ = _linked_folder(tmp_path)
    dataset = ClassificationDataset.from_directory(root, labeled=False)
    assert len(dataset) == 5  # cat 3 (one a link inside), dog 2; links to folders are not walked
    reasons = {os.path.relpath(s.path, root): s.reason for s in dataset.skipped}
    assert reasons["cat/secret.png"].startswith("symbolic link to a file outside the dataset folder")
    assert reasons["fox"].startswith("symbolic link to a folder outside the dataset folder")
    assert reasons["kitten"] == "symbolic link to a folder of the dataset: not followed"
