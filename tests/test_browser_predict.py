"""The Predict page in a real browser: draw digits with mouse strokes, upload a bad file, sample.

Drawing needs a model that reads handwriting well, so these tests use the shipped seed model and
skip, saying so, while ``models/seed-mnist.keras`` is missing. Each test saves a screenshot under
``artifacts/screenshots/`` for a person to look at. The canvas (streamlit-drawable-canvas 0.13,
a Components v2 element) sits in the page's own DOM inside a shadow root, not in an iframe;
Playwright's CSS locators pierce open shadow roots.
"""
import re

import pytest

from cnn_core.server.catalogue import DEFAULT_FOLDER
from tests.browser_support import open_page, page_errors, screenshot, wait_idle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (DEFAULT_FOLDER / "model.tflite").is_file(),
                       reason=f"{DEFAULT_FOLDER} is missing: drawing tests need the shipped, well-trained model"),
]

# Strokes in canvas fractions (0..1 across, 0..1 down), drawn the way a person writes the digit.
DIGITS = {
    "1": [[(0.52, 0.12), (0.50, 0.50), (0.48, 0.88)]],
    "7": [[(0.22, 0.15), (0.78, 0.15)], [(0.78, 0.15), (0.55, 0.50), (0.42, 0.88)]],
    "0": [[(0.50, 0.12), (0.28, 0.30), (0.25, 0.60), (0.45, 0.88), (0.70, 0.75), (0.76, 0.40),
           (0.62, 0.15), (0.50, 0.12)]],
}
# The answer is shown: a visible paragraph (other tabs hold hidden ones) starting with the answer.
ANSWER_SHOWN = """() => {
  const shown = [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]
    .some(e => e.checkVisibility() && e.innerText.startsWith('The model says'));
  if (shown && window.__strokeEnd && !window.__answerAt) window.__answerAt = performance.now();
  return shown;
}"""


def canvas_box(page) -> dict:
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    return canvas.bounding_box()


def stroke(page, box: dict, points, last: bool = False) -> None:
    """One pen stroke through ``points``; the last one notes the time the pen lifts."""
    to_pixels = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])
    page.mouse.move(*to_pixels(*points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*to_pixels(*point), steps=12)
    if last:
        page.evaluate("window.__strokeEnd = performance.now(); window.__answerAt = 0")
    page.mouse.up()


def draw_digit(page, digit: str) -> float:
    """Draw ``digit`` on an empty canvas; return seconds from the pen lifting to the answer shown."""
    box = canvas_box(page)
    strokes = DIGITS[digit]
    for index, points in enumerate(strokes):
        stroke(page, box, points, last=index == len(strokes) - 1)
    page.wait_for_function(ANSWER_SHOWN, timeout=30_000, polling="raf")
    wait_idle(page)
    return page.evaluate("(window.__answerAt - window.__strokeEnd) / 1000")


def answer(page) -> str:
    return page.get_by_text(re.compile(r"^The model says")).locator("visible=true").first.inner_text()


def clear(page) -> None:
    """Press Clear and wait for the fresh, empty canvas it mounts."""
    page.get_by_role("button", name=re.compile("Clear")).click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=30_000)
    wait_idle(page)
    # The new canvas's Fabric.js sets itself up after the rerun ends; a pen that lands before
    # that draws nothing. Half a second is far more than it needs, even on a busy machine.
    page.locator("canvas.upper-canvas").first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(500)


def open_predict(browser, url: str, viewport=(1400, 1000)):
    """A new visitor on the home page who follows the navigation link to Predict."""
    # Not a deep link to /predict: on a fresh server, before app.py has run once, Streamlit
    # serves pages/predict.py on its own in its old pages-folder mode, without the router.
    page = open_page(browser, url, viewport=viewport)
    page.get_by_role("link", name="Predict").click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    wait_idle(page)
    return page


@pytest.fixture
def predict_page(browser, app_url):
    page = open_predict(browser, app_url)
    yield page
    page.context.close()


@pytest.mark.parametrize("digit", ["1", "7", "0"])
def test_drawing_a_digit_with_the_mouse_reads_it(predict_page, digit):
    draw_digit(predict_page, digit)
    shot = screenshot(predict_page, f"predict_draw_{digit}")
    assert answer(predict_page).startswith(f"The model says {digit},"), f"see {shot}"
    assert not page_errors(predict_page)


def test_the_answer_follows_each_new_drawing(predict_page):
    # How fast (pen up -> answer shown) is measured by benchmarks/server.py over 20 strokes; here,
    # that each new drawing after Clear gets its own answer.
    for digit in ("1", "7", "1"):
        clear(predict_page)
        draw_digit(predict_page, digit)
        assert answer(predict_page).startswith(f"The model says {digit},")


def test_a_file_that_is_not_an_image_gets_a_clear_message(predict_page):
    predict_page.get_by_role("tab", name="Upload an image").click()
    predict_page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"these are my notes, not a picture"})
    message = predict_page.get_by_text("notes.png cannot be used — not an image")
    message.wait_for(timeout=30_000)
    wait_idle(predict_page)
    screenshot(predict_page, "predict_upload_not_an_image")
    assert not predict_page.locator("[data-testid=stException]").count()


def test_the_canvas_fits_a_narrow_window(browser, app_url):
    page = open_predict(browser, app_url, viewport=(900, 900))
    try:
        box, holder = canvas_box(page), page.locator("[data-testid=stMain]").bounding_box()
        screenshot(page, "predict_narrow")
        assert box["width"] >= 279 and box["x"] + box["width"] <= holder["x"] + holder["width"]
        assert draw_digit(page, "1") and answer(page).startswith("The model says 1,")
    finally:
        page.context.close()


def test_a_sampled_test_digit_shows_its_true_label(predict_page):
    predict_page.get_by_role("tab", name="Sample a test digit").click()
    predict_page.get_by_role("button", name=re.compile("Sample a test digit")).click()
    wait_idle(predict_page)
    predict_page.get_by_text(re.compile(r"The true label is")).first.wait_for(timeout=30_000)
    screenshot(predict_page, "predict_sample")
    assert not page_errors(predict_page)
