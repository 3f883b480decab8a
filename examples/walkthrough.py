"""The cvtk image-classification walkthrough, end to end, with keras-cvcls.

dataset -> augment -> train -> evaluate -> export -> serve -> score -> load test,
at a small size (a generated sample dataset; a minute or two on a laptop CPU).
Point DATA at your own folder (one subfolder per label) to run it on real photos:

    python examples/walkthrough.py [--data photos/] [--out walkthrough-output] [--epochs 10]
"""

import argparse
import os

import keras
import numpy as np

import keras_cvcls as kc


def flip_left_right(images):
    """An augmenter in imgaug's calling convention (``aug(images=batch)``), in plain numpy.

    With imgaug installed, use e.g. ``iaa.Sequential([iaa.Fliplr(0.5), iaa.Crop(percent=(0, 0.1))])``.
    """
    return [np.ascontiguousarray(image[:, ::-1]) for image in images]


def imgaug_pipeline():
    try:
        import imgaug.augmenters as iaa
    except ImportError:  # imgaug is optional (it needs numpy<2); see the README
        return lambda images: flip_left_right(images)
    return iaa.Sequential([iaa.Fliplr(0.5), iaa.Crop(percent=(0, 0.1))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with one subfolder per label (default: a generated sample)")
    parser.add_argument("--out", default="walkthrough-output")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--images-per-label", type=int, default=60)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    # 1. Dataset: a folder of class subfolders, checked; a stratified split.
    data = args.data or kc.make_sample(os.path.join(args.out, "data"), images_per_label=args.images_per_label)
    dataset = kc.ClassificationDataset.create_from_dir("walkthrough", data)
    dataset.print_info()
    train, test = dataset.split(train_size=0.66, seed=0)

    # 2. Augment: cvtk's augment_dataset, with an imgaug pipeline (or any callable of that form).
    train = kc.augment_dataset(train, [imgaug_pipeline()], os.path.join(args.out, "augmented"), seed=0)
    print(f"train set with augmented copies: {len(train)} images")

    # 3. Train: fine-tune with per-epoch learning rates, an eval set every epoch, TensorBoard logs.
    model = kc.ImageClassifier(dataset.labels, "resnet18", weights=None, image_size=args.image_size)
    lrs = [0.01] * (args.epochs - 2) + [0.002]
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9))   # compile chooses; fit fits
    model.fit(train, epochs=args.epochs, batch_size=16, validation_data=test, augment="light", seed=0,
              tensorboard_logdir=os.path.join(args.out, "logs"), callbacks=[kc.StepLR(lrs)], verbose=2)
    train_accs, eval_accs = model.eval_history.train_eval_accs
    print(f"eval accuracy per epoch: {np.round(eval_accs, 3).tolist()}")
    model.eval_history.plot(os.path.join(args.out, "training_curve.png"))
    model.save(os.path.join(args.out, "model"))

    # 4. Evaluate: class-averaged accuracy, confusion matrix, PR/ROC curves, a report.
    evaluation = kc.ClassificationEvaluation(model, test)
    print(f"class-averaged accuracy {evaluation.compute_accuracy():.3f}")
    print(evaluation.compute_confusion_matrix())
    kc.write_report(evaluation, os.path.join(args.out, "report.html"), history=model.eval_history.history)

    # 5. Export for TensorFlow Serving, serve (embedded TF-Serving-compatible server), score.
    base = os.path.join(args.out, "models", "walkthrough")
    kc.export_for_serving(model, base)
    files = [r.path for r in test.images]
    with kc.serving.ModelServer(base, "walkthrough", rest_port=0, grpc_port=0, host="127.0.0.1", enable_batching=True) as server:
        client = kc.ScoringClient(url=server.rest_url, model_name="walkthrough")
        result = client.score_image(files[0], parameters={"add_softmax": True})
        print(f"{os.path.basename(files[0])}: {result.label} {dict(zip(result.labels, np.round(result.scores, 3)))}")

        # 6. Load test the served model.
        report = kc.run_loadtest(grpc=server.grpc_target, model_name="walkthrough", concurrency=8, requests=80, images=files, progress=False)
        print({k: report[k] for k in ("requests", "errors", "rps", "p50_ms", "p99_ms")})
    return {"eval_accuracy": eval_accs[-1], "class_avg_accuracy": evaluation.compute_accuracy(), "loadtest_errors": report["errors"]}


if __name__ == "__main__":
    main()
