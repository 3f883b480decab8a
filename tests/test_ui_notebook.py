"""The UI's notebook widget: requests forwarded to the UI server, and the widget in a real Jupyter.

The last test starts a Notebook 7 server (loopback, token auth, a temporary root),
has headless Chromium open a notebook that calls ``kc.ui.show(DATA_DIR)``, and
checks that the widget shows the dataset's thumbnails and that fixes made in it,
with the mouse and the keyboard, reach the dataset's sidecar file.
"""

import importlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import types
import urllib.parse

import nbformat
import pytest
from browser import artifacts_dir
from ui_helpers import BrowserThread, read_fixes, served

from keras_cvcls.datasets import make_sample
from keras_cvcls.ui import UIWidget, show, stop_all

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDGET_CARDS = ".kc-app .card"


@pytest.fixture
def data_dir(tmp_path):
    """3 labels x 2 images of 32 px."""
    return make_sample(str(tmp_path / "data"), images_per_label=2, image_size=(32, 32))


def _json(answer):
    status, _, headers, body = answer
    assert ["Content-Type", "application/json; charset=utf-8"] in headers
    return status, json.loads(body)


def test_widget_forwards_requests_to_the_ui_server(data_dir):
    with served(data_dir) as server:
        widget = UIWidget(server, view="annotate", height=500)
        assert (widget.view, widget.width, widget.height) == ("annotate", "100%", 500)

        status, info = _json(widget.forward({"method": "GET", "path": "/api/info"}))
        assert status == 200 and info["labels"] == ["checks", "dots", "stripes"] and info["num_images"] == 6
        status, page = _json(widget.forward({"method": "GET", "path": "/api/images?page_size=2&page=2"}))
        assert status == 200 and page["page"] == 2 and len(page["items"]) == 2
        item = page["items"][0]

        # Binary bodies come back as they are: the thumbnail is a JPEG, the page is the UI's own.
        status, _, headers, body = widget.forward({"method": "GET", "path": item["thumb"]})
        assert status == 200 and body[:2] == b"\xff\xd8" and ["Content-Type", "image/jpeg"] in headers
        status, _, _, body = widget.forward({"method": "GET", "path": "/"})
        assert status == 200 and b'<body class="kc-app">' in body
        token = re.search(rb'<meta name="keras-cvcls-token" content="([^"]+)">', body).group(1).decode()

        # A change needs the session's token, which the page reads from the server's page and sends.
        relabel = json.dumps({"id": item["id"], "label": "stripes"}).encode()
        request = {"method": "POST", "path": "/api/relabel", "headers": [["Content-Type", "application/json"]]}
        status, error = _json(widget.forward(request, relabel))
        assert status == 403 and "X-Keras-Cvcls-Token" in error["error"] and read_fixes(data_dir)["relabel"] == {}
        # A relabel goes to the sidecar; the server's own errors come back with its messages.
        request["headers"].append(["X-Keras-Cvcls-Token", token])
        status, changed = _json(widget.forward(request, relabel))
        assert status == 200 and changed["item"]["label"] == "stripes"
        assert read_fixes(data_dir)["relabel"] == {item["id"]: "stripes"}
        status, error = _json(widget.forward(request, json.dumps({"id": item["id"], "label": "cows"}).encode()))
        assert status == 400 and "Unknown label" in error["error"]
        # Only the content type is passed on: the notebook's cookies stay behind.
        form = {**request, "headers": [
            ["Content-Type", "application/x-www-form-urlencoded"], ["Cookie", "a=b"], ["X-Keras-Cvcls-Token", token],
        ]}
        assert widget.forward(form, b"id=1")[0] == 415

        # Requests the page cannot make are refused before they reach the server.
        status, error = _json(widget.forward({"method": "DELETE", "path": "/api/info"}))
        assert status == 400 and "method must be one of" in error["error"]
        for path in ("http://example.com/", "//example.com/x", "api/info", None):
            status, error = _json(widget.forward({"method": "GET", "path": path}))
            assert status == 400 and "path must be a path on the UI server" in error["error"]
    # The server stopped: the page is told what to do.
    status, error = _json(widget.forward({"method": "GET", "path": "/api/info"}))
    assert status == 503 and "run kc.ui.show(...) again" in error["error"]

    with pytest.raises(ValueError, match="view must be one of"):
        UIWidget(server, view="grid")
    with pytest.raises(ValueError, match="height must be a positive int"):
        UIWidget(server, height="760px")


def test_show_modes_outside_a_kernel(data_dir):
    try:
        url = show(data_dir, mode="url")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/#annotate")
        assert show(data_dir, view="annotate") == url  # a widget needs a kernel: a script gets the URL
        with pytest.raises(ValueError, match="mode must be one of"):
            show(data_dir, mode="window")
    finally:
        assert stop_all() == 1


def test_widget_without_anywidget_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras_cvcls.ui.widget")
    monkeypatch.setitem(sys.modules, "anywidget", None)  # not installed
    with pytest.raises(ImportError, match=r"pip install 'keras-cvcls\[notebook\]'.*mode='iframe'"):
        importlib.import_module("keras_cvcls.ui.widget")


# ----------------------------------------------------------------- real Jupyter
@pytest.fixture
def jupyter(tmp_path):
    """Notebook 7 on 127.0.0.1 (a free port, token auth, root ``tmp_path/notebooks``); its kernels import
    this checkout of keras_cvcls."""
    root = tmp_path / "notebooks"
    root.mkdir()
    runtime = tmp_path / "jupyter-runtime"
    token = secrets.token_hex(16)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(runtime),
        IPYTHONDIR=str(tmp_path / "ipython"),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    command = [
        sys.executable, "-m", "notebook", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False", '--ServerApp.jpserver_extensions={"jupyter_lsp": False}',
    ]
    log_path = tmp_path / "jupyter.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(root))
    info_path = runtime / f"jpserver-{process.pid}.json"
    try:
        deadline = time.monotonic() + 120
        while not info_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Jupyter did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        time.sleep(0.2)  # written, then read: let the writer finish
        info = json.loads(info_path.read_text())
        yield types.SimpleNamespace(url=info["url"], token=token, root=root, log=log_path)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def _write_notebook(path, data_dir):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(f"import keras_cvcls as kc\nw = kc.ui.show({data_dir!r})\nw"),
        nbformat.v4.new_code_cell("print(kc.__file__)"),
    ]
    nbformat.write(notebook, str(path))


def _until(check, timeout, what, page=None, log=None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            if page is not None:
                page.screenshot(path=str(artifacts_dir() / "ui-notebook-failed.png"), full_page=True)
            tail = f"\nJupyter's log:\n{log.read_text()[-4000:]}" if log is not None else ""
            pytest.fail(f"Timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(0.2)


@pytest.mark.slow
def test_widget_in_a_real_notebook_shows_images_and_fixes_labels(jupyter, data_dir):
    _write_notebook(jupyter.root / "widget.ipynb", data_dir)
    url = urllib.parse.urljoin(jupyter.url, "notebooks/widget.ipynb") + "?token=" + jupyter.token
    with BrowserThread() as chromium:
        context = chromium.browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        try:
            page.goto(url)
            first_cell = page.locator(".jp-Notebook .jp-CodeCell").first
            first_cell.locator(".jp-InputArea-editor").click(timeout=60_000)
            page.keyboard.press("Shift+Enter")  # runs the show() cell, then selects the next one
            page.keyboard.press("Shift+Enter")

            # The widget renders the dataset's thumbnails, fetched through the kernel (no port reached).
            cards = page.locator(WIDGET_CARDS)
            _until(lambda: cards.count() == 6, 180, "the widget's 6 image cards", page, jupyter.log)
            images = page.locator(f"{WIDGET_CARDS} img")
            loaded = "imgs => imgs.map(i => i.complete && i.naturalWidth > 0 && i.src.startsWith('blob:'))"
            _until(lambda: images.evaluate_all(loaded) == [True] * 6, 60, "the thumbnails to load", page)
            # The kernel imported this checkout.
            printed = page.locator(".jp-CodeCell").nth(1).locator(".jp-OutputArea-output")
            _until(lambda: printed.count() and REPO in printed.inner_text(), 60, "the second cell's output", page)

            # A label fixed with the card's menu reaches the sidecar on disk.
            ids = cards.evaluate_all("cs => cs.map(c => c.dataset.id)")
            cards.nth(0).locator("select.label-select").select_option("stripes")
            page.locator(f'{WIDGET_CARDS}[data-index="0"][data-label="stripes"]').wait_for(timeout=30_000)
            assert page.locator(".kc-app #status").inner_text() == f"Saved: {ids[0]} \u2192 stripes"
            _until(lambda: read_fixes(data_dir)["relabel"] == {ids[0]: "stripes"}, 30, "the relabel in the sidecar")

            # Keys typed in the widget are the UI's, not the notebook's ("3" would make a cell
            # a heading, "x" would cut it): select the fourth card (dots), relabel it with "3", exclude the
            # next with "x".
            notebook_cells = page.locator(".jp-Notebook .jp-Cell")
            cell_types = "cs => cs.map(c => c.classList.contains('jp-CodeCell') ? 'code' : 'other')"
            before = notebook_cells.evaluate_all(cell_types)
            cards.nth(3).locator(".name").click()
            page.keyboard.press("3")
            page.locator(f'{WIDGET_CARDS}[data-index="3"][data-label="stripes"]').wait_for(timeout=30_000)
            page.keyboard.press("x")
            page.locator(f'{WIDGET_CARDS}[data-index="4"].excluded').wait_for(timeout=30_000)
            _until(lambda: read_fixes(data_dir)["exclude"] == [ids[4]], 30, "the exclusion in the sidecar")
            assert read_fixes(data_dir)["relabel"] == {ids[0]: "stripes", ids[3]: "stripes"}
            assert notebook_cells.evaluate_all(cell_types) == before == ["code"] * len(before)
            page.screenshot(path=str(artifacts_dir() / "ui-notebook.png"), full_page=True)

            # The view links switch the widget's view, not the notebook's address (no run: the hint).
            notebook_url = page.url
            page.locator('.kc-app nav a[data-view="results"]').click()
            page.locator(".kc-app #view-norun").wait_for(timeout=30_000)
            assert page.locator(".kc-app #view-annotate").is_hidden() and page.url == notebook_url
        finally:
            context.close()
