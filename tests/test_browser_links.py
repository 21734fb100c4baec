"""Lesson links, the guided tour, projector mode and a server that fetches nothing from elsewhere, in Chromium.

A link copied from "Link to this view" opens the same view in another browser (another context:
no cookies, no session), with no rights over anyone's runs; the tour runs from Home through every
step and each step's picture starts on a 1024x768 screen; projector mode is kept by the address;
and every page renders with every request that is not to the app blocked, and none failing.
"""
import re
from urllib.parse import parse_qs, urlparse

import pytest

from pages import links
from pages.tour_steps import STEPS
from tests.browser_support import open_page, page_errors, screenshot, wait_idle
from tests.conftest import needs_data

pytestmark = [pytest.mark.browser, needs_data]
# Every parameter name the app writes into an address: a link carries these and nothing else.
KNOWN = {value for name, value in vars(links).items() if name.isupper() and isinstance(value, str)}
# What each tour step is about: the element that must start on the first screen.
ANCHORS = ["filters_designed", "filters_sparsity", "filters_conv1_kernels", "filters_timeline_kernels", "filters_maps",
           "predict_canvas_0", "predict_sample_bars", "experiments_occlusion", "lessons_shift", "lessons_pairs"]


def copied_link(page, view: str) -> str:
    """Press the "Link to this view" button of ``view`` and read the address it shows."""
    button = page.locator(f".st-key-link_{view} button")
    button.scroll_into_view_if_needed()
    button.click()
    field = page.locator(f".st-key-link_{view} input")
    field.wait_for(timeout=10_000)
    return field.input_value()


def test_a_copied_link_shows_the_same_view_in_another_browser_and_carries_no_rights(browser, app_url, app_server):
    from cnn_core.common.runs import RunStore
    from tests.support import completed_run, shipped_model_folder

    page = open_page(browser, app_url, "filters?view=maps&stage=relu1", viewport=(1400, 1000))
    page.locator(".st-key-filters_maps .tile").nth(6).click()
    page.get_by_text(re.compile(r"relu1 map #6")).wait_for(timeout=30_000)
    wait_idle(page)
    link = copied_link(page, "maps")
    address = parse_qs(urlparse(link).query)
    assert address["page"] == ["filters"] and address["kernel"] == ["6"] and address["stage"] == ["relu1"]
    assert set(address) <= KNOWN, set(address) - KNOWN  # view settings only: no token, nothing else
    other = open_page(browser, link, viewport=(1400, 1000))  # another browser: a new context, a new session
    other.get_by_text(re.compile(r"relu1 map #6")).wait_for(timeout=60_000)
    assert other.locator(".st-key-filters_maps .tile.selected").inner_text() == "#6"
    assert urlparse(other.url).path.endswith("/filters")
    screenshot(other, "links-opened-elsewhere")
    # A drawing travels in the link itself, with its answer.
    from tests.test_browser_predict import answer, draw_digit

    drawer = open_page(browser, app_url, "predict", viewport=(1400, 1000))
    drawer.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    draw_digit(drawer, "7")
    said = answer(drawer)
    link = copied_link(drawer, "draw")
    viewer = open_page(browser, link, viewport=(1400, 1000))
    viewer.get_by_text("This drawing came with the link.").wait_for(timeout=60_000)
    assert answer(viewer) == said
    # A run's link shows its results to anyone; it gives no right to stop or delete it.
    import numpy as np

    shipped = shipped_model_folder()
    run_id = completed_run(RunStore(app_server[1]), shipped, accuracy=0.99, owner="someone-else",
                           predictions=np.load(shipped.folder / "predictions.npy"))
    visitor = open_page(browser, app_url, f"?page=train&run={run_id}", viewport=(1400, 1000))
    visitor.get_by_text("Full test accuracy").wait_for(timeout=60_000)
    wait_idle(visitor)
    assert not visitor.get_by_role("button", name=re.compile(r"^(Stop|Delete\.\.\.)$")).count()
    assert not page_errors(visitor), page_errors(visitor)
    for tab in (page, other, drawer, viewer, visitor):
        tab.context.close()


def test_the_guided_tour_runs_from_home_and_each_step_starts_on_a_1024x768_screen(browser, app_url):
    page = open_page(browser, app_url, viewport=(1024, 768))
    page.get_by_role("link", name="Start the guided tour").click()
    for number, anchor in enumerate(ANCHORS, start=1):
        page.get_by_text(f"Step {number} of {len(STEPS)}: {STEPS[number - 1].title}.").wait_for(timeout=90_000)
        element = page.locator(f".st-key-{anchor}").first
        element.wait_for(timeout=90_000)
        wait_idle(page)
        box = element.bounding_box()
        path = screenshot(page, f"tour-step-{number}")
        assert box["y"] < 768 - 100, (anchor, box, path)  # its top, at least, on the first screen
        assert not page_errors(page), (number, page_errors(page))
        assert f"tour={number}" in page.url
        if number == 2:  # Back, then on again
            page.get_by_role("button", name="Back").click()
            page.get_by_text(f"Step 1 of {len(STEPS)}").wait_for(timeout=60_000)
            page.get_by_role("button", name="Next").click()
            page.get_by_text(f"Step 2 of {len(STEPS)}").wait_for(timeout=60_000)
        if number < len(ANCHORS):
            page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Finish").click()
    page.get_by_role("heading", name="Guided tour").wait_for(timeout=60_000)
    last = page.get_by_role("link", name=re.compile(r"^10\. "))
    last.wait_for(timeout=60_000)  # the heading is drawn before the list under it
    assert last.count() == 1  # every step listed on the tour's page
    page.context.close()


def test_projector_mode_is_kept_by_the_address_and_folds_the_sidebar(browser, app_url):
    state = """() => ({font: getComputedStyle(document.documentElement).fontSize,
        sidebar: document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().width})"""
    page = open_page(browser, app_url, viewport=(1024, 768))
    assert page.evaluate(state) == {"font": "16px", "sidebar": 300}
    page.get_by_text("Projector mode").click()
    page.wait_for_url(re.compile(r"projector=1"), timeout=30_000)
    wait_idle(page)
    page.wait_for_function("document.querySelector('[data-testid=stSidebar]').getBoundingClientRect().width < 5",
                           timeout=30_000)
    assert page.evaluate(state)["font"] == "20px"
    link = page.url
    page.context.close()
    again = open_page(browser, link.replace("/?", "/?page=filters&view=kernels&"), viewport=(1024, 768))
    again.locator(".st-key-filters_conv1_kernels .tile").first.wait_for(timeout=60_000)
    wait_idle(again)
    assert again.evaluate(state)["font"] == "20px" and "projector=1" in again.url
    tile = again.locator(".st-key-filters_conv1_kernels .tile img").first.bounding_box()
    assert tile["width"] >= 80  # 56 px tiles, half as large again for the room
    screenshot(again, "projector-filters")
    again.context.close()


PAGES = ["", "?page=tour", "?page=train", "?page=filters", "?page=predict&view=draw", "?page=predict&view=sample",
         "?page=experiments&view=tolerates", "?page=experiments&view=looks", "?page=experiments&view=seen",
         "?page=experiments&view=off", "?page=lessons&view=compare", "?page=lessons&view=pairs",
         "?page=lessons&view=quiz"]


def test_every_page_renders_with_nothing_fetched_from_outside_the_server(browser, app_url):
    """Fonts, icons and scripts are the app's own: a demo runs on a conference network, or none."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside, failed = [], []

    def only_the_app(route):
        address = route.request.url
        if address.startswith(app_url) or address.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(address)
            route.abort()

    context.route("**/*", only_the_app)
    for path in PAGES:
        page = context.new_page()
        page.on("response", lambda response: response.status < 400 or failed.append(f"{response.status} {response.url}"))
        page.on("requestfailed", lambda request: failed.append(f"{request.failure} {request.url}"))
        page.goto(app_url + path)
        wait_idle(page, 120)
        page.locator("[data-testid=stMainBlockContainer] h1").first.wait_for(timeout=120_000)
        page.wait_for_timeout(2000)  # what the page loads after its script (charts, components, fonts)
        wait_idle(page)
        assert not page_errors(page), (path, page_errors(page))
        page.close()  # after everything it asked for has come: nothing is cut off by leaving
    context.close()
    assert outside == [], outside
    assert failed == [], failed
