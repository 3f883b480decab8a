"""The browser UI: a real aiohttp server in a thread, driven by headless Chromium through Playwright."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
import urllib.error
import urllib.request

import numpy as np
import pytest
from browser import artifacts_dir
from conftest import jpeg_bytes
from sklearn import metrics
from ui_helpers import (
    RENDER_CLOCK_JS,
    BrowserThread,
    copy_tree,
    last_render_s,
    make_tiny_png_folder,
    read_fixes,
    served,
    timed,
    train_tiny_run,
    wait_grid,
    write_scores_cache,
)

from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample
from keras_cvcls.ui import ThumbnailCache, create_app, make_thumbnail, notebook, show, stop_all
from keras_cvcls.run_folder import CLASS_MAP_FILE, HISTORY_FILE, MODEL_DIR, SCORES_FILE, SPLIT_FILE
from keras_cvcls.training_run import TrainingRun
from keras_cvcls.ui.app import UI_STATE
from keras_cvcls.ui.request_guards import TOKEN_HEADER
from keras_cvcls.ui.results import counts_at

A_GRID = "#a-grid"
R_GRID = "#r-grid"
TOKEN_META = re.compile(rb'<meta name="keras-cvcls-token" content="([^"]+)">')


def http(url, data=None, content_type="application/json", *, token=None, headers=None):
    """``(status, body)`` of a GET, or a POST when ``data`` is given; bodies parsed as JSON where they are.

    ``token`` goes in the session-token header (see :func:`page_token`); ``headers`` are added as given
    (``{"Host": ...}`` replaces the Host header).
    """
    headers = dict(headers or {})
    if data is not None:
        headers["Content-Type"] = content_type
    if token is not None:
        headers[TOKEN_HEADER] = token
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def page_token(url):
    """The session's token, read from the UI's page as its scripts read it."""
    status, page = http(url)
    assert status == 200
    return TOKEN_META.search(page).group(1).decode()


@pytest.fixture(scope="module")
def ui_chromium():
    """Headless Chromium in a thread of its own (see ``ui_helpers.BrowserThread`` for why)."""
    with BrowserThread() as chromium:
        yield chromium.browser


@pytest.fixture
def ui_page(ui_chromium):
    """A fresh page, in its own browser context, 1280 px wide."""
    context = ui_chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def ui_run(tmp_path_factory):
    """A sample data folder (3 labels x 12 images, 32 px) and a 1-epoch ResNet-18 run on it."""
    base = tmp_path_factory.mktemp("ui-run")
    data_dir = make_sample(str(base / "data"), images_per_label=12, image_size=(32, 32))
    run_dir = base / "run"
    train_tiny_run(data_dir, run_dir)
    return str(data_dir), str(run_dir)


@pytest.fixture
def data_copy(ui_run, tmp_path):
    """A private copy of the run's data folder, for tests that change labels."""
    return copy_tree(ui_run[0], tmp_path / "data")


# --------------------------------------------------------------------- annotate
def test_annotate_relabel_and_exclude_through_the_page(ui_page, data_copy):
    page = ui_page
    with served(data_copy, page_size=10) as server:
        page.goto(server.url + "#annotate")
        wait_grid(page, A_GRID, 1, 10)
        cards = page.locator(f"{A_GRID} .card")
        labels = ClassificationDataset.from_directory(data_copy).labels
        assert labels == ["checks", "dots", "stripes"]
        assert page.locator("#a-keys").inner_text().startswith("1 checks")

        # Keyboard: move right, press "2": the second image becomes "dots"; the selection moves on.
        page.keyboard.press("ArrowRight")
        first_id = cards.nth(1).get_attribute("data-id")
        page.keyboard.press("2")
        page.wait_for_selector(f'{A_GRID} .card[data-index="1"][data-label="dots"]')
        assert page.locator("#status").inner_text() == f"Saved: {first_id} \u2192 dots"
        assert cards.nth(2).get_attribute("class").split() == ["card", "selected"]
        # "x" excludes the now-selected third image.
        excluded_id = cards.nth(2).get_attribute("data-id")
        page.keyboard.press("x")
        page.wait_for_selector(f'{A_GRID} .card[data-index="2"].excluded')

        # Mouse: the label menu of the sixth card, and the exclude button of the seventh (twice: back in).
        clicked_id = cards.nth(5).get_attribute("data-id")
        cards.nth(5).locator("select.label-select").select_option("stripes")
        page.wait_for_selector(f'{A_GRID} .card[data-index="5"][data-label="stripes"]')
        cards.nth(6).locator("button.exclude-btn").click()
        page.wait_for_selector(f'{A_GRID} .card[data-index="6"].excluded')
        cards.nth(6).locator("button.exclude-btn").click()
        page.wait_for_selector(f'{A_GRID} .card[data-index="6"]:not(.excluded)')

        # The sidecar holds exactly these fixes, and a fresh dataset applies them.
        fixes = read_fixes(data_copy)
        assert fixes["relabel"] == {first_id: "dots", clicked_id: "stripes"}
        assert fixes["exclude"] == [excluded_id]
        reloaded = ClassificationDataset.from_directory(data_copy)
        by_id = {r.id: r for r in reloaded.images}
        assert by_id[first_id].label == "dots" and by_id[first_id].original_label == "checks"
        assert by_id[clicked_id].label == "stripes"
        assert [r.id for r in reloaded.excluded] == [excluded_id] and excluded_id not in by_id
        assert len(reloaded) == 35

        # Filters: relabelled images only; then a name search; then one label.
        page.select_option("#a-status", "relabeled")
        wait_grid(page, A_GRID, 1, 2)
        assert sorted(cards.evaluate_all("cs => cs.map(c => c.dataset.id)")) == sorted([first_id, clicked_id])
        page.select_option("#a-status", "all")
        page.fill("#a-search", os.path.basename(clicked_id))
        wait_grid(page, A_GRID, 1, 1)
        page.fill("#a-search", "")
        wait_grid(page, A_GRID, 1, 10)
        page.select_option("#a-label", "dots")
        wait_grid(page, A_GRID, 1, 10)
        assert page.locator("#a-pageinfo").inner_text() == "page 1 of 2 \u00b7 13 images"  # 12 + 1 relabelled

        # Paging with n / p and by moving past the end of a page.
        page.locator("body").click(position={"x": 5, "y": 5})  # focus leaves the menus
        page.keyboard.press("n")
        wait_grid(page, A_GRID, 2, 3)
        page.keyboard.press("p")
        wait_grid(page, A_GRID, 1, 10)
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        wait_grid(page, A_GRID, 2, 3)
        assert "label=dots" in page.url and "page=2" in page.url
        page.screenshot(path=str(artifacts_dir() / "ui-annotate.png"), full_page=True)

    # A restarted UI shows the fixes.
    with served(data_copy, page_size=10) as server:
        status, data = http(server.url + "api/images?status=relabeled")
        assert status == 200 and {i["id"] for i in data["items"]} == {first_id, clicked_id}
        assert data["num_excluded"] == 1 and data["num_images"] == 35


def test_api_refuses_bad_input_with_messages(data_copy):
    with served(data_copy) as server:
        url, token = server.url, page_token(server.url)
        image_id = http(url + "api/images?page_size=1")[1]["items"][0]["id"]
        status, body = http(url + "api/relabel", json.dumps({"id": image_id, "label": "cows"}).encode(), token=token)
        assert status == 400 and "Unknown label" in body["error"] and "cows" in body["error"]
        status, body = http(url + "api/relabel", json.dumps({"id": "nope.jpg", "label": "dots"}).encode(), token=token)
        assert status == 404 and "nope.jpg" in body["error"]
        form = b"id=1&label=dots"
        status, body = http(url + "api/relabel", form, "application/x-www-form-urlencoded", token=token)
        assert status == 415  # a cross-site form cannot change labels
        body = json.dumps({"id": image_id, "excluded": "yes"}).encode()
        status, body = http(url + "api/exclude", body, token=token)
        assert status == 400 and "excluded must be true or false" in body["error"]
        status, body = http(url + "api/images?status=weird")
        assert status == 400 and "status must be one of" in body["error"]
        status, body = http(url + "api/images?page_size=100000")
        assert status == 400 and "page_size" in body["error"]
        status, body = http(url + "api/images?page=999")
        assert status == 200 and body["page"] == body["pages"] == 1  # past the end: the last page
        status, body = http(url + "api/results")
        assert status == 404 and "--run RUN_DIR" in body["error"]
        status, _ = http(url + "static/..%2F__init__.py")
        assert status == 404
        status, body = http(url + "api/thumb?id=" + urllib.request.quote(image_id, safe=""))
        assert status == 200 and body[:2] == b"\xff\xd8"  # JPEG
        assert read_fixes(data_copy) == {"relabel": {}, "exclude": []}  # nothing was changed
    with pytest.raises(ValueError, match="page_size must be"):
        create_app(data_copy, page_size=0)
    with pytest.raises(ValueError, match="Not a training run folder"):
        create_app(data_copy, run_dir=data_copy)


# ------------------------------------------------------------ other web pages
@pytest.fixture
def small_data(tmp_path):
    """3 labels x 2 images of 32 px."""
    return make_sample(str(tmp_path / "data"), images_per_label=2, image_size=(32, 32))


def test_dns_rebinding_is_refused_and_changes_need_the_session_token(small_data):
    with served(small_data, allowed_hosts=["photos.lan"]) as server:
        url, port, token = server.url, server.port, page_token(server.url)
        image_id = http(url + "api/images?page_size=1")[1]["items"][0]["id"]
        quoted = urllib.request.quote(image_id, safe="")
        relabel = json.dumps({"id": image_id, "label": "stripes"}).encode()

        # A page of attacker.example, whose name now resolves to 127.0.0.1, reads nothing (not even the
        # page with its token) and changes nothing, token or not.
        rebound = {"Host": f"attacker.example:{port}"}
        for path in ("", "static/common.js", "api/info", "api/images", f"api/image?id={quoted}", f"api/thumb?id={quoted}"):
            status, body = http(url + path, headers=rebound)
            assert status == 421 and "Host='attacker.example:" in body["error"], path
        assert http(url + "api/relabel", relabel, token=token, headers=rebound)[0] == 421
        assert read_fixes(small_data)["relabel"] == {}

        # The names it serves, with or without a port; not another address, nor a request without a Host.
        for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LocalHost.", f"[::1]:{port}", "photos.lan"):
            assert http(url + "api/info", headers={"Host": host})[0] == 200, host
        for host in ("127.0.0.2", f"localhost.attacker.example:{port}", "[::2]", "photos.lan.attacker.example"):
            assert http(url + "api/info", headers={"Host": host})[0] == 421, host
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:  # HTTP/1.0 may leave Host out
            sock.sendall(b"GET /api/info HTTP/1.0\r\n\r\n")
            assert sock.recv(64).split(b" ")[1] == b"421"

        # A change without the session's token, or with a wrong one, is refused; with it, it is saved.
        for headers in ({}, {TOKEN_HEADER: ""}, {TOKEN_HEADER: token[:-1] + ("A" if token[-1] != "A" else "B")}):
            status, body = http(url + "api/relabel", relabel, headers=headers)
            assert status == 403 and TOKEN_HEADER in body["error"], headers
        assert http(url + "api/reload", b"{}")[0] == 403
        assert read_fixes(small_data)["relabel"] == {}
        status, body = http(url + "api/relabel", relabel, token=token)
        assert status == 200 and read_fixes(small_data)["relabel"] == {image_id: "stripes"}

    # Another session, another token: the last one is refused.
    with served(small_data) as server:
        assert page_token(server.url) != token
        back = json.dumps({"id": image_id, "label": "checks"}).encode()
        assert http(server.url + "api/relabel", back, token=token)[0] == 403
        assert read_fixes(small_data)["relabel"] == {image_id: "stripes"}

    # Bound to every interface, a request may name the address it reached (a literal address cannot be
    # rebound to another machine's page), not another one.
    with served(small_data, host="0.0.0.0") as server:
        other = f"http://127.0.0.2:{server.port}/api/info"
        assert http(other)[0] == 200
        assert http(other, headers={"Host": f"127.0.0.3:{server.port}"})[0] == 421


def test_thumbnail_cache_is_private_and_planted_thumbnails_are_not_served(small_data, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # A dataset made from a list has no folder: its thumbnails were cached in
    # /tmp/keras_cvcls-thumbs-<sha1 of "-">, a path any user of the machine could predict and fill.
    folder = ClassificationDataset.from_directory(small_data)
    dataset = ClassificationDataset.from_list([(r.path, r.label) for r in folder.images])
    record = dataset.images[0]
    st = os.stat(record.path)
    old_key = hashlib.sha1(f"{record.id}\0{st.st_mtime_ns}\0{st.st_size}\0{160}".encode()).hexdigest()
    old_dir = os.path.join(tempfile.gettempdir(), "keras_cvcls-thumbs-" + hashlib.sha1(b"-").hexdigest()[:12])
    planted_path = os.path.join(old_dir, old_key[:2], old_key + ".jpg")
    planted = jpeg_bytes(np.full((16, 16, 3), (255, 0, 0), np.uint8))
    os.makedirs(os.path.dirname(planted_path), exist_ok=True)
    with open(planted_path, "wb") as f:
        f.write(planted)
    thumb_url = "api/thumb?id=" + urllib.request.quote(record.id, safe="")
    try:
        with served(dataset) as server:
            cache = server.app[UI_STATE].thumbs
            real = make_thumbnail(record.path, 160)
            assert http(server.url + thumb_url) == (200, real) and real != planted
            # The cache is the user's own, 0700, under $XDG_CACHE_HOME.
            assert cache.cache_dir.startswith(str(tmp_path / "cache" / "keras_cvcls" / "thumbs") + os.sep)
            assert os.stat(tmp_path / "cache" / "keras_cvcls").st_mode & 0o777 == 0o700

            # Planted in the new cache (were it reachable): a link is not served, but replaced.
            cached = cache.path_for(cache.key(record.id, record.path))
            assert os.path.isfile(cached)
            os.remove(cached)
            (tmp_path / "planted.jpg").write_bytes(planted)
            os.symlink(tmp_path / "planted.jpg", cached)
            assert http(server.url + thumb_url) == (200, real) and not os.path.islink(cached)
            if os.geteuid() == 0:  # only root can hand a file to another user
                with open(cached, "wb") as f:
                    f.write(planted)
                os.chown(cached, 65534, 65534)
                assert http(server.url + thumb_url) == (200, real)
                assert os.stat(cached).st_uid == 0
    finally:
        os.remove(planted_path)

    # A cache folder other users can write is refused, with the remedy.
    os.chmod(tmp_path / "cache" / "keras_cvcls", 0o777)
    with pytest.raises(ValueError, match="can be written by other users.*chmod 700"):
        create_app(dataset)
    os.chmod(tmp_path / "cache" / "keras_cvcls", 0o700)
    with pytest.raises(ValueError, match="can be written by other users"):
        os.chmod(tmp_path, 0o777)
        try:
            create_app(dataset, thumb_cache_dir=tmp_path)
        finally:
            os.chmod(tmp_path, 0o700)


def test_ui_serves_no_file_that_a_link_leads_out_of_the_dataset(small_data, tmp_path):
    from conftest import gradient, save

    secret = save(str(tmp_path / "private" / "secret.png"), gradient(32, 32, seed=5))
    os.symlink(secret, os.path.join(small_data, "checks", "secret.png"))  # a file linked in
    os.symlink(os.path.dirname(secret), os.path.join(small_data, "private"))  # a label folder linked in
    with served(small_data) as server:
        status, data = http(server.url + "api/images?page_size=100")
        assert status == 200 and data["total"] == 6 and not any("secret" in i["id"] for i in data["items"])
        assert http(server.url + "api/info")[1]["labels"] == ["checks", "dots", "stripes"]

        # A file swapped for such a link once the dataset was read is not served either; a link that stays
        # inside the dataset is.
        first, second = data["items"][0], data["items"][1]
        path = os.path.join(small_data, *first["id"].split("/"))
        os.remove(path)
        os.symlink(secret, path)
        for kind in ("image", "thumb"):
            status, body = http(server.url + first[kind][1:])
            assert status == 403 and "outside the dataset folder" in body["error"], kind
        path = os.path.join(small_data, *second["id"].split("/"))
        os.remove(path)
        os.symlink(os.path.join(small_data, *data["items"][2]["id"].split("/")), path)
        for kind in ("image", "thumb"):
            assert http(server.url + second[kind][1:])[0] == 200, kind


# ---------------------------------------------------------------------- results
def test_results_view_finds_mistakes_relabels_and_links(ui_page, ui_run, data_copy):
    from keras_cvcls.evaluation import ClassificationEvaluation
    from keras_cvcls.models import load_classifier

    _, run_dir = ui_run
    page = ui_page
    with served(data_copy, run_dir) as server:
        page.goto(server.url + "#results")
        _, test = TrainingRun.load(run_dir, data_dir=data_copy).split
        wait_grid(page, R_GRID, 1, len(test))

        # Scores: computed once with the run's model, cached, equal to an independent evaluation.
        classifier = load_classifier(run_dir)
        expected = ClassificationEvaluation(classifier, test)
        with np.load(os.path.join(run_dir, SCORES_FILE)) as cached:
            assert list(cached["paths"]) == [r.path for r in test.images]
            np.testing.assert_allclose(cached["scores"], expected.scores, atol=1e-5)
        mistakes = int((expected.y_pred != expected.y_true).sum())
        summary = page.locator("#r-summary").inner_text()
        assert f"{len(test)} test images" in summary and f"{mistakes} mistakes" in summary

        # Sorted by loss, highest first; predicted labels as the model's.
        losses = page.locator(f"{R_GRID} .card .muted").all_inner_texts()
        values = [float(t.split()[1]) for t in losses if t.startswith("loss")]
        assert values == sorted(values, reverse=True) and len(values) == len(test)
        predicted = {r.id: classifier.labels[p] for r, p in zip(test.images, expected.y_pred)}
        shown = page.locator(f"{R_GRID} .card").evaluate_all("cs => cs.map(c => [c.dataset.id, c.dataset.predicted])")
        assert dict(shown) == predicted

        # Mistakes only, then relabel the first one to its predicted label with the keyboard.
        assert mistakes > 0, "the 1-epoch model is expected to make mistakes"
        page.select_option("#r-show", "mistakes")
        wait_grid(page, R_GRID, 1, mistakes)
        first = page.locator(f"{R_GRID} .card").first
        image_id, label = first.get_attribute("data-id"), first.get_attribute("data-predicted")
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press(str(classifier.labels.index(label) + 1))
        page.wait_for_selector(f'{R_GRID} .card[data-index="0"][data-label="{label}"]:not(.mistake)')
        page.wait_for_function(
            "n => document.querySelector('#r-summary').innerText.includes(n + ' mistakes')", arg=mistakes - 1
        )
        assert read_fixes(data_copy)["relabel"] == {image_id: label}
        reloaded = {r.id: r.label for r in ClassificationDataset.from_directory(data_copy).images}
        assert reloaded[image_id] == label
        page.select_option("#r-sort", "name")  # reloads the page of mistakes: one fewer
        wait_grid(page, R_GRID, 1, mistakes - 1)
        assert f"{mistakes - 1} mistakes" in page.locator("#r-summary").inner_text()

        # TensorBoard: the command and the link, TensorBoard itself not started.
        runbar = page.locator("#r-runbar")
        assert f"tensorboard --logdir {os.path.join(os.path.abspath(run_dir), 'logs')}" in runbar.inner_text()
        assert runbar.locator("a.tb-link").get_attribute("href") == "http://localhost:6006"
        page.screenshot(path=str(artifacts_dir() / "ui-results.png"), full_page=True)

        # The HTML report: written on first request into RUN_DIR/report.html and served.
        report_path = os.path.join(run_dir, "report.html")
        if os.path.exists(report_path):
            os.remove(report_path)
        with page.expect_popup() as popup_info:
            runbar.locator("a.report-link").click()
        report = popup_info.value
        report.wait_for_load_state("load")
        assert report.locator("section#summary").is_visible()
        assert os.path.isfile(report_path)
        # The report counts the relabelled image with its new label.
        accuracy = report.locator('#summary td[data-metric="Accuracy"]').inner_text()
        assert accuracy == f"{(len(test) - mistakes + 1) / len(test):.3f}"
        report.close()

    # A second UI on the run reads the cached scores instead of scoring again.
    with served(data_copy, run_dir) as server:
        status, data = http(server.url + "api/results?show=mistakes")
        assert status == 200 and data["summary"]["scores_from_cache"] is True
        assert data["summary"]["mistakes"] == mistakes - 1


# ------------------------------------------------------------- precision/recall
@pytest.fixture
def pr_run(ui_run, tmp_path):
    """The run, with cached scores replaced by spread-out synthetic ones (a 1-epoch model saturates)."""
    data_dir, run_dir = ui_run
    run_copy = tmp_path / "run"
    run_copy.mkdir()
    copy_tree(os.path.join(run_dir, MODEL_DIR), run_copy / MODEL_DIR, hard_links=True)
    for name in (SPLIT_FILE, CLASS_MAP_FILE, HISTORY_FILE):
        shutil.copy2(os.path.join(run_dir, name), run_copy / name)
    run = TrainingRun.load(run_copy)
    labels = run.labels
    dataset = ClassificationDataset.from_directory(data_dir)
    by_id = {r.id: r for r in dataset.images}
    ids = run.test_ids
    y_true = np.array([labels.index(by_id[i].label) for i in ids])
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(len(ids), 3))
    logits[np.arange(len(ids)), y_true] += 1.2
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    write_scores_cache(str(run_copy), [by_id[i].path for i in ids], labels, scores)
    return data_dir, str(run_copy), labels, y_true, scores.astype(np.float32).astype(np.float64)


def _shown_numbers(page):
    cells = page.locator("#pr-readout td[data-field]")
    return {
        cell["field"]: cell
        for cell in cells.evaluate_all(
            "cs => cs.map(c => ({field: c.dataset.field, text: c.innerText, value: c.dataset.value}))"
        )
    }


def _wait_readout(page, curve):
    page.wait_for_function(
        """(curve) => {
          const r = document.querySelector('#pr-readout');
          return r.dataset.state === 'ready' && r.dataset.curve === curve
            && r.dataset.threshold === document.querySelector('#pr-threshold').value;
        }""",
        arg=curve,
    )
    return float(page.locator("#pr-threshold").input_value())


def _check_against_sklearn(page, y_binary, scores, threshold):
    shown = _shown_numbers(page)
    predicted = scores >= threshold
    precision = metrics.precision_score(y_binary, predicted, zero_division=0)
    recall = metrics.recall_score(y_binary, predicted, zero_division=0)
    tn, fp, fn, tp = metrics.confusion_matrix(y_binary, predicted, labels=[0, 1]).ravel()
    assert float(shown["threshold"]["value"]) == threshold
    assert float(shown["precision"]["value"]) == precision
    assert float(shown["recall"]["value"]) == recall
    assert shown["precision"]["text"] == f"{precision:.4f}" and shown["recall"]["text"] == f"{recall:.4f}"
    assert [int(shown[k]["text"]) for k in ("tp", "fp", "fn", "tn")] == [tp, fp, fn, tn]
    ap = metrics.average_precision_score(y_binary, scores)
    assert float(shown["average_precision"]["value"]) == pytest.approx(ap, abs=1e-12)
    return precision, recall


def test_precision_recall_slider_matches_scikit_learn(ui_page, pr_run):
    data_dir, run_dir, labels, y_true, scores = pr_run
    one_hot = np.eye(3, dtype=int)[y_true]
    page = ui_page
    with served(data_dir, run_dir) as server:
        page.goto(server.url + "#pr")
        threshold = _wait_readout(page, "overall")
        assert threshold == 0.5
        assert page.locator("#pr-svg polyline.curve").count() == 4  # overall + one per class
        _check_against_sklearn(page, one_hot.ravel(), scores.ravel(), threshold)

        slider = page.locator("#pr-threshold")
        box = slider.bounding_box()
        seen = set()
        # Mouse: click at 30 %, then drag from there to 70 %.
        page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + box["height"] / 2)
        threshold = _wait_readout(page, "overall")
        seen.add(_check_against_sklearn(page, one_hot.ravel(), scores.ravel(), threshold))
        assert 0.2 < threshold < 0.4
        page.mouse.down()
        page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
        threshold = _wait_readout(page, "overall")
        assert 0.6 < threshold < 0.8
        seen.add(_check_against_sklearn(page, one_hot.ravel(), scores.ravel(), threshold))
        # Keyboard: 150 steps of 0.001 down.
        slider.focus()
        for _ in range(150):
            page.keyboard.press("ArrowLeft")
        new_threshold = _wait_readout(page, "overall")
        assert new_threshold == pytest.approx(threshold - 0.15, abs=1e-9)
        seen.add(_check_against_sklearn(page, one_hot.ravel(), scores.ravel(), new_threshold))
        assert len(seen) >= 2, "the slider should change the numbers"

        # One class, one-vs-rest on its own score column; and the typed threshold field.
        page.select_option("#pr-curve", labels[1])
        page.fill("#pr-threshold-number", "0.42")
        page.locator("#pr-threshold-number").press("Tab")
        threshold = _wait_readout(page, labels[1])
        assert threshold == 0.42
        _check_against_sklearn(page, one_hot[:, 1], scores[:, 1], threshold)
        rows = page.locator("#pr-table tbody tr").evaluate_all(
            "rs => rs.map(r => [r.dataset.curve,"
            " ...Array.from(r.querySelectorAll('td[data-value]'), td => Number(td.dataset.value))])"
        )
        assert [r[0] for r in rows] == ["overall", *labels]
        for name, precision, recall in rows:
            if name == "overall":
                y, s = one_hot.ravel(), scores.ravel()
            else:
                y, s = one_hot[:, labels.index(name)], scores[:, labels.index(name)]
            assert precision == metrics.precision_score(y, s >= threshold, zero_division=0)
            assert recall == metrics.recall_score(y, s >= threshold, zero_division=0)
        assert page.locator("#pr-marker").get_attribute("visibility") == "visible"
        page.screenshot(path=str(artifacts_dir() / "ui-precision-recall.png"), full_page=True)


# ------------------------------------------------------ results without a run folder
def test_results_and_pr_for_a_saved_model_on_a_data_folder(ui_page, ui_run, data_copy):
    from keras_cvcls.models import load_classifier
    from keras_cvcls.ui.app import UI_STATE

    model_dir = os.path.join(ui_run[1], MODEL_DIR)  # any saved classifier folder; no run around it is used
    dataset = ClassificationDataset.from_directory(data_copy)
    classifier = load_classifier(model_dir)
    expected = classifier.predict_scores(dataset)
    assert classifier.labels == dataset.labels
    y_true = np.asarray(dataset.label_ids)
    page = ui_page
    with served(data_copy, model=model_dir) as server:
        status, info = http(server.url + "api/info")
        assert status == 200 and info["run"] is None
        assert info["results"] == {"source": "model", "name": "model", "report_url": "/report"}
        status, data = http(server.url + "api/results?sort=name&page_size=500")
        assert status == 200 and data["total"] == len(dataset) == 36  # every image of the folder
        scores = server.app[UI_STATE].results.scores
        np.testing.assert_allclose(scores, expected, atol=1e-5)  # rows in image-id order, as the dataset's
        predicted = {item["id"]: item["predicted_label"] for item in data["items"]}
        assert predicted == {r.id: dataset.labels[p] for r, p in zip(dataset.images, scores.argmax(1))}
        summary = data["summary"]
        assert summary["source"] == "model" and summary["run_dir"] is None and summary["num_images"] == 36
        assert summary["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, scores.argmax(1)))
        one_hot = np.eye(3, dtype=int)[y_true]
        status, at = http(server.url + "api/pr/at?threshold=0.4")
        assert status == 200
        assert at["overall"]["precision"] == metrics.precision_score(one_hot.ravel(), scores.ravel() >= 0.4, zero_division=0)
        assert at["dots"]["recall"] == metrics.recall_score(one_hot[:, 1], scores[:, 1] >= 0.4, zero_division=0)
        status, report = http(server.url + "report")
        assert status == 200 and b"Evaluation of model" in report

        page.goto(server.url + "#results")
        wait_grid(page, R_GRID, 1, 36)
        assert page.locator("#r-runbar").inner_text().startswith("Model model")
        assert "36 images" in page.locator("#r-summary").inner_text()
        page.goto(server.url + "#pr")
        _wait_readout(page, "overall")
        assert page.locator("#pr-svg polyline.curve").count() == 4
    assert not os.path.exists(os.path.join(model_dir, SCORES_FILE))
    with pytest.raises(ValueError, match="No saved classifier here"):
        create_app(data_copy, model=data_copy)  # at once, not when the view opens


def test_results_and_pr_for_scores_in_memory(ui_page, data_copy):
    from keras_cvcls.ui import PrecisionRecallUI, ResultsUI

    dataset = ClassificationDataset.from_directory(data_copy)
    _, test = dataset.split(train_size=0.5, seed=0)
    labels = ["stripes", "dots", "checks"]  # score columns in another order than the dataset's labels
    y = np.array([labels.index(r.label) for r in test.images])
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(len(test), 3))
    logits[np.arange(len(test)), y] += 1.0
    scores = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    one_hot = np.eye(3, dtype=int)[y]
    mistakes = int((scores.argmax(1) != y).sum())
    assert mistakes > 0

    ui = ResultsUI(test, scores, labels)  # cvtk's call; started, shown as an IFrame in a notebook
    try:
        assert ui.view_url == ui.url + "#results" and f'src="{ui.view_url}"' in ui._repr_mimebundle_()["text/html"]
        status, info = http(ui.url + "api/info")
        assert info["results"]["source"] == "scores" and info["run"] is None
        status, data = http(ui.url + "api/results?page_size=500")
        assert status == 200 and data["total"] == len(test) and data["summary"]["mistakes"] == mistakes
        by_id = {item["id"]: item for item in data["items"]}
        for r, row in zip(test.images, scores):
            assert by_id[r.id]["predicted_label"] == labels[int(row.argmax())]
            assert by_id[r.id]["score"] == pytest.approx(float(row.max()))
        status, curves = http(ui.url + "api/pr")
        assert [c["name"] for c in curves["curves"]] == ["overall", *labels]
        assert curves["curves"][0]["average_precision"] == pytest.approx(
            metrics.average_precision_score(one_hot.ravel(), scores.ravel())
        )
        status, at = http(ui.url + "api/pr/at?threshold=0.35")
        for c, label in enumerate(labels):
            assert at[label]["precision"] == metrics.precision_score(one_hot[:, c], scores[:, c] >= 0.35, zero_division=0)
            assert at[label]["recall"] == metrics.recall_score(one_hot[:, c], scores[:, c] >= 0.35, zero_division=0)

        # Relabelling a mistake to its predicted label: one mistake fewer, and the fix is in the sidecar.
        wrong = next(r for r, row, t in zip(test.images, scores, y) if row.argmax() != t)
        new_label = labels[int(scores[[r.id for r in test.images].index(wrong.id)].argmax())]
        body = json.dumps({"id": wrong.id, "label": new_label}).encode()
        status, _ = http(ui.url + "api/relabel", body, token=page_token(ui.url))
        assert status == 200 and read_fixes(data_copy)["relabel"] == {wrong.id: new_label}
        assert http(ui.url + "api/results")[1]["summary"]["mistakes"] == mistakes - 1

        page = ui_page
        page.goto(ui.view_url)
        wait_grid(page, R_GRID, 1, len(test))
        assert page.locator("#r-runbar").inner_text().startswith("Scores given in Python")
    finally:
        ui.stop()
    pr = PrecisionRecallUI(test, scores, labels)
    try:
        assert pr.view_url.endswith("/#pr") and http(pr.url + "api/pr")[0] == 200
    finally:
        pr.stop()

    # show() in a notebook takes the same scores; one server per dataset and scores.
    try:
        show(test, scores=scores, labels=labels, view="pr")
        show(test, scores=scores, labels=list(labels), view="results")
        (server,) = notebook._servers.values()
        assert http(server.url + "api/info")[1]["results"]["source"] == "scores"
    finally:
        assert stop_all() == 1

    with pytest.raises(ValueError, match="needs scores"):
        ResultsUI(test)
    with pytest.raises(ValueError, match="one row per image"):
        create_app(test, scores=scores[:-1], labels=labels)
    with pytest.raises(ValueError, match="at most one of run_dir, model and scores"):
        create_app(test, model=data_copy, scores=scores, labels=labels)
    with pytest.raises(ValueError, match="pass scores too"):
        create_app(test, labels=labels)


def test_counts_at_equals_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.random(200).round(2)  # ties on purpose
    for t in [0.0, 0.13, 0.5, 0.99, 1.0, 1.5]:
        c = counts_at(y, s, t)
        assert c["precision"] == metrics.precision_score(y, s >= t, zero_division=0)
        assert c["recall"] == metrics.recall_score(y, s >= t, zero_division=0)
        assert c["f1"] == pytest.approx(metrics.f1_score(y, s >= t, zero_division=0))
        confusion = metrics.confusion_matrix(y, s >= t, labels=[0, 1]).ravel().tolist()
        assert [c["tn"], c["fp"], c["fn"], c["tp"]] == confusion


# -------------------------------------------------------------------- thumbnails
def test_thumbnails_are_upright_cached_and_keyed_by_file(tmp_path, monkeypatch):
    from conftest import gradient, save
    from PIL import Image

    from keras_cvcls.ui import thumbnails

    g = gradient(48, 64)
    exif = Image.Exif()
    exif[274] = 6  # stored rotated; shown upright
    rotated = np.ascontiguousarray(np.rot90(g, 1))
    path = save(str(tmp_path / "data" / "cat" / "rot.jpg"), rotated, exif=exif.tobytes(), quality=95)
    save(str(tmp_path / "data" / "dog" / "plain.png"), g)
    image = Image.open(__import__("io").BytesIO(make_thumbnail(path, 32)))
    assert image.format == "JPEG" and image.size == (32, 24)  # upright: landscape, as the gradient
    top, left = np.asarray(image)[2, 16], np.asarray(image)[12, 2]
    assert top[0] > 150 and left[2] > 150  # red at the top, blue at the left

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = ThumbnailCache.for_dataset(str(tmp_path / "data"), size=32)
    # The user's private cache, one folder per dataset, made 0700 all the way down.
    assert cache.cache_dir == thumbnails.default_cache_dir(str(tmp_path / "data"))
    assert os.path.dirname(os.path.dirname(cache.cache_dir)) == str(tmp_path / "cache" / "keras_cvcls")
    for folder in (tmp_path / "cache" / "keras_cvcls", tmp_path / "cache" / "keras_cvcls" / "thumbs", cache.cache_dir):
        assert os.stat(folder).st_mode & 0o777 == 0o700, folder
    first = cache.get("cat/rot.jpg", path)
    assert first.startswith(cache.cache_dir) and os.path.isfile(first)
    monkeypatch.setattr(thumbnails, "make_thumbnail", lambda *a, **k: pytest.fail("decoded twice"))
    assert cache.get("cat/rot.jpg", path) == first
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    monkeypatch.undo()
    assert cache.get("cat/rot.jpg", path) != first  # the file changed: a new thumbnail
    assert not os.path.exists(tmp_path / "data" / ".keras_cvcls" / "thumbs")  # nothing written beside the data
    assert cache.clear() == 2
    with pytest.raises(ValueError, match="size must be"):
        ThumbnailCache(tmp_path, size=8)


# ---------------------------------------------------------------- notebook, CLI
def test_show_iframe_mode_returns_an_iframe_or_the_url(data_copy, monkeypatch):
    try:
        monkeypatch.setitem(sys.modules, "IPython", None)  # not installed
        url = show(data_copy, view="annotate")
        assert isinstance(url, str) and url.startswith("http://127.0.0.1:") and url.endswith("/#annotate")
        assert http(url.split("#")[0] + "api/info")[0] == 200
        assert show(data_copy).split("#")[0] == url.split("#")[0]  # the server is reused

        display = types.ModuleType("IPython.display")
        display.IFrame = lambda src, width, height: ("iframe", src, width, height)
        monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
        monkeypatch.setitem(sys.modules, "IPython.display", display)
        frame = show(data_copy, view="annotate", mode="iframe", height=500)
        assert frame == ("iframe", url, "100%", 500)
        with pytest.raises(ValueError, match="view must be one of"):
            show(data_copy, view="widgets")
    finally:
        assert stop_all() == 1
    assert not notebook._servers


def ui_env():
    """The environment of a ``keras-cvcls ui`` process: this one's (its cache folder too), TensorFlow quiet."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
def ui_process(command):
    """Runs a ``keras-cvcls ui`` command line; yields the URL it prints and the process, then stops it."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ui_env())
    try:
        line = process.stdout.readline()
        failed = process.stderr.read() if process.poll() is not None else ""
        assert line.startswith("keras-cvcls UI on http://127.0.0.1:"), (line, failed)
        yield line.split()[3], process
    finally:
        process.terminate()
        process.wait(30)


def test_cli_ui_command_serves(small_data):
    script = (
        "import argparse, sys\n"
        "from keras_cvcls.cli import ui_command\n"
        "parser = argparse.ArgumentParser(prog='keras-cvcls')\n"
        "ui_command.register(parser.add_subparsers(dest='command'))\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "assert args.run_dir is None and args.host == '0.0.0.0' and args.allow_host == ['photos.lan']\n"
        "sys.exit(args.run(args))\n"
    )
    command = [sys.executable, "-c", script, "ui", small_data, "--port", "0", "--page-size", "7"]
    with ui_process(command + ["--host", "0.0.0.0", "--allow-host", "photos.lan"]) as (url, process):
        # Bound to every interface: it says so, with the address it is bound to.
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert process.stdout.readline().startswith(f"Listening on 0.0.0.0:{port}: every network interface.")
        status, info = http(url + "api/info")
        assert status == 200 and info["page_size"] == 7 and info["run"] is None
        status, index = http(url)
        assert status == 200 and b"<title>keras-cvcls</title>" in index
        assert http(url + "api/info", headers={"Host": f"photos.lan:{port}"})[0] == 200
        assert http(url + "api/info", headers={"Host": f"attacker.example:{port}"})[0] == 421


def test_cli_ui_command_serves_a_saved_model(ui_run, data_copy):
    model_dir = os.path.join(ui_run[1], MODEL_DIR)
    command = [sys.executable, "-m", "keras_cvcls.cli.main", "ui", data_copy, "--port", "0", "--model", model_dir]
    with ui_process(command) as (url, _):
        status, info = http(url + "api/info")
        assert status == 200 and info["results"]["source"] == "model" and info["run"] is None
        status, data = http(url + "api/results?page_size=1")
        assert status == 200 and data["total"] == 36
    both = subprocess.run(command + ["--run", ui_run[1]], capture_output=True, text=True, env=ui_env(), timeout=120)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


# ----------------------------------------------------------------- 10,000 images
@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-10k") / "data"
    start = time.perf_counter()
    make_tiny_png_folder(str(root))
    return str(root), time.perf_counter() - start


@pytest.mark.slow
def test_paging_10000_images_is_fast(ui_page, big_folder):
    root, generate_s = big_folder
    timings = {"generate_10000_pngs_s": round(generate_s, 2)}
    start = time.perf_counter()
    create_app(root)  # first read: checks every image once, caches the checks
    timings["first_start_s"] = round(time.perf_counter() - start, 2)
    assert os.path.isfile(os.path.join(root, ".keras_cvcls", "checks.json"))

    page = ui_page
    start = time.perf_counter()
    with served(root) as server:  # a restart: checks come from the cache
        timings["cached_start_s"] = round(time.perf_counter() - start, 2)
        assert timings["cached_start_s"] < max(3.0, timings["first_start_s"])
        status, data = http(server.url + "api/images?page=100")
        assert status == 200 and data["total"] == 10_000 and data["pages"] == 167 and len(data["items"]) == 60

        # Each step: seconds seen from Python (Playwright's action + polling included), and in the
        # page, from the click / key / menu event (navigation start for "open") to the cards in the DOM.
        loads, in_page = {}, {}
        page.add_init_script(RENDER_CLOCK_JS)

        def step(name, action, page_number, count):
            loads[name] = timed(action, lambda: wait_grid(page, A_GRID, page_number, count))
            in_page[name] = last_render_s(page)

        step("open", lambda: page.goto(server.url + "#annotate"), 1, 60)
        lazy = page.locator(f"{A_GRID} img").evaluate_all("imgs => imgs.map(i => i.loading)")
        assert lazy == ["lazy"] * 60
        for n in range(2, 12):  # ten clicks on "Next"
            step(f"next->{n}", lambda: page.click("#a-next"), n, 60)
        page.locator("body").click(position={"x": 5, "y": 5})
        for n in range(12, 17):  # five presses of "n"
            step(f"key n->{n}", lambda: page.keyboard.press("n"), n, 60)
        jump = "window.__uiClock.start = performance.now(); location.hash = '#annotate?page=167'"
        step("hash->167", lambda: page.evaluate(jump), 167, 40)
        step("label filter", lambda: page.select_option("#a-label", "cats"), 1, 60)
        step("search (200 ms debounce)", lambda: page.fill("#a-search", "cats_00123"), 1, 1)

        # The first row's thumbnails arrive (made on request, then cached).
        page.fill("#a-search", "")
        page.select_option("#a-label", "")
        wait_grid(page, A_GRID, 1, 60)
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#a-grid img')).slice(0, 6)"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        thumbs = server.app[UI_STATE].thumbs.cache_dir
        cached = sum(len(files) for _, _, files in os.walk(thumbs))
        assert 6 <= cached < 10_000  # lazily: not every image
        page.screenshot(path=str(artifacts_dir() / "ui-annotate-10k.png"))

        api = []
        for n in (1, 80, 167):
            start = time.perf_counter()
            assert http(server.url + f"api/images?page={n}&label=dogs")[0] == 200
            api.append(time.perf_counter() - start)

    timings["page_render_s"] = {k: {"python": round(v, 3), "in_page": round(in_page[k], 3)} for k, v in loads.items()}
    timings["api_page_s"] = [round(v, 4) for v in api]
    (artifacts_dir() / "ui-paging-10k.json").write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings, indent=1))
    # The requirement: under a second from the click (or navigation) to the cards in the DOM, as the
    # page measures it. Seen from Python, Playwright's actionability checks and polling come on top
    # (typically 0.1-0.4 s on a loaded 2-core machine), hence the looser bound there.
    slow = {k: v for k, v in timings["page_render_s"].items() if v["in_page"] >= 1.0 or v["python"] >= 2.0}
    assert not slow, f"pages slower than 1 s: {slow}"
    assert max(api) < 0.5
