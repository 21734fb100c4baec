"""The Train page read at 1024 px (a projector) and 1400 px in headless Chromium: nothing clipped.

Checks what a person saw go wrong at 1024 px: drop-downs cut to "cons", "adar", "auto"; number
inputs without their +/- buttons; raw config values ("warmup_cosine") in the menus; a saved-runs
table wider than the page. Screenshots go to artifacts/screenshots/layout-train-<width>.png.
"""
import pytest

from cnn_core.common.vocabulary import NAMES
from tests.browser_support import open_page, page_errors, screenshot, wait_idle
from tests.conftest import needs_data

pytestmark = [pytest.mark.browser, needs_data]

# Menus whose shown value is cut (the value sits in an <input>, wider than its box when clipped).
CLIPPED = """() => [...document.querySelectorAll('[data-testid=stSelectbox] input')]
  .filter(e => e.checkVisibility() && e.scrollWidth > e.clientWidth + 1).map(e => e.value)"""
# Number inputs whose step buttons are missing or not shown.
NO_STEPS = """() => [...document.querySelectorAll('[data-testid=stNumberInput]')].filter(widget =>
  [...widget.querySelectorAll('[data-testid=stNumberInputStepUp], [data-testid=stNumberInputStepDown]')]
    .filter(b => b.checkVisibility() && b.getBoundingClientRect().width > 0).length !== 2)
  .map(widget => widget.innerText.split('\\n')[0])"""
TABLE_OVERFLOW = """() => [...document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller')]
  .map(s => s.scrollWidth - s.clientWidth)"""


@pytest.fixture(scope="module")
def saved_runs(app_server, tmp_path_factory, tiny_models):
    """Two runs in the server's folder, made elsewhere and moved in whole (no launcher sees them queued)."""
    from cnn_core.common.runs import RunStore
    from tests.support import completed_run

    staging = RunStore(tmp_path_factory.mktemp("staging"))
    config = tiny_models.cnn.config
    # Ids that sort above the other browser tests' runs, so theirs stay at the bottom of the table.
    done = completed_run(staging, tiny_models.cnn, "20991231-235959-layout1", accuracy=0.9672)
    failed = staging.create({"model": config.to_dict(), "train": {"iterations": 30}}, "20991231-235959-layout0")
    staging.write_status(failed, "failed", reason="mnist: not found locally and the download failed")
    app_server[1].mkdir(parents=True, exist_ok=True)
    for run_id in (done, failed):
        staging.path(run_id).rename(app_server[1] / run_id)
    return done, failed


@pytest.mark.parametrize("width", [1024, 1400])
def test_the_train_page_reads_whole_at(browser, app_url, saved_runs, width):
    home = open_page(browser, app_url)  # a fresh server routes pages through app.py after one visit
    home.context.close()
    page = open_page(browser, app_url, "train", viewport=(width, 2600))
    page.get_by_role("button", name="Launch training").wait_for(timeout=60_000)
    # The fast preset, whose schedule is the one that showed as "warmup_cosin…".
    # Widgets appear once the browser has loaded their code: a while on two busy cores.
    preset = page.locator("[data-testid=stSelectbox]").filter(has_text="Preset").locator("input")
    preset.wait_for(timeout=120_000)
    preset.click()
    page.get_by_role("option", name=NAMES["preset"]["fast"].menu).click()
    wait_idle(page)
    page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # the grid lays its columns out after the script ends
    path = screenshot(page, f"layout-train-{width}")
    assert not page_errors(page), page_errors(page)
    assert page.evaluate(CLIPPED) == [], path
    assert page.evaluate(NO_STEPS) == [], path
    shown = page.evaluate("() => [...document.querySelectorAll('[data-testid=stSelectbox] input')].map(e => e.value)")
    assert "Warm-up then cosine" in shown and not any("_" in value for value in shown), shown
    assert all(extra <= 1 for extra in page.evaluate(TABLE_OVERFLOW)), (page.evaluate(TABLE_OVERFLOW), path)
    main = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]'); "
                         "return m.scrollWidth - m.clientWidth; }")
    assert main <= 1, path
    page.context.close()
