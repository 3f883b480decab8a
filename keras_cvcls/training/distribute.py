"""Training on several devices or machines with ``tf.distribute``: the strategy, the worker's role, TF_CONFIG.

``keras-cvcls train --distribute MODE`` (``train_run(..., distribute=MODE)``):

- ``"none"`` (default): TensorFlow's default, one device.
- ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over every local GPU (one CPU without GPUs).
- ``"multi-worker"``: ``tf.distribute.MultiWorkerMirroredStrategy``, the cluster and this
  process's task read from ``TF_CONFIG`` (or, in a Kubernetes Indexed Job, built from
  ``JOB_COMPLETION_INDEX``: see :func:`tf_config_for_indexed_job`).

Batch and learning rate: ``batch_size`` is per replica (per device), so the global batch of a
step is ``batch_size * replicas``, and every learning rate is multiplied by ``replicas`` (the
linear scaling rule: Goyal et al., 2017). A run on two workers with ``batch_size=8`` and
``lr=0.01`` therefore takes the same steps as one worker with ``batch_size=16`` and ``lr=0.02``.
Every worker reads its own shard of the training images: the file names are shuffled with
the run's seed (the same order on every worker), and worker ``i`` of ``n`` takes images
``i, i+n, i+2n, ...``; each epoch leaves out the last incomplete global batch so that every
worker takes the same number of steps.
"""

import dataclasses
import hashlib
import json
import os

DISTRIBUTE_MODES = ("none", "mirrored", "multi-worker")
# The environment of a Kubernetes Indexed Job pod (see training/k8s/indexed-job.yaml).
INDEX_ENV = "JOB_COMPLETION_INDEX"
WORKERS_ENV = "KERAS_CVCLS_WORKERS"
HOST_PATTERN_ENV = "KERAS_CVCLS_WORKER_HOST"
PORT_ENV = "KERAS_CVCLS_WORKER_PORT"
DEFAULT_PORT = 2222


def check_distribute(distribute):
    """Raises ``ValueError`` unless ``distribute`` is one of :data:`DISTRIBUTE_MODES`."""
    if distribute not in DISTRIBUTE_MODES:
        raise ValueError(f"distribute must be one of {DISTRIBUTE_MODES}. Received: distribute={distribute!r}")


def tf_config_for_indexed_job(index, workers, *, host_pattern, port=DEFAULT_PORT):
    """The ``TF_CONFIG`` of pod ``index`` of a Kubernetes Indexed Job of ``workers`` pods.

    Worker 0 is the chief. The pods reach each other through a headless Service; a pod's
    name is ``JOB_NAME-INDEX``, so ``host_pattern`` is e.g. ``"train-{index}.train"``.

    Args:
        index: this pod's ``JOB_COMPLETION_INDEX``, 0 <= index < workers.
        workers: the Job's ``completions`` (= ``parallelism``).
        host_pattern: a host name with ``{index}`` in it.
        port: the port every worker listens on.

    Returns:
        A dict: ``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": index}}``.

    Raises:
        ValueError: for an index outside ``[0, workers)`` or a pattern without ``{index}``.

    Example:
        >>> tf_config_for_indexed_job(1, 2, host_pattern="train-{index}.train")["cluster"]["worker"]
        ['train-0.train:2222', 'train-1.train:2222']
    """
    for name, value in (("index", index), ("workers", workers), ("port", port)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an int. Received: {name}={value!r}")
    if workers < 1 or not 0 <= index < workers:
        raise ValueError(f"index must be in [0, workers). Received: index={index!r}, workers={workers!r}")
    if not isinstance(host_pattern, str) or "{index}" not in host_pattern:
        raise ValueError(
            'host_pattern must be a host name with "{index}" in it, e.g. "train-{index}.train" (the pod name '
            f"JOB_NAME-INDEX, then the headless Service's name). Received: host_pattern={host_pattern!r}"
        )
    hosts = [f"{host_pattern.format(index=i)}:{port}" for i in range(workers)]
    return {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}


def tf_config_from_environment(environ=None):
    """This process's ``TF_CONFIG``: the variable's JSON, or one built from an Indexed Job's environment.

    Raises:
        ValueError: when neither is set, or the JSON is not a valid ``TF_CONFIG``.
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG")
    if text is None and INDEX_ENV in environ:
        try:
            index, workers = int(environ[INDEX_ENV]), int(environ.get(WORKERS_ENV, ""))
            port = int(environ.get(PORT_ENV, DEFAULT_PORT))
        except ValueError:
            raise ValueError(
                f"In an Indexed Job, {WORKERS_ENV} (the number of workers) and {PORT_ENV} must be ints. Received: "
                f"{WORKERS_ENV}={environ.get(WORKERS_ENV)!r}, {PORT_ENV}={environ.get(PORT_ENV)!r}"
            ) from None
        return tf_config_for_indexed_job(index, workers, host_pattern=environ.get(HOST_PATTERN_ENV, ""), port=port)
    if text is None:
        raise ValueError(
            "distribute='multi-worker' reads the cluster from the TF_CONFIG environment variable (set by the "
            f"Kubeflow training operator), or from {INDEX_ENV}, {WORKERS_ENV} and {HOST_PATTERN_ENV} in a "
            "Kubernetes Indexed Job; none is set. Received: TF_CONFIG=None"
        )
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        count = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
        if task["type"] not in ("chief", "worker") or not 0 <= int(task["index"]) < len(cluster[task["type"]]):
            raise KeyError("task")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": '
            f'"worker", "index": 0}}}}, this task among the listed ones. Received: TF_CONFIG={text!r}'
        ) from None
    if count < 1:
        raise ValueError(f"TF_CONFIG lists no chief or worker. Received: TF_CONFIG={text!r}")
    return config


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """Who this process is in a distributed run.

    Attributes:
        index: this worker's index among all workers (the chief is 0).
        count: the number of workers (1 without multi-worker training).
        replicas: the number of replicas (devices) in sync, over all workers.
    """

    index: int = 0
    count: int = 1
    replicas: int = 1

    @property
    def chief(self):
        """True for the worker that writes the run folder, logs and exports."""
        return self.index == 0


def make_strategy(distribute, *, collective_timeout_s=None):
    """The ``tf.distribute`` strategy of a mode, and this process's :class:`WorkerRole`.

    Call it before anything else uses TensorFlow: ``MultiWorkerMirroredStrategy`` must
    configure the runtime first.

    Args:
        distribute: ``"none"``, ``"mirrored"`` or ``"multi-worker"``.
        collective_timeout_s: multi-worker: how long a collective operation may wait for the
            other workers before failing (None: TensorFlow's default, no limit).

    Returns:
        ``(strategy or None, WorkerRole)``; None for ``"none"``.

    Raises:
        ValueError: for an unknown mode or a missing or bad ``TF_CONFIG``.
    """
    check_distribute(distribute)
    if distribute == "none":
        return None, WorkerRole()
    import tensorflow as tf

    if distribute == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return strategy, WorkerRole(replicas=strategy.num_replicas_in_sync)
    config = tf_config_from_environment()
    os.environ["TF_CONFIG"] = json.dumps(config)  # what TensorFlow's resolver reads
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout_s)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    cluster, task = config["cluster"], config["task"]
    order = [("chief", i) for i in range(len(cluster.get("chief", [])))] + [
        ("worker", i) for i in range(len(cluster.get("worker", [])))
    ]
    index = order.index((task["type"], int(task["index"])))
    return strategy, WorkerRole(index=index, count=len(order), replicas=strategy.num_replicas_in_sync)


def input_workers(strategy):
    """How many workers read their own shard of the input under ``strategy`` (1 but in multi-worker training)."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    return strategy.extended._num_workers  # no public accessor; InputContext.num_input_pipelines is the same


def prepare_saving():
    """Makes Keras' saving create no variables later, so that a worker saves without the others.

    Keras' saving builds reference objects once per process (an ``Optimizer`` among them, with
    variables); created under ``MultiWorkerMirroredStrategy`` those would be collective operations
    that every worker must join, and a chief saving its backup alone would wait for the others.
    Call it outside the strategy's scope, before training.
    """
    from keras.src.saving.saving_lib import get_attr_skipset  # no public way to build its cache

    for kind in ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss", "Cross", "Feature"):
        get_attr_skipset(kind)


def weights_digest(model):
    """A SHA-256 of a model's weights (values and shapes), to check that workers ended alike."""
    import numpy as np

    digest = hashlib.sha256()
    for value in model.get_weights():
        value = np.ascontiguousarray(value)
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
