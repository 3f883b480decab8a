"""Loading any saved keras-cvcls classifier."""

import json
import os

import keras

from keras_cvcls.models.image_classifier import CLASSIFIER_FILE, MODEL_FILE
from keras_cvcls.run_folder import MODEL_DIR


KINDS = ("ImageClassifier", "ScikitClassifier")


def find_saved_classifier(path):
    """Where a saved classifier is and what kind it is, without loading it.

    Args:
        path: what :func:`load_classifier` takes.

    Returns:
        ``(kind, path)``: ``"ImageClassifier"`` or ``"ScikitClassifier"``, and the ``.keras``
        file or the folder holding ``classifier.json`` (a run folder's ``model/``).

    Raises:
        ValueError: if ``path`` holds no saved classifier.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and path.endswith(".keras"):
        return "ImageClassifier", path
    if os.path.isdir(os.path.join(path, MODEL_DIR)) and not os.path.exists(os.path.join(path, CLASSIFIER_FILE)):
        path = os.path.join(path, MODEL_DIR)  # a run folder
    summary_path = os.path.join(path, CLASSIFIER_FILE)
    if not os.path.isfile(summary_path):
        raise ValueError(
            f"No saved classifier here: expected {CLASSIFIER_FILE} (a folder written by save()) "
            f"or a .keras file. Received: path={path!r}"
        )
    with open(summary_path, encoding="utf-8") as f:
        kind = json.load(f).get("type")
    if kind not in KINDS:
        raise ValueError(f"Unknown classifier type in {summary_path}. Expected one of {KINDS}. Received: type={kind!r}")
    return kind, path


def load_classifier(path):
    """Loads a classifier saved with ``save(path)``: an :class:`ImageClassifier` or a
    :class:`ScikitClassifier` folder, an ``ImageClassifier`` ``.keras`` file, or a
    training run folder written by ``keras-cvcls train`` (its ``model/``).

    Raises:
        ValueError: if ``path`` holds no saved classifier.
    """
    kind, path = find_saved_classifier(path)
    if kind == "ScikitClassifier":
        from keras_cvcls.models.scikit_classifier import ScikitClassifier

        return ScikitClassifier.load(path)
    if path.endswith(".keras"):
        return keras.saving.load_model(path)
    return keras.saving.load_model(os.path.join(path, MODEL_FILE))
