"""Every click answered, in Chromium: the replay's slider and pictures agree, a confusion cell clicked
with the mouse lists its digits, a kernel clicked in a grid is selected (and switched off on the
Experiments page), and the shipped model shows its mistakes."""
import re
import time

import numpy as np
import pytest

from cnn_core.server.catalogue import DEFAULT_FOLDER
from tests.browser_support import open_page, page_errors, screenshot, wait_idle
from tests.conftest import needs_data

pytestmark = [pytest.mark.browser, needs_data,
              pytest.mark.skipif(not (DEFAULT_FOLDER / "filter_history.npz").is_file(),
                                 reason="the shipped model carries no filter history")]
STEP_TEXT = re.compile(r"^Training step [0-9,]+ \(")


def slider_step(page) -> str:
    return page.locator("[data-testid=stSlider]").filter(has_text="Training step").locator(
        "[data-testid=stSliderThumbValue]").inner_text()


def shown_step(page) -> str:
    """The step on show: the slider's while paused, the 'Training step N' line while playing."""
    playing = page.get_by_text(STEP_TEXT).locator("visible=true")
    if playing.count():
        return re.search(r"step ([0-9,]+)", playing.first.inner_text()).group(1)
    return slider_step(page)


def pictured_step(page) -> str:
    """The step the kernel pictures say they show (their grid's heading)."""
    heading = page.locator(".st-key-filters_timeline_kernels .tile-heading").inner_text()
    return re.search(r"step ([0-9,]+)", heading).group(1)


def tile(page, key: str, index: int):
    """Tile ``index`` of the grid with widget key ``key`` (Playwright's CSS locators pierce shadow roots)."""
    return page.locator(f".st-key-{key} .tile").nth(index)


def click_cell(page, key: str, true_class: int, predicted_class: int, classes: int = 10) -> None:
    """Click a confusion-matrix cell with the mouse, where it is drawn in the chart's plot area."""
    area = page.locator(f".st-key-{key} .nsewdrag").first
    area.wait_for(timeout=60_000)
    # The whole matrix on the screen (a partly shown one counts as shown for scroll_into_view_if_needed).
    page.locator(f".st-key-{key}").evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(800)  # scrolling and the expander's opening have settled
    box = area.bounding_box()
    x = box["x"] + box["width"] * (predicted_class + 0.5) / classes
    y = box["y"] + box["height"] * (true_class + 0.5) / classes
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_play_steps_through_the_shipped_models_training_and_the_slider_agrees_with_the_pictures(browser, app_url):
    page = open_page(browser, app_url, "filters?view=replay", viewport=(1400, 1600))
    page.get_by_text("Watch the filters form").wait_for(timeout=60_000)
    wait_idle(page)
    assert shown_step(page) == "1" == pictured_step(page)
    page.get_by_role("button", name=re.compile("Play")).click()
    deadline = time.time() + 60
    seen = set()
    while time.time() < deadline and len(seen) < 4:
        seen.add(shown_step(page))
        time.sleep(0.2)
    assert len(seen) >= 4, f"Play showed only steps {seen}"
    screenshot(page, "filters-timeline-playing")
    # Paused midway: the slider comes back on the step the pictures show, not on step 1.
    page.get_by_role("button", name=re.compile("Pause")).click()
    page.locator("[data-testid=stSlider]").filter(has_text="Training step").wait_for(timeout=30_000)
    wait_idle(page)
    assert slider_step(page) == pictured_step(page) != "1"
    # Played to the end: the slider reads the last step, as the pictures do.
    page.get_by_role("button", name=re.compile("Play")).click()
    page.locator("[data-testid=stSlider]").filter(has_text="Training step").wait_for(timeout=90_000)
    wait_idle(page)
    assert slider_step(page) == pictured_step(page) == "2,000"
    assert "step=2000" in page.url
    assert not page_errors(page), page_errors(page)
    page.context.close()


def test_a_mouse_click_on_a_confusion_cell_lists_its_digits_and_opens_one_in_predict(browser, app_url, app_server):
    from cnn_core.common.data import load_dataset
    from cnn_core.common.runs import RunStore
    from tests.support import completed_run, shipped_model_folder

    labels = load_dataset("mnist").test_labels
    run_id = completed_run(RunStore(app_server[1]), shipped_model_folder(), accuracy=0.5,
                           predictions=np.where(labels == 4, 9, labels))  # every 4 read as 9
    page = open_page(browser, app_url, f"train?run={run_id}", viewport=(1400, 1400))
    click_cell(page, "train_confusion", 4, 9)
    page.get_by_text(re.compile(r"4 read as 9")).first.wait_for(timeout=30_000)
    wait_idle(page)
    fours = np.flatnonzero(labels == 4)
    tile(page, "train_cell_digits", 3).click()  # a digit clicked in the grid is the one the buttons open
    page.locator(".st-key-train_cell_digits .tile.selected").filter(has_text=f"#{fours[3]}").wait_for(timeout=30_000)
    wait_idle(page)
    screenshot(page, "train-confusion-cell")
    page.get_by_role("button", name="Open in Predict").click()
    page.get_by_text(f"Test image #{fours[3]} (28x28)").wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"The true label is 4")).first.wait_for(timeout=30_000)
    assert f"digit={fours[3]}" in page.url and "view=sample" in page.url
    assert not page_errors(page), page_errors(page)
    page.context.close()


def test_the_shipped_model_shows_a_mistake_and_its_confusion_matrix_answers_a_click(browser, app_url):
    page = open_page(browser, app_url, "predict?view=sample&model=default", viewport=(1024, 768))
    page.get_by_role("button", name=re.compile("Show me a mistake")).click()
    page.get_by_text(re.compile("Wrong")).first.wait_for(timeout=30_000)
    page.get_by_text(re.compile("Where this model goes wrong")).click()
    page.get_by_text("Click a cell, or pick one below").wait_for(timeout=30_000)  # the expander is open
    wait_idle(page)
    click_cell(page, "predict_confusion", 9, 4)  # the shipped CNN's commonest mistake: six 9s read as 4
    page.get_by_text(re.compile(r"9 read as 4")).first.wait_for(timeout=30_000)
    wait_idle(page)
    assert page.locator(".st-key-predict_cell_digits .tile").count() == 6
    screenshot(page, "predict-shipped-confusion")
    assert not page_errors(page), page_errors(page)
    page.context.close()


def test_a_clicked_kernel_is_selected_and_switched_off_in_experiments(browser, app_url):
    page = open_page(browser, app_url, "filters?view=kernels", viewport=(1024, 768))
    tile(page, "filters_conv1_kernels", 5).click()
    page.get_by_text(re.compile(r"^Kernel #5 ")).wait_for(timeout=30_000)
    wait_idle(page)
    assert page.locator(".st-key-filters_conv1_kernels .tile.selected").inner_text().startswith("#5")
    assert "kernel=5" in page.url
    page.get_by_role("button", name="Switch kernel #5 off and see what it costs").click()
    page.get_by_text(re.compile(r"Off now:")).wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator(".st-key-experiments_grid1 .tile.off").inner_text().endswith("#5")
    assert page.get_by_text("Off now: conv1 #5").count()
    # More clicks: one more off, then #5 back on.
    tile(page, "experiments_grid1", 9).click()
    page.get_by_text("Off now: conv1 #5, #9").wait_for(timeout=30_000)
    tile(page, "experiments_grid1", 5).click()
    page.get_by_text("Off now: conv1 #9").wait_for(timeout=30_000)
    wait_idle(page)
    assert "off=1.9" in page.url
    screenshot(page, "experiments-switched-off")
    assert not page_errors(page), page_errors(page)
    page.context.close()
