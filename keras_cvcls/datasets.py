"""Small built-in datasets: a generated sample for demos and tests.

Real photo collections cannot ship with the package; point
:meth:`~keras_cvcls.data.ClassificationDataset.from_directory` at your own folder
(one subfolder per label) instead.
"""

import colorsys
import os

import numpy as np
from PIL import Image, ImageDraw

SAMPLE_LABELS = ("checks", "dots", "stripes")


def _draw(kind, rng, size):
    h, w = size
    # Each label has its own hue family (plus texture), so a network trained from
    # scratch on a few hundred images gets well above chance within minutes.
    base_hue = {"checks": 0.02, "dots": 0.33, "stripes": 0.62}[kind]
    hue = (base_hue + rng.uniform(-0.08, 0.08)) % 1.0
    fill = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.5, 0.9)))
    grey = int(rng.integers(200, 256))
    background = (grey, grey, grey)
    step = int(rng.integers(max(6, min(h, w) // 8), max(8, min(h, w) // 4)))
    angle = float(rng.uniform(0, 180))
    big = Image.new("RGB", (2 * w, 2 * h), background)
    bd = ImageDraw.Draw(big)
    for x in range(0, 2 * w, step):
        for y in range(0, 2 * h, step):
            if kind == "stripes" and y == 0:
                bd.rectangle([x, 0, x + step // 2 - 1, 2 * h], fill=fill)
            elif kind == "checks" and ((x + y) // step) % 2 == 0:
                bd.rectangle([x, y, x + step - 1, y + step - 1], fill=fill)
            elif kind == "dots":
                r = step * rng.uniform(0.2, 0.35)
                cx, cy = x + step / 2 + rng.uniform(-1, 1), y + step / 2 + rng.uniform(-1, 1)
                bd.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    big = big.rotate(angle, resample=Image.BILINEAR, fillcolor=background)
    image = big.crop((w // 2, h // 2, w // 2 + w, h // 2 + h))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_sample(directory, *, images_per_label=40, image_size=(96, 128), labels=SAMPLE_LABELS, seed=0):
    """Writes a small, deterministic, learnable image dataset in the folder layout.

    Three labels by default: ``checks``, ``dots`` and ``stripes``: textures at
    random scales and angles, each label in its own hue family (red, green, blue,
    with random shades), on light grey, with sensor noise, saved as JPEG. A network
    trained from scratch gets well above chance on them within minutes. The same arguments
    always write the same files.

    Args:
        directory: folder to write (created; existing files with the same names are replaced).
        images_per_label: images in each label folder.
        image_size: ``(height, width)`` of the images.
        labels: label names, a subset of ``("checks", "dots", "stripes")``.
        seed: random seed.

    Returns:
        The folder path, ready for ``ClassificationDataset.from_directory``.

    Example:
        >>> root = make_sample("/tmp/shapes")
        >>> ClassificationDataset.from_directory(root).labels
        ['checks', 'dots', 'stripes']
    """
    unknown = [label for label in labels if label not in SAMPLE_LABELS]
    if unknown or not labels:
        raise ValueError(f"labels must be a non-empty subset of {SAMPLE_LABELS}. Received: labels={labels!r}")
    if not isinstance(images_per_label, int) or images_per_label < 1:
        raise ValueError(f"images_per_label must be a positive int. Received: images_per_label={images_per_label!r}")
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    for i, label in enumerate(labels):
        rng = np.random.default_rng([seed, SAMPLE_LABELS.index(label)])
        folder = os.path.join(directory, label)
        os.makedirs(folder, exist_ok=True)
        for j in range(images_per_label):
            _draw(label, rng, (h, w)).save(os.path.join(folder, f"{label}_{j:04d}.jpg"), quality=90)
    return os.fspath(directory)
