"""``keras-cvcls evaluate``: metrics, curves and an HTML report for a training run."""

import json
import os
import sys


def register(commands):
    p = commands.add_parser(
        "evaluate",
        help="evaluate a training run on its held-out split (or another folder)",
        description="Scores the run's held-out test split (or --data DIR) once and reports accuracy, "
        "per-class metrics, confusion matrix, ROC AUC and average precision.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--data", metavar="DIR", help="evaluate on this folder dataset instead of the run's test split")
    p.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_evaluate)


def evaluate_run(run_dir, data=None, report=None, batch_size=32):
    """Evaluates a run; returns ``(evaluation, metrics dict)``."""
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.evaluation import ClassificationEvaluation, write_report
    from keras_cvcls.models import load_classifier
    from keras_cvcls.training import run_dir as rd

    classifier = load_classifier(run_dir)
    if data:
        dataset = ClassificationDataset.from_directory(data).with_labels(classifier.labels)
    else:
        _, dataset = rd.load_split(run_dir)
    evaluation = ClassificationEvaluation(classifier, dataset, batch_size=batch_size)
    if report:
        history_path = os.path.join(run_dir, rd.HISTORY_FILE)
        history = None
        if os.path.exists(history_path):
            saved = rd.read_json(history_path)
            history = {k: saved[k] for k in ("train_accuracy", "eval_accuracy", "lr") if k in saved}
        write_report(evaluation, report, title=f"Evaluation of {os.path.basename(os.path.abspath(run_dir))}", history=history)
    return evaluation, evaluation.to_dict()


def _evaluate(args):
    _, metrics = evaluate_run(args.run_dir, args.data, args.report, args.batch_size)
    if args.json:
        json.dump(metrics, sys.stdout, ensure_ascii=False)
        print()
    else:
        print(f"accuracy {metrics['accuracy']:.4f}, class-averaged accuracy {metrics['class_avg_accuracy']:.4f}")
        for label, m in metrics["per_class"].items():
            print(f"  {label:<20} precision {m['precision']:.3f} recall {m['recall']:.3f} f1 {m['f1']:.3f} n={m['support']}")
        if args.report:
            print(f"report: {args.report}")
    return 0
