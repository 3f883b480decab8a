#!/usr/bin/env python3
"""Builds the imgaug test environment (.venv-imgaug) and runs the imgaug tests in it.

    python3 .ci/imgaug_env.py            # set up (when needed), then pytest -m imgaug tests/test_imgaug.py
    python3 .ci/imgaug_env.py -x -v      # extra arguments go to pytest

imgaug 0.4.0 needs numpy<2, so it cannot live in .venv. The environment is
(re)built only when .ci/imgaug-requirements.txt, setup.cfg or pyproject.toml
changed (a hash of them is kept in .venv-imgaug/.keras-cvcls-imgaug-installed).
Exits non-zero when a test fails, or when the imgaug tests were skipped or not
collected: in this environment they must run.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
import xml.etree.ElementTree as ElementTree

VENV_NAME = ".venv-imgaug"
REQUIREMENTS = os.path.join(".ci", "imgaug-requirements.txt")
STAMP_NAME = ".keras-cvcls-imgaug-installed"
TESTS = os.path.join("tests", "test_imgaug.py")


def log(message):
    print(f"[imgaug_env] {message}", flush=True)


def run(*cmd, **kwargs):
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def python_path(repo_root):
    """The interpreter of the imgaug environment of ``repo_root``."""
    return os.path.join(repo_root, VENV_NAME, "Scripts" if os.name == "nt" else "bin", "python")


def requirements_hash(repo_root):
    """Hash of what the environment is built from: its requirement list and the package metadata."""
    digest = hashlib.sha256()
    for name in (REQUIREMENTS, "setup.cfg", "pyproject.toml"):
        path = os.path.join(repo_root, name)
        digest.update(name.encode() + b"\0")
        if os.path.exists(path):
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def ensure_imgaug_env(repo_root):
    """Creates or updates ``REPO/.venv-imgaug``, only when its inputs changed.

    Installs ``.ci/imgaug-requirements.txt`` (imgaug 0.4.0, numpy<2, TensorFlow,
    ...) and then the package in editable mode without dependencies (its
    setup.cfg asks for numpy>=2).

    Args:
        repo_root: The repository folder.

    Returns:
        The path of the environment's Python interpreter.
    """
    repo_root = os.path.abspath(repo_root)
    if sys.version_info < (3, 11) or sys.version_info >= (3, 13):
        sys.exit(
            "The imgaug environment needs Python 3.11 or 3.12 (numpy<2 has no wheels for newer Pythons); "
            f"this is {sys.version.split()[0]}. Run this script with python3.11 or python3.12."
        )
    env_dir = os.path.join(repo_root, VENV_NAME)
    python = python_path(repo_root)
    if not os.path.exists(python):
        log(f"creating virtual environment {env_dir}")
        venv.EnvBuilder(with_pip=True).create(env_dir)
    stamp = os.path.join(env_dir, STAMP_NAME)
    current = requirements_hash(repo_root)
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == current:
                return python
    run(python, "-m", "pip", "install", "--upgrade", "pip")
    run(python, "-m", "pip", "install", "-r", os.path.join(repo_root, REQUIREMENTS))
    run(python, "-m", "pip", "install", "--no-deps", "-e", repo_root)
    with open(stamp, "w") as f:
        f.write(current)
    return python


def _counts(junit_path):
    """``(tests, skipped, failed)`` from a pytest JUnit XML report."""
    root = ElementTree.parse(junit_path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = skipped = failed = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        skipped += int(suite.get("skipped", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    return total, skipped, failed


def main(argv=None):
    """Sets up the environment and runs ``pytest -m imgaug tests/test_imgaug.py`` in it.

    Returns:
        0 when every imgaug test ran and passed; pytest's exit code (or 1) otherwise.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python = ensure_imgaug_env(repo_root)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    with tempfile.TemporaryDirectory() as tmp:
        junit = os.path.join(tmp, "imgaug.xml")
        cmd = [python, "-m", "pytest", "-m", "imgaug", TESTS, "-rs", f"--junitxml={junit}", *argv]
        log(" ".join(cmd))
        code = subprocess.call(cmd, cwd=repo_root, env=env)
        if not os.path.exists(junit):
            log(f"pytest wrote no report (exit code {code})")
            return code or 1
        total, skipped, failed = _counts(junit)
    ran = total - skipped
    if code == 5:  # pytest: no tests collected
        log(f"no imgaug test was collected from {TESTS}; they must run in {VENV_NAME}")
        return code
    if code != 0 or failed:
        log(f"imgaug tests failed (exit code {code}, {failed} failed)")
        return code or 1
    if skipped or ran == 0:
        log(f"imgaug tests did not run: {ran} ran, {skipped} skipped; they must run in {VENV_NAME}")
        return 1
    log(f"{ran} imgaug tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
