"""``keras-cvcls predict``: score image files or URLs with a saved model, in process."""

import json
import sys

from keras_cvcls.cli.url_options import add_private_addresses_flag


def register(commands):
    p = commands.add_parser(
        "predict",
        help="classify images (files or http(s) URLs) with a saved model or a training run",
        description="Loads MODEL_OR_RUN (a training run folder, a saved classifier folder or a .keras file) and "
        "classifies each IMAGE with the preprocessing training and serving use (decode, EXIF turning, resize).",
    )
    p.add_argument("model", metavar="MODEL_OR_RUN")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files or http(s) URLs")
    p.add_argument("--top", type=int, default=3, help="classes to show per image (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_private_addresses_flag(p)
    p.set_defaults(run=_predict)


def _predict(args):
    from keras_cvcls.models import load_classifier

    if args.top < 1:
        raise ValueError(f"--top must be a positive integer. Received: --top={args.top}")
    model = load_classifier(args.model)
    results = model.classify(args.images, allow_private_addresses=args.allow_private_addresses)
    if args.json:
        json.dump(
            {"results": [{"image": image, **json.loads(result.to_json())} for image, result in zip(args.images, results)]},
            sys.stdout, ensure_ascii=False,
        )
        print()
        return 0
    for image, result in zip(args.images, results):
        top = ", ".join(f"{label} {p:.3f}" for label, p in result.top_k(args.top))
        if result.present is not None:  # a multi-label model: the labels at or above their thresholds
            print(f"{image}: {' '.join(result.present) or '(no label)'}  ({top})")
        else:
            print(f"{image}: {result.label}  ({top})")
    return 0
