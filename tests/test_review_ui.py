"""The UI's review mode: findings one at a time; accept, keep, exclude and undo, checked in the sidecar."""

import json

import pytest
from ui_helpers import BrowserThread, read_fixes, served

from keras_cvcls.curation import DatasetIssues, Finding
from keras_cvcls.data import ClassificationDataset
from keras_cvcls.datasets import make_sample


@pytest.fixture(scope="module")
def review_chromium():
    with BrowserThread() as chromium:
        yield chromium.browser


@pytest.fixture
def review_page(review_chromium):
    context = review_chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def review_data(tmp_path):
    """Three labels x 4 images and a findings file on three of them (as `dataset issues --json` writes it)."""
    root = make_sample(str(tmp_path / "data"), images_per_label=4, image_size=(32, 32))
    ds = ClassificationDataset.from_directory(root)
    by_id = {r.id: r for r in ds.images}

    def finding(kind, image_id, score, reason, suggested=None):
        return Finding(kind, image_id, by_id[image_id].path, by_id[image_id].label, score, reason, suggested)

    issues = DatasetIssues([
        finding("outlier", "stripes/stripes_0002.jpg", 4.2, "unlike the rest of 'stripes'"),
        finding("label_error", "checks/checks_0001.jpg", 0.93, "confident learning flags the label", "dots"),
        finding("possible_label_error", "dots/dots_0003.jpg", 0.61, "a model that never saw it predicts stripes", "stripes"),
    ], [], labels=ds.labels, counts=ds.counts(), num_images=len(ds))
    path = issues.save(tmp_path / "issues.json")
    return root, str(path)


def _at(page, index, image_id, decision=""):
    page.wait_for_selector(f'.review-card[data-index="{index}"][data-id="{image_id}"][data-decision="{decision}"]')


def test_review_accept_keep_exclude_then_undo_through_the_page(review_page, review_data):
    page = review_page
    root, issues_file = review_data
    with served(root, issues=issues_file) as server:
        page.goto(server.url + "#review")
        # Best first: the label error, the outlier, then the possible label error.
        _at(page, 0, "checks/checks_0001.jpg")
        facts = page.locator(".review-facts")
        assert facts.locator('[data-field="label"]').inner_text() == "checks"
        assert facts.locator('[data-field="suggested"]').inner_text() == "dots"
        assert facts.locator('[data-field="reason"]').inner_text() == "confident learning flags the label"
        assert page.locator("#v-pageinfo").inner_text() == "finding 1 of 3"
        assert page.locator(".review-img").first.evaluate("img => img.complete && img.naturalWidth") == 32

        page.keyboard.press("a")  # accept: relabelled to the suggestion; on to the next finding
        _at(page, 1, "stripes/stripes_0002.jpg")
        assert read_fixes(root) == {"version": 1, "relabel": {"checks/checks_0001.jpg": "dots"}, "exclude": []}

        page.keyboard.press("k")  # keep: the label stays, the sidecar says a person kept it
        _at(page, 2, "dots/dots_0003.jpg")
        fixes = read_fixes(root)
        assert fixes["relabel"] == {"checks/checks_0001.jpg": "dots"} and fixes["kept"] == ["stripes/stripes_0002.jpg"]

        page.keyboard.press("x")  # exclude (the last finding: it stays shown, decided)
        _at(page, 2, "dots/dots_0003.jpg", "excluded")
        assert read_fixes(root)["exclude"] == ["dots/dots_0003.jpg"]
        assert facts.locator('[data-field="decision"]').inner_text() == "excluded"

        page.keyboard.press("u")  # undo, last decision first
        _at(page, 2, "dots/dots_0003.jpg", "")
        fixes = read_fixes(root)
        assert fixes["exclude"] == [] and fixes["kept"] == ["stripes/stripes_0002.jpg"]
        page.keyboard.press("u")
        _at(page, 1, "stripes/stripes_0002.jpg", "")
        assert read_fixes(root) == {"version": 1, "relabel": {"checks/checks_0001.jpg": "dots"}, "exclude": []}
        page.keyboard.press("u")
        _at(page, 0, "checks/checks_0001.jpg", "")
        assert read_fixes(root) == {"version": 1, "relabel": {}, "exclude": []}
        assert page.locator("#v-undo").is_disabled()

        # Decisions stand in the sidecar: a restarted UI shows an accepted finding as accepted.
        page.click("#v-accept")
        _at(page, 1, "stripes/stripes_0002.jpg")
    with served(root, issues=issues_file) as server:
        page.goto(server.url + "#review")
        _at(page, 0, "checks/checks_0001.jpg", "accepted")
    assert ClassificationDataset.from_directory(root).counts() == {"checks": 3, "dots": 5, "stripes": 4}


def test_review_api_refuses_bad_input_and_says_how_to_start_it(review_data):
    from test_ui import http, page_token

    root, issues_file = review_data
    with served(root) as server:
        status, body = http(server.url + "api/review")
        assert status == 404 and "--issues FILE" in body["error"]
    with served(root, issues=issues_file) as server:
        url, token = server.url, page_token(server.url)
        status, body = http(url + "api/review", json.dumps({"id": "checks/checks_0001.jpg", "action": "delete"}).encode(), token=token)
        assert status == 400 and "action must be one of ('accept', 'keep', 'exclude'). Received: action='delete'" in body["error"]
        status, body = http(url + "api/review", json.dumps({"id": "checks/checks_0000.jpg", "action": "keep"}).encode(), token=token)
        assert status == 400 and "No finding on this image" in body["error"]
        status, body = http(url + "api/review/undo", b"{}", token=token)
        assert status == 400 and body["error"] == "Nothing to undo."
        status, _ = http(url + "api/review", json.dumps({"id": "checks/checks_0001.jpg", "action": "keep"}).encode())
        assert status == 403  # no session token
    assert read_fixes(root) == {"relabel": {}, "exclude": []}
    from keras_cvcls.ui import create_app

    with pytest.raises(ValueError, match="Cannot read the findings file .*Received: path='.*checks_0000.jpg'"):
        create_app(root, issues=root + "/checks/checks_0000.jpg")
    with open(root + "/../other.json", "w") as f:
        json.dump({"findings": 3}, f)
    with pytest.raises(ValueError, match="Not a findings file: expected what `keras-cvcls dataset issues --json` prints"):
        create_app(root, issues=root + "/../other.json")


def test_label_new_photos_into_the_dataset_through_the_page(review_page, review_data, tmp_path):
    from test_ui import http

    page = review_page
    root, _ = review_data
    new = make_sample(str(tmp_path / "new"), images_per_label=1, image_size=(32, 32), seed=7)
    photos = ClassificationDataset.from_directory(new, labeled=False).images
    suggestions = {"strategy": "uncertainty", "labels": ["checks", "dots", "stripes"], "suggestions": [
        {"rank": k + 1, "id": r.id, "path": r.path, "score": 0.6 - k / 10, "predicted_label": "dots", "probability": 0.4}
        for k, r in enumerate(photos)
    ]}
    (tmp_path / "suggestions.json").write_text(json.dumps(suggestions))
    with served(root, suggestions=str(tmp_path / "suggestions.json")) as server:
        page.goto(server.url + "#new")
        page.wait_for_selector('#n-grid .card[data-index="2"]')
        assert page.locator("#n-grid .card").count() == 3
        page.keyboard.press("2")  # the first suggestion is a "dots" photo: copied into ROOT/dots/
        page.wait_for_selector('#n-grid .card.labelled[data-index="0"][data-label="dots"]')
        first = f"dots/{photos[0].name}"
        with open(f"{root}/{first}", "rb") as a, open(photos[0].path, "rb") as b:
            assert a.read() == b.read()
        assert page.locator('#n-grid .card[data-index="1"]').get_attribute("class").split() == ["card", "selected"]
        page.keyboard.press("1")
        page.wait_for_selector('#n-grid .card.labelled[data-index="1"][data-label="checks"]')
        # Labelling a photo again relabels its copy through the sidecar.
        page.locator('#n-grid .card[data-index="0"] select').select_option("stripes")
        page.wait_for_selector('#n-grid .card[data-index="0"][data-label="stripes"]')
        assert read_fixes(root)["relabel"] == {first: "stripes"}
        status, data = http(server.url + "api/images?status=relabeled")
        assert status == 200 and [i["id"] for i in data["items"]] == [first]
    reloaded = ClassificationDataset.from_directory(root)
    assert reloaded.counts() == {"checks": 5, "dots": 4, "stripes": 5}
    assert {r.id: r.label for r in reloaded.images}[first] == "stripes"
