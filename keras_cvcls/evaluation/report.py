"""A self-contained HTML report of an evaluation."""

import base64
import html
import io
import math
import os

from keras_cvcls.evaluation import displays

SECTION_IDS = ("summary", "per-class", "confusion-matrix", "roc", "pr", "training-curve", "misclassified")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; }
td.diag { background: #e6f0fa; font-weight: bold; }
img.plot { max-width: 100%; height: auto; }
.grid { display: flex; flex-wrap: wrap; gap: .8em; }
figure.thumb { margin: 0; width: 150px; font-size: .8em; border: 1px solid #ddd; padding: .3em; }
figure.thumb img { display: block; margin: 0 auto; max-width: 140px; max-height: 140px; }
figure.thumb .missing { height: 60px; display: flex; align-items: center; justify-content: center;
                        color: #888; }
figcaption { word-break: break-all; }
.wrong { color: #b00; }
"""


def _figure_data_uri(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_data_uri(image):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value, spec=".3f"):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _section(section_id, heading, body):
    return f'<section id="{section_id}">\n<h2>{html.escape(heading)}</h2>\n{body}\n</section>'


def _plot_img(figure, alt):
    return f'<img class="plot" alt="{html.escape(alt)}" src="{_figure_data_uri(figure)}">'


def _summary(evaluation, data):
    rows = [
        ("Images", str(len(evaluation.y_true))),
        ("Classes", str(evaluation.num_classes)),
        ("Accuracy", _fmt(data["accuracy"])),
        ("Class-averaged accuracy", _fmt(data["class_avg_accuracy"])),
    ]
    for k in (2, 5):
        if k < evaluation.num_classes:
            rows.append((f"Top-{k} accuracy", _fmt(evaluation.top_k_accuracy(k))))
    for average in ("micro", "macro"):
        rows.append((f"ROC AUC ({average})", _fmt(data["roc_auc"][average])))
        rows.append((f"Average precision ({average})", _fmt(data["average_precision"][average])))
    threshold, f1 = evaluation.best_f1_threshold()
    rows.append(("Best F1 threshold (all image-class pairs)", f"{_fmt(threshold)} (F1 {_fmt(f1)})"))
    body = "".join(
        f'<tr><th class="name">{html.escape(name)}</th>'
        f'<td data-metric="{html.escape(name)}">{value}</td></tr>'
        for name, value in rows
    )
    return _section("summary", "Summary", f"<table>{body}</table>")


def _per_class(data):
    header = (
        '<tr><th class="name">Class</th><th>Precision</th><th>Recall</th><th>F1</th>'
        "<th>Support</th><th>ROC AUC</th><th>Average precision</th></tr>"
    )
    rows = []
    for label in data["labels"]:
        m = data["per_class"][label]
        rows.append(
            f'<tr><td class="name">{html.escape(label)}</td><td>{_fmt(m["precision"])}</td>'
            f"<td>{_fmt(m['recall'])}</td><td>{_fmt(m['f1'])}</td><td>{m['support']}</td>"
            f"<td>{_fmt(data['roc_auc'][label])}</td><td>{_fmt(data['average_precision'][label])}</td></tr>"
        )
    return _section("per-class", "Per-class metrics", f"<table>{header}{''.join(rows)}</table>")


def _confusion_matrix(evaluation, data):
    display = displays.ConfusionMatrixDisplay.from_evaluation(evaluation)
    labels = [html.escape(label) for label in data["labels"]]
    header = (
        '<tr><th class="name">true \\ predicted</th>'
        + "".join(f"<th>{label}</th>" for label in labels)
        + "</tr>"
    )
    rows = []
    for i, row in enumerate(data["confusion_matrix"]):
        cells = "".join(
            f'<td class="diag">{count}</td>' if i == j else f"<td>{count}</td>" for j, count in enumerate(row)
        )
        rows.append(f'<tr><th class="name">{labels[i]}</th>{cells}</tr>')
    body = _plot_img(display.figure_, "Confusion matrix") + f"<table>{header}{''.join(rows)}</table>"
    return _section("confusion-matrix", "Confusion matrix", body)


def _misclassified(evaluation, max_misclassified, thumbnail_size):
    wrong = [
        item
        for item in evaluation.top_losses(len(evaluation.y_true))
        if item["true_label"] != item["predicted_label"]
    ]
    shown = wrong[:max_misclassified]
    figures = []
    for item in shown:
        image = displays.load_thumbnail(item["path"], size=thumbnail_size)
        if image is None:
            picture = '<div class="missing">image unavailable</div>'
        else:
            picture = (
                f'<img alt="{html.escape(os.path.basename(item["path"]))}" src="{_image_data_uri(image)}">'
            )
        name = "" if item["path"] is None else f"<br>{html.escape(os.path.basename(item['path']))}"
        figures.append(
            f'<figure class="thumb">{picture}<figcaption>true: {html.escape(item["true_label"])}<br>'
            f'<span class="wrong">pred: {html.escape(item["predicted_label"])}</span><br>'
            f"score: {item['score']:.3f}, loss: {item['loss']:.3f}{name}</figcaption></figure>"
        )
    intro = f"<p>{len(wrong)} misclassified image(s), highest loss first; showing {len(shown)}.</p>"
    return _section(
        "misclassified", "Misclassified images", intro + f'<div class="grid">{"".join(figures)}</div>'
    )


def write_report(
    evaluation,
    path,
    *,
    title="Classification report",
    history=None,
    max_misclassified=50,
    thumbnail_size=128,
):
    """Writes a single self-contained HTML report of an evaluation.

    Every image (plots and thumbnails) is embedded as a base64 data URI and
    the page loads no external CSS, script or font, so the file can be mailed
    or archived alone. Sections have stable ids: ``summary``, ``per-class``,
    ``confusion-matrix``, ``roc``, ``pr``, ``training-curve`` (only with
    ``history``) and ``misclassified``; for a ``MultiLabelEvaluation``: ``summary`` (mAP,
    exact-match ratio, Hamming loss, micro/macro/sample averages), ``per-class`` (per label,
    with its threshold), ``most-confused`` (labels most often missed and added), ``roc``,
    ``pr`` and ``training-curve``.

    Args:
        evaluation: A ``ClassificationEvaluation`` or a ``MultiLabelEvaluation``.
        path: Where to write the HTML file; parent folders are created.
        title: Page title and heading.
        history: Optional training history, a dict of per-epoch lists
            ``"train_accuracy"``, ``"eval_accuracy"`` and optionally ``"lr"``.
        max_misclassified: Most misclassified images shown, highest loss first.
        thumbnail_size: Longest side of the thumbnails, in pixels.

    Returns:
        The path written, as a string.

    Raises:
        ValueError: If ``max_misclassified`` is negative or ``thumbnail_size``
            is not positive.

    Example:
        >>> from keras_cvcls.evaluation import ClassificationEvaluation
        >>> ev = ClassificationEvaluation.from_scores([0, 1], [[.9, .1], [.6, .4]], ["cat", "dog"])
        >>> out = write_report(ev, "/tmp/report.html")
    """
    if isinstance(max_misclassified, bool) or not isinstance(max_misclassified, int) or max_misclassified < 0:
        raise ValueError(
            "`max_misclassified` must be a non-negative integer. "
            f"Received: max_misclassified={max_misclassified!r}"
        )
    if isinstance(thumbnail_size, bool) or not isinstance(thumbnail_size, int) or thumbnail_size < 1:
        raise ValueError(
            f"`thumbnail_size` must be a positive integer. Received: thumbnail_size={thumbnail_size!r}"
        )
    if getattr(evaluation, "multi_label", False):
        from keras_cvcls.evaluation.multi_label_report import multi_label_sections

        sections = multi_label_sections(evaluation)
    else:
        sections = _single_label_sections(evaluation)
    if history is not None:
        display = displays.TrainingCurveDisplay.from_history(history)
        sections.append(
            _section("training-curve", "Training curve", _plot_img(display.figure_, "Training curve"))
        )
    if not getattr(evaluation, "multi_label", False):
        sections.append(_misclassified(evaluation, max_misclassified, thumbnail_size))
    return _write_document(sections, title, path)


def _single_label_sections(evaluation):
    data = evaluation.to_dict()
    return [
        _summary(evaluation, data),
        _per_class(data),
        _confusion_matrix(evaluation, data),
        _section(
            "roc",
            "ROC curves (one-vs-rest)",
            _plot_img(displays.graph_roc_curve(evaluation).figure_, "ROC curves"),
        ),
        _section(
            "pr",
            "Precision-recall curves (one-vs-rest)",
            _plot_img(displays.graph_pr_curve(evaluation).figure_, "Precision-recall curves"),
        ),
    ]


def _write_document(sections, title, path):
    title_html = html.escape(title)
    document = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title_html}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{title_html}</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(document)
    return path
