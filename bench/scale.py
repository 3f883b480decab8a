"""Large datasets: dataset info (first and cached), to-tfrecord, and pipeline images/s from TFRecords vs files.

Generates N small photo-like JPEGs (64x48, 10 labels) into a temporary folder (never
committed), then times, each in a fresh process as a user would run it:

- ``keras-cvcls dataset info DIR --json``: wall time and peak memory (max RSS), first run (every
  image checked) and second run (from the check cache);
- ``keras-cvcls dataset to-tfrecord DIR OUT --shards S``: wall time (the checks come from the cache);
- one epoch of ``make_pipeline`` (decode + resize to 64 px, batch 256, no cache) from the files
  and from the TFRecords: images/s.

Prints one JSON object per size, with the cost per image, so growth from 10k to 100k shows.

    python bench/scale.py --sizes 10000,100000
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_images(directory, count, seed=0, labels=10):
    """Writes ``count`` distinct 64x48 photo-like JPEGs, ``labels`` folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    for label in range(labels):
        os.makedirs(os.path.join(directory, f"label_{label}"), exist_ok=True)
    for i in range(count):
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (x / 64 * rng.uniform(0.3, 1) + y / 48 * rng.uniform(0.3, 1)) / 2
        img = c0 * (1 - t[..., None]) + c1 * t[..., None] + rng.normal(0, 8, (48, 64, 3))
        path = os.path.join(directory, f"label_{i % labels}", f"img_{i:06d}.jpg")
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)


def timed(command):
    """Runs a command under /usr/bin/time -v: (wall seconds, peak RSS in MiB, stdout)."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    rss_kib = next(int(line.split(":")[1]) for line in done.stderr.splitlines() if "Maximum resident set size" in line)
    return seconds, rss_kib / 1024, done.stdout


def pipeline_rate(path, image_size=64, batch_size=256):
    """Images/s of one epoch of make_pipeline, in a fresh process."""
    code = f"""
import json, time
from keras_cvcls.training_run import open_dataset
from keras_cvcls.data.pipeline import make_pipeline
ds = open_dataset({path!r})
pipe = make_pipeline(ds, image_size={image_size}, batch_size={batch_size}, shuffle=True, seed=0)
start, n = time.perf_counter(), 0
for images, labels in pipe:
    n += int(labels.shape[0])
print(json.dumps({{"images": n, "seconds": time.perf_counter() - start}}))
"""
    _, _, out = timed([sys.executable, "-c", code])
    result = json.loads(out.strip().splitlines()[-1])
    return result["images"] / result["seconds"]


def run(count, shards, workdir, info_only=False):
    data = os.path.join(workdir, f"data-{count}")
    start = time.perf_counter()
    make_images(data, count)
    generate_s = time.perf_counter() - start
    cli = [sys.executable, "-m", "keras_cvcls"]
    first_s, first_mib, out = timed([*cli, "dataset", "info", data, "--json"])
    assert json.loads(out)["num_images"] == count, out[:300]
    cached_s, cached_mib, _ = timed([*cli, "dataset", "info", data, "--json"])
    info = {
        "images": count, "generate_s": round(generate_s, 1),
        "info_first_s": round(first_s, 1), "info_first_peak_mib": round(first_mib), "info_first_ms_per_image": round(1000 * first_s / count, 3),
        "info_cached_s": round(cached_s, 1), "info_cached_peak_mib": round(cached_mib), "info_cached_ms_per_image": round(1000 * cached_s / count, 3),
    }
    if info_only:
        shutil.rmtree(data)
        return info
    records = os.path.join(workdir, f"tfr-{count}")
    tfrecord_s, tfrecord_mib, _ = timed([*cli, "dataset", "to-tfrecord", data, records, "--shards", str(shards), "--json"])
    files_rate = pipeline_rate(data)
    records_rate = pipeline_rate(records)
    shutil.rmtree(data)
    shutil.rmtree(records)
    return {
        **info,
        "to_tfrecord_s": round(tfrecord_s, 1), "to_tfrecord_peak_mib": round(tfrecord_mib), "to_tfrecord_ms_per_image": round(1000 * tfrecord_s / count, 3),
        "shards": shards, "pipeline_files_img_s": round(files_rate), "pipeline_tfrecords_img_s": round(records_rate),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated image counts")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workdir", default=None, help="where to generate (default: a temporary folder)")
    parser.add_argument("--info-only", action="store_true", help="only dataset info (first and cached)")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="kc-scale-", dir=args.workdir)
    try:
        for count in [int(s) for s in args.sizes.split(",")]:
            result = run(count, args.shards, workdir, args.info_only)
            result.update(machine=f"{platform.machine()}, {os.cpu_count()} CPUs", load=os.getloadavg()[0])
            print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
