#!/usr/bin/env python3
"""One-step set-up and tasks for keras-cvcls. Needs only Python 3.11+.

    python3 dev.py demo    # set up (first time), then run the demo on a generated sample dataset
    python3 dev.py test    # set up (first time), then run the whole test suite

Set-up creates (or reuses) a virtual environment in .venv and installs the package
with its test extras there, again only when setup.cfg or pyproject.toml changed.
The full test run also runs the imgaug tests in .venv-imgaug (imgaug 0.4.0 needs
numpy<2), built the same way by .ci/imgaug_env.py.
Extra arguments after the task go to the demo command or to pytest.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
BIN = os.path.join(VENV, "Scripts" if os.name == "nt" else "bin")
PYTHON = os.path.join(BIN, "python")


def log(message):
    print(f"[dev.py] {message}", flush=True)


def run(*cmd, **kwargs):
    log(" ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def stamp():
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml"):
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def ensure_venv():
    if sys.version_info < (3, 11):
        sys.exit(f"keras-cvcls needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not os.path.exists(PYTHON):
        log(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    marker = os.path.join(VENV, ".keras-cvcls-installed")
    current = stamp()
    if not os.path.exists(marker) or open(marker).read() != current:
        run(PYTHON, "-m", "pip", "install", "--upgrade", "pip")
        run(PYTHON, "-m", "pip", "install", "-e", f"{HERE}[test]")
        with open(marker, "w") as f:
            f.write(current)


def ensure_system_packages():
    """Debian packages the tests drive (a real browser); installed when missing and we are root."""
    listed = os.path.join(HERE, ".ci", "apt-packages.txt")
    if not os.path.exists(listed) or not shutil.which("apt-get"):
        return
    with open(listed) as f:
        packages = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    missing = [p for p in packages if not shutil.which(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        log(f"missing system packages {missing}: run  sudo apt-get install -y {' '.join(missing)}")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-q", env=env)
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, env=env)


def main(argv):
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    task, rest = argv[0], argv[1:]
    ensure_venv()
    os.chdir(HERE)
    if task == "setup":
        return 0
    if task == "demo":
        return subprocess.call([os.path.join(BIN, "keras-cvcls"), "demo", *rest])
    ensure_system_packages()
    code = subprocess.call([PYTHON, "-m", "pytest", *rest])
    if not rest:  # the whole suite: also the imgaug tests, in their numpy<2 environment
        imgaug_code = subprocess.call([sys.executable, os.path.join(HERE, ".ci", "imgaug_env.py")])
        code = code or imgaug_code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
