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
from keras_cvcls.evaluation.multi_label_evaluation import MultiLabelEvaluation
from keras_cvcls.evaluation.leakage import LeakageWarning
from keras_cvcls.evaluation.report import write_report
from keras_cvcls.evaluation.thresholds import tune_thresholds

__all__ = [
    "ClassificationEvaluation",
    "ConfusionMatrixDisplay",
    "LeakageWarning",
    "MultiLabelEvaluation",
    "PrecisionRecallDisplay",
    "RocCurveDisplay",
    "TopLossesDisplay",
    "TrainingCurveDisplay",
    "graph_confusion_matrix",
    "graph_pr_curve",
    "graph_roc_curve",
    "tune_thresholds",
    "write_report",
]
