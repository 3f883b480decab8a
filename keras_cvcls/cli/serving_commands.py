"""``keras-cvcls export | serve | score | loadtest``: from a trained run to a served model."""

import json
import os
import sys

from keras_cvcls.cli.errors import EXIT_OK, UsageError, report_error
from keras_cvcls.cli.listen_address import bound_address, is_wildcard, local_address
from keras_cvcls.cli.url_options import add_private_addresses_flag

LOADTEST_KEYS = ("requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms")


def register(commands):
    """Adds the ``export``, ``serve``, ``score`` and ``loadtest`` sub-commands to ``commands``."""
    export = commands.add_parser(
        "export",
        help="export a trained run as a versioned SavedModel for TF Serving (or TFLite / ONNX)",
        description=(
            "Writes BASE/<version>/ (the next integer unless --version is given): a SavedModel with the "
            "signatures serving_default (encoded image bytes -> scores, classes), predict_images and labels, "
            "the class names in assets/labels.txt and TF Serving warm-up requests. The version appears "
            "atomically, so a server polling BASE never sees it half-written. --format tflite|onnx writes one "
            "file for phones and edge devices instead (labels and a JSON of input size and quantisation beside it)."
        ),
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a training run folder (its classifier is exported)")
    export.add_argument("--base", metavar="MODELS_DIR/NAME", help="the model's base path (--format savedmodel: required)")
    export.add_argument("--version", type=int, help="version number (default: next integer)")
    export.add_argument("--no-warmup", action="store_true", help="do not write assets.extra warm-up requests")
    export.add_argument("--format", choices=("savedmodel", "tflite", "onnx"), default="savedmodel",
                        help="savedmodel (default, for TF Serving), tflite (phones, edge devices) or onnx (ONNX Runtime)")
    export.add_argument("--quantize", choices=("float32", "float16", "dynamic", "int8"),
                        help="tflite only (default float32): float16 weights, int8 weights (dynamic), or full-integer "
                        "int8 with uint8 input/output, calibrated on 100 images of the run's training split")
    export.add_argument("--calibration-data", metavar="DIR", help="--quantize int8: calibrate on this folder instead")
    export.add_argument("--output", metavar="FILE", help="tflite/onnx: the file to write "
                        "(default RUN_DIR/model_<quantize>.tflite or RUN_DIR/model.onnx); labels and a JSON beside it")
    export.add_argument("--json", action="store_true", help='print {"path": ..., "version": ...} (tflite/onnx: path, size_bytes, ...)')
    export.set_defaults(run=_export)

    serve = commands.add_parser(
        "serve",
        help="serve exported models over TF Serving's REST and gRPC APIs",
        description=(
            "Runs the embedded TF-Serving-compatible server until Ctrl-C / SIGTERM: REST on --rest-port "
            "(/v1/models/NAME...), gRPC on --grpc-port (tensorflow.serving.PredictionService and ModelService). "
            "New versions dropped into the base path are loaded, then the old one unloaded. By default it listens "
            "on all network interfaces (--host 0.0.0.0), as TF Serving does, so other machines can connect; "
            "pass --host 127.0.0.1 to serve this machine only."
        ),
    )
    serve.add_argument("--model-base", metavar="DIR", help="the model's base path (numbered version folders)")
    serve.add_argument("--name", metavar="NAME", help="the model name clients use")
    serve.add_argument("--model-config-file", metavar="F", help="TF Serving models.config (instead of the two above)")
    serve.add_argument("--model-version-policy", choices=("latest", "all"), default="latest")
    serve.add_argument("--rest-port", type=int, default=8501, help="REST port (default 8501; 0: any free port)")
    serve.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (default 8500; 0: any free port)")
    serve.add_argument(
        "--host", default="0.0.0.0",
        help="address to bind (default 0.0.0.0: all network interfaces, as TF Serving; 127.0.0.1: this machine only)",
    )
    serve.add_argument("--enable-batching", action="store_true", help="batch concurrent requests")
    serve.add_argument("--batching-parameters-file", metavar="F", help="BatchingParameters text proto")
    serve.add_argument("--max-batch-size", type=int, help="implies --enable-batching")
    serve.add_argument("--batch-timeout-micros", type=int, help="implies --enable-batching")
    serve.add_argument("--max-enqueued-batches", type=int, help="implies --enable-batching")
    serve.add_argument("--num-batch-threads", type=int, help="implies --enable-batching")
    serve.add_argument("--poll-seconds", type=float, default=1.0, help="base path polling interval (default 1)")
    serve.add_argument(
        "--max-request-bytes",
        type=int,
        default=2**31 - 1,
        help="largest REST body and gRPC message (default 2147483647, TF Serving's gRPC limit)",
    )
    serve.add_argument("--rest-timeout-ms", type=int, default=30000, help="REST request time limit (default 30000)")
    serve.add_argument("--no-warmup", action="store_true", help="do not replay warm-up requests at load")
    serve.set_defaults(run=_serve)

    score = commands.add_parser(
        "score",
        help="score images on a served model (REST or gRPC)",
        description="Scores each IMAGE (path or http(s) URL) and prints the top class and its probability.",
    )
    _add_target(score)
    score.add_argument("images", nargs="+", metavar="IMAGE")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(run=_score)

    loadtest = commands.add_parser(
        "loadtest",
        help="measure throughput and latency of a served model",
        description=(
            "C concurrent clients score IMAGE(s) round robin until --requests or --duration; prints requests, "
            "errors, requests/s and latency percentiles. Exit code 0 whatever the errors (they are reported)."
        ),
    )
    _add_target(loadtest)
    loadtest.add_argument("--concurrency", type=int, required=True, metavar="C")
    stop = loadtest.add_mutually_exclusive_group(required=True)
    stop.add_argument("--requests", type=int, metavar="N")
    stop.add_argument("--duration", type=float, metavar="S", help="seconds")
    loadtest.add_argument("images", nargs="+", metavar="IMAGE")
    loadtest.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    loadtest.add_argument(
        "--json", action="store_true", help="print exactly {requests, errors, rps, p50_ms, p90_ms, p99_ms}"
    )
    loadtest.set_defaults(run=_loadtest)


def _add_target(parser):
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", metavar="http://HOST:PORT", help="REST endpoint")
    target.add_argument("--grpc", metavar="HOST:PORT", help="gRPC endpoint")
    parser.add_argument("--model", required=True, metavar="NAME", help="served model name")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    parser.add_argument("--resize", metavar="WxH", help="resize client-side before upload, e.g. 224x224")
    add_private_addresses_flag(parser)


def _resize(text):
    if text is None:
        return None
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--resize must look like WIDTHxHEIGHT, e.g. 224x224. Received: --resize={text!r}") from None
    return (w, h)


def _export(args):
    from keras_cvcls.export import export_for_serving
    from keras_cvcls.models import load_classifier

    if args.format != "savedmodel":
        from keras_cvcls.cli.edge_commands import export_edge

        return export_edge(args)
    if not args.base or args.quantize or args.output or args.calibration_data:
        raise UsageError(
            "--format savedmodel writes BASE/<version>/: --base is required, and --quantize, --output and "
            "--calibration-data are for --format tflite/onnx. Received: "
            f"--base {args.base!r}, --quantize {args.quantize!r}, --output {args.output!r}"
        )
    classifier = load_classifier(args.run_dir)
    try:
        path = export_for_serving(classifier, args.base, args.version, warmup=not args.no_warmup)
    except FileExistsError as e:
        return report_error(f"{e}; choose another --version, or leave it out for the next one", "exists", as_json=args.json)
    version = int(os.path.basename(path))
    if args.json:
        print(json.dumps({"path": path, "version": version}))
    else:
        print(f"exported version {version}: {path}")
    return EXIT_OK


def _serve(args):
    import logging

    from keras_cvcls.serving import ModelServer

    if args.model_config_file is None and (args.model_base is None or args.name is None):
        raise UsageError(
            "serve needs --model-base and --name, or --model-config-file. "
            f"Received: --model-base={args.model_base!r}, --name={args.name!r}"
        )
    if args.model_config_file is not None and (args.model_base is not None or args.name is not None):
        raise UsageError(
            "give either --model-config-file or --model-base with --name, not both. "
            f"Received: --model-config-file={args.model_config_file!r}, --model-base={args.model_base!r}"
        )
    batching = {
        key: getattr(args, key)
        for key in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")
        if getattr(args, key) is not None
    }
    if args.batching_parameters_file and batching:
        raise UsageError(
            "give either --batching-parameters-file or the individual batching flags, not both. "
            f"Received: --batching-parameters-file={args.batching_parameters_file!r}, {batching}"
        )
    parameters = args.batching_parameters_file or batching or None
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    kwargs = dict(
        rest_port=args.rest_port,
        grpc_port=args.grpc_port,
        host=args.host,
        enable_batching=args.enable_batching,
        batching_parameters=parameters,
        file_system_poll_wait_seconds=args.poll_seconds,
        enable_model_warmup=not args.no_warmup,
        rest_api_timeout_in_ms=args.rest_timeout_ms,
        max_request_bytes=args.max_request_bytes,
    )
    if args.model_config_file:
        server = ModelServer(model_config_file=args.model_config_file, **kwargs)
    else:
        server = ModelServer(args.model_base, args.name, model_version_policy=args.model_version_policy, **kwargs)
    _run_until_signal(server)
    return EXIT_OK


def _run_until_signal(server):
    import signal
    import threading

    def on_signal(signum, frame):
        threading.Thread(target=server.stop, name="keras-cvcls-shutdown").start()

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start()
        print(_serving_banner(server), file=sys.stderr, flush=True)
        while not server.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serving_banner(server):
    """Where the server listens: the bound addresses, and for a wildcard host, those to use on this machine."""
    names = ", ".join(m.name for m in server.models)
    rest, grpc = server.rest_port, server.grpc_port

    def addresses(address):
        return (
            f"REST {'http://' + address(server.host, rest) if rest is not None else 'off'}, "
            f"gRPC {address(server.host, grpc) if grpc is not None else 'off'}"
        )

    if not is_wildcard(server.host):
        return f"keras-cvcls: serving {names}: {addresses(bound_address)} (Ctrl-C to stop)"
    return (
        f"keras-cvcls: serving {names} on every network interface (--host {server.host or '0.0.0.0'}, as TF "
        f"Serving does; --host 127.0.0.1 serves this machine only): {addresses(bound_address)}\n"
        f"keras-cvcls: on this machine: {addresses(local_address)} (Ctrl-C to stop)"
    )


def _client(args, **kwargs):
    from keras_cvcls.serving import ScoringClient

    return ScoringClient(url=args.url, grpc=args.grpc, model_name=args.model, timeout=args.timeout,
                         allow_private_addresses=args.allow_private_addresses, **kwargs)


def _score(args):
    from keras_cvcls.serving import ScoringError

    resize = _resize(args.resize)
    try:
        with _client(args) as client:
            results = [(image, client.score_image(image, image_resize_dims=resize)) for image in args.images]
    except ScoringError as e:
        return report_error(f"{e.code}: {e.message}", "scoring", as_json=args.json)
    if args.json:
        report = {
            "model": args.model,
            "results": [
                {"image": image, "label": r.label, "scores": {str(k): v for k, v in r.probabilities().items()},
                 **({"present": list(r.present)} if r.present is not None else {})}
                for image, r in results
            ],
        }
        print(json.dumps(report, ensure_ascii=False))
    else:
        for image, r in results:
            labels = " ".join(r.present) if r.present is not None else r.label  # multi-label: the labels present
            print(f"{image}\t{labels}\t{float(r.scores.max()):.4f}")
    return EXIT_OK


def _loadtest(args):
    from keras_cvcls.serving import run_loadtest

    resize = _resize(args.resize)

    def factory():
        return _client(args, max_retries=0)

    report = run_loadtest(
        factory,
        concurrency=args.concurrency,
        requests=args.requests,
        duration=args.duration,
        images=args.images,
        image_resize_dims=resize,
        progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps({key: report[key] for key in LOADTEST_KEYS}))
    else:
        print(
            f"requests {report['requests']}  errors {report['errors']}  {report['rps']:.1f} req/s  "
            f"p50 {report['p50_ms']:.1f} ms  p90 {report['p90_ms']:.1f} ms  p99 {report['p99_ms']:.1f} ms"
        )
        for kind, count in sorted(report["errors_by_kind"].items()):
            print(f"  {kind}: {count}")
    return EXIT_OK
