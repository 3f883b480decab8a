"""Which versions of which models are loaded: TF Serving's ServerCore, in Python.

A :class:`ModelManager` polls each model's base path, loads the versions its version policy
asks for (``latest`` N, ``all``, ``specific``), and unloads the others **only once a wanted
version is available** (TF Serving's availability-preserving policy), so a new version never
leaves a gap. A version is loaded once its files are unchanged between two looks (a folder
still being copied waits), and serves only once :func:`~keras_cvcls.serving.version_check.check_version`
passes (labels as many as score columns, the signatures present); a version refused so is
shown as ``END`` with the reason in the model status until its files change. A version that
fails to load is retried ``max_num_load_retries`` times, then shown as ``END`` with its error,
while the versions already serving stay.

Version states are TF Serving's: ``START``, ``LOADING``, ``AVAILABLE``, ``UNLOADING``, ``END``.
"""

import dataclasses
import logging
import os
import threading
import time

from keras_cvcls.serving.loaded_version import LoadedVersion
from keras_cvcls.serving.status import Code, ServingError, invalid_argument, not_found
from keras_cvcls.serving.version_check import check_version, folder_fingerprint

log = logging.getLogger(__name__)


@dataclasses.dataclass
class VersionState:
    """What the status API reports for one version."""

    state: str = "START"
    error: ServingError = None
    attempts: int = 0
    next_retry: float = 0.0
    failed: bool = False  # load failed for good while the folder's files stay as they are
    fingerprint: tuple = None  # the folder's files when last seen (version_check.folder_fingerprint)


class _Model:
    def __init__(self, config):
        self.config = config
        self.states = {}  # version -> VersionState (END versions stay, as TF Serving's monitor keeps them)
        self.serving = {}  # version -> LoadedVersion (AVAILABLE)
        self.aspired = set()  # the versions the policy wants, as of the last poll

    def aspire(self, on_disk):
        """The versions the policy wants among those on disk that have not failed for good.

        A refused latest version so leaves the policy to the version below it: a server
        started beside a half-written version serves the one before.
        """
        failed = {v for v, state in self.states.items() if state.failed}
        self.aspired = self.config.aspired(set(on_disk) - failed)
        return self.aspired


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
        settle_seconds: at :meth:`start` and :meth:`reload_config`, how long the versions
            found must stay unchanged before they load (later, the poll interval).

    Example:
        >>> manager = ModelManager([ModelConfig("flowers", "models/flowers")]).start()
        >>> manager.get_servable("flowers").version
        3
    """

    def __init__(
        self,
        models,
        *,
        poll_seconds=1.0,
        max_num_load_retries=5,
        load_retry_interval=60.0,
        enable_warmup=True,
        settle_seconds=0.25,
    ):
        self._models = {}
        self._lock = threading.RLock()
        # Held by each scan and by a whole config reload, so the two never load one version twice at once.
        self._poll_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self.poll_seconds = float(poll_seconds)
        self.max_num_load_retries = int(max_num_load_retries)
        self.load_retry_interval = float(load_retry_interval)
        self.enable_warmup = enable_warmup
        self.settle_seconds = float(settle_seconds)
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

    def reload_config(self, models, *, check=None):
        """Replaces the model list (ModelService.HandleReloadConfigRequest); loads what is new.

        No base-path scan runs while a reload does, so the poller and the reload never load the
        same version at once.

        Args:
            models: the new list of :class:`ModelConfig`.
            check: called as ``check(current, available)`` before anything changes, with
                name -> :class:`ModelConfig` of the models served now and name -> set of their
                AVAILABLE versions; what it raises refuses the reload.
        """
        with self._poll_lock:
            if check is not None:
                with self._lock:
                    current = {name: model.config for name, model in self._models.items()}
                    available = {name: set(model.serving) for name, model in self._models.items()}
                check(current, available)
            self._set_models(models)
            self._poll_settled()

    def start(self):
        """Loads what each policy asks for, then keeps polling in a background thread."""
        self._poll_settled()
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

    def _poll_settled(self, looks=4):
        """Polls until no wanted version waits for another look (``settle_seconds`` apart, at most ``looks``)."""
        for look in range(looks):
            if look:
                time.sleep(self.settle_seconds)
            self.poll_once()
            with self._lock:
                looking = [model.states.get(v) for model in self._models.values() for v in model.aspired]
                if not any(state is None or state.state == "START" for state in looking):
                    return

    def poll_once(self):
        """Scans every base path once, loading and unloading versions as the policies say."""
        with self._poll_lock:
            self._poll_models()

    def _poll_models(self):
        from keras_cvcls.export.saved_model import list_versions

        with self._lock:
            models = list(self._models.values())
        for model in models:
            if self._stop.is_set():
                return
            on_disk = list_versions(model.config.base_path)
            with self._lock:
                refused = [v for v, state in model.states.items() if state.failed and v in on_disk]
            for version in refused:
                self._look(model, version)  # changed files make it a candidate again
            with self._lock:
                aspired = model.aspire(on_disk)
            for version in sorted(aspired, reverse=True):
                self._maybe_load(model, version)
            with self._lock:
                aspired = model.aspire(on_disk)  # without the versions refused just now
                if any(v in model.serving for v in aspired):
                    for version in list(model.serving):
                        if version not in aspired:
                            self._unload(model, version)

    def _look(self, model, version):
        """The version's state and its files' fingerprint if they are unchanged since the last look.

        A new or changed version starts over (START, no error, no failed attempts); it is
        loaded at the next look that finds its files unchanged. Returns ``(state, None)`` then.
        """
        fingerprint = folder_fingerprint(os.path.join(model.config.base_path, str(version)))
        with self._lock:
            state = model.states.setdefault(version, VersionState())
            if fingerprint is not None and fingerprint == state.fingerprint:
                return state, fingerprint
            state.fingerprint, state.state, state.error = fingerprint, "START", None
            state.attempts, state.next_retry, state.failed = 0, 0.0, False
            return state, None

    def _maybe_load(self, model, version):
        path = os.path.join(model.config.base_path, str(version))
        with self._lock:
            if version in model.serving:
                return
        state, fingerprint = self._look(model, version)
        now = time.monotonic()
        with self._lock:
            if fingerprint is None or state.failed or (state.state == "LOADING" and now < state.next_retry):
                return
            state.state = "LOADING"
            state.error = None
            state.attempts += 1
        log.info("Loading servable: {name: %s version: %d}", model.config.name, version)
        refused = None
        try:
            loaded = LoadedVersion(model.config.name, version, path)
            try:
                check_version(loaded)
            except ServingError as e:
                refused = e
            else:
                if self.enable_warmup:
                    loaded.warm_up()
        except ServingError as e:
            error = e
        except Exception as e:  # an unexpected loader failure is reported in the status, not raised
            error = ServingError(Code.UNKNOWN, f"{type(e).__name__}: {e}")
        else:
            changed = folder_fingerprint(path) != fingerprint
            with self._lock:
                if changed:  # written to while it loaded: look again
                    state.state, state.fingerprint = "START", None
                    log.info("Servable {name: %s version: %d} changed while loading", model.config.name, version)
                elif refused is not None:  # for good, until its files change
                    state.state, state.error, state.failed = "END", refused, True
                    log.error("Not serving {name: %s version: %d}: %s", model.config.name, version, refused.message)
                else:
                    model.serving[version] = loaded
                    state.state, state.error, state.attempts = "AVAILABLE", None, 0
                    log.info("Successfully loaded servable version {name: %s version: %d}", model.config.name, version)
            return
        log.error("Loading servable: {name: %s version: %d} failed: %s", model.config.name, version, error.message)
        with self._lock:
            state.error = error
            if state.attempts > self.max_num_load_retries:
                state.state, state.failed = "END", True
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
            ServingError: NOT_FOUND for an unknown model or version, INVALID_ARGUMENT for an empty
                name or an unknown label (server_core.cc's ServableRequestFromModelSpec).
        """
        if not name:
            raise invalid_argument("ModelSpec has no name specified.")
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
