"""training/: the Kubernetes manifests and container recipe for multi-worker training, and TF_CONFIG."""

import json
import os

import pytest
import yaml

from keras_cvcls.cli.main import _build_parser
from keras_cvcls.training.distribute import tf_config_for_indexed_job, tf_config_from_environment

TRAINING = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training")


def _load(name):
    with open(os.path.join(TRAINING, "k8s", name), encoding="utf-8") as f:
        return list(yaml.safe_load_all(f))


def _check_train_args(args):
    """The container's arguments are a real `keras-cvcls train` command line, multi-worker and resumable."""
    parsed = _build_parser().parse_args(args)
    assert parsed.command == "train"
    assert parsed.distribute == "multi-worker" and parsed.resume and parsed.recipe == "full"
    assert parsed.out.startswith("/runs/") and parsed.data_dir.startswith("/data/")
    return parsed


def test_tfjob_runs_two_workers_of_our_train_command():
    (job,) = _load("tfjob.yaml")
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "TFJob"
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 2 and worker["restartPolicy"] == "OnFailure"
    (container,) = worker["template"]["spec"]["containers"]
    assert container["name"] == "tensorflow"  # the operator's required name
    assert container["ports"][0]["containerPort"] == 2222
    _check_train_args(container["args"])
    claim = worker["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    (pvc,) = _load("pvc.yaml")
    assert pvc["metadata"]["name"] == claim and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_indexed_job_builds_tf_config_from_the_pod_index():
    service, job = _load("indexed-job.yaml")
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 2
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == job["metadata"]["name"]
    (container,) = pod["containers"]
    _check_train_args(container["args"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["KERAS_CVCLS_WORKERS"]) == spec["completions"]
    assert int(env["KERAS_CVCLS_WORKER_PORT"]) == container["ports"][0]["containerPort"] == service["spec"]["ports"][0]["port"]
    # What pod 1 computes: every pod's DNS name under the headless Service, and itself as worker 1.
    config = tf_config_from_environment({**env, "JOB_COMPLETION_INDEX": "1"})
    assert config == {
        "cluster": {"worker": ["keras-cvcls-train-0.keras-cvcls-train:2222", "keras-cvcls-train-1.keras-cvcls-train:2222"]},
        "task": {"type": "worker", "index": 1},
    }


def test_dockerfile_installs_the_package_with_the_cli_as_entrypoint():
    with open(os.path.join(TRAINING, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    assert "pip install" in text and 'ENTRYPOINT ["keras-cvcls"]' in text and "EXPOSE 2222" in text


def test_tf_config_errors_name_the_remedy():
    with pytest.raises(ValueError, match="TF_CONFIG environment variable.*JOB_COMPLETION_INDEX"):
        tf_config_from_environment({})
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON.*Received: TF_CONFIG='nope'"):
        tf_config_from_environment({"TF_CONFIG": "nope"})
    bad_task = json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})
    with pytest.raises(ValueError, match="this task among the listed ones"):
        tf_config_from_environment({"TF_CONFIG": bad_task})
    with pytest.raises(ValueError, match=r"index must be in \[0, workers\).*index=2, workers=2"):
        tf_config_for_indexed_job(2, 2, host_pattern="t-{index}.t")
    with pytest.raises(ValueError, match='host_pattern must be a host name with "{index}"'):
        tf_config_for_indexed_job(0, 2, host_pattern="t.t")
    with pytest.raises(ValueError, match="KERAS_CVCLS_WORKERS.*must be ints"):
        tf_config_from_environment({"JOB_COMPLETION_INDEX": "0"})


def test_distribute_is_checked_before_anything_trains(tmp_path):
    from keras_cvcls.training_run import train_run

    with pytest.raises(ValueError, match=r"distribute must be one of \('none', 'mirrored', 'multi-worker'\)"):
        train_run(str(tmp_path), str(tmp_path / "run"), distribute="ring")
    with pytest.raises(ValueError, match="Multi-worker training runs the full recipe.*recipe='fine-tune'"):
        train_run(str(tmp_path), str(tmp_path / "run"), distribute="multi-worker")


def test_worker_backup_config_round_trip(tmp_path):
    from keras_cvcls.training.worker_backup import WorkerBackup

    backup = WorkerBackup(str(tmp_path / "own"), str(tmp_path / "chief"))
    again = WorkerBackup(**backup.get_config())
    assert again.get_config() == backup.get_config() == {"backup_dir": str(tmp_path / "own"), "restore_from": str(tmp_path / "chief")}
