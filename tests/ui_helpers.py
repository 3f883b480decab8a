"""Helpers for the UI tests: data folders, tiny training runs, a served UI, timing waits."""

import concurrent.futures
import contextlib
import json
import os
import queue
import shutil
import threading
import time

import numpy as np
from PIL import Image

GRID_READY_JS = """([selector, page, count]) => {
  const grid = document.querySelector(selector);
  return !!grid && grid.dataset.page === String(page) && !grid.dataset.loading
    && grid.querySelectorAll('.card img').length === count;
}"""


# Installed before the page's scripts: notes when the user last acted (click, key, menu, typing) and,
# for every render of the annotation grid, the page number and the milliseconds since that action
# (since navigation start for the first render).
RENDER_CLOCK_JS = """
window.__uiClock = {start: 0, renders: []};
for (const type of ["click", "keydown", "change", "input"]) {
  document.addEventListener(type, () => { window.__uiClock.start = performance.now(); }, true);
}
document.addEventListener("DOMContentLoaded", () => {
  const grid = document.querySelector("#a-grid");
  new MutationObserver(() => {
    if (!grid.querySelector(".card img")) return;
    const now = performance.now();
    window.__uiClock.renders.push({page: grid.dataset.page, ms: now - window.__uiClock.start});
  }).observe(grid, {childList: true});
});
"""


@contextlib.contextmanager
def served(data, run_dir=None, *, host="127.0.0.1", **app_kwargs):
    """A :class:`keras_cvcls.ui.UIServer` on ``host`` (127.0.0.1) and a free port, in a thread; yields it."""
    from keras_cvcls.ui import UIServer

    server = UIServer(data, run_dir, host=host, port=0, **app_kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def copy_tree(src, dst, *, hard_links=False):
    """Copies a folder; with ``hard_links`` files are linked (same mtime and size, no bytes copied)."""

    def link_or_copy(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link_or_copy if hard_links else shutil.copy2)
    return str(dst)


def train_tiny_run(data_dir, run_dir, *, seed=0):
    """Trains ResNet-18 at 32 px for one epoch into ``run_dir`` with ``keras-cvcls train``'s code."""
    from keras_cvcls.training_run import train_run

    return train_run(
        str(data_dir), str(run_dir), backbone="resnet18", weights=None, image_size=32, epochs=1, batch_size=8,
        lr="0.01", augment="none", seed=seed, log=lambda message: None,
    )


def write_scores_cache(run_dir, paths, labels, scores):
    """Caches scores for the run's current model by image path, as ``TrainingRun.scores`` would."""
    from keras_cvcls.run_folder import write_cached_scores

    write_cached_scores(run_dir, paths, labels, scores)


def make_tiny_png_folder(root, *, labels=("ants", "bees", "cats", "dogs"), per_label=2500, size=16):
    """Writes ``len(labels) * per_label`` tiny PNGs, one flat colour each, in label folders."""
    for li, label in enumerate(labels):
        folder = os.path.join(root, label)
        os.makedirs(folder, exist_ok=True)
        for i in range(per_label):
            pixels = np.empty((size, size, 3), np.uint8)
            pixels[...] = (li * 60 % 256, i * 7 % 256, i * 13 % 256)
            Image.fromarray(pixels).save(os.path.join(folder, f"{label}_{i:05d}.png"))
    return str(root)


def read_fixes(data_dir):
    path = os.path.join(data_dir, ".keras_cvcls", "label_fixes.json")
    if not os.path.exists(path):
        return {"relabel": {}, "exclude": []}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def wait_grid(page, selector, page_number, count, timeout=10_000):
    """Waits until the grid shows ``page_number`` with ``count`` images in the DOM."""
    page.wait_for_function(GRID_READY_JS, arg=[selector, page_number, count], timeout=timeout, polling="raf")


def timed(action, wait):
    """Runs ``action()`` then ``wait()``; returns the seconds both took, seen from Python."""
    start = time.perf_counter()
    action()
    wait()
    return time.perf_counter() - start


def last_render_s(page):
    """Seconds from the last user action to the last render of the grid, measured in the page."""
    return page.evaluate("window.__uiClock.renders[window.__uiClock.renders.length - 1].ms") / 1000


_PLAIN = (str, bytes, int, float, bool, type(None), dict, list, tuple)


class _InThread:
    """Forwards attribute reads, calls and ``with`` to an object living in a :class:`BrowserThread`."""

    __slots__ = ("_target", "_owner")

    def __init__(self, target, owner):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_owner", owner)

    def __getattr__(self, name):
        return self._owner.call(getattr, self._target, name)

    def __call__(self, *args, **kwargs):
        return self._owner.call(self._target, *args, **kwargs)

    def __enter__(self):
        return self._owner.call(self._target.__enter__)

    def __exit__(self, *exc):
        return self._owner.call(self._target.__exit__, *exc)

    def __repr__(self):
        return f"<in browser thread: {self._target!r}>"


class BrowserThread:
    """Headless Chromium (tests/browser.py's executable and flags) driven from a thread of its own.

    Playwright's sync API allows one instance per thread, and tests/browser.py's fixtures start
    theirs in the main thread once for every test module that imports them, kept until the
    session ends, so a second module's instance fails ("Sync API inside the asyncio loop").
    This one lives in its own thread; every call on :attr:`browser` (and on what it returns:
    contexts, pages, locators...) runs there, so the UI tests pass beside the other browser tests
    in any order.
    """

    def __init__(self):
        self._calls = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="ui-tests-chromium", daemon=True)
        self._thread.start()
        self._playwright = None
        self.browser = None

    def _serve(self):
        while True:
            item = self._calls.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as e:  # re-raised in the caller's thread
                    future.set_exception(e)

    def call(self, fn, *args, **kwargs):
        """Runs ``fn(*args, **kwargs)`` in the browser thread; wraps non-plain results."""
        future = concurrent.futures.Future()
        self._calls.put((future, fn, args, kwargs))
        result = future.result()
        return result if isinstance(result, _PLAIN) else _InThread(result, self)

    def start(self):
        from browser import CHROMIUM_ARGS, ensure_chromium

        executable = ensure_chromium()

        def launch():
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            return self._playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)

        self.browser = self.call(launch)
        return self

    def close(self):
        try:
            if self._playwright is not None:
                self.call(self.browser._target.close)
                self.call(self._playwright.stop)
        finally:
            self._calls.put(None)
            self._thread.join(30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
