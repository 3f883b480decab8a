"""``keras-cvcls lr-find``: the learning-rate range test of the default recipe on a folder dataset."""

import contextlib
import json
import os
import sys

from keras_cvcls.models.backbone_registry import list_backbones


def register(commands):
    p = commands.add_parser(
        "lr-find",
        help="suggest a learning rate for train --lr with a short, exponentially increasing run",
        description="Ramps the learning rate exponentially over --steps steps of the fine-tune recipe's unfrozen "
        "stage (from a fresh head), records the loss, and suggests a rate: the rate at the minimum of the "
        "smoothed loss divided by 10. Writes OUT/lr_find.png, OUT/lr_find.json and TensorBoard logs in "
        "OUT/logs/lr_find. The model's weights are not kept: train with keras-cvcls train --lr RATE --schedule cosine.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="the training images, one subfolder per label")
    p.add_argument("--out", required=True, metavar="OUT", help="folder for the plot, the JSON and the TensorBoard logs")
    p.add_argument("--backbone", default="efficientnet_lite0", choices=list_backbones(), metavar="NAME",
                   help="the backbone: %(choices)s (default efficientnet_lite0)")
    p.add_argument("--weights", default="imagenet", help="imagenet (default) or PATH to a backbone weights file")
    p.add_argument("--image-size", type=int, default=None, help="input size (default: the backbone's transfer size)")
    p.add_argument("--unfreeze", choices=["top", "all"], default="top", help="what the recipe trains (default top)")
    p.add_argument("--start-lr", type=float, default=1e-7)
    p.add_argument("--end-lr", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=100, help="steps of the test (default 100)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_lr_find)


def _lr_find(args):
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.data.json_files import write_json_atomic
    from keras_cvcls.models import ImageClassifier
    from keras_cvcls.training import lr_find

    with contextlib.redirect_stdout(sys.stderr):
        train = ClassificationDataset.from_directory(args.data_dir)
        if len(train.labels) < 2:
            raise ValueError(f"lr-find needs images of at least two labels. Received: labels={train.labels!r}")
        model = ImageClassifier(train.labels, args.backbone, weights=args.weights, image_size=args.image_size,
                                precision=args.precision)
        os.makedirs(args.out, exist_ok=True)
        result = lr_find(
            model, train, start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.steps,
            batch_size=args.batch_size, unfreeze=args.unfreeze, seed=args.seed,
            logdir=os.path.join(args.out, "logs"), plot_path=os.path.join(args.out, "lr_find.png"),
        )
    report = {**result.to_dict(), "plot": os.path.join(args.out, "lr_find.png"),
              "tensorboard": os.path.join(args.out, "logs", "lr_find"), "backbone": args.backbone,
              "image_size": list(model.image_size)}
    write_json_atomic(os.path.join(args.out, "lr_find.json"), report, indent=1)
    if args.json:
        json.dump(report, sys.stdout)
        print()
    else:
        print(f"suggested learning rate {result.suggestion:.3g} ({result.rule}); steepest descent at "
              f"{result.steepest:.3g}; plot {report['plot']}")
        print(f"train with: keras-cvcls train {args.data_dir} --lr {result.suggestion:.3g} --schedule cosine --out RUN_DIR")
    return 0
