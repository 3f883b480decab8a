"""``keras-cvcls export RUN --format tflite|onnx`` and ``keras-cvcls evaluate MODEL.tflite --data DIR``."""

import json
import os

from keras_cvcls.cli.errors import EXIT_OK, UsageError

EDGE_EXPORT_FORMATS = ("tflite", "onnx")


def default_edge_path(run_dir, fmt, quantization):
    """Where an edge export goes without ``--output``: ``RUN_DIR/model_<quantization>.tflite`` or ``RUN_DIR/model.onnx``."""
    return os.path.join(run_dir, f"model_{quantization}.tflite" if fmt == "tflite" else "model.onnx")


def _calibration_data(args):
    """The dataset that calibrates int8: ``--calibration-data DIR``, else the run's training split."""
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.run_folder import is_run_dir

    if args.calibration_data:
        return ClassificationDataset.from_directory(args.calibration_data)
    if not is_run_dir(args.run_dir):
        raise UsageError(
            "--quantize int8 calibrates on a sample of the training split: RUN_DIR is not a training run folder, "
            f"so pass --calibration-data DIR (a folder of training photos). Received: RUN_DIR={args.run_dir!r}"
        )
    from keras_cvcls.training_run import TrainingRun

    return TrainingRun.load(args.run_dir).split[0]


def export_edge(args):
    """Runs ``export --format tflite|onnx``: writes the file and its side files, prints where."""
    from keras_cvcls.export import export_onnx, export_tflite
    from keras_cvcls.export.edge_files import side_paths
    from keras_cvcls.models import load_classifier

    if args.base or args.version is not None or args.no_warmup:
        raise UsageError(
            f"--base, --version and --no-warmup are for --format savedmodel; --format {args.format} writes one file "
            f"(--output FILE). Received: --format {args.format}"
        )
    quantization = args.quantize or "float32"
    if args.format == "onnx" and quantization != "float32":
        raise UsageError(f"--format onnx exports float32 only. Received: --quantize {quantization}")
    if args.calibration_data and quantization != "int8":
        raise UsageError(f"--calibration-data calibrates --quantize int8 only. Received: --quantize {quantization}")
    path = args.output or default_edge_path(args.run_dir, args.format, quantization)
    representative = _calibration_data(args) if quantization == "int8" else None
    classifier = load_classifier(args.run_dir)
    if args.format == "tflite":
        export_tflite(classifier, path, quantization=quantization, representative_data=representative)
    else:
        export_onnx(classifier, path)
    labels_path, info_path = side_paths(path)
    result = {"path": path, "format": args.format, "quantization": quantization, "size_bytes": os.path.getsize(path),
              "labels_path": labels_path, "info_path": info_path}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"exported {args.format} ({quantization}, {result['size_bytes'] / 1e6:.1f} MB): {path}")
        print(f"labels: {labels_path}; input size, resize mode and quantisation: {info_path}")
    return EXIT_OK


def evaluate_edge(args):
    """Runs ``evaluate MODEL.tflite|MODEL.onnx --data DIR``: the evaluation of the file, as for a run."""
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.evaluation import ClassificationEvaluation, write_report
    from keras_cvcls.models import load_edge_classifier

    if not args.data:
        raise UsageError(
            f"An exported model carries no test split: pass --data DIR (a labelled folder). Received: {args.run_dir!r}"
        )
    classifier = load_edge_classifier(args.run_dir)
    dataset = ClassificationDataset.from_directory(args.data).with_labels(classifier.labels)
    evaluation = ClassificationEvaluation(classifier, dataset, batch_size=args.batch_size)
    if args.report:
        write_report(evaluation, args.report, title=f"Evaluation of {os.path.basename(args.run_dir)}")
    return evaluation
