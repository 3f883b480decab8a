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
    to_tfrecord = sub.add_parser(
        "to-tfrecord",
        help="write a folder dataset as sharded TFRecords (encoded bytes, label, id) plus an index",
        description=(
            "Checks every file of DIR (one subfolder per label; the check cache makes a second run fast) and "
            "writes the good ones, their encoded bytes unchanged, into OUT/images-NNNNN-of-NNNNN.tfrecord with "
            "OUT/index.json. OUT may be a local folder or a tf.io.gfile URL (gs://...). keras-cvcls train OUT "
            "trains from them."
        ),
    )
    to_tfrecord.add_argument("directory", metavar="DIR")
    to_tfrecord.add_argument("out", metavar="OUT", help="a new or empty folder (or URL)")
    to_tfrecord.add_argument("--shards", type=int, default=1,
                             help="number of files (default 1); aim for 100-200 MB each, at least one per worker")
    to_tfrecord.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest width x height accepted")
    to_tfrecord.add_argument("--json", action="store_true", help="print one JSON object")
    to_tfrecord.set_defaults(run=_to_tfrecord)
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


def _to_tfrecord(args):
    from keras_cvcls.data import ClassificationDataset
    from keras_cvcls.data.tfrecords import write_tfrecords

    dataset = ClassificationDataset.from_directory(args.directory, max_pixels=args.max_pixels)
    result = write_tfrecords(dataset, args.out, shards=args.shards)
    result["skipped"] = len([s for s in dataset.skipped if s.error])
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False)
        print()
    else:
        print(f"{result['images']} images of {len(result['labels'])} labels in {result['shards']} shard(s), "
              f"{result['bytes'] / 1e6:.1f} MB, in {result['out']} ({result['skipped']} bad file(s) left out)")
    return 0
