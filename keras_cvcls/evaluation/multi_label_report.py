"""The sections of the HTML report for a :class:`~keras_cvcls.evaluation.MultiLabelEvaluation`."""

import html

from keras_cvcls.evaluation import displays
from keras_cvcls.evaluation.report import _fmt as fmt
from keras_cvcls.evaluation.report import _plot_img as plot_img
from keras_cvcls.evaluation.report import _section as section

MULTI_LABEL_SECTION_IDS = ("summary", "per-class", "most-confused", "roc", "pr")


def multi_label_sections(evaluation):
    """The report's sections (HTML strings) for a multi-label evaluation, ids as in ``MULTI_LABEL_SECTION_IDS``."""
    data = evaluation.to_dict()
    rows = [
        ("Images", str(data["num_images"])),
        ("Labels", str(len(data["labels"]))),
        ("mAP", fmt(data["mAP"])),
        ("Exact-match ratio", fmt(data["exact_match_ratio"])),
        ("Hamming loss", fmt(data["hamming_loss"])),
    ]
    for average, values in data["averages"].items():
        for name in ("precision", "recall", "f1"):
            rows.append((f"{name.capitalize() if name != 'f1' else 'F1'} ({average})", fmt(values[name])))
    summary = "".join(
        f'<tr><th class="name">{html.escape(name)}</th><td data-metric="{html.escape(name)}">{value}</td></tr>'
        for name, value in rows
    )
    header = (
        '<tr><th class="name">Label</th><th>Threshold</th><th>Precision</th><th>Recall</th><th>F1</th>'
        "<th>Support</th><th>Average precision</th><th>ROC AUC</th></tr>"
    )
    per_label = []
    for label, threshold in zip(data["labels"], data["thresholds"], strict=True):
        m = data["per_class"][label]
        per_label.append(
            f'<tr><td class="name">{html.escape(label)}</td><td>{fmt(threshold)}</td><td>{fmt(m["precision"])}</td>'
            f"<td>{fmt(m['recall'])}</td><td>{fmt(m['f1'])}</td><td>{m['support']}</td>"
            f"<td>{fmt(data['average_precision'][label])}</td><td>{fmt(data['roc_auc'][label])}</td></tr>"
        )
    confused = data["most_confused"]
    confused_rows = "".join(
        f'<tr><td class="name">{html.escape(kind)}</td><td class="name">{html.escape(label)}</td><td>{count}</td></tr>'
        for kind in ("missed", "added")
        for label, count in confused[kind]
    ) or '<tr><td colspan="3">No label missed or added.</td></tr>'
    return [
        section("summary", "Summary", f"<table>{summary}</table>"),
        section("per-class", "Per-label metrics", f"<table>{header}{''.join(per_label)}</table>"),
        section(
            "most-confused", "Most often missed and added labels",
            f'<table><tr><th class="name">Error</th><th class="name">Label</th><th>Images</th></tr>{confused_rows}</table>',
        ),
        section("roc", "ROC curves (per label)", plot_img(displays.graph_roc_curve(evaluation).figure_, "ROC curves")),
        section(
            "pr", "Precision-recall curves (per label)",
            plot_img(displays.graph_pr_curve(evaluation).figure_, "Precision-recall curves"),
        ),
    ]
