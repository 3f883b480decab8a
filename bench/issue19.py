"""Issue 19's measurements: lr_find's suggestion, MixUp / CutMix / label smoothing, test-time augmentation.

On ``../shared/datasets/hymenoptera`` (train 245 photos, val 153; copied to a temporary folder)
and on data of our own making from the same photos, the 4-way rotation task of
``bench/RESULTS.md`` (each photo turned by 0, 90, 180 or 270 degrees, round-robin; chance 0.25),
with the default recipe (``ImageClassifier.fine_tune``: Lite0 at 288 px, head on frozen features,
then 3 epochs of the top stage at a cosine from 3e-4), float32, one process.

* ``lr_find``: ``lr_find(model, train)`` (fresh head, 100 steps at most, rule min/10), then
  ``fine_tune(lr=suggestion)`` against ``fine_tune()``, seeds 0, 1, 2 (shuffling; the split is fixed).
* ``regularisers``: ``fine_tune`` with ``augment=`` a preset carrying ``mixup=0.2`` /
  ``cutmix=1.0``, or ``label_smoothing=0.1``, against none; on both datasets.
* ``tta``: the default model's val accuracy and scoring time with and without ``tta=True``.

Prints one JSON object per item on stdout (progress on stderr).

    python bench/issue19.py [lr_find] [regularisers] [tta] [--data ../shared/datasets/hymenoptera]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rotation_task(source, out):
    """The 4-way rotation task: every photo of SOURCE/{train,val}/* turned by 0/90/180/270 degrees, round-robin."""
    from PIL import Image

    from keras_cvcls.data.upright_image import open_upright

    for split in ("train", "val"):
        files = sorted(
            os.path.join(root, name) for root, _, names in os.walk(os.path.join(source, split)) for name in names
            if name.lower().endswith((".jpg", ".jpeg", ".png"))
        )
        for i, path in enumerate(files):
            angle = (i % 4) * 90
            folder = os.path.join(out, split, f"r{angle:03d}")
            os.makedirs(folder, exist_ok=True)
            open_upright(path).convert("RGB").rotate(angle, expand=True).save(os.path.join(folder, f"{i:04d}.jpg"), quality=95)
    return out


def load(root):
    from keras_cvcls.data import ClassificationDataset

    train = ClassificationDataset.from_directory(os.path.join(root, "train"))
    return train, ClassificationDataset.from_directory(os.path.join(root, "val")).with_labels(train.labels)


def fine_tune(train, val, **options):
    from keras_cvcls.models import ImageClassifier

    model = ImageClassifier(train.labels, precision="float32")
    start = time.perf_counter()
    history = model.fine_tune(train, validation_data=val, verbose=0, **options).history
    return model, {"eval_accuracy": history["eval_accuracy"][-1], "per_epoch": history["eval_accuracy"],
                   "train_s": time.perf_counter() - start}


def bench_lr_find(datasets):
    from keras_cvcls.models import ImageClassifier
    from keras_cvcls.training import lr_find

    train, val = datasets["hymenoptera"]
    out = []
    for seed in (0, 1, 2):
        model = ImageClassifier(train.labels, precision="float32")
        start = time.perf_counter()
        result = lr_find(model, train, seed=seed)
        seconds = time.perf_counter() - start
        _, default = fine_tune(train, val, seed=seed)
        _, suggested = fine_tune(train, val, seed=seed, lr=result.suggestion)
        out.append({"seed": seed, "suggestion": result.suggestion, "steepest": result.steepest, "lr_find_s": seconds,
                    "steps": len(result.losses), "default": default, "suggested": suggested})
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    return out


def bench_regularisers(datasets):
    from keras_cvcls.augment import register_augmentation

    register_augmentation("light_mixup", {"flip": "horizontal", "zoom": (-0.1, 0.0), "translation": 0.05, "mixup": 0.2})
    register_augmentation("light_cutmix", {"flip": "horizontal", "zoom": (-0.1, 0.0), "translation": 0.05, "cutmix": 1.0})
    ways = {"none": {}, "mixup 0.2": {"augment": "light_mixup"}, "cutmix 1.0": {"augment": "light_cutmix"},
            "label smoothing 0.1": {"label_smoothing": 0.1}}
    out = {}
    for name, (train, val) in datasets.items():
        for way, options in ways.items():
            _, result = fine_tune(train, val, **options)
            out[f"{name}: {way}"] = result
            print(f"{name}: {way}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return out


def bench_tta(datasets):
    out = {}
    for name, (train, val) in datasets.items():
        model, _ = fine_tune(train, val)
        labels = val.label_ids
        row = {}
        for tta in (False, True):
            model.predict_scores(val, tta=tta)  # warm-up: traced once
            start = time.perf_counter()
            scores = model.predict_scores(val, tta=tta)
            row["tta" if tta else "plain"] = {
                "accuracy": float((scores.argmax(1) == labels).mean()), "score_s": time.perf_counter() - start,
            }
        row["cost_x"] = row["tta"]["score_s"] / row["plain"]["score_s"]
        out[name] = row
        print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("items", nargs="*", default=["lr_find", "regularisers", "tta"])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "hymenoptera"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="issue19-")
    try:
        hym = shutil.copytree(args.data, os.path.join(tmp, "hymenoptera"))
        datasets = {"hymenoptera": load(hym), "rotation": load(rotation_task(hym, os.path.join(tmp, "rotation")))}
        for item in args.items:
            start = time.perf_counter()
            result = {"lr_find": bench_lr_find, "regularisers": bench_regularisers, "tta": bench_tta}[item](datasets)
            print(json.dumps({"item": item, "wall_s": time.perf_counter() - start, "result": result}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
