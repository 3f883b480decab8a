"""``keras-cvcls evaluate``: metrics, curves and an HTML report for a training run."""

import json
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
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average each image's scores over flips and central crops (4x the time)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_evaluate)


def _evaluate(args):
    from keras_cvcls.training_run import TrainingRun

    run = TrainingRun.load(args.run_dir)
    metrics = run.evaluate(args.data, batch_size=args.batch_size, report=args.report, tta=args.tta).to_dict()
    metrics["tta"] = args.tta
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
