"""keras_cvcls.cvtk: cvtk's names over our API, and cvtk's walkthrough run on it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture
def context(tmp_path):
    from keras_cvcls.cvtk import Context

    yield Context.create(outputs_path=tmp_path / "out", persistent_path=tmp_path / "keep", temp_path=tmp_path / "tmp")
    Context._global = None


@pytest.fixture(scope="module")
def cvtk_dataset(sample_dir):
    from keras_cvcls.cvtk import ClassificationDataset

    return ClassificationDataset.create_from_dir("sample", sample_dir)


@pytest.fixture(scope="module")
def trained(cvtk_dataset, tmp_path_factory):
    from keras_cvcls.cvtk import CNTKTLModel

    train_set, test_set = cvtk_dataset.split(train_size=0.66, stratify="label", seed=0)
    model = CNTKTLModel(train_set.labels, base_model_name="ResNet18_ImageNet_CNTK", image_dims=(3, 32, 32), weights=None)
    logdir = tmp_path_factory.mktemp("tensorboard")
    model.train(
        train_set, lr_per_mb=[0.02, 0.02, 0.005], mb_size=8, eval_dataset=test_set, tensorboard_logdir=logdir,
        seed=0, verbose=0,
    )
    model.logdir = str(logdir)
    return model, train_set, test_set


# -------------------------------------------------------------------------------------- dataset
def test_dataset_has_cvtk_label_and_image_objects(cvtk_dataset, sample_dir):
    from keras_cvcls import ClassificationDataset

    ours = ClassificationDataset.from_directory(sample_dir)
    assert cvtk_dataset.labels == ours.labels and [label.name for label in cvtk_dataset.labels] == ours.labels
    image = cvtk_dataset.images[2]
    assert (image.name, image._labels[0].name, image._storage_id) == (ours[2].name, ours[2].label, ours[2].id)
    assert image.storage_path == ours[2].path
    assert cvtk_dataset.size() == len(ours)


def test_split_stratify_label_keeps_the_class_and_the_proportions(cvtk_dataset):
    train, test = cvtk_dataset.split(train_size=0.5, stratify="label", seed=0)
    assert type(train) is type(cvtk_dataset) and train.labels[0].name == "checks"
    assert train.counts() == test.counts() == {"checks": 6, "dots": 6, "stripes": 6}
    loose, _ = cvtk_dataset.split(train_size=0.5, stratify=None, seed=0)
    assert loose.size() == 18
    with pytest.raises(ValueError, match=r"stratify must be one of \('label', None\)"):
        cvtk_dataset.split(train_size=0.5, stratify="labels")


def test_augment_dataset_writes_into_the_context_and_returns_a_cvtk_dataset(cvtk_dataset, context):
    from keras_cvcls.cvtk import augment_dataset

    small, _ = cvtk_dataset.split(train_size=0.2, seed=0)
    bigger = augment_dataset(small, [lambda images: [image[:, ::-1] for image in images]])
    assert type(bigger) is type(small) and bigger.size() == 2 * small.size()
    written = [r.storage_path for r in bigger.images[small.size():]]
    assert all(path.startswith(os.path.join(context.storage.temp_path, "augmented", small.name)) for path in written)


# ---------------------------------------------------------------------------------------- model
def test_image_dims_and_cvtk_backbone_names_build_our_model():
    from keras_cvcls.cvtk import CVTK_BACKBONES, CNTKTLModel
    from keras_cvcls.cvtk.transfer_learning_model import backbone_for

    model = CNTKTLModel(["a", "b"], base_model_name="ResNet18_ImageNet_CNTK", image_dims=(3, 48, 40), weights=None)
    assert model.backbone_name == "resnet18" and model.image_size == (48, 40) and model.input_shape == (None, 48, 40, 3)
    assert backbone_for("ResNet50_ImageNet_CNTK") == "resnet50" and backbone_for("efficientnet_lite0") == "efficientnet_lite0"
    assert set(CVTK_BACKBONES.values()) == {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}
    with pytest.raises(ValueError, match=r"one of cvtk's \['ResNet18_ImageNet_CNTK'.*'efficientnet_lite0'.*AlexNet"):
        CNTKTLModel(["a", "b"], base_model_name="AlexNet_ImageNet_CNTK", weights=None)
    for dims in ((48, 48, 3), (3, 48), (1, 48, 48), (3, 0, 48)):
        with pytest.raises(ValueError, match=r"image_dims must be \(3, height, width\)"):
            CNTKTLModel(["a", "b"], image_dims=dims, weights=None)


def test_train_runs_one_epoch_per_rate_and_records_train_eval_accs(trained):
    model, train_set, test_set = trained
    train_accs, test_accs, epoch_numbers = model.train_eval_accs
    assert epoch_numbers == [1, 2, 3] and len(train_accs) == len(test_accs) == 3
    assert model.eval_history.history["lr"] == pytest.approx([0.02, 0.02, 0.005])
    for run in ("train", "extras"):  # Keras' own TensorBoard logs, and ours (learning rate, confusion matrix)
        assert any(name.startswith("events.") for name in os.listdir(os.path.join(model.logdir, run))), run
    from keras_cvcls import ClassificationEvaluation

    scores = model.predict_scores(test_set)
    assert test_accs[-1] == pytest.approx(float(np.mean(scores.argmax(1) == np.asarray(test_set.label_ids))))
    assert ClassificationEvaluation(model, test_set).compute_accuracy(class_averaged=False) == pytest.approx(test_accs[-1])


def test_train_refuses_what_it_cannot_train_on(trained, sample_dir):
    from keras_cvcls.cvtk import ClassificationDataset, CNTKTLModel

    model, train_set, _ = trained
    with pytest.raises(ValueError, match="train_eval_accs needs a model trained with"):
        CNTKTLModel(train_set.labels, image_dims=(3, 32, 32), weights=None).train_eval_accs
    new = ClassificationDataset.from_directory(sample_dir, labeled=False)
    with pytest.raises(ValueError, match="train's dataset needs labelled images"):
        model.train(new, lr_per_mb=[0.01])
    with pytest.raises(ValueError, match="labels differ from the model's"):
        CNTKTLModel(["x", "y"], image_dims=(3, 32, 32), weights=None).train(train_set, lr_per_mb=[0.01])
    with pytest.raises(ValueError, match="mb_size must be a positive int"):
        model.train(train_set, lr_per_mb=[0.01], mb_size=0)


def test_serialize_and_deserialize_round_trip(trained, tmp_path, cvtk_dataset):
    from keras_cvcls.cvtk import CNTKTLModel

    model, _, test_set = trained
    model.serialize(tmp_path / "saved")
    again = CNTKTLModel.deserialize(tmp_path / "saved")
    assert type(again) is CNTKTLModel
    assert (again.base_model_name, again.image_dims, again.labels) == ("ResNet18_ImageNet_CNTK", (3, 32, 32), model.labels)
    np.testing.assert_allclose(again.predict_scores(test_set), model.predict_scores(test_set), atol=1e-6)
    assert again.get_config() == model.get_config()


# ---------------------------------------------------------------------------- evaluation and UIs
def test_evaluation_takes_minibatch_size_and_the_uis_check_their_inputs(trained):
    from keras_cvcls import ClassificationEvaluation as Ours
    from keras_cvcls.cvtk import ClassificationEvaluation, Context, PrecisionRecallUI, ResultsUI

    model, _, test_set = trained
    ce = ClassificationEvaluation(model, test_set, minibatch_size=4)
    np.testing.assert_allclose(ce.scores, Ours(model, test_set).scores, atol=1e-6)
    labels = [label.name for label in test_set.labels]
    wrong = [labels[(i + 1) % len(labels)] for i in np.argmax(ce.scores, axis=1)]
    with pytest.raises(ValueError, match="pred_labels must be the arg-max of pred_scores"):
        ResultsUI(test_set, Context.get_global_context(), ce.scores, wrong)

    precisions, recalls, thresholds = ce.compute_precision_recall_curve()
    thresholds = list(thresholds) + [thresholds[-1]]
    pr_ui = PrecisionRecallUI(100 * precisions[::-1], 100 * recalls[::-1], thresholds[::-1])  # as the walkthrough
    assert pr_ui.ui.axes[0].get_xlabel() == "Recall"
    np.testing.assert_allclose(pr_ui.ui.axes[0].lines[0].get_xdata(), recalls[::-1])
    pr_ui = PrecisionRecallUI([100, 75, 50], [25, 50, 100], [0.9, 0.5, 0.1])
    assert pr_ui.at(0.4) == (75, 50) and pr_ui.at(0.05) == (50, 100) and pr_ui.at(0.95) == (100, 25)
    with pytest.raises(ValueError, match="one value per point"):
        PrecisionRecallUI(precisions, recalls, thresholds[:-2])
    with pytest.raises(ValueError, match="in percent"):
        PrecisionRecallUI([150], [50], [0.5])


# ------------------------------------------------------------------------------------ deployment
def test_local_deployment_scores_what_the_model_scores_in_process(trained, context):
    from keras_cvcls.cvtk import ADD_SOFTMAX, AMLDeployment, parse_serialized_result

    model, _, test_set = trained
    deploy_obj = AMLDeployment(deployment_name="cvtktest", associated_DNNModel=model, aml_env="local", replicas=1)
    assert not deploy_obj.is_existing_service()
    url = deploy_obj.deploy()
    try:
        assert url.endswith("/v1/models/cvtktest") and "cvtktest" in AMLDeployment.list_deployment()
        assert deploy_obj.is_existing_service()
        assert os.path.isdir(os.path.join(context.storage.outputs_path, "deployments", "cvtktest", "1"))
        paths = [image.storage_path for image in test_set.images[:3]]
        served = [parse_serialized_result(deploy_obj.score_image(p, parameters={ADD_SOFTMAX: True})) for p in paths]
        np.testing.assert_allclose(np.stack(served), model.predict_images(paths), atol=1e-5)
        by_url = AMLDeployment.score_existing_service_with_image(paths[0], deploy_obj.service_url, service_key="")
        assert json.loads(by_url)["label"] == model.class_map[int(np.argmax(served[0]))]
        with pytest.raises(ValueError, match="is running; delete it first"):
            AMLDeployment("cvtktest", associated_DNNModel=model).deploy()
        with pytest.raises(ValueError, match="service_endpoint_url must be a TF Serving model URL"):
            AMLDeployment.score_existing_service_with_image(paths[0], "http://127.0.0.1:1/score")
        with pytest.raises(ValueError, match="service_key must be None"):
            AMLDeployment.score_existing_service_with_image(paths[0], url, service_key="secret")
    finally:
        assert AMLDeployment.delete_if_service_exist("cvtktest")
    assert not deploy_obj.is_existing_service() and "cvtktest" not in AMLDeployment.list_deployment()
    with pytest.raises(ValueError, match="not running: call deploy"):
        deploy_obj.score_image(paths[0])


def test_deployment_refuses_azure_settings():
    from keras_cvcls.cvtk import AMLDeployment

    with pytest.raises(ValueError, match="aml_env must be 'local'.*TensorFlow Serving"):
        AMLDeployment("svc", aml_env="cluster")
    with pytest.raises(ValueError, match="replicas must be 1"):
        AMLDeployment("svc", replicas=3)
    with pytest.raises(ValueError, match="deployment_name must be"):
        AMLDeployment("bad/name")
    with pytest.raises(ValueError, match="deploy needs a model"):
        AMLDeployment("svc").deploy()


# ------------------------------------------------------------------------------------ walkthrough
@pytest.mark.slow
def test_cvtk_walkthrough_runs_with_only_its_imports_changed(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(EXAMPLES), env.get("PYTHONPATH", "")])
    script = os.path.join(EXAMPLES, "cvtk_walkthrough.py")
    done = subprocess.run([sys.executable, script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    out = done.stdout
    assert "Dataset consists of 30 images with 3 labels." in out
    assert "Number of training images = 21, test images = 9." in out
    assert 0 <= float(out.split("Accuracy = ", 1)[1].split("%", 1)[0]) <= 100
    # The last cell parses the served result and maps it to a class: the label the server named.
    served = json.loads(out.rsplit("serialized_result_in_json: ", 1)[1].splitlines()[0])
    assert out.rsplit("Class label: ", 1)[1].split()[0] == served["label"]
    assert out.count("Time for API call") == 9
    assert os.path.isdir(tmp_path / "cvtk_output" / "saved_classifier.model")
    assert os.path.isdir(tmp_path / "cvtk_output" / "deployments" / "wsdeployment" / "1")
