"""``keras-cvcls ui``: the browser UI (annotate, results, precision/recall) on a dataset folder."""

import socket
import sys

from keras_cvcls.cli.listen_address import bound_address, is_wildcard, local_address

DEFAULT_PORT = 8765


def register(commands):
    p = commands.add_parser(
        "ui",
        help="browse and fix labels; with --run or --model, test results and precision/recall",
        description="Serves the browser UI on DATA_DIR: a paged grid to relabel or exclude images "
        "(fixes go to DATA_DIR/.keras_cvcls/label_fixes.json). With --run RUN_DIR, also the run's test "
        "images with predictions, precision/recall curves with a threshold slider, the HTML report "
        "and the TensorBoard command; with --model MODEL_DIR, the same views for a saved classifier "
        "scored on every image of DATA_DIR. Works offline; stop it with Ctrl+C.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR",
                   help="a folder with one subfolder per label, or a multi-label CSV (path,labels; labels joined by "
                   "spaces): then keys 1-9 toggle labels, and each label gets its own threshold slider")
    # dest run_dir: ``args.run`` is the command's entry point (main calls ``args.run(args)``).
    results = p.add_mutually_exclusive_group()
    results.add_argument(
        "--run", dest="run_dir", metavar="RUN_DIR", help="a training run folder (written by keras-cvcls train)"
    )
    results.add_argument(
        "--model", metavar="MODEL_DIR",
        help="a saved classifier (a folder written by save(), a .keras file or a run folder): results on all of DATA_DIR",
    )
    p.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0: every network interface). The UI "
        "answers requests addressed to localhost, 127.0.0.1, ::1, this address or the IP address they reach",
    )
    p.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help="another host name the UI may be reached by, e.g. this machine's name with --host 0.0.0.0 "
        "(repeatable); requests for other names are refused (DNS rebinding)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument(
        "--issues", metavar="FILE",
        help="findings to review, one at a time (the Review view): what `keras-cvcls dataset issues DATA_DIR --json` printed",
    )
    p.add_argument(
        "--suggestions", metavar="FILE",
        help="photos to label into DATA_DIR (the Label new view): what `keras-cvcls dataset suggest MODEL DIR --json` printed",
    )
    p.add_argument("--page-size", type=int, default=60, help="images per page (default 60)")
    p.add_argument("--thumb-size", type=int, default=160, help="longest side of thumbnails in pixels (default 160)")
    p.set_defaults(run=_ui)


def _ui(args):
    from aiohttp import web

    from keras_cvcls.ui.app import create_app

    app = create_app(
        args.data_dir, args.run_dir, model=args.model, page_size=args.page_size, thumb_size=args.thumb_size,
        allowed_hosts=[args.host, *args.allow_host], issues=args.issues,
        suggestions=args.suggestions,
    )
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as e:
        raise ValueError(f"Cannot listen on {args.host}:{args.port} ({e.strerror}); pass another --port.") from None
    port = sock.getsockname()[1]
    print(f"keras-cvcls UI on http://{local_address(args.host, port)}/  (Ctrl+C to stop)", flush=True)
    if is_wildcard(args.host):
        print(
            f"Listening on {bound_address(args.host, port)}: every network interface. Other machines reach it "
            "by this machine's IP address, or by a name given with --allow-host.", flush=True,
        )
    if args.run_dir:
        from keras_cvcls.training_run import TrainingRun

        logs = TrainingRun.load(args.run_dir).logs_dir
        print(f"TensorBoard: tensorboard --logdir {logs}  ->  http://localhost:6006", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)
    print("keras-cvcls UI stopped", file=sys.stderr)
    return 0
