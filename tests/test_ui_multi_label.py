"""The UI on a multi-label dataset: annotation with toggle keys and buttons, in headless Chromium."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from ui_helpers import BrowserThread, served, wait_grid

from keras_cvcls.data import MultiLabelDataset

A_GRID = "#a-grid"


@pytest.fixture(scope="module")
def ui_chromium():
    with BrowserThread() as chromium:
        yield chromium.browser


@pytest.fixture
def page(ui_chromium):
    context = ui_chromium.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def shelves(tmp_path):
    """6 images: labels {can}, {carton}, {can, carton} in turn; a CSV of them."""
    folder = tmp_path / "shelves"
    folder.mkdir()
    rows = []
    for i in range(6):
        Image.fromarray(np.full((24, 24, 3), 40 * i, np.uint8)).save(folder / f"s{i}.png")
        rows.append(f"s{i}.png," + ("can", "carton", "can carton")[i % 3])
    (folder / "labels.csv").write_text("path,labels\n" + "\n".join(rows) + "\n")
    return str(folder / "labels.csv")


def _labels_of(page, index):
    return page.locator(f'{A_GRID} .card[data-index="{index}"]').get_attribute("data-label")


def test_multi_label_annotation_with_toggle_keys_and_buttons(page, shelves):
    with served(shelves, page_size=10) as server:
        page.goto(server.url + "#annotate")
        wait_grid(page, A_GRID, 1, 6)
        assert page.locator("#a-keys").inner_text().startswith("1 toggle can")
        first_id = page.locator(f'{A_GRID} .card[data-index="0"]').get_attribute("data-id")
        before = _labels_of(page, 0).split()
        assert page.locator(f'{A_GRID} .card[data-index="0"] .label-toggle.on').count() == len(before)

        # "2" toggles carton on the selected (first) image; the selection stays, so "1" then toggles can.
        page.keyboard.press("2")
        want = sorted(set(before) ^ {"carton"})
        page.wait_for_selector(f'{A_GRID} .card[data-index="0"][data-label="{" ".join(want)}"]')
        assert page.locator(f"{A_GRID} .card.selected").get_attribute("data-index") == "0"
        if "can" in want and len(want) == 1:  # removing its last label is refused, with the reason
            page.keyboard.press("1")
            page.wait_for_function("document.getElementById('status').textContent.includes('at least one label')")
        else:
            page.keyboard.press("1")
            want = sorted(set(want) ^ {"can"})
            page.wait_for_selector(f'{A_GRID} .card[data-index="0"][data-label="{" ".join(want)}"]')

        # The mouse: the "can" button of a later card holding "carton" (so "can" may come or go).
        index = next(i for i in range(1, 6) if "carton" in _labels_of(page, i).split())
        second = page.locator(f'{A_GRID} .card[data-index="{index}"]')
        second_id, second_before = second.get_attribute("data-id"), second.get_attribute("data-label").split()
        second.locator('button.label-toggle[data-label="can"]').click()
        second_want = sorted(set(second_before) ^ {"can"})
        page.wait_for_selector(f'{A_GRID} .card[data-index="{index}"][data-label="{" ".join(second_want)}"]')
        assert second.locator('button.label-toggle[data-label="can"]').get_attribute("aria-pressed") == (
            "true" if "can" in second_want else "false"
        )

        # Filtering by a label lists the images that hold it.
        page.select_option("#a-label", "carton")
        reloaded = MultiLabelDataset.from_csv(shelves)
        holding = sorted(r.id for r in reloaded.images if "carton" in r.label)
        wait_grid(page, A_GRID, 1, len(holding))
        assert sorted(page.locator(f"{A_GRID} .card").evaluate_all("cs => cs.map(c => c.dataset.id)")) == holding

    # The sidecar holds the label sets, and a fresh dataset applies them.
    sidecar = os.path.join(os.path.dirname(shelves), ".keras_cvcls", "labels.csv.label-fixes.json")
    with open(sidecar, encoding="utf-8") as f:
        fixes = json.load(f)["relabel"]
    by_id = {r.id: r.label for r in reloaded.images}
    assert by_id[first_id] == tuple(want) and by_id[second_id] == tuple(second_want)
    assert fixes[second_id] == second_want


def test_results_per_label_correctness_and_a_threshold_slider_per_label(page, shelves):
    from sklearn import metrics

    dataset = MultiLabelDataset.from_csv(shelves)
    y = dataset.label_matrix  # columns: can, carton
    rng = np.random.default_rng(0)
    scores = np.clip(y * 0.5 + rng.random(y.shape) * 0.5, 0, 1).astype(np.float32)
    scores[0] = [0.2, 0.9]  # the first image: can missed; carton added unless it holds one
    thresholds = [0.6, 0.55]
    predicted = scores >= thresholds
    with served(dataset, scores=scores, labels=dataset.labels, thresholds=thresholds, page_size=10) as server:
        page.goto(server.url + "#results?sort=name")
        wait_grid(page, "#r-grid", 1, 6)
        for record in sorted(dataset.images, key=lambda r: r.id):
            row = [r.id for r in dataset.images].index(record.id)
            card = page.locator(f'#r-grid .card[data-id="{record.id}"]')
            for j, label in enumerate(dataset.labels):
                want = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): None}[(int(y[row, j]), int(predicted[row, j]))]
                chip = card.locator(f'.outcome[data-label="{label}"]')
                assert (chip.get_attribute("data-outcome") if chip.count() else None) == want, (record.id, label)
            assert ("mistake" in card.get_attribute("class").split()) == bool((y[row] != predicted[row]).any())
        exact = metrics.accuracy_score(y, predicted)
        assert f"exact-match ratio {exact:.3f}" in page.locator("#r-summary").inner_text()

        page.goto(server.url + "#pr")
        page.wait_for_selector("#pr-label-sliders input[data-label='carton']")
        assert float(page.locator("#pr-label-sliders input[data-label='carton']").input_value()) == 0.55
        page.select_option("#pr-curve", "carton")
        page.locator("#pr-label-sliders input[data-label='carton']").evaluate(
            "el => { el.value = '0.8'; el.dispatchEvent(new Event('input')); }"
        )
        page.wait_for_function(
            "() => { const r = document.getElementById('pr-readout');"
            " return r.dataset.state === 'ready' && r.dataset.curve === 'carton'"
            " && r.querySelector('[data-field=threshold]').dataset.value === '0.8'; }"
        )
        shown = float(page.locator("#pr-readout [data-field=precision]").get_attribute("data-value"))
        recall = float(page.locator("#pr-readout [data-field=recall]").get_attribute("data-value"))
        assert shown == pytest.approx(metrics.precision_score(y[:, 1], scores[:, 1] >= 0.8, zero_division=0))
        assert recall == pytest.approx(metrics.recall_score(y[:, 1], scores[:, 1] >= 0.8))
        # The "can" row of the table is still at its own threshold, 0.6.
        can_row = page.locator('#pr-table tr[data-curve="can"] td').nth(3)
        assert float(can_row.get_attribute("data-value")) == pytest.approx(metrics.recall_score(y[:, 0], scores[:, 0] >= 0.6))
