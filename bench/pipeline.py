"""Input-pipeline throughput: keras-cvcls tf.data pipeline vs. a naive PIL loop.

Both read the same JPEG files from disk, decode, resize to 224 px and stack
batches. Prints one JSON object.

    python bench/pipeline.py [--num-images 512] [--size 512x384] [--batch-size 32]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image


def make_photos(directory, count, width, height, seed=0):
    """Writes photo-like JPEGs (smooth gradients, shapes, sensor noise), quality 90."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (x / width * rng.uniform(0.3, 1) + y / height * rng.uniform(0.3, 1)) / 2
        img = c0 * (1 - t[..., None]) + c1 * t[..., None]
        for _ in range(6):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            r = rng.uniform(0.05, 0.25) * height
            mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
            img[mask] = img[mask] * 0.3 + rng.uniform(0, 255, 3) * 0.7
        img += rng.normal(0, 6, img.shape)
        path = os.path.join(directory, "class_%d" % (i % 4), f"img_{i:05d}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def naive_loop(paths, batch_size, image_size):
    """What a user writes without us: PIL open, convert, resize, np.stack per batch."""
    count = 0
    for start in range(0, len(paths), batch_size):
        batch = [
            np.asarray(Image.open(p).convert("RGB").resize((image_size, image_size)), dtype=np.float32)
            for p in paths[start : start + batch_size]
        ]
        count += len(np.stack(batch))
    return count


def ours(dataset, batch_size, image_size):
    from keras_cvcls.data.pipeline import make_pipeline

    count = 0
    for images, _ in make_pipeline(dataset, image_size=image_size, batch_size=batch_size):
        count += int(images.shape[0])
    return count


def timed(fn, *args, repeats=3):
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        count = fn(*args)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return count / best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=512)
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT of the generated JPEGs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    from keras_cvcls.data import ClassificationDataset

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(tmp, args.num_images, width, height)
        dataset = ClassificationDataset.from_directory(tmp)
        ours(dataset, args.batch_size, args.image_size)  # warm-up: tracing, file cache
        naive_loop(paths, args.batch_size, args.image_size)
        naive = timed(naive_loop, paths, args.batch_size, args.image_size, repeats=args.repeats)
        fast = timed(ours, dataset, args.batch_size, args.image_size, repeats=args.repeats)
    result = {
        "benchmark": "pipeline",
        "photo_size": args.size,
        "image_size": args.image_size,
        "num_images": args.num_images,
        "batch_size": args.batch_size,
        "naive_pil_images_per_s": round(naive, 1),
        "keras_cvcls_images_per_s": round(fast, 1),
        "speedup": round(fast / naive, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }
    json.dump(result, sys.stdout)
    print()
    return result


if __name__ == "__main__":
    main()
