"""``keras-cvcls sweep``: train a grid of backbones, sizes and learning rates; write the results table."""

import contextlib
import json
import sys


def _list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def register(commands):
    p = commands.add_parser(
        "sweep",
        help="train every combination of backbones, image sizes and learning rates; tabulate accuracy and time",
        description="A Keras Tuner grid search over the default recipe: each combination is trained --repeats "
        "times (seeds SEED, SEED+1, ...) into its own run folder OUT/runs/NAME, and OUT/results.csv, "
        "results.json and results.html (a scatter plot of accuracy against training time) list them all.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--out", required=True, metavar="OUT", help="the sweep folder (new or empty; see --overwrite)")
    p.add_argument("--val", default=None, metavar="VAL_DIR", help="a separate validation folder (default: split DATA_DIR)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="comma-separated backbones (default efficientnet_lite0)")
    p.add_argument("--image-size", default="default",
                   help="comma-separated input sizes; 'default' is the backbone's transfer size (default)")
    p.add_argument("--lr", default="default",
                   help="comma-separated peak learning rates of the recipe's cosine; 'default' is the recipe's 3e-4")
    p.add_argument("--repeats", type=int, default=1, help="trainings per combination (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="unfrozen epochs (default: the recipe's 3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--test-size", type=float, default=0.34)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"])
    p.add_argument("--overwrite", action="store_true", help="replace an earlier sweep in OUT")
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.set_defaults(run=_sweep)


def _sweep(args):
    from keras_cvcls.sweep import sweep

    options = dict(
        backbones=_list(args.backbone), image_sizes=_list(args.image_size), lrs=_list(args.lr), repeats=args.repeats,
        val_dir=args.val, test_size=args.test_size, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        precision=args.precision, overwrite=args.overwrite,
    )
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):  # Keras Tuner and Keras print progress
            result = sweep(args.data_dir, args.out, log=lambda m: print(m, file=sys.stderr), **options)
        json.dump(result.to_dict(), sys.stdout)
        print()
        return 0
    with contextlib.redirect_stdout(sys.stderr):
        result = sweep(args.data_dir, args.out, **options)
    for row in result.summary:
        lr = "default" if row["lr"] is None else format(row["lr"], "g")
        print(f"{row['backbone']:<20} {str(row['image_size'] or 'default'):>7} lr {lr:<8} accuracy "
              f"{row['mean_accuracy']:.4f} +- {row['std_accuracy']:.4f}  {row['mean_train_seconds']:.1f}s")
    print(f"table: {result.csv_path}, {result.html_path}")
    return 0
