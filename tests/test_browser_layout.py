"""Every page and every view read at 1024x768 (a projector, the sidebar open) and 1400x900, in Chromium.

Measured in the browser, on element boxes: nothing wider than the page; no button, menu, metric,
table column or chart cut; every tile of every grid at least 48 px, with its whole label inside it
and no label over another. On Predict the canvas and the answer sit side by side on one screen.
Screenshots go to artifacts/screenshots/layout-<page>-<width>.png for a person to look at.
"""
import pytest

from cnn_core.common.vocabulary import NAMES
from tests.browser_support import open_page, page_errors, screenshot, wait_idle
from tests.conftest import needs_data

pytestmark = [pytest.mark.browser, needs_data]
SCREENS = {1024: (1024, 768), 1400: (1400, 900)}
# Every view of every page, by its address; the Train page's run is added by the fixture.
VIEWS = ["", "tour", "filters", "predict?view=draw", "predict?view=sample", "predict?view=upload",
         "experiments?view=tolerates", "experiments?view=looks", "experiments?view=seen", "experiments?view=off",
         "lessons?view=compare", "lessons?view=pairs", "lessons?view=quiz",
         # Projector mode: larger type and tiles, the sidebar folded.
         "filters?projector=1", "experiments?view=off&projector=1", "lessons?view=pairs&projector=1"]

# What is wrong on the page as drawn, each problem a line naming the element.
PROBLEMS = """() => {
  const problems = [];
  const shown = e => e.checkVisibility() && e.getBoundingClientRect().width > 0;
  const main = document.querySelector('[data-testid=stMain]');
  const column = document.querySelector('[data-testid=stMainBlockContainer]').getBoundingClientRect();
  if (main.scrollWidth > main.clientWidth + 1) problems.push(`the page is ${main.scrollWidth - main.clientWidth} px too wide`);
  const cut = (selector, what) => document.querySelectorAll(selector).forEach(e => {
    if (shown(e) && e.scrollWidth > e.clientWidth + 1) problems.push(`${what} cut: ${(e.innerText || e.value || '').slice(0, 40)}`);
  });
  cut('button p, [data-testid=stPageLink] p', 'button');
  cut('[data-testid=stMetricLabel] p, [data-testid=stMetricValue] div', 'metric');
  cut('[data-testid=stSelectbox] input', 'menu');
  cut('[data-testid=stDataFrame] .dvn-scroller, [data-testid=stTable] > div', 'table');
  document.querySelectorAll('[data-testid=stPlotlyChart]').forEach(chart => {
    const svg = chart.querySelector('.main-svg');
    if (!svg || !shown(svg)) return;
    const box = svg.getBoundingClientRect(), holder = chart.getBoundingClientRect();
    if (box.right > holder.right + 1 || box.right > column.right + 1) problems.push(`chart cut: ${chart.parentElement.className.match(/st-key-\\S+/)}`);
  });
  document.querySelectorAll('[data-testid=stElementContainer]').forEach(e => {
    if (shown(e) && e.getBoundingClientRect().right > column.right + 1) problems.push(`past the column: ${e.className.match(/st-key-\\S+/) || e.innerText.slice(0, 30)}`);
  });
  const hosts = [...document.querySelectorAll('*')].filter(e => e.shadowRoot);
  for (const host of hosts) for (const grid of host.shadowRoot.querySelectorAll('.tile-grid')) {
    if (!shown(grid)) continue;
    const key = (host.closest('[class*=st-key-]') || host).className.match(/st-key-\\S+/);
    const labels = [];
    for (const tile of grid.querySelectorAll('.tile')) {
      const image = tile.querySelector('img').getBoundingClientRect(), label = tile.querySelector('.label');
      if (image.width < 47.5) problems.push(`${key}: a tile of ${Math.round(image.width)} px`);
      if (tile.getBoundingClientRect().right > column.right + 1) problems.push(`${key}: a tile past the column`);
      if (label.scrollHeight > label.clientHeight + 1 || label.scrollWidth > label.clientWidth + 1)
        problems.push(`${key}: label cut: ${label.innerText}`);
      labels.push(label.getBoundingClientRect());
    }
    labels.forEach((a, i) => labels.slice(i + 1).forEach(b => {
      if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
        problems.push(`${key}: labels overlap`);
    }));
  }
  return [...new Set(problems)];
}"""


@pytest.fixture(scope="module")
def saved_runs(app_server, tmp_path_factory, tiny_models):
    """Two runs in the server's folder, made elsewhere and moved in whole (no launcher sees them queued):
    one finished with its test predictions (so its results show), one failed."""
    from cnn_core.common.data import load_dataset
    from cnn_core.common.runs import RunStore
    from tests.support import completed_run

    labels = load_dataset("mnist").test_labels
    staging = RunStore(tmp_path_factory.mktemp("staging"))
    config = tiny_models.cnn.config
    # Ids that sort above the other browser tests' runs, so theirs stay at the bottom of the table.
    done = completed_run(staging, tiny_models.cnn, "20991231-235959-layout1", accuracy=0.9672,
                         predictions=(labels + (labels % 3 == 0)) % 10)
    failed = staging.create({"model": config.to_dict(), "train": {"iterations": 30}}, "20991231-235959-layout0")
    staging.write_status(failed, "failed", reason="mnist: not found locally and the download failed")
    app_server[1].mkdir(parents=True, exist_ok=True)
    for run_id in (done, failed):
        staging.path(run_id).rename(app_server[1] / run_id)
    return done, failed


def settle(page) -> None:
    """The script has finished and the browser has drawn what it sent (charts, grids, tables)."""
    wait_idle(page)
    page.wait_for_timeout(1500)
    wait_idle(page)


@pytest.mark.parametrize("width", [1024, 1400])
def test_the_train_page_reads_whole_at(browser, app_url, saved_runs, width):
    home = open_page(browser, app_url)  # a fresh server routes pages through app.py after one visit
    home.context.close()
    page = open_page(browser, app_url, f"train?run={saved_runs[0]}", viewport=SCREENS[width])
    page.get_by_role("button", name="Launch training").wait_for(timeout=60_000)
    # The fast preset, whose schedule is the one that showed as "warmup_cosin…".
    # Widgets appear once the browser has loaded their code: a while on two busy cores.
    preset = page.locator("[data-testid=stSelectbox]").filter(has_text="Preset").locator("input")
    preset.wait_for(timeout=120_000)
    preset.click()
    page.get_by_role("option", name=NAMES["preset"]["fast"].menu).click()
    page.get_by_text("Full test accuracy").wait_for(timeout=60_000)
    page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=60_000)
    settle(page)  # the grid lays its columns out after the script ends
    path = screenshot(page, f"layout-train-{width}")
    assert not page_errors(page), page_errors(page)
    assert page.evaluate(PROBLEMS) == [], path
    shown = page.evaluate("() => [...document.querySelectorAll('[data-testid=stSelectbox] input')].map(e => e.value)")
    assert "Warm-up then cosine" in shown and not any("_" in value for value in shown), shown
    page.context.close()


@pytest.mark.parametrize("width", [1024, 1400])
@pytest.mark.parametrize("view", VIEWS)
def test_every_view_reads_whole_at(browser, app_url, view, width):
    page = open_page(browser, app_url, view, viewport=SCREENS[width])
    page.locator("[data-testid=stMainBlockContainer] h1").first.wait_for(timeout=120_000)
    settle(page)
    name = view.replace("?view=", "-").replace("?", "-").replace("&projector=1", "-projector").replace("=1", "") or "home"
    path = screenshot(page, f"layout-{name}-{width}")
    assert not page_errors(page), page_errors(page)
    assert page.evaluate(PROBLEMS) == [], path
    page.context.close()


def test_predict_shows_the_canvas_and_the_answer_side_by_side_on_one_1024x768_screen(browser, app_url):
    from tests.test_browser_predict import canvas_box, draw_digit

    page = open_page(browser, app_url, "predict", viewport=SCREENS[1024])
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    draw_digit(page, "7")
    settle(page)
    canvas = canvas_box(page)
    answer = page.get_by_text("The model says").locator("visible=true").first.bounding_box()
    bars = page.locator(".st-key-predict_draw_bars .main-svg").first.bounding_box()
    path = screenshot(page, "layout-predict-drawn-1024")
    assert answer["x"] >= canvas["x"] + canvas["width"] and bars["x"] >= canvas["x"] + canvas["width"], path
    assert max(canvas["y"] + canvas["height"], bars["y"] + bars["height"]) <= 768, path  # no scrolling needed
    assert page.evaluate(PROBLEMS) == [], path
    page.context.close()
