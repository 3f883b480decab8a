"""Training throughput: keras-cvcls vs. a plain-Keras script, on the same JPEG folder.

Plain Keras = keras.applications.ResNet50 (float32) + image_dataset_from_directory
+ model.fit, what a user writes without us. Ours = ImageClassifier + fit on a
ClassificationDataset (cached, parallel decode), float32 and mixed_bfloat16.
Also measures the machine's matmul GFLOP/s to state the achieved fraction of the
FLOP bound. Prints one JSON object.

    python bench/train.py [--num-images 96] [--image-size 224] [--batch-size 16] [--epochs 2]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pipeline import make_photos  # noqa: E402

# Forward + backward FLOPs per training image at 224 px (3x the forward pass).
TRAIN_GFLOP_PER_IMAGE = {"resnet50": 24.5, "resnet18": 10.9}


def matmul_gflops(dtype, n=2048, repeats=10):
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    b = tf.random.normal((n, n), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    f = tf.function(lambda x, y: tf.matmul(x, y))
    f(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        out = f(a, b)
    out.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


class _StepTimer:
    """Images/s over all epochs but the first (tracing, caching)."""

    def __init__(self):
        import keras

        timer = self

        class CB(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                if epoch > 0:
                    timer.seconds += time.perf_counter() - timer.start
                    timer.epochs += 1

        self.callback, self.start, self.seconds, self.epochs = CB(), 0.0, 0.0, 0


def plain_keras(data_dir, num_images, image_size, batch_size, epochs):
    import keras

    ds = keras.utils.image_dataset_from_directory(data_dir, image_size=(image_size, image_size), batch_size=batch_size, verbose=False)
    model = keras.applications.ResNet50(weights=None, classes=len(ds.class_names), input_shape=(image_size, image_size, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = _StepTimer()
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[timer.callback])
    return num_images * timer.epochs / timer.seconds


def ours(data_dir, backbone, precision, image_size, batch_size, epochs):
    from keras_cvcls import ClassificationDataset
    from keras_cvcls.models import ImageClassifier

    dataset = ClassificationDataset.from_directory(data_dir)
    model = ImageClassifier(dataset.labels, backbone, weights=None, image_size=image_size, precision=precision)
    timer = _StepTimer()
    model.fit(dataset, epochs=epochs, batch_size=batch_size, lr_per_epoch=[0.01], verbose=0, callbacks=[timer.callback])
    return len(dataset) * timer.epochs / timer.seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=96)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs are all but the first")
    parser.add_argument("--only", default=None, help="comma list of runs to do (plain_resnet50, resnet50_float32, ...)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    result = {
        "benchmark": "train",
        "image_size": args.image_size,
        "num_images": args.num_images,
        "batch_size": args.batch_size,
        "matmul_gflops_float32": round(matmul_gflops(tf.float32), 1),
        "matmul_gflops_bfloat16": round(matmul_gflops(tf.bfloat16), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
    }
    runs = {"plain_resnet50": lambda d: plain_keras(d, args.num_images, args.image_size, args.batch_size, args.epochs)}
    for backbone in ("resnet50", "resnet18"):
        for precision in ("float32", "mixed_bfloat16"):
            runs[f"{backbone}_{precision}"] = (
                lambda d, b=backbone, p=precision: ours(d, b, p, args.image_size, args.batch_size, args.epochs)
            )
    wanted = args.only.split(",") if args.only else list(runs)
    with tempfile.TemporaryDirectory() as tmp:
        make_photos(tmp, args.num_images, 512, 384)
        for name in wanted:
            ips = runs[name](tmp)
            entry = {"images_per_s": round(ips, 2)}
            backbone = "resnet50" if "resnet50" in name else "resnet18"
            peak = result["matmul_gflops_bfloat16" if "bfloat16" in name else "matmul_gflops_float32"]
            if args.image_size == 224:
                entry["fraction_of_flop_bound"] = round(ips * TRAIN_GFLOP_PER_IMAGE[backbone] / peak, 3)
            result[name] = entry
            print(f"{name}: {entry}", file=sys.stderr, flush=True)
    if "plain_resnet50" in result:
        for name in wanted:
            if name.startswith("resnet50"):
                result[name]["speedup_vs_plain_keras"] = round(result[name]["images_per_s"] / result["plain_resnet50"]["images_per_s"], 2)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
