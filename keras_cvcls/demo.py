"""The end-to-end demo on a generated sample dataset (``keras-cvcls demo``).

Each step is what a user would run on their own folder; replace the sample
folder with yours (one subfolder per label) to do the same on real photos.
"""

import os
import time

from keras_cvcls.data import ClassificationDataset, make_pipeline
from keras_cvcls.data.classification_dataset import format_summary
from keras_cvcls.datasets import make_sample


def step(title):
    print(f"\n== {title}", flush=True)


def run_demo(out_dir="demo-output", *, images_per_label=60, image_size=96, seed=0):
    """Runs the demo; returns a dict of what it measured."""
    os.makedirs(out_dir, exist_ok=True)
    data_dir = os.path.join(out_dir, "sample-data")

    step(f"1. Sample dataset -> {data_dir}")
    make_sample(data_dir, images_per_label=images_per_label, seed=seed)
    dataset = ClassificationDataset.from_directory(data_dir)
    print(format_summary(dataset.summary(), name=dataset.name))

    step("2. Stratified split (66% train, seed 0)")
    train, test = dataset.split(train_size=0.66, seed=seed)
    print(f"train {train.counts()}\ntest  {test.counts()}")

    step(f"3. tf.data pipeline: decode + resize to {image_size}px, shuffle, batch 16")
    pipeline = make_pipeline(train, image_size=image_size, batch_size=16, shuffle=True, seed=seed)
    start = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in pipeline)
    elapsed = time.perf_counter() - start
    images, labels = next(iter(pipeline))
    print(f"one epoch: {count} images in {elapsed:.2f}s; batch {tuple(images.shape)}, labels {labels.numpy()[:8]}...")

    step("4. Train: the pretrained EfficientNet-Lite0 (ImageNet weights, offline), fine-tune recipe")
    from keras_cvcls.training_run import TrainingRun, train_run

    run_dir = os.path.join(out_dir, "run")
    trained = train_run(data_dir, run_dir, seed=seed, if_exists="overwrite")  # a second demo replaces its run
    run = TrainingRun.load(run_dir)
    chance = 1 / len(dataset.labels)
    print(f"eval accuracy per stage (head, then unfrozen epochs): {[round(a, 3) for a in trained['history']['eval_accuracy']]}")
    print(f"final eval accuracy {trained['eval_accuracy']:.3f} (chance {chance:.3f}); trained in "
          f"{trained['train_seconds']:.1f}s with {trained['weights']} weights; run folder {run_dir}")

    step("5. Evaluate on the held-out split, write the HTML report")
    report = os.path.join(out_dir, "report.html")
    evaluation = run.evaluate(report=report)
    metrics = evaluation.to_dict()
    print(f"accuracy {metrics['accuracy']:.3f}, class-averaged {metrics['class_avg_accuracy']:.3f}, "
          f"macro ROC AUC {metrics['roc_auc'].get('macro') or float('nan'):.3f}")
    print(f"most confused: {evaluation.most_confused()[:3]}")
    print(f"report: {report}; training curve: {run.curve_path}")

    step("6. Export a SavedModel for TensorFlow Serving")
    from keras_cvcls.export import export_for_serving

    classifier = run.model
    models_dir = os.path.join(out_dir, "models", "demo")
    version_dir = export_for_serving(classifier, models_dir)
    print(f"exported {version_dir} (signatures serving_default: image_bytes -> scores, classes; predict_images)")

    step("7. Serve it (TF Serving's REST and gRPC APIs on loopback) and score test images")
    import numpy as np

    from keras_cvcls.serving import ModelServer, ScoringClient, run_loadtest

    picked = test.images[:: max(1, len(test) // 6)][:6]  # across the labels
    files = [r.path for r in picked]
    expected = classifier.predict_scores(test.subset([r.id for r in picked]))
    with ModelServer(models_dir, "demo", rest_port=0, grpc_port=0, host="127.0.0.1", enable_batching=True) as server:
        print(f"REST {server.rest_url}/v1/models/demo   gRPC {server.grpc_target}")
        rest = ScoringClient(url=server.rest_url, model_name="demo")
        grpc_client = ScoringClient(grpc=server.grpc_target, model_name="demo")
        print(f"status: {rest.model_status()}")
        for name, client in (("REST", rest), ("gRPC", grpc_client)):
            results = client.score_images(files)
            served = np.array([r.scores for r in results])
            print(f"{name}: {[r.label for r in results]}; max |served - in-process| = {np.abs(served - expected).max():.2e}")

        step("8. Load test: 4 concurrent gRPC clients, 60 requests")
        load = run_loadtest(grpc=server.grpc_target, model_name="demo", concurrency=4, requests=60, images=files)
        print({k: load[k] for k in ("requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms")})
    print(f"\nDone. Serve it yourself: keras-cvcls serve --model-base {models_dir} --name demo")
    return {
        "num_images": len(dataset), "train": len(train), "test": len(test), "epoch_images": count,
        "eval_accuracy": trained["eval_accuracy"], "accuracy": metrics["accuracy"], "run_dir": run_dir,
        "served_errors": load["errors"],
    }
