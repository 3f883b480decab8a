"""``keras-cvcls dataset ...`` sub-commands."""

import json
import sys

from keras_cvcls.cli import acquisition_commands, curation_commands
from keras_cvcls.data.image_check import DEFAULT_MAX_PIXELS


def register(commands):
    dataset = commands.add_parser("dataset", help="inspect and build datasets")
    sub = dataset.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    sub.required = True
    info = sub.add_parser(
        "info",
        help="check every image of a folder dataset; counts per label and skipped files",
        description=(
            "Checks every file of DIR (one subfolder per label) and reports counts per label and the "
            "files that were skipped, with reasons. Paths in the output are absolute. "
            "Exit code 0, or 1 with --strict when a file is bad."
        ),
    )
    info.add_argument("directory", metavar="DIR")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.add_argument("--strict", action="store_true", help="exit 1 if any file is bad")
    info.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest width x height accepted")
    info.set_defaults(run=_info)
    acquisition_commands.register(sub)
    curation_commands.register(sub)


def _info(args):
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.data.classification_dataset import format_summary

    dataset = ClassificationDataset.from_directory(args.directory, max_pixels=args.max_pixels)
    summary = dataset.summary()
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False)
        print()
    else:
        print(format_summary(summary, name=dataset.name))
    bad = [s for s in dataset.skipped if s.error]
    if args.strict and bad:
        print(f"keras-cvcls: {len(bad)} bad file(s) (--strict)", file=sys.stderr)
        return 1
    return 0
