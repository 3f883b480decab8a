"""The real classifiers, trained, exported and served: REST and gRPC scores equal in-process ones."""

import base64

import numpy as np
import pytest
import requests

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.export import export_for_serving
from keras_cvcls.models import ImageClassifier, ScikitClassifier
from keras_cvcls.serving import ModelConfig, ModelServer, ScoringClient


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("served")
    root = make_sample(str(base / "data"), images_per_label=6, image_size=(40, 56))
    train, test = ClassificationDataset.from_directory(root).split(seed=0)
    model = ImageClassifier(train.labels, "resnet18", weights=None, image_size=(32, 40))
    model.fit(train, epochs=1, batch_size=8, validation_data=test, verbose=0)
    svm = ScikitClassifier(model).train(train, verbose=0)
    export_for_serving(model, str(base / "models" / "dnn"))
    export_for_serving(svm, str(base / "models" / "svm"))
    models = [ModelConfig(name, str(base / "models" / name)) for name in ("dnn", "svm")]
    with ModelServer(models=models, rest_port=0, grpc_port=0, host="127.0.0.1") as server:
        yield server, model, svm, test


@pytest.mark.parametrize("name", ["dnn", "svm"])
def test_rest_and_grpc_scores_equal_in_process_predictions(trained, name):
    server, model, svm, test = trained
    expected = (model if name == "dnn" else svm).predict_scores(test)
    files = [open(r.path, "rb").read() for r in test.images]
    b64 = [base64.b64encode(f).decode() for f in files]
    url = f"{server.rest_url}/v1/models/{name}:predict"

    rows = requests.post(url, json={"instances": [{"b64": b} for b in b64]}, timeout=60).json()
    row_scores = np.array([p["scores"] for p in rows["predictions"]])
    columnar = requests.post(url, json={"inputs": {"image_bytes": [{"b64": b} for b in b64]}}, timeout=60).json()
    col_scores = np.array(columnar["outputs"]["scores"])
    np.testing.assert_allclose(row_scores, expected, atol=1e-5)
    np.testing.assert_allclose(col_scores, expected, atol=1e-5)
    assert [p["classes"] for p in rows["predictions"]] == [test.labels[i] for i in expected.argmax(1)]

    client = ScoringClient(grpc=server.grpc_target, model_name=name, timeout=60)
    results = client.score_images(files)
    assert all(list(r.labels) == test.labels for r in results)
    grpc_scores = np.array([r.scores for r in results])
    np.testing.assert_allclose(grpc_scores, expected, atol=1e-5)


def test_a_nonlinear_learner_says_why_it_cannot_be_exported(trained, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    _, model, _, test = trained
    forest = ScikitClassifier(model, RandomForestClassifier(n_estimators=3, random_state=0))
    forest.train(test, verbose=0)
    with pytest.raises(ValueError, match="only linear learners"):
        export_for_serving(forest, str(tmp_path / "forest"))
