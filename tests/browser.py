"""Headless Chromium for tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download is not used (CI cannot fetch it); the
system package is, and CI installs it from ``.ci/apt-packages.txt``. Where it
is missing and the tests run as root on Debian, the ``chromium_browser``
fixture installs it with ``apt-get install -y chromium``.

Import the fixtures into a test module::

    from browser import browser_page, chromium_browser  # noqa: F401
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
APT_INSTALL = ["apt-get", "install", "-y", "chromium"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _apt(command, timeout):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def ensure_chromium():
    """Returns the Chromium executable, installing Debian's package if missing.

    Returns:
        The path of the executable.

    Raises:
        pytest.fail.Exception: If Chromium is missing and cannot be installed.
    """
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; install it as root with: {' '.join(APT_INSTALL)}")
    result = _apt(APT_INSTALL, timeout=900)
    if result.returncode != 0:  # stale or missing package lists
        _apt(["apt-get", "update"], timeout=300)
        result = _apt(APT_INSTALL, timeout=900)
    if result.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"`{' '.join(APT_INSTALL)}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return CHROMIUM


def artifacts_dir():
    """Returns ``tests/artifacts/``, created on first use and ignored by git."""
    ARTIFACTS.mkdir(exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_browser():
    """A headless Chromium shared by the session's tests."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A fresh page, in its own browser context, 1280 px wide."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
