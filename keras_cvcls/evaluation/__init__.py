"""Evaluation of a classifier's scores: metrics, interpretation, plots and an HTML report."""

from keras_cvcls.evaluation.classification_evaluation import ClassificationEvaluation
from keras_cvcls.evaluation.displays import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    TopLossesDisplay,
    TrainingCurveDisplay,
    graph_confusion_matrix,
    graph_pr_curve,
    graph_roc_curve,
)
from keras_cvcls.evaluation.leakage import LeakageWarning
from keras_cvcls.evaluation.report import write_report

__all__ = [
    "ClassificationEvaluation",
    "ConfusionMatrixDisplay",
    "LeakageWarning",
    "PrecisionRecallDisplay",
    "RocCurveDisplay",
    "TopLossesDisplay",
    "TrainingCurveDisplay",
    "graph_confusion_matrix",
    "graph_pr_curve",
    "graph_roc_curve",
    "write_report",
]
