"""``keras-cvcls train``: fine-tune a backbone on a folder dataset into a run folder."""

import contextlib
import json
import os
import sys


def register(commands):
    p = commands.add_parser(
        "train",
        help="fine-tune a backbone on a folder dataset",
        description="Splits DATA_DIR (stratified), fine-tunes, and writes the model, class map, split, "
        "history, a training-curve PNG and TensorBoard logs (RUN_DIR/logs) into RUN_DIR.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--backbone", default="resnet18", help="a name from list_backbones() (default resnet18)")
    p.add_argument("--weights", default="none", help="none | imagenet | PATH to a backbone weights file")
    p.add_argument("--image-size", type=int, default=None, help="input size (default: the backbone's)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", default="0.01x7,0.001x7,0.0001", help="learning rate per epoch, e.g. 0.05x7,0.005x7,0.0005")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--test-size", type=float, default=0.34)
    p.add_argument("--augment", default="standard", help="augmentation preset (none, light, standard, strong)")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--warmup-epochs", type=int, default=0, help="epochs with a frozen backbone first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default=None, choices=["float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--out", required=True, metavar="RUN_DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.set_defaults(run=_train)


def train_run(args, log=print):
    """Runs a training; returns the JSON-able result. Used by the CLI and the demo."""
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.models import ImageClassifier
    from keras_cvcls.training import parse_lr_schedule
    from keras_cvcls.training import run_dir as rd

    lrs = parse_lr_schedule(args.lr)
    weights = None if args.weights.lower() == "none" else args.weights
    dataset = ClassificationDataset.from_directory(args.data_dir)
    train, test = dataset.split(train_size=1 - args.test_size, seed=args.seed)
    log(f"{len(dataset)} images, labels {dataset.labels}; train {len(train)}, test {len(test)}")
    os.makedirs(args.out, exist_ok=True)
    rd.write_json(
        os.path.join(args.out, rd.SPLIT_FILE),
        {
            "data_dir": os.path.abspath(args.data_dir),
            "seed": args.seed,
            "test_size": args.test_size,
            "train": [r.id for r in train.images],
            "test": [r.id for r in test.images],
        },
    )
    model = ImageClassifier(
        dataset.labels, args.backbone, weights=weights, image_size=args.image_size,
        dropout=args.dropout, precision=args.precision,
    )
    history = model.fit(
        train, epochs=args.epochs, batch_size=args.batch_size, lr_per_epoch=lrs, momentum=args.momentum,
        validation_data=test, augment=args.augment, seed=args.seed, warmup_epochs=args.warmup_epochs,
        tensorboard_logdir=os.path.join(args.out, rd.LOGS_DIR),
    )
    model.save(os.path.join(args.out, rd.MODEL_DIR))
    rd.write_json(os.path.join(args.out, rd.CLASS_MAP_FILE), {str(i): label for i, label in enumerate(model.labels)})
    curves = dict(model.eval_history.history)
    rd.write_json(
        os.path.join(args.out, rd.HISTORY_FILE),
        {**curves, "keras": {k: [float(v) for v in vals] for k, vals in history.history.items()}},
    )
    model.eval_history.plot(os.path.join(args.out, rd.CURVE_FILE))
    return {
        "history": {k: [float(v) for v in curves[k]] for k in ("train_accuracy", "eval_accuracy", "lr")},
        "eval_accuracy": float(curves["eval_accuracy"][-1]),
        "train_images_per_s": float(model.train_images_per_s),
        "run_dir": os.path.abspath(args.out),
    }


def _train(args):
    if args.json:
        # stdout carries exactly one JSON object: Keras' progress goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            result = train_run(args, log=lambda m: print(m, file=sys.stderr))
        json.dump(result, sys.stdout)
        print()
    else:
        result = train_run(args)
        print(f"eval accuracy {result['eval_accuracy']:.3f}; {result['train_images_per_s']:.1f} train images/s; run in {result['run_dir']}")
    return 0
