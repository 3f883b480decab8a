"""Which versions of which models are loaded: TF Serving's ServerCore, in Python.

A :class:`ModelManager` polls each model's base path, loads the versions its version policy
asks for (``latest`` N, ``all``, ``specific``), and unloads the others **only once a wanted
version is available** (TF Serving's availability-preserving policy), so a new version never
leaves a gap. A version that fails to load is retried ``max_num_load_retries`` times, then
shown as ``END`` with its error in the model status, while the versions already serving stay.

Version states are TF Serving's: ``START``, ``LOADING``, ``AVAILABLE``, ``UNLOADING``, ``END``.
"""

import dataclasses
import logging
import os
import threading
import time

import numpy as np

from keras_cvcls.serving.status import Code, ServingError, invalid_argument, not_found

log = logging.getLogger(__name__)

VERSION_POLICIES = ("latest", "all", "specific")
DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model, as a ``config { ... }`` entry of TF Serving's ``models.config``.

    Args:
        name: the model name clients use (``/v1/models/NAME``).
        base_path: folder holding one numbered sub-folder per version.
        version_policy: ``"latest"`` (the ``num_latest`` highest versions), ``"all"`` or
            ``"specific"`` (the ``versions`` listed).
        num_latest: how many versions ``"latest"`` serves.
        versions: the versions ``"specific"`` serves.
        version_labels: label -> version, e.g. ``{"stable": 1, "canary": 2}``.

    Example:
        >>> ModelConfig("flowers", "/models/flowers", version_policy="specific", versions=(1, 2),
        ...             version_labels={"stable": 1, "canary": 2})
    """

    name: str
    base_path: str
    version_policy: str = "latest"
    num_latest: int = 1
    versions: tuple = ()
    version_labels: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name or ":" in self.name:
            raise ValueError(f"name must be a non-empty string without '/' or ':'. Received: name={self.name!r}")
        if not self.base_path:
            raise ValueError(f"base_path must be a folder. Received: base_path={self.base_path!r}")
        if self.version_policy not in VERSION_POLICIES:
            raise ValueError(
                f"version_policy must be one of {VERSION_POLICIES}. Received: version_policy={self.version_policy!r}"
            )
        if self.version_policy == "latest" and (not isinstance(self.num_latest, int) or self.num_latest < 1):
            raise ValueError(f"num_latest must be a positive int. Received: num_latest={self.num_latest!r}")
        if self.version_policy == "specific" and not self.versions:
            raise ValueError(
                f"version_policy='specific' needs at least one version. Received: versions={self.versions!r}"
            )
        object.__setattr__(self, "versions", tuple(int(v) for v in self.versions))
        object.__setattr__(self, "version_labels", {str(k): int(v) for k, v in dict(self.version_labels).items()})

    def aspired(self, on_disk):
        """The versions this policy wants, among those on disk."""
        on_disk = sorted(on_disk)
        if self.version_policy == "all":
            return set(on_disk)
        if self.version_policy == "specific":
            return set(self.versions) & set(on_disk)
        return set(on_disk[-self.num_latest :])


def parse_model_config(text):
    """Parses TF Serving's ``ModelServerConfig`` text proto (``--model_config_file``).

    Args:
        text: the file's contents.

    Returns:
        A list of :class:`ModelConfig`.

    Raises:
        ValueError: on a syntax error, a ``custom_model_config`` or a platform other than TensorFlow.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"model config is not a valid ModelServerConfig text proto: {e}") from e
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError("model config must have a model_config_list (custom_model_config is not supported)")
    models = []
    for entry in config.model_config_list.config:
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f"model {entry.name!r}: only model_platform 'tensorflow' is served. "
                f"Received: model_platform={entry.model_platform!r}"
            )
        policy = entry.model_version_policy
        which = policy.WhichOneof("policy_choice") or "latest"
        kwargs = {}
        if which == "latest":
            kwargs["num_latest"] = policy.latest.num_versions or 1
        elif which == "specific":
            kwargs["versions"] = tuple(policy.specific.versions)
        models.append(
            ModelConfig(
                entry.name, entry.base_path, version_policy=which, version_labels=dict(entry.version_labels), **kwargs
            )
        )
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique. Received: {names}")
    return models


def read_model_config_file(path):
    """Reads a ``models.config`` file; see :func:`parse_model_config`."""
    with open(path, encoding="utf-8") as f:
        return parse_model_config(f.read())


class SignatureInfo:
    """One callable signature of a loaded version: its SignatureDef and concrete function."""

    def __init__(self, name, signature_def, function):
        self.name = name
        self.signature_def = signature_def
        self.function = function
        self.inputs = {key: (info.dtype, _shape(info)) for key, info in signature_def.inputs.items()}
        self.outputs = {key: (info.dtype, _shape(info)) for key, info in signature_def.outputs.items()}


def _shape(tensor_info):
    """[-1, 32, ...] from a TensorInfo, or None for an unknown rank."""
    shape = tensor_info.tensor_shape
    return None if shape.unknown_rank else [d.size for d in shape.dim]


class LoadedVersion:
    """A loaded SavedModel version: its signatures and its SignatureDef map (for metadata)."""

    def __init__(self, name, version, path):
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        self.name = name
        self.version = version
        self.path = path
        pb = os.path.join(path, "saved_model.pb")
        if not os.path.exists(pb):
            raise ServingError(
                Code.NOT_FOUND,
                f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}. "
                "Check that the directory exists and that you have the right permissions for accessing it.",
            )
        saved_model = saved_model_pb2.SavedModel()
        try:
            with open(pb, "rb") as f:
                saved_model.ParseFromString(f.read())
        except Exception as e:  # protobuf's DecodeError and friends: a corrupt file
            raise ServingError(Code.DATA_LOSS, f"Can't parse {pb} as binary proto: {e}") from e
        meta_graphs = [m for m in saved_model.meta_graphs if "serve" in m.meta_info_def.tags]
        if not meta_graphs:
            raise ServingError(
                Code.NOT_FOUND,
                "Could not find meta graph def matching supplied tags: { serve }. To inspect available "
                "tag-sets in the SavedModel, please use the SavedModel CLI: `saved_model_cli`",
            )
        self.signature_defs = dict(meta_graphs[0].signature_def)
        try:
            self._loaded = tf.saved_model.load(path, tags=["serve"])
        except tf.errors.OpError as e:
            raise ServingError.from_tf_error(e) from e
        except (ValueError, OSError, TypeError, KeyError) as e:
            raise ServingError(Code.UNKNOWN, f"Failed to load SavedModel at {path}: {e}") from e
        self.signatures = {
            name: SignatureInfo(name, self.signature_defs[name], fn)
            for name, fn in self._loaded.signatures.items()
            if name in self.signature_defs
        }
        self._metadata_json = None

    def signature(self, name):
        """The :class:`SignatureInfo` called ``name`` ("" means ``serving_default``).

        Raises:
            ServingError: FAILED_PRECONDITION when there is no such signature (TF Serving's message).
        """
        name = name or DEFAULT_SIGNATURE
        info = self.signatures.get(name)
        if info is None:
            if name in self.signature_defs:
                raise ServingError(
                    Code.INTERNAL,
                    "Expected prediction signature method_name to be one of {tensorflow/serving/predict, "
                    "tensorflow/serving/classify, tensorflow/serving/regress}. Was: "
                    + self.signature_defs[name].method_name,
                )
            raise ServingError(Code.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
        return info

    def signature_def_map(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        result = get_model_metadata_pb2.SignatureDefMap()
        for key, value in self.signature_defs.items():
            result.signature_def[key].CopyFrom(value)
        return result

    def warm_up(self):
        """Replays ``assets.extra/tf_serving_warmup_requests`` like TF Serving does at load time."""
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2

        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.exists(path):
            return 0
        count = 0
        try:
            for record in tf.data.TFRecordDataset(path):
                count += 1
                if count > MAX_WARMUP_RECORDS:
                    raise ServingError(
                        Code.INVALID_ARGUMENT,
                        f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}",
                    )
                entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
                if entry.WhichOneof("log_type") != "predict_log":
                    raise ServingError(
                        Code.UNIMPLEMENTED,
                        f"Unsupported log_type for warmup: {entry.WhichOneof('log_type')} (only predict_log)",
                    )
                request = entry.predict_log.request
                signature = self.signature(request.model_spec.signature_name)
                inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
                run_signature(signature, inputs)
        except tf.errors.OpError as e:
            raise ServingError(Code(e.error_code), f"Failed to warm up {path}: {e.message}") from e
        except ServingError as e:
            raise ServingError(e.code, f"Failed to warm up {path}: {e.message}") from e
        return count


def run_signature(signature, inputs):
    """Runs a signature on numpy inputs; returns its outputs as numpy arrays.

    Raises:
        ServingError: with the TensorFlow error's code and message when the graph fails.
    """
    import tensorflow as tf

    try:
        outputs = signature.function(**{key: tf.constant(value) for key, value in inputs.items()})
    except tf.errors.OpError as e:
        raise ServingError.from_tf_error(e) from e
    except (TypeError, ValueError) as e:  # argument binding of the concrete function
        raise ServingError(Code.INVALID_ARGUMENT, str(e)) from e
    return {key: value.numpy() for key, value in outputs.items()}


@dataclasses.dataclass
class VersionState:
    """What the status API reports for one version."""

    state: str = "START"
    error: ServingError = None
    attempts: int = 0
    next_retry: float = 0.0
    failed: bool = False  # load failed for good while the folder stays on disk


class _Model:
    def __init__(self, config):
        self.config = config
        self.states = {}  # version -> VersionState (END versions stay, as TF Serving's monitor keeps them)
        self.serving = {}  # version -> LoadedVersion (AVAILABLE)



def _labelled_version(model, version, label):
    """The version a label points at (``version`` itself when no label is given).

    Raises:
        ServingError: INVALID_ARGUMENT for a label the model does not have (TF Serving's message).
    """
    if label is None:
        return version
    labels = model.config.version_labels if model else {}
    if label not in labels:
        raise invalid_argument("Unrecognized servable version label: ", label)
    return labels[label]

class ModelManager:
    """Loads, serves and unloads the versions of one or more models.

    Args:
        models: a list of :class:`ModelConfig`.
        poll_seconds: how often base paths are scanned for versions (TF Serving's
            ``--file_system_poll_wait_seconds``); ``0`` scans only at :meth:`start`.
        max_num_load_retries: retries after a failed load before the version is given up.
        load_retry_interval: seconds between retries.
        enable_warmup: replay ``assets.extra/tf_serving_warmup_requests`` before a version
            becomes available.

    Example:
        >>> manager = ModelManager([ModelConfig("flowers", "models/flowers")]).start()
        >>> manager.get_servable("flowers").version
        3
    """

    def __init__(
        self, models, *, poll_seconds=1.0, max_num_load_retries=5, load_retry_interval=60.0, enable_warmup=True
    ):
        self._models = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self.poll_seconds = float(poll_seconds)
        self.max_num_load_retries = int(max_num_load_retries)
        self.load_retry_interval = float(load_retry_interval)
        self.enable_warmup = enable_warmup
        self._set_models(models)

    def _set_models(self, models):
        models = list(models)
        if not models:
            raise ValueError("at least one model must be configured. Received: models=[]")
        for config in models:
            if not os.path.isdir(config.base_path):
                raise FileNotFoundError(
                    f"model {config.name!r}: base path {config.base_path!r} does not exist or is not a folder"
                )
        with self._lock:
            old = self._models
            self._models = {}
            for config in models:
                model = old.get(config.name)
                if model is None or model.config.base_path != config.base_path:
                    model = _Model(config)
                else:
                    model.config = config
                self._models[config.name] = model
            for name, model in old.items():
                if name not in self._models:
                    for version in list(model.serving):
                        self._unload(model, version)

    @property
    def model_names(self):
        with self._lock:
            return sorted(self._models)

    def reload_config(self, models):
        """Replaces the model list (ModelService.HandleReloadConfigRequest); loads what is new."""
        self._set_models(models)
        self.poll_once()

    def start(self):
        """Loads what each policy asks for, then keeps polling in a background thread."""
        self.poll_once()
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._poll_loop, name="keras-cvcls-model-poller", daemon=True)
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.poll_seconds, 1.0) + 30)
            self._thread = None

    def _poll_loop(self):
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll_once()
            except Exception:  # keep polling: a transient file-system error must not stop serving
                log.exception("polling model base paths failed")

    def poll_once(self):
        """Scans every base path once, loading and unloading versions as the policies say."""
        from keras_cvcls.export.saved_model import list_versions

        with self._lock:
            models = list(self._models.values())
        for model in models:
            if self._stop.is_set():
                return
            on_disk = set(list_versions(model.config.base_path))
            aspired = model.config.aspired(on_disk)
            with self._lock:
                for version, state in model.states.items():
                    if state.failed and version not in on_disk:
                        state.failed = False  # removed: a folder of that name may be loaded again
            for version in sorted(aspired, reverse=True):
                self._maybe_load(model, version)
            with self._lock:
                if any(v in model.serving for v in aspired):
                    for version in list(model.serving):
                        if version not in aspired:
                            self._unload(model, version)

    def _maybe_load(self, model, version):
        now = time.monotonic()
        with self._lock:
            if version in model.serving:
                return
            state = model.states.setdefault(version, VersionState())
            if state.failed or (state.state == "LOADING" and now < state.next_retry):
                return
            state.state = "LOADING"
            state.error = None
            state.attempts += 1
        path = os.path.join(model.config.base_path, str(version))
        log.info("Loading servable: {name: %s version: %d}", model.config.name, version)
        try:
            loaded = LoadedVersion(model.config.name, version, path)
            if self.enable_warmup:
                loaded.warm_up()
        except ServingError as e:
            error = e
        except Exception as e:  # an unexpected loader failure is reported in the status, not raised
            error = ServingError(Code.UNKNOWN, f"{type(e).__name__}: {e}")
        else:
            with self._lock:
                model.serving[version] = loaded
                state.state, state.error, state.attempts = "AVAILABLE", None, 0
            log.info("Successfully loaded servable version {name: %s version: %d}", model.config.name, version)
            return
        log.error("Loading servable: {name: %s version: %d} failed: %s", model.config.name, version, error.message)
        with self._lock:
            if state.attempts > self.max_num_load_retries:
                state.state, state.error, state.failed = "END", error, True
            else:
                state.next_retry = time.monotonic() + self.load_retry_interval

    def _unload(self, model, version):
        state = model.states.setdefault(version, VersionState())
        state.state = "UNLOADING"
        model.serving.pop(version, None)  # requests holding the version finish with it
        state.state, state.error = "END", None
        log.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)

    def get_servable(self, name, version=None, label=None):
        """The loaded version a request addresses (TF Serving's GetServableHandle).

        Args:
            name: model name.
            version: a version number, or None.
            label: a version label, or None; exclusive with ``version``.

        Returns:
            A :class:`LoadedVersion`; the highest available one when neither version nor label is given.

        Raises:
            ServingError: NOT_FOUND for an unknown model or version, INVALID_ARGUMENT for an unknown label.
        """
        with self._lock:
            model = self._models.get(name)
            version = _labelled_version(model, version, label)
            if version is None:
                if model is None or not model.serving:
                    raise not_found(f"Servable not found for request: Latest({name})")
                return model.serving[max(model.serving)]
            if model is None or version not in model.serving:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return model.serving[version]

    def version_states(self, name, version=None, label=None):
        """``[(version, VersionState)]`` for the status API, highest version first.

        Raises:
            ServingError: NOT_FOUND (TF Serving's messages) or INVALID_ARGUMENT for an unknown label.
        """
        with self._lock:
            model = self._models.get(name)
            version = _labelled_version(model, version, label)
            states = dict(model.states) if model else {}
            if version is not None:
                if version not in states:
                    raise not_found(f"Could not find version {version} of model {name}")
                return [(version, dataclasses.replace(states[version]))]
            if not states:
                raise not_found(f"Could not find any versions of model {name}")
            return [(v, dataclasses.replace(states[v])) for v in sorted(states, reverse=True)]

    def wait_until_available(self, name, version=None, timeout=30.0):
        """Blocks until ``name`` (a given version, or any) is AVAILABLE; for tests and scripts.

        Raises:
            TimeoutError: when it is not available within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get_servable(name, version)
                return
            except ServingError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"model {name!r} version {version} not available after {timeout} s") from None
                time.sleep(0.05)


def as_numpy_dtype(dtype_enum):
    """numpy dtype for a TensorFlow DataType enum (object for strings)."""
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(dtype_enum)
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)
