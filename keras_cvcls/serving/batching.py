"""Dynamic batching of concurrent requests, as TF Serving's ``--enable_batching`` does it.

Requests for the same model version and signature are queued; a batch thread takes the oldest
batch once it is full (``max_batch_size`` rows) or its first request has waited
``batch_timeout_micros``, concatenates the inputs along the first dimension, runs the signature
once and splits the outputs back. When a queue already holds ``max_enqueued_batches`` batches
a new request is refused with UNAVAILABLE (REST 503), TF Serving's message included.

``BatchingParameters`` is TF Serving's ``tensorflow.serving.BatchingParameters`` message
(``--batching_parameters_file``, a text proto), built here from its field list because the
``tensorflow-serving-api`` wheel does not ship ``session_bundle_config_pb2``.
"""

import collections
import concurrent.futures
import dataclasses
import os
import threading
import time

import numpy as np

from keras_cvcls.serving.status import Code, ServingError


def _batching_parameters_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/servables/tensorflow/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = proto.message_type.add(name="BatchingParameters")
    F = descriptor_pb2.FieldDescriptorProto
    for number, name, wrapper in (
        (1, "max_batch_size", "Int64Value"),
        (2, "batch_timeout_micros", "Int64Value"),
        (3, "max_enqueued_batches", "Int64Value"),
        (4, "num_batch_threads", "Int64Value"),
        (5, "thread_pool_name", "StringValue"),
    ):
        message.field.add(
            name=name,
            number=number,
            label=F.LABEL_OPTIONAL,
            type=F.TYPE_MESSAGE,
            type_name=f".google.protobuf.{wrapper}",
        )
    message.field.add(name="allowed_batch_sizes", number=6, label=F.LABEL_REPEATED, type=F.TYPE_INT64)
    message.field.add(name="pad_variable_length_inputs", number=7, label=F.LABEL_OPTIONAL, type=F.TYPE_BOOL)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParameters = _batching_parameters_class()


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """Batching settings; the defaults are TF Serving's (``BasicBatchScheduler::Options``).

    Args:
        max_batch_size: most rows in one batch; a request with more rows is refused.
        batch_timeout_micros: how long the first request of a batch waits for others.
        max_enqueued_batches: batches a queue (model version + signature) may hold before
            requests are refused with UNAVAILABLE.
        num_batch_threads: batches processed in parallel.
        allowed_batch_sizes: if set, batches are padded up to the next of these sizes
            (increasing, the last equal to ``max_batch_size``).
        pad_variable_length_inputs: accepted for compatibility; inputs whose non-batch
            dimensions differ are run as separate batches instead of padded.

    Example:
        >>> BatchingOptions(max_batch_size=32, batch_timeout_micros=2000)
    """

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self):
        for name, low in (
            ("max_batch_size", 1),
            ("batch_timeout_micros", 0),
            ("max_enqueued_batches", 1),
            ("num_batch_threads", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}. Received: {name}={value!r}")
        sizes = tuple(int(s) for s in self.allowed_batch_sizes)
        object.__setattr__(self, "allowed_batch_sizes", sizes)
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)) or sizes[0] < 1:
                raise ValueError(
                    f"allowed_batch_sizes entries must be positive and monotonically increasing. "
                    f"Received: allowed_batch_sizes={list(sizes)}"
                )
            if sizes[-1] != self.max_batch_size:
                raise ValueError(
                    "final entry in allowed_batch_sizes must equal max_batch_size. "
                    f"Received: allowed_batch_sizes={list(sizes)}, max_batch_size={self.max_batch_size}"
                )

    @classmethod
    def from_proto(cls, params):
        """From a ``BatchingParameters`` message; unset fields keep TF Serving's defaults."""
        kwargs = {}
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            if params.HasField(name):
                kwargs[name] = int(getattr(params, name).value)
        if params.allowed_batch_sizes:
            kwargs["allowed_batch_sizes"] = tuple(params.allowed_batch_sizes)
        kwargs["pad_variable_length_inputs"] = bool(params.pad_variable_length_inputs)
        return cls(**kwargs)


def parse_batching_parameters(text):
    """Parses a ``--batching_parameters_file`` text proto into :class:`BatchingOptions`.

    Raises:
        ValueError: on a syntax error or invalid values.
    """
    from google.protobuf import text_format

    params = BatchingParameters()
    try:
        text_format.Parse(text, params)
    except text_format.ParseError as e:
        raise ValueError(
            f"batching parameters are not a valid BatchingParameters text proto ({e}); fix the file. "
            f"Received: text={text[:200]!r}"
        ) from e
    return BatchingOptions.from_proto(params)


def read_batching_parameters_file(path):
    """Reads a ``batching_parameters.txt`` file; see :func:`parse_batching_parameters`."""
    with open(path, encoding="utf-8") as f:
        return parse_batching_parameters(f.read())


class _Task:
    __slots__ = ("inputs", "size", "future")

    def __init__(self, inputs, size):
        self.inputs = inputs
        self.size = size
        self.future = concurrent.futures.Future()


class _Batch:
    __slots__ = ("tasks", "size", "start")

    def __init__(self):
        self.tasks = []
        self.size = 0
        self.start = None


class _Queue:
    __slots__ = ("run", "batches")

    def __init__(self, run):
        self.run = run
        self.batches = collections.deque()


class BatchScheduler:
    """A shared batch scheduler: one queue per (model version, signature), shared threads.

    Args:
        options: :class:`BatchingOptions`.

    Example:
        >>> scheduler = BatchScheduler(BatchingOptions(max_batch_size=8))
        >>> future = scheduler.schedule(key, run, {"x": np.ones((2, 3), "float32")})
        >>> future.result()["y"].shape
        (2, 3)
    """

    def __init__(self, options):
        self.options = options
        self._queues = {}
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"keras-cvcls-batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def schedule(self, key, run, inputs):
        """Queues one request; returns a ``concurrent.futures.Future`` of its outputs.

        Args:
            key: the queue (hashable; requests with equal keys may share a batch).
            run: ``run(inputs) -> outputs``, dicts of arrays whose first dimension is the batch.
            inputs: this request's inputs; each must have a first dimension of the same size.

        Raises:
            ServingError: INVALID_ARGUMENT for inputs that cannot be batched or are larger than
                ``max_batch_size``; UNAVAILABLE when the queue is full or the scheduler closed.
        """
        size = _batch_size(inputs)
        options = self.options
        if size > options.max_batch_size:
            raise ServingError(
                Code.INVALID_ARGUMENT,
                f"Task size {size} is larger than maximum input batch size {options.max_batch_size}",
            )
        task = _Task(inputs, size)
        with self._cond:
            if self._closed:
                raise ServingError(Code.UNAVAILABLE, "The server is shutting down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(run)
            if not queue.batches or queue.batches[-1].size + size > options.max_batch_size:
                if len(queue.batches) >= options.max_enqueued_batches:
                    raise ServingError(
                        Code.UNAVAILABLE, "The batch scheduling queue to which this task was submitted is full"
                    )
                queue.batches.append(_Batch())
            batch = queue.batches[-1]
            if not batch.tasks:
                batch.start = time.monotonic()
            batch.tasks.append(task)
            batch.size += size
            self._cond.notify()
        return task.future

    def _next_batch(self):
        """Waits for a batch that is full, timed out or closed; returns ``(queue, batch)``."""
        timeout = self.options.batch_timeout_micros / 1e6
        with self._cond:
            while True:
                now = time.monotonic()
                best, wait = None, None
                for key, queue in self._queues.items():
                    if not queue.batches:
                        continue
                    batch = queue.batches[0]
                    ready = (
                        self._closed
                        or len(queue.batches) > 1
                        or batch.size >= self.options.max_batch_size
                        or now - batch.start >= timeout
                    )
                    if ready:
                        if best is None or batch.start < best[2].start:
                            best = (key, queue, batch)
                    else:
                        remaining = batch.start + timeout - now
                        wait = remaining if wait is None else min(wait, remaining)
                if best is not None:
                    key, queue, batch = best
                    queue.batches.popleft()
                    if not queue.batches:
                        del self._queues[key]
                    return queue, batch
                if self._closed:
                    return None, None
                self._cond.wait(wait)

    def _work(self):
        while True:
            queue, batch = self._next_batch()
            if batch is None:
                return
            _process(queue.run, batch.tasks, self.options.allowed_batch_sizes)

    def close(self, timeout=30.0):
        """Runs what is queued, then stops the batch threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _batch_size(inputs):
    sizes = set()
    for value in inputs.values():
        if np.ndim(value) == 0:
            raise ServingError(Code.INVALID_ARGUMENT, "Batching Run() input tensors must have at least one dimension")
        sizes.add(np.shape(value)[0])
    if not sizes:
        raise ServingError(Code.INVALID_ARGUMENT, "Batching Run() must have at least one input tensor")
    if len(sizes) > 1:
        raise ServingError(Code.INVALID_ARGUMENT, "Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


def _process(run, tasks, allowed_batch_sizes):
    tasks = [t for t in tasks if t.future.set_running_or_notify_cancel()]  # drops timed-out requests
    if not tasks:
        return
    if len(tasks) == 1 and not allowed_batch_sizes:
        _run_alone(run, tasks[0])
        return
    keys = list(tasks[0].inputs)
    try:
        merged = {k: np.concatenate([t.inputs[k] for t in tasks]) for k in keys}
    except (ValueError, KeyError):  # different non-batch shapes: run each request by itself
        for task in tasks:
            _run_alone(run, task)
        return
    total = sum(t.size for t in tasks)
    padded = next((s for s in allowed_batch_sizes if s >= total), total)
    if padded > total:
        merged = {k: np.concatenate([v, np.repeat(v[:1], padded - total, axis=0)]) for k, v in merged.items()}
    try:
        outputs = run(merged)
    except ServingError as e:
        if e.code == Code.INVALID_ARGUMENT and len(tasks) > 1:
            for task in tasks:  # one bad request (say, a corrupt image) must not fail the others
                _run_alone(run, task)
        else:
            for task in tasks:
                task.future.set_exception(e)
        return
    except Exception as e:  # an unexpected failure reaches every waiting request as INTERNAL
        error = ServingError(Code.INTERNAL, f"{type(e).__name__}: {e}")
        for task in tasks:
            task.future.set_exception(error)
        return
    for name, value in outputs.items():
        if np.ndim(value) == 0 or np.shape(value)[0] != padded:
            error = ServingError(
                Code.INTERNAL,
                f"Batched output tensor '{name}' has shape {list(np.shape(value))}; its first dimension "
                f"must be the batch size {padded}",
            )
            for task in tasks:
                task.future.set_exception(error)
            return
    offset = 0
    for task in tasks:
        task.future.set_result({k: v[offset : offset + task.size] for k, v in outputs.items()})
        offset += task.size


def _run_alone(run, task):
    try:
        task.future.set_result(run(task.inputs))
    except ServingError as e:
        task.future.set_exception(e)
    except Exception as e:
        task.future.set_exception(ServingError(Code.INTERNAL, f"{type(e).__name__}: {e}"))
