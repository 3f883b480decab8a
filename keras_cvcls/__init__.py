"""keras-cvcls: from a folder of photos to an image classifier served by TensorFlow Serving.

The public API, re-exported here::

    import keras_cvcls as kc

    ds = kc.ClassificationDataset.from_directory("photos/")
    train, test = ds.split(train_size=0.66, seed=0)
    model = kc.ImageClassifier(ds.labels)      # pretrained EfficientNet-Lite0, offline
    model.fine_tune(train, validation_data=test)
    ev = kc.ClassificationEvaluation(model, test)
    kc.write_report(ev, "report.html")
"""

__version__ = "0.1.0"

from keras_cvcls.lazy_imports import lazy_exports  # noqa: E402

# The public API, imported on first use (PEP 562): `import keras_cvcls` stays cheap, and the
# command line can start TensorFlow quietly before anything imports it.
_EXPORTS = {
    "DEFAULT_MAX_PIXELS": "keras_cvcls.data",
    "NORMALIZATIONS": "keras_cvcls.data",
    "RESIZE_MODES": "keras_cvcls.data",
    "BadImageError": "keras_cvcls.data",
    "ClassificationDataset": "keras_cvcls.data",
    "ImageNormalization": "keras_cvcls.data",
    "ImageRecord": "keras_cvcls.data",
    "ImageValidationError": "keras_cvcls.data",
    "SkippedFile": "keras_cvcls.data",
    "check_image": "keras_cvcls.data",
    "decode_image": "keras_cvcls.data",
    "make_pipeline": "keras_cvcls.data",
    "make_sample": "keras_cvcls.datasets",
    "augment_dataset": "keras_cvcls.augment",
    "get_augmentation": "keras_cvcls.augment",
    "list_augmentations": "keras_cvcls.augment",
    "register_augmentation": "keras_cvcls.augment",
    "ClassMap": "keras_cvcls.class_map",
    "ClassificationEvaluation": "keras_cvcls.evaluation",
    "ConfusionMatrixDisplay": "keras_cvcls.evaluation",
    "PrecisionRecallDisplay": "keras_cvcls.evaluation",
    "RocCurveDisplay": "keras_cvcls.evaluation",
    "TopLossesDisplay": "keras_cvcls.evaluation",
    "TrainingCurveDisplay": "keras_cvcls.evaluation",
    "graph_confusion_matrix": "keras_cvcls.evaluation",
    "graph_pr_curve": "keras_cvcls.evaluation",
    "graph_roc_curve": "keras_cvcls.evaluation",
    "write_report": "keras_cvcls.evaluation",
    "MultiLabelDataset": "keras_cvcls.data",
    "MultiLabelEvaluation": "keras_cvcls.evaluation",
    "tune_thresholds": "keras_cvcls.evaluation",
    "export_for_serving": "keras_cvcls.export",
    "export_onnx": "keras_cvcls.export",
    "export_tflite": "keras_cvcls.export",
    "OnnxClassifier": "keras_cvcls.models",
    "TFLiteClassifier": "keras_cvcls.models",
    "load_edge_classifier": "keras_cvcls.models",
    "ImageClassifier": "keras_cvcls.models",
    "ScikitClassifier": "keras_cvcls.models",
    "WeightsUnavailableError": "keras_cvcls.models",
    "create_backbone": "keras_cvcls.models",
    "get_backbone_config": "keras_cvcls.models",
    "list_backbones": "keras_cvcls.models",
    "load_classifier": "keras_cvcls.models",
    "register_backbone": "keras_cvcls.models",
    "ScoringClient": "keras_cvcls.serving",
    "ScoringResult": "keras_cvcls.scoring_result",
    "run_loadtest": "keras_cvcls.serving",
    "EvalHistory": "keras_cvcls.training",
    "TrainingRun": "keras_cvcls.training_run",
    "train_run": "keras_cvcls.training_run",
    "EfficientNetLite": "keras_cvcls.models",
    "FusedBatchNormalization": "keras_cvcls.models",
    "fuse_batch_norm": "keras_cvcls.models",
    "fold_batch_norm": "keras_cvcls.models",
    "UnsafeCheckpointError": "keras_cvcls.models",
    "read_torch_state_dict": "keras_cvcls.models",
    "StepLR": "keras_cvcls.training",
    "TensorBoardExtras": "keras_cvcls.training",
    "parse_lr_schedule": "keras_cvcls.training",
    "DatasetIssues": "keras_cvcls.curation",
    "find_issues": "keras_cvcls.curation",
    "suggest_labels": "keras_cvcls.curation",
    "OneCycle": "keras_cvcls.training",
    "cosine_schedule": "keras_cvcls.training",
    "lr_find": "keras_cvcls.training",
    "sweep": "keras_cvcls.sweep",
    "list_presets": "keras_cvcls.presets",
    "write_tfrecords": "keras_cvcls.data",
    "read_tfrecords": "keras_cvcls.data",
}
_SUBMODULES = ("augment", "curation", "cvtk", "data", "datasets", "evaluation", "export", "models", "serving", "training", "ui")
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBMODULES)
