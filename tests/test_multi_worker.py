"""Multi-worker training: two real worker processes (``keras-cvcls train --distribute multi-worker``) on loopback.

Each worker is the CLI in its own process, with ``TF_CONFIG`` naming two free loopback ports;
every process has a timeout, so a worker waiting on a dead peer cannot hang the suite.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_cvcls.datasets import make_sample
from keras_cvcls.run_folder import BACKUP_DIR, PROGRESS_FILE, partial_dir

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_TIMEOUT_S = 600  # two TensorFlow processes on a 2-core CI machine, slowly when it is busy
# Tiny: 24 training images of 32x32, global batch 8 (4 per worker), no augmentation.
TRAIN_ARGS = [
    "--backbone", "mobilenetv3_small", "--weights", "none", "--image-size", "32", "--batch-size", "4",
    "--lr", "0.01", "--augment", "none", "--test-size", "0.2", "--seed", "3",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    # 3 labels x 10 images: 24 train (3 global batches of 8), 6 test.
    return make_sample(str(tmp_path_factory.mktemp("mw-data") / "data"), images_per_label=10, image_size=(32, 40), seed=5)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(data_dir, run_dir, epochs, *extra):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        env = dict(
            os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_CVCLS_PRECISION="float32",
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            TF_NUM_INTEROP_THREADS="1", TF_NUM_INTRAOP_THREADS="1", OMP_NUM_THREADS="1",
        )
        command = [sys.executable, "-m", "keras_cvcls", "train", data_dir, "--out", run_dir, "--epochs", str(epochs),
                   "--distribute", "multi-worker", "--json", *TRAIN_ARGS, *extra]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def _results(workers, timeout=WORKER_TIMEOUT_S):
    results = []
    deadline = time.monotonic() + timeout
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=max(1, deadline - time.monotonic()))
            assert worker.returncode == 0, err[-3000:]
            results.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    return results


def _trainable(model):
    return [np.asarray(v) for v in model.trainable_weights]


def test_two_workers_end_alike_and_match_one_worker_with_the_global_batch(data_dir, tmp_path):
    import keras_cvcls as kc
    from keras_cvcls.models import load_classifier

    run_dir = str(tmp_path / "two")
    chief, other = _results(_start_workers(data_dir, run_dir, 2))
    assert chief["distribute"]["chief"] and not other["distribute"]["chief"]
    assert chief["distribute"]["global_batch_size"] == other["distribute"]["global_batch_size"] == 8
    assert chief["distribute"]["lr_scale"] == 2
    # Synchronous training: the same weights, bit for bit, on both workers (moving statistics included).
    assert chief["distribute"]["weights_sha256"] == other["distribute"]["weights_sha256"]
    # Only the chief wrote: the run folder is complete, and the other worker left no folder behind.
    assert sorted(os.listdir(tmp_path)) == ["two"]
    assert os.path.isdir(os.path.join(run_dir, "model")) and chief["run_dir"] == other["run_dir"] == run_dir
    assert json.load(open(os.path.join(run_dir, "options.json")))["train"]["batch_size"] == 8

    # One worker (--distribute mirrored: this process's one CPU), the same global batch (8) and learning
    # rate (2 x 0.01): the same steps on the same images.
    single = kc.train_run(
        data_dir, str(tmp_path / "one"), backbone="mobilenetv3_small", weights=None, image_size=32, batch_size=8,
        lr="0.02", augment=None, test_size=0.2, seed=3, epochs=2, precision="float32", distribute="mirrored",
        log=lambda m: None,
    )
    assert single["distribute"]["replicas"] == 1 and single["distribute"]["global_batch_size"] == 8
    assert single["history"]["lr"] == pytest.approx(chief["history"]["lr"])
    two_workers = np.concatenate([w.ravel() for w in _trainable(load_classifier(os.path.join(run_dir, "model")))])
    one_worker = np.concatenate([w.ravel() for w in _trainable(load_classifier(os.path.join(str(tmp_path / "one"), "model")))])
    start = kc.TrainingRun.create(  # the seeded initial weights both started from
        str(tmp_path / "init"), data_dir, backbone="mobilenetv3_small", weights=None, image_size=32, test_size=0.2,
        seed=3, precision="float32",
    )
    initial = np.concatenate([np.asarray(w).ravel() for w in start.model.trainable_weights])
    # The same trajectory: the two runs differ by float sums in another order (all-reduce of two
    # halves, batch-norm moments of two halves), a small fraction of what training moved the weights.
    # Unsharded data, another batch or learning rate would differ by as much as the update itself.
    update = np.linalg.norm(one_worker - initial)
    assert update > 0.1
    assert np.linalg.norm(two_workers - one_worker) < 0.05 * update, (np.linalg.norm(two_workers - one_worker), update)
    assert chief["history"]["train_accuracy"] == pytest.approx(single["history"]["train_accuracy"], abs=0.05)


def test_a_killed_worker_is_survived_and_the_job_resumes_losing_at_most_one_epoch(data_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    backup = os.path.join(partial_dir(run_dir), BACKUP_DIR)
    progress, metadata = os.path.join(backup, PROGRESS_FILE), os.path.join(backup, "fit-0", "training_metadata.json")
    workers = _start_workers(data_dir, run_dir, 2)
    try:
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        backed_up = 0
        while backed_up < 1:  # the chief's BackupAndRestore has saved the first epoch
            assert time.monotonic() < deadline, "no epoch was backed up in time"
            assert all(w.poll() is None for w in workers), [w.communicate()[1][-2000:] for w in workers if w.poll() is not None]
            time.sleep(0.1)
            try:
                backed_up = json.load(open(metadata))["epoch"]
            except (OSError, ValueError):
                pass
        workers[1].send_signal(signal.SIGKILL)  # the other worker dies in the second epoch
        workers[1].wait(timeout=30)
        # The chief fails once it misses its peer (or is stopped, as a restarting job would stop it).
        try:
            workers[0].wait(timeout=15)
        except subprocess.TimeoutExpired:
            workers[0].kill()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.communicate()
    assert workers[0].returncode != 0 and not os.path.isdir(run_dir)
    done_when_killed = len(json.load(open(progress))["logs"]["loss"])
    assert done_when_killed == backed_up == 1

    chief, other = _results(_start_workers(data_dir, run_dir, 2, "--resume"))
    # Both restarted from the chief's backup of the last finished epoch: only the epoch in progress was lost.
    assert chief["distribute"]["initial_epoch"] == other["distribute"]["initial_epoch"] == done_when_killed
    assert chief["distribute"]["weights_sha256"] == other["distribute"]["weights_sha256"]
    assert len(chief["history"]["train_accuracy"]) == 2 and None not in chief["history"]["train_accuracy"]
    assert os.path.isdir(os.path.join(run_dir, "model")) and not os.path.exists(partial_dir(run_dir))
