"""``keras-cvcls train``: fine-tune a backbone on a folder dataset into a run folder."""

import contextlib
import json
import sys

from keras_cvcls.augment.augmentation_registry import list_augmentations
from keras_cvcls.cli.errors import EXIT_FAILED, report_error
from keras_cvcls.models.backbone_registry import list_backbones
from keras_cvcls.presets import list_presets


def register(commands):
    p = commands.add_parser(
        "train",
        help="fine-tune a pretrained backbone on a folder dataset",
        description="Splits DATA_DIR (stratified) or takes --val DIR, trains, and writes the model, class map, "
        "split, history, a training-curve PNG and TensorBoard logs (RUN_DIR/logs) into RUN_DIR. By default: "
        "the pretrained efficientnet_lite0 (ImageNet weights installed with keras-cvcls, no download) with "
        "the fine-tune recipe (head on cached features, then the top stage unfrozen). The run is built in "
        "RUN_DIR.partial and renamed to RUN_DIR when complete; every finished epoch is backed up there, so an "
        "interrupted run continues with --resume.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--val", default=None, metavar="VAL_DIR", help="a separate validation folder (default: split DATA_DIR)")
    p.add_argument("--backbone", default=None, choices=list_backbones(), metavar="NAME",
                   help="the backbone: %(choices)s (default efficientnet_lite0, or the preset's)")
    p.add_argument("--preset", default=None, choices=list_presets(),
                   help="accuracy/speed preset: backbone, image size, recipe, epochs, lr and augmentation chosen from "
                   "a recorded sweep (README, Presets); options given explicitly win")
    p.add_argument(
        "--weights", default="imagenet",
        help="imagenet (default) | none (random init: the full recipe) | PATH to a backbone weights file",
    )
    p.add_argument("--image-size", type=int, default=None, help="input size (default: the backbone's transfer size)")
    p.add_argument("--recipe", choices=["fine-tune", "full"], default=None,
                   help="fine-tune (default with pretrained weights) or full (from scratch; default with --weights none)")
    p.add_argument("--epochs", type=int, default=None, help="unfrozen epochs (fine-tune, default 3) or all epochs (full, default 15)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", default=None,
                   help="learning rate per epoch, exact, e.g. 0.05x7,0.005x7,0.0005 (default: cosine from 3e-4 for "
                   "fine-tune, 0.01x7,0.001x7,0.0001 for full)")
    p.add_argument("--schedule", choices=["step", "one-cycle", "cosine"], default=None,
                   help="learning-rate schedule: step (--lr per epoch, exact), one-cycle or cosine (--lr is then one "
                   "peak rate); default: step with a per-epoch --lr list, else the recipe's (cosine for fine-tune, "
                   "step for full)")
    p.add_argument("--lr-warmup-epochs", type=float, default=0, help="cosine schedule: epochs of linear warm-up")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing of the cross-entropy (0: none)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--test-size", type=float, default=0.34)
    p.add_argument("--unfreeze", choices=["top", "all", "none"], default="top", help="fine-tune: what to unfreeze after the head")
    p.add_argument("--augment", default="auto", choices=["auto", *list_augmentations()],
                   help="augmentation preset (default auto: light for fine-tune, standard for full)")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--warmup-epochs", type=int, default=0, help="full recipe: epochs with a frozen backbone first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"],
                   help="compute precision (default auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with AMX, or "
                   "with AVX512-BF16 for ResNets, else float32); the choice and its reason are in the output and the "
                   "run record")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="the run folder: new, or empty (see --overwrite, --resume)")
    taken = p.add_mutually_exclusive_group()
    taken.add_argument("--overwrite", action="store_true",
                       help="replace the run in RUN_DIR (it stays as it is until the new one is complete)")
    taken.add_argument("--resume", action="store_true",
                       help="continue the interrupted run of RUN_DIR from its last finished epoch (same options)")
    p.add_argument("--on-bad-image", choices=["stop", "skip"], default="stop",
                   help="an image that went bad after its check, during training: stop (default; name it, then "
                   "--resume once it is fixed) or skip it with a warning")
    p.add_argument("--multi-label", action="store_true",
                   help="multi-label: DATA_DIR (and --val) is then a CSV file 'path,labels' whose labels cell holds "
                   "the image's label names joined by --separator; a sigmoid head, iterative stratified split, "
                   "per-label thresholds tuned (F1) on the test split. Never inferred from the data")
    p.add_argument("--separator", default=" ", help="multi-label: what joins label names in the CSV (default a space)")
    p.add_argument("--distribute", choices=["none", "mirrored", "multi-worker"], default="none",
                   help="none (default); mirrored: every local GPU; multi-worker: MultiWorkerMirroredStrategy from "
                   "TF_CONFIG (or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX), the full recipe, every worker "
                   "running this same command. --batch-size is then per replica and learning rates are multiplied "
                   "by the number of replicas; only the chief (worker 0) writes RUN_DIR, which must be shared")
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.set_defaults(run=_train)


def _options(args):
    from keras_cvcls.training import parse_lr_schedule

    return dict(
        val_dir=args.val, backbone=args.backbone,
        weights=None if args.weights.lower() == "none" else args.weights,
        image_size=args.image_size, recipe=args.recipe, epochs=args.epochs, batch_size=args.batch_size,
        lr=parse_lr_schedule(args.lr) if args.lr is not None else None, momentum=args.momentum,
        test_size=args.test_size, augment=args.augment, dropout=args.dropout, warmup_epochs=args.warmup_epochs,
        unfreeze=args.unfreeze, seed=args.seed, precision=args.precision,
        if_exists="overwrite" if args.overwrite else "resume" if args.resume else "error", on_bad_image=args.on_bad_image,
        schedule=args.schedule, preset=args.preset, lr_warmup_epochs=_whole(args.lr_warmup_epochs), label_smoothing=args.label_smoothing,
        **({"multi_label": True, "separator": args.separator} if args.multi_label else {}),
        distribute=args.distribute,
    )


def _whole(value):
    return int(value) if float(value).is_integer() else value


def _train(args):
    from keras_cvcls.training_run import train_run

    try:
        return _train_and_report(args, train_run)
    except FileNotFoundError:
        raise  # a path the user gave: main() reports it as a usage error
    except OSError as e:  # a full disk, a folder that became unwritable: RUN_DIR is left as it was
        where = f" ({e.filename})" if e.filename else ""
        return report_error(
            f"training stopped: {e.strerror or e}{where}. RUN_DIR is left as it was; once this is fixed, "
            "--resume continues from the last finished epoch.", "os_error", as_json=args.json, exit_code=EXIT_FAILED,
        )


def _train_and_report(args, train_run):
    if args.json:
        # stdout carries exactly one JSON object: Keras' progress goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            result = train_run(args.data_dir, args.out, log=lambda m: print(m, file=sys.stderr), **_options(args))
        json.dump(result, sys.stdout)
        print()
    else:
        result = train_run(args.data_dir, args.out, **_options(args))
        speed = f"; {result['train_images_per_s']:.1f} train images/s" if result["train_images_per_s"] else ""
        print(f"eval accuracy {result['eval_accuracy']:.3f}; trained in {result['train_seconds']:.1f}s{speed} "
              f"({result['precision']}); run in {result['run_dir']}")
    return 0
