"""Keras' BatchNormalization against FusedBatchNormalization, side by side, in one run.

ResNet-50 (keras.applications, random weights) at 224 on synthetic data: training steps and
predict, stock Keras and ``fuse_batch_norm(model)``, in float32 and mixed_bfloat16. Each row is
measured in a fresh process. Prints one JSON object.

    python bench/fused_bn.py [--batch-size 16] [--steps 5] [--size 224]
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def measure(policy, fused, batch_size, steps, size):
    import keras
    import numpy as np

    from keras_cvcls.models.fused_batch_norm import fuse_batch_norm

    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=10)
    if fused:
        model = fuse_batch_norm(model)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 1, (batch_size, size, size, 3)).astype("float32")
    y = np.zeros(batch_size, "int32")
    for _ in range(2):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    train = batch_size * steps / (time.perf_counter() - start)
    for _ in range(2):
        model.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(steps * 2):
        model.predict_on_batch(x)
    predict = batch_size * steps * 2 / (time.perf_counter() - start)
    return {"policy": policy, "batch_norm": "fused" if fused else "keras", "train_img_s": round(train, 2),
            "predict_img_s": round(predict, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--one", nargs=2, metavar=("POLICY", "FUSED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1] == "1", args.batch_size, args.steps, args.size)))
        return
    rows = []
    for policy in ("float32", "mixed_bfloat16"):
        for fused in ("0", "1"):
            out = subprocess.run(
                [sys.executable, __file__, "--one", policy, fused, "--batch-size", str(args.batch_size),
                 "--steps", str(args.steps), "--size", str(args.size)],
                check=True, capture_output=True, text=True,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base = rows[0]
    for row in rows:
        row["train_vs_keras_float32"] = round(row["train_img_s"] / base["train_img_s"], 2)
        row["predict_vs_keras_float32"] = round(row["predict_img_s"] / base["predict_img_s"], 2)
    print(json.dumps({"model": "ResNet50", "size": args.size, "batch_size": args.batch_size, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
