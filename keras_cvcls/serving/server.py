"""An embedded model server that speaks TF Serving's REST and gRPC protocols.

For machines where the ``tensorflow_model_server`` binary is not available (a laptop, a CI
job, a notebook): it serves the SavedModels :func:`keras_cvcls.export.export_for_serving`
writes (or any SavedModel with predict signatures) with the same URLs, JSON bodies, protos,
status codes and error messages as TF Serving, so clients written against it work unchanged
against TF Serving in production. The deployment assets for real TF Serving are in the
repository's ``serving/`` folder.

Example:
    >>> from keras_cvcls.serving import ModelServer
    >>> with ModelServer("models/flowers", "flowers", rest_port=8501, grpc_port=8500) as server:
    ...     ...  # POST http://localhost:8501/v1/models/flowers:predict
"""

import logging
import os
import signal
import threading

from keras_cvcls.serving.batching import BatchingOptions, BatchScheduler, read_batching_parameters_file
from keras_cvcls.serving.model_config import ModelConfig, read_model_config_file
from keras_cvcls.serving.model_manager import ModelManager
from keras_cvcls.serving.predictor import Predictor

log = logging.getLogger(__name__)

# TF Serving's gRPC limit (server.cc: builder.SetMaxMessageSize(INT32_MAX)); its REST server sets none.
DEFAULT_MAX_REQUEST_BYTES = 2**31 - 1


def _batching_options(batching_parameters):
    if batching_parameters is None:
        return BatchingOptions()
    if isinstance(batching_parameters, BatchingOptions):
        return batching_parameters
    if isinstance(batching_parameters, dict):
        return BatchingOptions(**batching_parameters)
    if isinstance(batching_parameters, (str, os.PathLike)):
        return read_batching_parameters_file(batching_parameters)
    raise ValueError(
        "batching_parameters must be a BatchingOptions, a dict of its fields or the path of a "
        f"BatchingParameters text proto. Received: batching_parameters={batching_parameters!r}"
    )


class ModelServer:
    """TF Serving's model server in-process: REST on ``rest_port``, gRPC on ``grpc_port``.

    Serve one model (``model_base_path`` + ``model_name``) or several (``model_config_file``,
    TF Serving's ``models.config``, or ``models``, a list of
    :class:`~keras_cvcls.serving.model_config.ModelConfig`).

    Args:
        model_base_path: folder with one numbered sub-folder per version.
        model_name: the name clients use; TF Serving's default is ``"default"``.
        rest_port: REST port (8501); 0 picks a free port; None disables REST.
        grpc_port: gRPC port (8500); 0 picks a free port; None disables gRPC.
        host: address both bind to.
        model_config_file: a ``ModelServerConfig`` text proto, instead of base path and name.
        models: a list of ``ModelConfig``, instead of the two above.
        model_version_policy: ``"latest"`` or ``"all"`` for the single model.
        version_labels: ``{label: version}`` for the single model.
        enable_batching: batch concurrent requests (off by default, as in TF Serving).
        batching_parameters: ``BatchingOptions``, a dict of its fields, or the path of a
            ``BatchingParameters`` text proto; implies ``enable_batching``.
        file_system_poll_wait_seconds: how often base paths are polled for new versions; a new
            version loads once its files are unchanged between two polls, and serves once it
            passes :func:`~keras_cvcls.serving.version_check.check_version`.
        max_num_load_retries: retries of a failed version load before it is given up.
        load_retry_interval_s: seconds between load retries.
        enable_model_warmup: replay ``assets.extra/tf_serving_warmup_requests`` at load.
        rest_api_timeout_in_ms: REST requests running longer get 504; 0 for no limit.
        max_request_bytes: largest REST body (413 above) and gRPC message (RESOURCE_EXHAUSTED);
            by default TF Serving's gRPC limit, 2**31 - 1 (TF Serving sets it with
            ``--grpc_channel_arguments=grpc.max_receive_message_length=N``).
        grpc_max_threads: gRPC calls handled at once.
        rest_api_num_threads: threads converting REST JSON; default 4 per CPU.
        grace: seconds :meth:`stop` lets running requests finish.

    Raises:
        ValueError: for contradictory or invalid arguments.
        FileNotFoundError: when a base path does not exist.

    Example:
        >>> server = ModelServer("models/flowers", "flowers", rest_port=0, grpc_port=0).start()
        >>> server.rest_url, server.grpc_target
        ('http://127.0.0.1:40211', '127.0.0.1:40213')
        >>> server.stop()
    """

    def __init__(
        self,
        model_base_path=None,
        model_name=None,
        *,
        rest_port=8501,
        grpc_port=8500,
        host="0.0.0.0",
        model_config_file=None,
        models=None,
        model_version_policy="latest",
        version_labels=None,
        enable_batching=False,
        batching_parameters=None,
        file_system_poll_wait_seconds=1.0,
        max_num_load_retries=5,
        load_retry_interval_s=60.0,
        enable_model_warmup=True,
        rest_api_timeout_in_ms=30000,
        max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
        grpc_max_threads=64,
        rest_api_num_threads=None,
        grace=5.0,
    ):
        sources = sum(x is not None for x in (model_base_path, model_config_file, models))
        if sources != 1:
            raise ValueError(
                "give exactly one of model_base_path (with model_name), model_config_file or models. "
                f"Received: model_base_path={model_base_path!r}, model_config_file={model_config_file!r}, "
                f"models={models!r}"
            )
        if model_config_file is not None:
            models = read_model_config_file(model_config_file)
        elif model_base_path is not None:
            if model_version_policy not in ("latest", "all"):
                raise ValueError(
                    "model_version_policy must be 'latest' or 'all' (use a model config file for 'specific'). "
                    f"Received: model_version_policy={model_version_policy!r}"
                )
            models = [
                ModelConfig(
                    model_name or "default",
                    os.fspath(model_base_path),
                    version_policy=model_version_policy,
                    version_labels=version_labels or {},
                )
            ]
        for name, port in (("rest_port", rest_port), ("grpc_port", grpc_port)):
            if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536):
                raise ValueError(f"{name} must be an int in [0, 65535] or None. Received: {name}={port!r}")
        if rest_port is None and grpc_port is None:
            raise ValueError("set at least one of rest_port and grpc_port. Received: rest_port=None, grpc_port=None")
        if not isinstance(max_request_bytes, int) or not 1024 <= max_request_bytes <= DEFAULT_MAX_REQUEST_BYTES:
            raise ValueError(
                f"max_request_bytes must be an int in [1024, {DEFAULT_MAX_REQUEST_BYTES}] (gRPC's limit). "
                f"Received: max_request_bytes={max_request_bytes!r}"
            )
        self.models = list(models)
        self.host = host
        self.enable_batching = bool(enable_batching or batching_parameters is not None)
        self.batching_options = _batching_options(batching_parameters) if self.enable_batching else None
        self.manager = ModelManager(
            self.models,
            poll_seconds=file_system_poll_wait_seconds,
            max_num_load_retries=max_num_load_retries,
            load_retry_interval=load_retry_interval_s,
            enable_warmup=enable_model_warmup,
        )
        self._rest_port = rest_port
        self._grpc_port = grpc_port
        self._rest_timeout_ms = rest_api_timeout_in_ms
        self._max_request_bytes = max_request_bytes
        self._grpc_max_threads = grpc_max_threads
        self._rest_threads = rest_api_num_threads or 4 * (os.cpu_count() or 1)
        self._grace = grace
        self._scheduler = None
        self._predictor = None
        self._rest = None
        self._grpc = None
        self._stopped = threading.Event()
        self._started = False

    @property
    def rest_port(self):
        """The bound REST port (after :meth:`start`), or None."""
        return self._rest.port if self._rest else None

    @property
    def grpc_port(self):
        """The bound gRPC port (after :meth:`start`), or None."""
        return self._grpc.port if self._grpc else None

    def _client_host(self):
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host

    @property
    def rest_url(self):
        """``http://HOST:PORT`` for clients on this machine."""
        return f"http://{self._client_host()}:{self.rest_port}" if self._rest else None

    @property
    def grpc_target(self):
        """``HOST:PORT`` for gRPC clients on this machine."""
        return f"{self._client_host()}:{self.grpc_port}" if self._grpc else None

    def start(self):
        """Loads the models (initial versions), then opens the ports; returns ``self``."""
        from keras_cvcls.serving.grpc_service import GrpcServer
        from keras_cvcls.serving.rest import RestServer

        if self._started:
            raise RuntimeError("the server was already started; create a new ModelServer")
        self._started = True
        try:
            self.manager.start()
            if self.enable_batching:
                self._scheduler = BatchScheduler(self.batching_options)
            self._predictor = Predictor(self.manager, self._scheduler, max_workers=max(4, 2 * (os.cpu_count() or 1)))
            if self._grpc_port is not None:
                self._grpc = GrpcServer(
                    self.manager,
                    self._predictor,
                    host=self.host,
                    port=self._grpc_port,
                    max_request_bytes=self._max_request_bytes,
                    max_workers=self._grpc_max_threads,
                )
                self._grpc.start()
                log.info("Running gRPC ModelServer at %s:%d ...", self.host, self.grpc_port)
            if self._rest_port is not None:
                self._rest = RestServer(
                    self.manager,
                    self._predictor,
                    host=self.host,
                    port=self._rest_port,
                    max_request_bytes=self._max_request_bytes,
                    timeout_ms=self._rest_timeout_ms,
                    num_threads=self._rest_threads,
                    grace=self._grace,
                )
                self._rest.start()
                log.info("Exporting HTTP/REST API at:%s:%d ...", self.host, self.rest_port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Graceful shutdown: stop accepting, finish running requests (up to ``grace`` s), unload."""
        if self._stopped.is_set():
            return
        grpc_stopped = self._grpc.stop(self._grace, wait=False) if self._grpc is not None else None
        if self._rest is not None:
            self._rest.stop()
        if grpc_stopped is not None:
            grpc_stopped.wait(self._grace + 5)
        if self._scheduler is not None:
            self._scheduler.close(self._grace)
        if self._predictor is not None:
            self._predictor.close()
        self.manager.stop()
        self._stopped.set()

    def wait(self, timeout=None):
        """Blocks until :meth:`stop` (from another thread or a signal handler); True if stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self):
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(model_base_path=None, model_name=None, rest_port=8501, grpc_port=8500, **kwargs):
    """Runs a :class:`ModelServer` until SIGINT or SIGTERM, then shuts it down gracefully.

    Args:
        model_base_path: folder with one numbered sub-folder per version.
        model_name: the name clients use.
        rest_port: REST port.
        grpc_port: gRPC port.
        **kwargs: the other :class:`ModelServer` arguments (``model_config_file``,
            ``enable_batching``, ``batching_parameters``, ...).

    Example:
        >>> serve("models/flowers", "flowers")   # until Ctrl-C
    """
    server = ModelServer(model_base_path, model_name, rest_port=rest_port, grpc_port=grpc_port, **kwargs)
    handlers = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum, frame):
            log.info("received signal %d, shutting down", signum)
            threading.Thread(target=server.stop, name="keras-cvcls-shutdown").start()

        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, on_signal)
    try:
        server.start()
        while not server.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return server
