"""The Train page in real headless Chromium: a short run's chart gains points live, and Stop stops it.

Screenshots of the page idle, running and finished go to artifacts/screenshots/train-*.png.
"""
import json
import time

import pytest

from tests.browser_support import log_in_as_presenter, open_page, page_errors, page_warnings, screenshot, wait_idle
from tests.conftest import needs_data
from tests.support import poll

pytestmark = [pytest.mark.browser, needs_data]
# A tiny network on 600 images: thousands of steps a minute on two cores, so the chart moves fast.
TINY = {"Conv channels": "4, 8", "Dense units": "16", "Training images (0: all)": "600",
        "Batch size": "20", "Iterations": "100000", "Test every": "50", "Test images": "200"}
# Points in the loss chart's train line. The figure ships NumPy arrays as base64 typed arrays, so read
# the decoded data Plotly keeps on the chart's element after drawing it.
POINTS = "() => { const chart = document.querySelector('.js-plotly-plot'); " \
         "const trace = chart && chart._fullData && chart._fullData[0]; return trace ? trace.x.length : 0; }"


def fill_form(page, values: dict) -> None:
    for label, value in values.items():
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Tab")


def wait_for(condition, timeout: float, message: str, page=None):
    """poll(), with a screenshot of ``page`` when it gives up."""
    def shoot() -> str:
        return f"screenshot: {screenshot(page, 'train-failed')}" if page is not None else ""

    return poll(condition, timeout, message, details=shoot)


def test_a_live_run_gains_points_and_stop_stops_it(browser, app_url, app_server):
    runs_dir = app_server[1]
    # Streamlit runs pages/*.py on their own (its legacy pages-folder mode) until some session has run
    # app.py's st.navigation; a fresh server's first visitor opening /train directly would get that.
    home = open_page(browser, app_url)
    home.get_by_role("heading", name="CNN Lab").wait_for(timeout=60_000)
    home.context.close()
    # A tall window: Streamlit scrolls inside its own container, so screenshots show one window's worth.
    page = open_page(browser, app_url, "train", viewport=(1400, 2400))
    page.get_by_role("button", name="Launch training").wait_for(timeout=60_000)
    wait_idle(page)
    assert not page_errors(page), page_errors(page)
    screenshot(page, "train-idle")

    fill_form(page, TINY)
    page.get_by_role("button", name="Launch training").click()
    page.wait_for_url("**/train?run=*", timeout=30_000)  # page.url alone never updates in a sleep loop
    run_id = page.url.split("run=")[1].split("&")[0]
    # The worker process imports TensorFlow before its first step: up to half a minute on 2 busy cores.
    wait_for(lambda: page.evaluate(POINTS) > 3, 180, "the loss chart never showed points", page)
    first = page.evaluate(POINTS)
    # The charts' fragment redraws every few seconds (pages/train.py, CHART_SECONDS), without a reload.
    wait_for(lambda: page.evaluate(POINTS) > first, 15, "the live chart gained no points", page)
    assert page.get_by_text(f"{run_id}").count() and page.locator("[data-testid=stProgress]").count()
    screenshot(page, "train-running")

    page.get_by_role("button", name="Stop", exact=True).click()
    status = runs_dir / run_id / "status.json"
    # How fast Stop acts is measured by benchmarks/stop_latency.py, not asserted here.
    wait_for(lambda: json.loads(status.read_text())["status"] == "stopped", 120, "Stop did not stop the run", page)
    wait_for(lambda: page.get_by_text("Full test accuracy").count(), 30, "no results after the run stopped")
    wait_idle(page)
    time.sleep(1)  # Plotly draws the result charts just after the script ends.
    assert not page_errors(page), page_errors(page)
    screenshot(page, "train-finished")

    # A second visitor (or a reloaded tab) finds the run from the address alone.
    again = open_page(browser, app_url, f"train?run={run_id}")
    wait_for(lambda: again.get_by_text("Full test accuracy").count(), 60, "a new tab did not find the run")
    assert not page_errors(again), page_errors(again)
    bad = open_page(browser, app_url, "train?run=../etc")
    wait_for(lambda: any("There is no run" in warning for warning in page_warnings(bad)), 60,
             "a bad run id got no message")
    for tab in (page, again, bad):
        tab.context.close()


def test_saved_runs_overlay_download_and_deleting_the_bottom_row(browser, app_url, app_server, tiny_models,
                                                                    tmp_path):
    """Three saved runs; the bottom one (the oldest) is overlaid, downloaded and deleted by the presenter."""
    from cnn_core.common.runs import RunStore
    from tests.support import completed_run

    store = RunStore(app_server[1])
    ids = [completed_run(store, tiny_models.cnn, f"2099123{day}-235959-keep{day}0", accuracy=0.5) for day in (1, 0)]
    bottom = store.list_runs()[0][-1].run_id  # Newest first: the oldest run, another test's perhaps, is at the bottom.
    for run_id in ids:
        store.append_history(run_id, {"step": 1, "train_loss": 2.3, "test_loss": 2.3})
        store.append_history(run_id, {"step": 2, "train_loss": 1.0, "test_loss": 1.1})
    page = open_page(browser, app_url, "train", viewport=(1400, 2400))
    log_in_as_presenter(page)
    grid = page.locator("[data-testid=stDataFrame]").first
    grid.wait_for(timeout=60_000)
    rows = len(store.list_runs()[0])
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * (rows - 1) + 17)  # The bottom row's selection box.
    wait_for(lambda: page.get_by_role("button", name="Delete...").count(), 30, "selecting a row showed no actions", page)
    wait_idle(page)
    # The selected run's curve, overlaid: Plotly draws it just after the script ends.
    wait_for(lambda: page.locator(".js-plotly-plot").count(), 30, "no overlay chart for the selected run", page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download model (.keras)").click()
    saved = tmp_path / "downloaded.keras"
    download.value.save_as(saved)
    assert saved.read_bytes() == (store.path(bottom) / "model.keras").read_bytes()
    page.get_by_role("button", name="Delete...").click()
    page.get_by_role("button", name="Yes, delete").wait_for(timeout=30_000)
    assert page.get_by_text(f"Delete run {bottom} and its model").count()  # the bottom row's run
    assert store.path(bottom).exists()  # Nothing is deleted before the confirmation.
    page.get_by_role("button", name="Yes, delete").click()
    wait_for(lambda: not store.path(bottom).exists(), 30, "the run was not deleted", page)
    wait_idle(page)
    assert not page_errors(page), page_errors(page)
    # The row that moved up is not ticked: no actions are offered until someone selects again.
    assert not page.get_by_role("button", name="Delete...").count()
    assert all(store.path(run_id).exists() for run_id in ids if run_id != bottom)
    page.context.close()
