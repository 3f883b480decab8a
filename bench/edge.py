"""Edge export: accuracy, file size, single-image latency and throughput of each format against the Keras model.

Hymenoptera (train 245 photos, val 153). The model: EfficientNet-Lite0 trained with the
default recipe, ``keras-cvcls train TRAIN --val VAL --out RUN`` (Lite0 at 288, fine-tune), or an
existing run given with ``--run``. Then, in this one process, for each way of running it:

* ``keras``: the trained Keras model as loaded (its saved precision: ``auto`` picks
  mixed_bfloat16 on a CPU with AMX) through ``ImageClassifier.predict_scores`` (the batch-norm
  folded inference model, ``predict_on_batch``);
* ``keras_float32``: the same weights rebuilt in float32 (the graph every export starts from);
* ``tflite_float32``, ``tflite_float16``, ``tflite_dynamic``, ``tflite_int8``: ``export_tflite``
  run by LiteRT (``TFLiteClassifier``, XNNPACK, one thread per core; int8 takes uint8 pixels);
* ``onnx``: ``export_onnx`` run by ONNX Runtime (CPU provider, one thread per core).

Measured: accuracy and class-averaged accuracy on val (scikit-learn), the largest score
difference from ``keras_float32``, the file size, single-image latency p50/p99 (one image per
call, pixels already decoded and resized, ``--latency-runs`` calls after 10 untimed) and
throughput (images/s, single-image calls back to back, and batches of 32). Prints one JSON
object on stdout and a markdown table on stderr.

    python bench/edge.py [--data ../shared/datasets/hymenoptera] [--run RUN] [--latency-runs 200]
    python bench/edge.py --quick     # 20 latency runs, 2 batches: tests the script
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "datasets", "hymenoptera")
sys.path.insert(0, REPO)


def log(message):
    print(message, file=sys.stderr, flush=True)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"


def train(data, out):
    argv = [sys.executable, "-m", "keras_cvcls", "train", os.path.join(data, "train"), "--val", os.path.join(data, "val"),
            "--out", out, "--json"]
    log("training: " + " ".join(argv))
    start = time.perf_counter()
    subprocess.run(argv, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def timings(run_batch, pixels, latency_runs, batches):
    """Single-image p50/p99 ms and images/s, and batch-32 images/s, of ``run_batch`` (float32 pixels -> scores)."""
    import numpy as np

    singles = [pixels[i % len(pixels)][np.newaxis] for i in range(latency_runs + 10)]
    for x in singles[:10]:
        run_batch(x)
    times = []
    for x in singles[10:]:
        start = time.perf_counter()
        run_batch(x)
        times.append(time.perf_counter() - start)
    times = np.asarray(times) * 1000
    batch = pixels[:32]
    run_batch(batch)
    start = time.perf_counter()
    for _ in range(batches):
        run_batch(batch)
    batch_rate = batches * len(batch) / (time.perf_counter() - start)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p99_ms": round(float(np.percentile(times, 99)), 2),
            "single_img_s": round(float(1000 / times.mean()), 1), "batch32_img_s": round(float(batch_rate), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--run", help="an existing training run of the data (default: train one, the default recipe)")
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.latency_runs, args.batches = 20, 2

    work = tempfile.mkdtemp(prefix="bench-edge-")
    try:
        data = shutil.copytree(args.data, os.path.join(work, "data"))  # our loader writes a check cache
        train_s = None
        run = args.run
        if run is None:
            run = os.path.join(work, "run")
            train_s = train(data, run)

        import numpy as np
        from sklearn.metrics import accuracy_score, balanced_accuracy_score

        from keras_cvcls.data import ClassificationDataset
        from keras_cvcls.export import export_onnx, export_tflite
        from keras_cvcls.models import ImageClassifier, OnnxClassifier, TFLiteClassifier, load_classifier
        from keras_cvcls.training_run import TrainingRun

        model = load_classifier(run)
        train_split = TrainingRun.load(run).split[0]
        val = ClassificationDataset.from_directory(os.path.join(data, "val")).with_labels(model.labels)
        pixels = np.concatenate([np.asarray(x) for x, _ in model.pipeline(val, batch_size=32)])
        float32 = ImageClassifier.from_config({**model.get_config(), "precision": "float32", "compile": False})
        float32.set_weights(model.get_weights())

        ways = {}
        for name, keras_model in (("keras", model), ("keras_float32", float32)):
            inference = keras_model.inference_model()
            ways[name] = (keras_model.predict_scores, lambda x, m=inference: np.asarray(m.predict_on_batch(x)), None)
        for quantization in ("float32", "float16", "dynamic", "int8"):
            path = os.path.join(work, f"lite0_{quantization}.tflite")
            start = time.perf_counter()
            export_tflite(model, path, quantization=quantization,
                          representative_data=train_split if quantization == "int8" else None)
            log(f"exported {quantization} in {time.perf_counter() - start:.1f} s: {os.path.getsize(path)} bytes")
            clf = TFLiteClassifier(path)
            ways[f"tflite_{quantization}"] = (clf.predict_scores, clf._run, path)
        path = export_onnx(model, os.path.join(work, "lite0.onnx"))
        clf = OnnxClassifier(path)
        ways["onnx"] = (clf.predict_scores, clf._run, path)

        rows = {}
        reference = None
        for name, (score, run_batch, path) in ways.items():
            scores = score(val, batch_size=32)
            reference = scores if name == "keras_float32" else reference
            predicted = scores.argmax(1)
            rows[name] = {
                "accuracy": round(float(accuracy_score(val.label_ids, predicted)), 4),
                "class_avg_accuracy": round(float(balanced_accuracy_score(val.label_ids, predicted)), 4),
                "size_bytes": os.path.getsize(path) if path else None,
                "scores": scores,
                **timings(run_batch, pixels, args.latency_runs, args.batches),
            }
            log(f"{name}: {json.dumps({k: v for k, v in rows[name].items() if k != 'scores'})}")
        for row in rows.values():
            row["max_score_diff_vs_keras_float32"] = float(f"{np.abs(row.pop('scores') - reference).max():.2e}")
        float32_size = rows["tflite_float32"]["size_bytes"]
        for row in rows.values():
            row["size_vs_tflite_float32"] = round(row["size_bytes"] / float32_size, 3) if row["size_bytes"] else None
        result = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "model": f"{model.backbone_name} at {model.image_size[0]} px, precision {model.precision}",
            "val_images": len(val), "train_seconds": round(train_s, 1) if train_s else None, "ways": rows,
        }
        print(json.dumps(result, indent=1))
        log("\n| way | accuracy | class-avg acc. | max score diff vs Keras float32 | size (MB) | size vs TFLite float32 "
            "| p50 ms | p99 ms | single img/s | batch-32 img/s |")
        log("|---|---|---|---|---|---|---|---|---|---|")
        for name, r in rows.items():
            size = f"{r['size_bytes'] / 1e6:.2f}" if r["size_bytes"] else "-"
            log(f"| {name} | {r['accuracy']:.4f} | {r['class_avg_accuracy']:.4f} | {r['max_score_diff_vs_keras_float32']:.1e} "
                f"| {size} | {r['size_vs_tflite_float32'] or '-'} | {r['p50_ms']} | {r['p99_ms']} | {r['single_img_s']} "
                f"| {r['batch32_img_s']} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
