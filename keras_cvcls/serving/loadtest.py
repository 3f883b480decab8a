"""A closed-loop load test: C clients each send one request at a time, for N requests or S seconds."""

import collections
import threading
import time

import numpy as np

from keras_cvcls.progress import progress_bar


def _positive(name, value, kind=int):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        raise ValueError(f"{name} must be a positive {kind.__name__} or None. Received: {name}={value!r}")
    return value


def run_loadtest(
    client_factory=None,
    *,
    url=None,
    grpc=None,
    model_name=None,
    concurrency=1,
    requests=None,
    duration=None,
    images=(),
    timeout=10.0,
    image_resize_dims=None,
    progress=True,
):
    """Scores ``images`` (round robin) from ``concurrency`` threads and reports throughput and latency.

    Each thread has its own client and sends its next request as soon as the previous one is
    answered. Calls are not retried, so every UNAVAILABLE (queue full) is counted.

    Args:
        client_factory: ``() -> ScoringClient``; or give ``url`` / ``grpc`` and ``model_name``.
        url: REST base URL, e.g. ``http://localhost:8501``.
        grpc: gRPC target, e.g. ``localhost:8500``.
        model_name: the served model's name.
        concurrency: number of concurrent clients.
        requests: stop after this many requests in total.
        duration: stop after this many seconds (with ``requests``, whichever comes first).
        images: image paths, URLs or bytes; read and prepared once before timing starts.
        timeout: seconds per call.
        image_resize_dims: client-side resize before upload, as in ``ScoringClient.score_image``.
        progress: show a tqdm progress bar on stderr.

    Returns:
        ``{"requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms", "errors_by_kind"}``:
        requests completed, failed ones, requests per second, latency percentiles over all
        requests, and failures counted by status code (``"UNAVAILABLE"``, ...).

    Raises:
        ValueError: for missing or invalid arguments.

    Example:
        >>> run_loadtest(url="http://localhost:8501", model_name="flowers", concurrency=32,
        ...              duration=30, images=["rose.jpg"])
        {'requests': 9120, 'errors': 0, 'rps': 303.9, 'p50_ms': 101.2, ...}
    """

    from keras_cvcls.serving.scoring_client import ScoringClient
    from keras_cvcls.serving.scoring_error import ScoringError

    if client_factory is None:
        if (url is None) == (grpc is None) or not model_name:
            raise ValueError(
                "give client_factory, or exactly one of url and grpc with model_name. "
                f"Received: url={url!r}, grpc={grpc!r}, model_name={model_name!r}"
            )

        def client_factory():
            return ScoringClient(url=url, grpc=grpc, model_name=model_name, timeout=timeout, max_retries=0)

    _positive("concurrency", concurrency)
    _positive("requests", requests)
    _positive("duration", duration, float)
    if requests is None and duration is None:
        raise ValueError("give requests, duration or both. Received: requests=None, duration=None")
    images = list(images)
    if not images:
        raise ValueError("images must list at least one image. Received: images=[]")

    clients = [client_factory() for _ in range(concurrency)]
    try:
        payloads = [clients[0].encode_image(image, image_resize_dims) for image in images]
        for client in clients:  # metadata and class map are read before the clock starts
            try:
                _ = client.class_map
            except ScoringError:
                pass  # the timed requests fail the same way and are counted

        lock = threading.Lock()
        issued = 0
        latencies = []
        errors = collections.Counter()
        bar = progress_bar(requests, "loadtest", unit="req", enabled=bool(progress))
        start = time.perf_counter()
        deadline = start + duration if duration is not None else None

        def work(client):
            nonlocal issued
            while True:
                with lock:
                    if (requests is not None and issued >= requests) or (
                        deadline is not None and time.perf_counter() >= deadline
                    ):
                        return
                    index = issued
                    issued += 1
                t0 = time.perf_counter()
                kind = None
                try:
                    client.score_image(payloads[index % len(payloads)])
                except ScoringError as e:
                    kind = e.code
                except Exception as e:  # counted, not raised: a load test reports failures
                    kind = type(e).__name__
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    if kind is not None:
                        errors[kind] += 1
                bar.update(1)

        threads = [threading.Thread(target=work, args=(c,), name=f"loadtest-{i}") for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        bar.close()
    finally:
        for client in clients:
            client.close()

    done = len(latencies)
    ms = np.asarray(latencies) * 1000.0
    percentile = (lambda q: round(float(np.percentile(ms, q)), 3)) if done else (lambda q: 0.0)
    return {
        "requests": done,
        "errors": int(sum(errors.values())),
        "rps": round(done / wall, 3) if wall > 0 else 0.0,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "errors_by_kind": dict(errors),
    }
