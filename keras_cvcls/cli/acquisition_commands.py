"""``keras-cvcls dataset download``: a folder dataset from a cvtk query file."""

import json
import sys

from keras_cvcls.cli.url_options import add_private_addresses_flag


def register(dataset_subparsers):
    """Adds ``download`` to the ``keras-cvcls dataset`` sub-commands.

    Args:
        dataset_subparsers: the sub-parsers of the ``dataset`` command.
    """
    from keras_cvcls.data.acquisition.download_options import DEDUPE_MODES, ENDPOINT_ENV, KEY_ENV, LOCAL_FILE_MODES

    download = dataset_subparsers.add_parser(
        "download",
        help="build a folder dataset from a query file (local folders, image URLs, text queries)",
        description=(
            'Reads QUERY_FILE ({"label": ["text query", "../folder", "https://host/img.jpg"], ...}) and fills '
            "OUT_DIR/LABEL/ with checked, de-duplicated images. A manifest (OUT_DIR/.keras_cvcls/manifest.jsonl) "
            "records every source, file, sha256 and failure; running again skips what is done. "
            f"Text queries need an image-search API: set {KEY_ENV} and {ENDPOINT_ENV}. "
            "Only public addresses are fetched (every redirect and search result checked) unless "
            "--allow-private-addresses is given. One run at a time per OUT_DIR: a second run into the same "
            "folder fails at once (exit code 1), naming the process that holds it; it does not wait. "
            "Exit code 0 even when some sources failed (they are listed with reasons)."
        ),
    )
    download.add_argument("query_file", metavar="QUERY_FILE")
    download.add_argument("out_dir", metavar="OUT_DIR")
    download.add_argument("--max-per-query", type=int, default=50, metavar="N",
                          help="most images from each folder and each text query (default: 50)")
    download.add_argument("--json", action="store_true", help="print one JSON object")
    download.add_argument("--local-files", choices=LOCAL_FILE_MODES, default="copy",
                          help="how images from local folders are added (default: copy)")
    download.add_argument("--dedupe", choices=DEDUPE_MODES, default="exact",
                          help="drop exact copies only, or near-duplicates too (perceptual hash)")
    download.add_argument("--workers", type=int, default=8, help="parallel downloads (default: 8)")
    download.add_argument("--timeout", type=float, default=10.0, help="seconds per connection and read (default: 10)")
    download.add_argument("--total-timeout", type=float, default=60.0, metavar="SECONDS",
                          help="seconds one URL may take in all, retries included (default: 60)")
    download.add_argument("--run-timeout", type=float, default=None, metavar="SECONDS",
                          help="seconds all downloads may take; what is not done by then is retried next run "
                               "(default: no limit)")
    download.add_argument("--retries", type=int, default=2, help="retries after transient failures (default: 2)")
    download.add_argument("--max-mb", type=float, default=20.0, help="largest download in MiB (default: 20)")
    add_private_addresses_flag(download)
    download.add_argument("--no-progress", action="store_true", help="no progress bars")
    download.set_defaults(run=_download)


def _download(args):
    from keras_cvcls.data.acquisition.download import download_dataset

    report = download_dataset(
        args.query_file,
        args.out_dir,
        max_per_query=args.max_per_query,
        local_files=args.local_files,
        dedupe=args.dedupe,
        workers=args.workers,
        timeout=args.timeout,
        total_timeout=args.total_timeout,
        run_timeout=args.run_timeout,
        retries=args.retries,
        allow_private_addresses=args.allow_private_addresses,
        max_bytes=int(args.max_mb * 2**20),
        progress=False if args.no_progress else None,
    )
    summary = report.to_dict()
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False)
        print()
        return 0
    print(f"{summary['out_dir']}: {summary['downloaded']} new image(s), {summary['already_done']} already done, "
          f"{len(summary['duplicates'])} duplicate(s), {len(summary['failures'])} failure(s)")
    width = max((len(label) for label in summary["counts"]), default=0)
    for label, count in summary["counts"].items():
        print(f"  {label:<{width}}  {count}")
    for failure in summary["failures"]:
        print(f"  failed  [{failure['label']}] {failure['source']}: {failure['reason']}")
    for duplicate in summary["duplicates"]:
        print(f"  duplicate  [{duplicate['label']}] {duplicate['source']} = {duplicate['duplicate_of']}")
    print(f"manifest: {summary['manifest']}")
    return 0
