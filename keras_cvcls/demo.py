"""The end-to-end demo on a generated sample dataset (``keras-cvcls demo``).

Each step is what a user would run on their own folder; replace the sample
folder with yours (one subfolder per label) to do the same on real photos.
"""

import os
import time

from keras_cvcls.data import ClassificationDataset, make_pipeline
from keras_cvcls.data.classification_dataset import format_summary
from keras_cvcls.datasets import make_sample


def step(title):
    print(f"\n== {title}", flush=True)


def run_demo(out_dir="demo-output", *, images_per_label=40, image_size=96, seed=0):
    """Runs the demo; returns a dict of what it measured."""
    os.makedirs(out_dir, exist_ok=True)
    data_dir = os.path.join(out_dir, "sample-data")

    step(f"1. Sample dataset -> {data_dir}")
    make_sample(data_dir, images_per_label=images_per_label, seed=seed)
    dataset = ClassificationDataset.from_directory(data_dir)
    print(format_summary(dataset.summary(), name=dataset.name))

    step("2. Stratified split (66% train, seed 0)")
    train, test = dataset.split(train_size=0.66, seed=seed)
    print(f"train {train.counts()}\ntest  {test.counts()}")

    step(f"3. tf.data pipeline: decode + resize to {image_size}px, shuffle, batch 16")
    pipeline = make_pipeline(train, image_size=image_size, batch_size=16, shuffle=True, seed=seed)
    start = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in pipeline)
    elapsed = time.perf_counter() - start
    images, labels = next(iter(pipeline))
    print(f"one epoch: {count} images in {elapsed:.2f}s; batch {tuple(images.shape)}, labels {labels.numpy()[:8]}...")
    return {"num_images": len(dataset), "train": len(train), "test": len(test), "epoch_images": count}
