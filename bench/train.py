"""Training throughput: keras-cvcls against plain Keras, side by side, in one run.

For ResNet-50, ResNet-18 and EfficientNet-Lite0 at 224 px on the same folder of JPEGs (random
weights; SGD with momentum; images/s over all epochs but the first, which traces and decodes),
each row in a fresh process:

* plain Keras float32 / mixed_bfloat16: what a user writes without us:
  ``keras.utils.image_dataset_from_directory`` + the architecture with Keras' own
  ``BatchNormalization`` (``keras.applications.ResNet50`` for ResNet-50) + ``model.fit``;
* ours: ``ImageClassifier(weights=None)`` with its defaults (``precision="auto"``, fused batch
  norm) + ``fit(ClassificationDataset)`` (cached decoded images, parallel decode, prefetch).

Also measures the matmul peaks, and gives each figure's fraction of the peak for its precision.
Prints one JSON object.

    python bench/train.py [--models resnet50,resnet18,efficientnet_lite0] [--num-images 96] [--epochs 3]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline import make_photos  # noqa: E402
from plain_keras import matmul_gflops, plain_keras_model  # noqa: E402

# Forward + backward FLOPs per training image at 224 px (3x the forward pass).
TRAIN_GFLOP_PER_IMAGE = {"resnet50": 24.5, "resnet18": 10.9, "efficientnet_lite0": 2.4}
ROWS = ("keras_float32", "keras_mixed_bfloat16", "ours")
SIZE = 224


class _StepTimer:
    """Images/s over all epochs but the first (tracing, caching)."""

    def __init__(self, images_per_epoch):
        import keras

        timer = self
        self.images_per_epoch, self.start, self.seconds, self.epochs = images_per_epoch, 0.0, 0.0, 0

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                if epoch > 0:
                    timer.seconds += time.perf_counter() - timer.start
                    timer.epochs += 1

        self.callback = Callback()

    @property
    def images_per_s(self):
        return self.images_per_epoch * self.epochs / self.seconds


def measure(name, row, data_dir, batch_size, epochs):
    import keras

    if row.startswith("keras_"):
        policy = row[len("keras_"):]
        keras.config.set_dtype_policy(policy)
        ds = keras.utils.image_dataset_from_directory(data_dir, image_size=(SIZE, SIZE), batch_size=batch_size, verbose=False)
        model = plain_keras_model(name, len(ds.class_names), SIZE)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        timer = _StepTimer(sum(int(b[1].shape[0]) for b in ds))
        model.fit(ds, epochs=epochs, verbose=0, callbacks=[timer.callback])
        return {"precision": policy, "images_per_s": timer.images_per_s}
    from keras_cvcls import ClassificationDataset
    from keras_cvcls.models import ImageClassifier

    dataset = ClassificationDataset.from_directory(data_dir)
    model = ImageClassifier(dataset.labels, name, weights=None, image_size=SIZE)
    timer = _StepTimer(len(dataset))
    model.fit(dataset, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[timer.callback])
    return {"precision": model.precision, "images_per_s": timer.images_per_s}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,resnet18,efficientnet_lite0")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--num-images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs are all but the first")
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "ROW", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one, args.batch_size, args.epochs)))
        return
    import tensorflow as tf

    from keras_cvcls.models.precision import detect_precision

    peaks = {"float32": matmul_gflops(tf.float32), "mixed_bfloat16": matmul_gflops(tf.bfloat16)}
    result = {
        "benchmark": "train", "image_size": SIZE, "num_images": args.num_images, "batch_size": args.batch_size,
        "epochs": args.epochs, "machine": f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
        "auto_precision": list(detect_precision()),
        "matmul_gflops": {k: round(v, 1) for k, v in peaks.items()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        make_photos(tmp, args.num_images, 512, 384)  # 4 class folders
        for name in args.models.split(","):
            rows = {}
            for row in args.rows.split(","):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", name, row, tmp, "--batch-size", str(args.batch_size),
                     "--epochs", str(args.epochs)], check=True, capture_output=True, text=True,
                ).stdout
                entry = json.loads(out.strip().splitlines()[-1])
                ips = entry["images_per_s"]
                entry["images_per_s"] = round(ips, 2)
                peak = peaks.get(entry["precision"], peaks["float32"])
                entry["fraction_of_matmul_peak"] = round(ips * TRAIN_GFLOP_PER_IMAGE[name] / peak, 3)
                rows[row] = entry
                print(name, row, json.dumps(entry), file=sys.stderr, flush=True)
            for entry in rows.values():
                for base in ("keras_float32", "keras_mixed_bfloat16"):
                    if base in rows:
                        entry[f"vs_{base}"] = round(entry["images_per_s"] / rows[base]["images_per_s"], 2)
            result[name] = rows
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
