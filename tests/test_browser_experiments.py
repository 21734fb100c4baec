"""The Experiments and Lessons pages in Chromium: every view draws (its charts or tile grids), nothing
errors, screenshots saved.

Screenshots land in artifacts/screenshots/experiments-*.png and lessons-*.png for a person to look at.
"""
import re

import pytest

from tests.browser_support import open_page, page_errors, screenshot, wait_idle
from tests.conftest import needs_data

pytestmark = [pytest.mark.browser, needs_data]
EXPERIMENT_TABS = {"What it tolerates": "first variant whose answer changes",
                   "What it looks at": "A small patch slides over the digit",
                   "What it has seen": "This looks like a digit",
                   "Switch filters off": "Filters by the accuracy lost"}
LESSON_TABS = {"CNN or fully connected?": "Why a CNN and not a fully connected net?",
               "Two runs, two sets of filters": "pairs above 0.9",
               "Kernel quiz": "Which picture does this kernel make of the digit?"}


def follow(browser, url: str, link: str, tabs: dict[str, str], name: str):
    """Open the app, follow the navigation link, open each tab; check its text and charts; screenshot."""
    page = open_page(browser, url, viewport=(1400, 2200))
    page.get_by_role("link", name=link).click()
    page.get_by_role("tab", name=next(iter(tabs))).wait_for(timeout=60_000)
    wait_idle(page)
    for index, (tab, expected) in enumerate(tabs.items()):
        page.get_by_role("tab", name=tab).click()
        panel = page.get_by_role("tabpanel").locator("visible=true").first
        panel.get_by_text(re.compile(re.escape(expected))).first.wait_for(timeout=30_000)
        # A chart or a tile grid drawn in the tab on show.
        page.wait_for_function("[...document.querySelectorAll('[role=tabpanel]:not([hidden]) *')].some(e => "
                               "e.matches('.js-plotly-plot .main-svg') || (e.shadowRoot && e.shadowRoot.querySelector('.tile')))",
                               timeout=30_000)
        assert not page_errors(page), page_errors(page)
        screenshot(page, f"{name}-{index}")
    return page


def test_experiments_page_draws_every_view(browser, app_url):
    page = follow(browser, app_url, "Experiments", EXPERIMENT_TABS, "experiments")
    page.context.close()


def test_lessons_page_draws_every_view_and_answers_the_quiz(browser, app_url):
    page = follow(browser, app_url, "Lessons", LESSON_TABS, "lessons")
    page.locator("[data-testid=stRadio]").filter(has_text="Your answer").get_by_text("A", exact=True).click()
    page.get_by_text(re.compile(r"^(Right: A\.|Not quite: it is)")).first.wait_for(timeout=30_000)
    screenshot(page, "lessons-quiz-answered")
    page.context.close()
