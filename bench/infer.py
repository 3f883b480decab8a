"""Inference throughput: keras-cvcls against plain Keras, side by side, in one run.

For ResNet-50, ResNet-18 and EfficientNet-Lite0 at 224 px (random weights; speed does not
depend on them), batch 32, each row in a fresh process:

* plain Keras float32 / mixed_bfloat16: the same architecture with Keras' own
  ``BatchNormalization`` (``keras.applications.ResNet50`` for ResNet-50), ``model.predict``;
* ours in-process: ``ImageClassifier(precision="auto").predict_scores`` (batch norms folded into
  the convolutions, the machine's precision), which refreshes its folded copy on every call;
* ours exported: the SavedModel's ``predict_images`` (float pixels) and ``serving_default``
  (JPEG bytes, decoded and resized in the graph) signatures, called in-process.

Also measures the matmul peaks, and gives each figure's fraction of the peak for its precision.
Prints one JSON object.

    python bench/infer.py [--models resnet50,resnet18,efficientnet_lite0] [--seconds 10]
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

# Forward FLOPs per image at 224 px (2 x multiply-adds).
FORWARD_GFLOP = {"resnet50": 8.2, "resnet18": 3.6, "efficientnet_lite0": 0.8}
BATCH = 32
ROWS = ("keras_float32", "keras_mixed_bfloat16", "ours_in_process", "ours_predict_images", "ours_serving_default")


def timed(run, images, seconds):
    run()
    run()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += images
    return count / (time.perf_counter() - start)


def measure(name, row, seconds):
    import keras
    import numpy as np

    pixels = np.random.default_rng(0).uniform(0, 255, (BATCH, 224, 224, 3)).astype("float32")
    if row.startswith("keras_"):
        policy = row[len("keras_"):]
        keras.config.set_dtype_policy(policy)
        model = plain_keras_model(name, 2)
        return {"precision": policy, "images_per_s": timed(lambda: model.predict(pixels, batch_size=BATCH, verbose=0), BATCH, seconds)}
    from keras_cvcls.models import ImageClassifier

    model = ImageClassifier(["a", "b"], name, weights=None, image_size=224)
    result = {"precision": model.precision}
    if row == "ours_in_process":
        result["images_per_s"] = timed(lambda: model.predict_scores(pixels, batch_size=BATCH), BATCH, seconds)
        return result
    import tensorflow as tf

    from keras_cvcls.export import export_for_serving
    with tempfile.TemporaryDirectory() as tmp:
        export_for_serving(model, os.path.join(tmp, "model"), 1, warmup=False)
        loaded = tf.saved_model.load(os.path.join(tmp, "model", "1"))
        if row == "ours_predict_images":
            signature, inputs = loaded.signatures["predict_images"], {"images": tf.constant(pixels)}
        else:
            photos = make_photos(os.path.join(tmp, "photos"), BATCH, 512, 384)
            files = [open(p, "rb").read() for p in photos]
            signature, inputs = loaded.signatures["serving_default"], {"image_bytes": tf.constant(files)}
        result["images_per_s"] = timed(lambda: signature(**inputs)["scores"].numpy(), BATCH, seconds)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50,resnet18,efficientnet_lite0")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per row")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "ROW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one, args.seconds)))
        return
    import tensorflow as tf

    from keras_cvcls.models.precision import detect_precision

    peaks = {"float32": matmul_gflops(tf.float32), "mixed_bfloat16": matmul_gflops(tf.bfloat16)}
    result = {
        "benchmark": "infer", "image_size": 224, "batch_size": BATCH,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
        "auto_precision": list(detect_precision()),
        "matmul_gflops": {k: round(v, 1) for k, v in peaks.items()},
    }
    for name in args.models.split(","):
        rows = {}
        for row in args.rows.split(","):
            out = subprocess.run([sys.executable, __file__, "--one", name, row, "--seconds", str(args.seconds)],
                                 check=True, capture_output=True, text=True).stdout
            entry = json.loads(out.strip().splitlines()[-1])
            ips = entry["images_per_s"]
            entry["images_per_s"] = round(ips, 2)
            entry["fraction_of_matmul_peak"] = round(ips * FORWARD_GFLOP[name] / peaks.get(entry["precision"], peaks["float32"]), 3)
            rows[row] = entry
            print(name, row, json.dumps(entry), file=sys.stderr, flush=True)
        base = rows.get("keras_float32")
        for entry in rows.values():
            if base:
                entry["vs_keras_float32"] = round(entry["images_per_s"] / base["images_per_s"], 2)
        result[name] = rows
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
