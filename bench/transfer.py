"""Transfer learning on real photos: keras-cvcls' default `train` vs. keras.io's fine-tuning guide vs. frozen features + logistic regression.

Ants vs. bees (hymenoptera: train 245 photos, val 153), every way starting from the same
ImageNet EfficientNet-Lite0 weights (``create_backbone("efficientnet_lite0", weights="imagenet")``,
inputs ``(x - 127) / 128``), scored on the val folder with scikit-learn (accuracy and
class-averaged accuracy, ``balanced_accuracy_score``):

a. ours: ``keras-cvcls train TRAIN --val VAL --out RUN --json`` (the defaults: the fine-tune
   recipe at 288 px), then ``load_classifier(RUN).predict_scores`` on the val folder.
b. plain Keras after https://keras.io/guides/transfer_learning/ ("An end-to-end example"):
   ``image_dataset_from_directory`` at 224 (the backbone's own size), RandomFlip +
   RandomRotation(0.1) in the model, frozen base (``training=False``), GlobalAveragePooling2D,
   Dropout(0.2), Dense(2) logits; Adam() for --frozen-epochs (10), then the base unfrozen and
   Adam(1e-5) for --unfrozen-epochs (5); validation data passed to ``fit`` as in the guide.
c. frozen features + ``LogisticRegression(max_iter=2000)``: pooled backbone features of
   images from ``make_pipeline`` (centre crop, resize) at 224 (the backbone's size, c224) and
   at 288 (the size our recipe uses, c288).

Every way runs in a fresh process (``--only WAY``, which imports TensorFlow itself) on a fresh
copy of the dataset (the read-only original is never written to: our loader writes a check
cache into the data folder). ``wall_s`` is the same measure for every row: one process from
launch to exit (a: the ``keras-cvcls train`` command; b, c: the ``--only`` process, val
scoring included). ``fit_s`` (b, c) is data loading + model building + training, without the
TensorFlow import; ``train_seconds`` (a) is the CLI's own training time. Prints one JSON
object on stdout, progress and a markdown table on stderr.

    python bench/transfer.py [--data ../shared/datasets/hymenoptera] [--frozen-epochs 10] [--unfrozen-epochs 5]
    python bench/transfer.py --quick    # b with 1 + 1 epochs: tests the script
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "datasets", "hymenoptera")
BACKBONE = "efficientnet_lite0"
WAYS = ("a", "b", "c224", "c288")


def log(message):
    print(message, file=sys.stderr, flush=True)


def _scores(y_true, y_pred):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "class_avg_accuracy": round(float(balanced_accuracy_score(y_true, y_pred)), 4),
        "val_images": int(len(y_true)),
    }


def _lite_input(keras):
    """The backbone's normalisation, ``(x - 127) / 128``, as a layer."""
    return keras.layers.Rescaling(1 / 128.0, offset=-127 / 128.0)


# ----------------------------------------------------------------------------- the ways
def way_ours(train_dir, val_dir, work):
    """a: our default command line, then the saved run scored on the val folder."""
    import numpy as np

    script = os.path.join(os.path.dirname(sys.executable), "keras-cvcls")
    command = [script] if os.path.isfile(script) else [sys.executable, "-m", "keras_cvcls.cli.main"]
    run_dir = os.path.join(work, "run")
    command += ["train", train_dir, "--val", val_dir, "--out", run_dir, "--json"]
    log("a: " + shlex.join(command))
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"keras-cvcls train exited with {proc.returncode}")
    cli = json.loads([line for line in proc.stdout.splitlines() if line.strip()][-1])

    from keras_cvcls import ClassificationDataset
    from keras_cvcls.models import load_classifier

    model = load_classifier(run_dir)
    val = ClassificationDataset.from_directory(val_dir).with_labels(model.labels)
    y_pred = np.argmax(model.predict_scores(val), axis=-1)
    return {
        "name": "ours: keras-cvcls train (defaults)",
        **_scores(np.asarray(val.label_ids), y_pred),
        "wall_s": round(wall, 1),
        "train_seconds": round(float(cli["train_seconds"]), 1),
        "cli_eval_accuracy": cli.get("eval_accuracy"),
        "recipe": cli.get("recipe"),
        "image_size": int(model.image_size[0]),
    }


def way_keras_guide(train_dir, val_dir, frozen_epochs, unfrozen_epochs, seed):
    """b: keras.io's transfer-learning guide with our backbone."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers

    from keras_cvcls.models import create_backbone

    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    size = 224
    train_ds = keras.utils.image_dataset_from_directory(
        train_dir, image_size=(size, size), batch_size=32, label_mode="int", seed=seed
    )
    val_ds = keras.utils.image_dataset_from_directory(
        val_dir, image_size=(size, size), batch_size=32, label_mode="int", shuffle=False
    )
    train_ds, val_ds = train_ds.prefetch(tf.data.AUTOTUNE), val_ds.prefetch(tf.data.AUTOTUNE)

    augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    base = create_backbone(BACKBONE, weights="imagenet", input_shape=(size, size, 3))
    base.trainable = False
    inputs = keras.Input(shape=(size, size, 3))
    x = augmentation(inputs)
    x = _lite_input(keras)(x)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
    log(f"b: {frozen_epochs} frozen epochs")
    model.fit(train_ds, epochs=frozen_epochs, validation_data=val_ds, verbose=2)

    base.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss, metrics=["accuracy"])
    log(f"b: {unfrozen_epochs} unfrozen epochs")
    model.fit(train_ds, epochs=unfrozen_epochs, validation_data=val_ds, verbose=2)
    fit_s = time.perf_counter() - start

    y_pred = np.argmax(model.predict(val_ds, verbose=0), axis=-1)
    y_true = np.concatenate([y.numpy() for _, y in val_ds])
    return {
        "name": f"keras.io guide: {frozen_epochs} frozen + {unfrozen_epochs} unfrozen epochs",
        **_scores(y_true, y_pred),
        "fit_s": round(fit_s, 1),
        "frozen_epochs": frozen_epochs,
        "unfrozen_epochs": unfrozen_epochs,
        "image_size": size,
    }


def way_features_logreg(train_dir, val_dir, size):
    """c: pooled features of the frozen backbone + scikit-learn's LogisticRegression."""
    import keras
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from keras_cvcls import ClassificationDataset, make_pipeline
    from keras_cvcls.models import create_backbone

    start = time.perf_counter()
    train = ClassificationDataset.from_directory(train_dir)
    val = ClassificationDataset.from_directory(val_dir).with_labels(train.labels)
    base = create_backbone(BACKBONE, weights="imagenet", input_shape=(size, size, 3))
    inputs = keras.Input(shape=(size, size, 3))
    x = _lite_input(keras)(inputs)
    x = base(x, training=False)
    extractor = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    def features(dataset):
        images = make_pipeline(dataset, image_size=size, batch_size=32).map(lambda images, labels: images)
        return extractor.predict(images, verbose=0)

    log(f"c{size}: features of {len(train)} training images")
    clf = LogisticRegression(max_iter=2000).fit(features(train), np.asarray(train.label_ids))
    fit_s = time.perf_counter() - start

    y_pred = clf.predict(features(val))
    return {
        "name": f"frozen features + LogisticRegression, {size} px",
        **_scores(np.asarray(val.label_ids), y_pred),
        "fit_s": round(fit_s, 1),
        "image_size": size,
    }


def run_one(way, data_dir, args):
    """Runs one way in this process; returns its row."""
    train_dir, val_dir = os.path.join(data_dir, "train"), os.path.join(data_dir, "val")
    # Keras prints progress on stdout: stdout carries only the JSON row.
    with contextlib.redirect_stdout(sys.stderr):
        if way == "a":
            with tempfile.TemporaryDirectory() as work:
                return way_ours(train_dir, val_dir, work)
        if way == "b":
            return way_keras_guide(train_dir, val_dir, args.frozen_epochs, args.unfrozen_epochs, args.seed)
        return way_features_logreg(train_dir, val_dir, int(way[1:]))


# ----------------------------------------------------------------------------- driver
def _copy_dataset(src, tmp):
    dst = os.path.join(tmp, os.path.basename(os.path.normpath(src)))
    shutil.copytree(src, dst)
    return dst


def _count(data_dir):
    counts = {}
    for split in ("train", "val"):
        root = os.path.join(data_dir, split)
        counts[split] = {
            label: len([f for f in os.listdir(os.path.join(root, label)) if not f.startswith(".")])
            for label in sorted(os.listdir(root))
            if os.path.isdir(os.path.join(root, label)) and not label.startswith(".")
        }
    return counts


def _version(*names):
    from importlib import metadata

    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    return None


def _machine():
    cpu = platform.processor() or None
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tf-nightly"),
        "keras": _version("keras"),
        "scikit_learn": _version("scikit-learn"),
        "load_avg_at_start": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _table(rows):
    lines = [
        "| way | accuracy | class-avg accuracy | wall s | fit s / train s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error']} | | | |")
            continue
        inner = r.get("fit_s", r.get("train_seconds"))
        lines.append(f"| {r['name']} | {r['accuracy']:.3f} | {r['class_avg_accuracy']:.3f} | {r['wall_s']:.1f} | {inner:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with train/ and val/ (default ../shared/datasets/hymenoptera)")
    parser.add_argument("--frozen-epochs", type=int, default=10, help="b: epochs with the base frozen (default 10)")
    parser.add_argument("--unfrozen-epochs", type=int, default=5, help="b: epochs with the base unfrozen (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="b: Keras' random seed (default 0)")
    parser.add_argument("--quick", action="store_true", help="b with 1 + 1 epochs, to test the script")
    parser.add_argument("--only", choices=WAYS, default=None, help="internal: run one way in this process and print its row")
    parser.add_argument("--data-is-copy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.frozen_epochs, args.unfrozen_epochs = 1, 1

    data = os.path.abspath(args.data)
    if not all(os.path.isdir(os.path.join(data, split)) for split in ("train", "val")):
        parser.exit(2, f"{parser.prog}: error: no dataset with train/ and val/ folders at {data}; "
                       "pass --data DIR (hymenoptera: train/{ants,bees}, val/{ants,bees})\n")

    if args.only:
        if args.data_is_copy:
            row = run_one(args.only, data, args)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                row = run_one(args.only, _copy_dataset(data, tmp), args)
        json.dump(row, sys.stdout)
        print()
        return 0

    result = {
        "benchmark": "transfer",
        "machine": _machine(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(["python", os.path.relpath(os.path.abspath(__file__), os.getcwd())] + sys.argv[1:]),
        "dataset": {"path": os.path.relpath(data, REPO), "images": _count(data)},
        "backbone": BACKBONE,
        "rows": [],
    }
    failed = False
    for way in WAYS:
        with tempfile.TemporaryDirectory() as tmp:
            copy = _copy_dataset(data, tmp)
            command = [
                sys.executable, os.path.abspath(__file__), "--only", way, "--data", copy, "--data-is-copy",
                "--frozen-epochs", str(args.frozen_epochs), "--unfrozen-epochs", str(args.unfrozen_epochs),
                "--seed", str(args.seed),
            ]
            log(f"== way {way}")
            start = time.perf_counter()
            proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
            process_wall = time.perf_counter() - start
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0 or not lines:
            row = {"way": way, "name": way, "error": f"exit code {proc.returncode}"}
            failed = True
        else:
            row = {"way": way, **json.loads(lines[-1])}
            if way != "a":  # a's wall time is the keras-cvcls command itself, measured inside
                row["wall_s"] = round(process_wall, 1)
            row["process_wall_s"] = round(process_wall, 1)
        result["rows"].append(row)
        log(f"{way}: {json.dumps(row)}")

    json.dump(result, sys.stdout)
    print()
    log("\n" + _table(result["rows"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
