"""Opens the HTML report in headless Chromium: every section shows, every image decodes."""

import numpy as np
from browser import artifacts_dir, browser_page, chromium_browser  # noqa: F401
from PIL import Image

from keras_cvcls.evaluation import ClassificationEvaluation, write_report

SECTIONS = ["summary", "per-class", "confusion-matrix", "roc", "pr", "training-curve", "misclassified"]


def _evaluation(tmp_path):
    rng = np.random.default_rng(1)
    labels = ["cat", "dog", "fox"]
    y_true = np.tile([0, 1, 2], 6)
    logits = rng.normal(size=(18, 3))
    logits[np.arange(18), y_true] += 1.0
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    paths = []
    for i in range(18):
        path = tmp_path / f"{labels[y_true[i]]}_{i}.png"
        mode = ("RGB", "L", "RGBA")[i % 3]  # thumbnails handle every mode
        Image.fromarray(rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)).convert(mode).save(path)
        paths.append(path)
    return ClassificationEvaluation.from_scores(y_true, scores, labels, paths=paths)


def test_report_renders_in_chromium(browser_page, tmp_path):  # noqa: F811
    ev = _evaluation(tmp_path)
    misclassified = int((ev.y_pred != ev.y_true).sum())
    assert misclassified >= 3
    history = {
        "train_accuracy": [0.4, 0.6, 0.7],
        "eval_accuracy": [0.3, 0.5, 0.55],
        "lr": [0.01, 0.01, 0.001],
    }
    path = write_report(ev, tmp_path / "report.html", title="Report test", history=history)

    requests = []
    browser_page.on("request", lambda request: requests.append(request.url))
    browser_page.goto((tmp_path / "report.html").as_uri())
    browser_page.wait_for_load_state("load")

    assert browser_page.title() == "Report test"
    for section in SECTIONS:
        assert browser_page.locator(f"section#{section}").is_visible(), section
        assert browser_page.locator(f"section#{section} h2").inner_text()
    images = browser_page.evaluate(
        "() => Array.from(document.images, img => ({src: img.src.slice(0, 22), complete: img.complete,"
        " width: img.naturalWidth}))"
    )
    # Confusion matrix, ROC, PR, training curve, then one thumbnail per misclassified image.
    assert len(images) == 4 + misclassified
    assert all(img["complete"] and img["width"] > 0 for img in images), images
    assert all(img["src"].startswith("data:image/") for img in images)
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert browser_page.locator("#misclassified figure").count() == misclassified
    accuracy = browser_page.locator('#summary td[data-metric="Accuracy"]').inner_text()
    assert accuracy == f"{ev.compute_accuracy(class_averaged=False):.3f}"
    assert browser_page.locator("#per-class tr").count() == 1 + 3

    browser_page.screenshot(path=str(artifacts_dir() / "report.png"), full_page=True)
    assert path.endswith("report.html")
