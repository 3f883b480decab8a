"""``keras-cvcls evaluate``: metrics, curves and an HTML report for a training run or an exported .tflite/.onnx."""

import json
import sys


def register(commands):
    p = commands.add_parser(
        "evaluate",
        help="evaluate a training run on its held-out split (or another folder)",
        description="Scores the run's held-out test split (or --data DIR) once and reports accuracy, "
        "per-class metrics, confusion matrix, ROC AUC and average precision; for a multi-label run (train "
        "--multi-label; --data is then a CSV) mAP, exact-match ratio, Hamming loss, micro/macro/sample averages, "
        "per-label metrics at the model's thresholds and the labels most often missed and added. An exported MODEL.tflite or "
        "MODEL.onnx is scored by LiteRT or ONNX Runtime on --data DIR, with the same report.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run folder, or an exported MODEL.tflite / MODEL.onnx (with --data)")
    p.add_argument("--data", metavar="DIR", help="evaluate on this folder dataset instead of the run's test split")
    p.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average each image's scores over flips and central crops (4x the time)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_evaluate)


def _evaluate(args):
    from keras_cvcls.cli.errors import UsageError
    from keras_cvcls.models.edge_classifier import is_edge_model_path
    from keras_cvcls.training_run import TrainingRun

    if is_edge_model_path(args.run_dir):
        from keras_cvcls.cli.edge_commands import evaluate_edge

        if args.tta:
            raise UsageError(
                "--tta averages views in Keras; an exported MODEL.tflite / MODEL.onnx is scored as exported. "
                f"Evaluate the training run with --tta instead. Received: {args.run_dir!r} with --tta"
            )
        metrics = evaluate_edge(args).to_dict()
    else:
        run = TrainingRun.load(args.run_dir)
        metrics = run.evaluate(args.data, batch_size=args.batch_size, report=args.report, tta=args.tta).to_dict()
    metrics["tta"] = args.tta
    if args.json:
        json.dump(metrics, sys.stdout, ensure_ascii=False)
        print()
    elif metrics.get("multi_label"):
        averages = metrics["averages"]
        print(f"mAP {metrics['mAP']:.4f}, exact-match ratio {metrics['exact_match_ratio']:.4f}, Hamming loss "
              f"{metrics['hamming_loss']:.4f}; F1 micro {averages['micro']['f1']:.3f} macro {averages['macro']['f1']:.3f} "
              f"samples {averages['samples']['f1']:.3f}")
        for (label, m), threshold in zip(metrics["per_class"].items(), metrics["thresholds"], strict=True):
            print(f"  {label:<20} precision {m['precision']:.3f} recall {m['recall']:.3f} f1 {m['f1']:.3f} "
                  f"n={m['support']} threshold {threshold:.3f}")
        for kind in ("missed", "added"):
            if metrics["most_confused"][kind]:
                print(f"most often {kind}: " + ", ".join(f"{label} ({n})" for label, n in metrics["most_confused"][kind]))
        if args.report:
            print(f"report: {args.report}")
    else:
        print(f"accuracy {metrics['accuracy']:.4f}, class-averaged accuracy {metrics['class_avg_accuracy']:.4f}")
        for label, m in metrics["per_class"].items():
            print(f"  {label:<20} precision {m['precision']:.3f} recall {m['recall']:.3f} f1 {m['f1']:.3f} n={m['support']}")
        if args.report:
            print(f"report: {args.report}")
    return 0
