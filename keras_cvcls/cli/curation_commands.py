"""``keras-cvcls dataset issues`` and ``keras-cvcls dataset suggest``: the data-centric loop on the command line."""

import json
import sys

STRATEGIES = ("uncertainty", "margin", "diverse")  # as keras_cvcls.curation.suggestions, read without importing it


def register(sub):
    issues = sub.add_parser(
        "issues",
        help="likely label errors, near-duplicates across the split, outliers and class-balance warnings",
        description=(
            "Checks DIR (one subfolder per label) with frozen pretrained features (cached in "
            "DIR/.keras_cvcls/features/): likely label errors by confident learning (cleanlab) on out-of-fold "
            "probabilities, near-duplicates (within DIR, or with --test across the split), images unlike the "
            "rest of their label, and class-balance warnings. Prints a ranked list with reasons. Review the "
            "findings with `keras-cvcls ui DIR --issues FILE` (FILE: --output, or what --json printed)."
        ),
    )
    issues.add_argument("directory", metavar="DIR")
    issues.add_argument("--test", metavar="TEST_DIR", help="the test side (one subfolder per label): reports its "
                        "near-duplicates of DIR's images (leaks)")
    issues.add_argument("--backbone", default="efficientnet_lite0", help="pretrained backbone for the features "
                        "(default efficientnet_lite0)")
    issues.add_argument("--image-size", type=int, help="input size of the backbone (default: its transfer size)")
    issues.add_argument("--cv-folds", type=int, default=10, help="cross-validation folds (default 10)")
    issues.add_argument("--limit", type=int, default=30, help="findings printed (default 30; --json prints all)")
    issues.add_argument("--output", metavar="FILE", help="also write the findings to FILE (JSON, for ui --issues)")
    issues.add_argument("--json", action="store_true", help="print one JSON object")
    issues.set_defaults(run=_issues)

    suggest = sub.add_parser(
        "suggest",
        help="rank unlabelled photos by how much labelling them would teach a model (active learning)",
        description=(
            "Scores every photo below UNLABELLED_DIR with MODEL (a training run, a saved classifier folder or a "
            ".keras file) and prints the COUNT photos worth labelling next, most useful first: uncertainty (least "
            "confident), margin (closest second guess) or diverse (the least confident of each cluster)."
        ),
    )
    suggest.add_argument("model", metavar="MODEL")
    suggest.add_argument("unlabelled", metavar="UNLABELLED_DIR")
    suggest.add_argument("--count", type=int, default=20, help="how many photos (default 20)")
    suggest.add_argument("--strategy", choices=STRATEGIES, default="uncertainty", help="default uncertainty")
    suggest.add_argument("--json", action="store_true", help="print one JSON object")
    suggest.set_defaults(run=_suggest)


def _issues(args):
    from keras_cvcls.curation import find_issues
    from keras_cvcls.data import ClassificationDataset

    if args.limit < 0:
        raise ValueError(f"--limit must be 0 or more. Received: --limit={args.limit}")
    dataset = ClassificationDataset.from_directory(args.directory)
    test = ClassificationDataset.from_directory(args.test) if args.test else None
    issues = find_issues(
        dataset, test=test, backbone=args.backbone, image_size=args.image_size, cv_folds=args.cv_folds,
    )
    if args.output:
        issues.save(args.output)
    if args.json:
        json.dump(issues.to_dict(), sys.stdout, ensure_ascii=False)
        print()
    else:
        print(issues.format(limit=args.limit))
        if args.output:
            print(f"Findings written to {args.output}; review them with: keras-cvcls ui {args.directory} "
                  f"--issues {args.output}")
    return 0


def _suggest(args):
    from keras_cvcls.curation import suggest_labels
    from keras_cvcls.models import load_classifier

    if args.count < 1:
        raise ValueError(f"--count must be a positive integer. Received: --count={args.count}")
    model = load_classifier(args.model)
    suggestions = suggest_labels(model, args.unlabelled, count=args.count, strategy=args.strategy)
    if args.json:
        json.dump(
            {"strategy": args.strategy, "labels": list(model.labels), "suggestions": [s.to_dict() for s in suggestions]},
            sys.stdout, ensure_ascii=False,
        )
        print()
        return 0
    print(f"{len(suggestions)} photos to label next ({args.strategy}):")
    for s in suggestions:
        print(f"{s.rank:3d}. {s.path}  score {s.score:.3f}  (model says {s.predicted_label} {s.probability:.2f})")
    return 0
