"""The session keys and names that more than one page reads or writes: the contract between pages.

A page that sends a visitor elsewhere with something chosen (the Train page's confusion drill-down
opening a test digit in Predict or Filters) writes these keys, and the page it opens reads them. A
key only one page uses stays in that page.
"""
from __future__ import annotations

# Pages, as st.switch_page and st.navigation name them.
PREDICT_PAGE = "pages/predict.py"
FILTERS_PAGE = "pages/filters.py"
EXPERIMENTS_PAGE = "pages/experiments.py"
LESSONS_PAGE = "pages/lessons.py"
TOUR_PAGE = "pages/tour.py"

MODEL = "model_key"          # the model this visitor picked (a catalogue key), shared by every page's menu
OWNER = "owner_token"        # this browser session's secret, which owns its runs
PRESENTER = "presenter"      # True once the presenter password was given
PROJECTOR = "projector_mode"  # True: larger type and tiles for a room (the address keeps it as projector=1)
# The last digit drawn on the Predict page: a (28, 28) float32 array in [0, 1], after MNIST-style
# preprocessing; Filters, Experiments and Lessons offer it as their input image.
DRAWN_IMAGE = "drawn_image"

# Where a test digit comes from, on every page that offers the drawing too.
TEST_DIGIT, MY_DRAWING = "A test digit", "My drawing from the Predict page"
ANY_CLASS = -1               # a class menu's "any class" (an int like the classes, so the menu shows no "clear")

PREDICT_SAMPLE = "predict_sample"              # (dataset name, test-set index) of the sampled digit
PREDICT_SAMPLE_CLASS = "predict_sample_class"  # the class the sample is drawn from, or ANY_CLASS
FILTERS_SOURCE = "filters_source"              # TEST_DIGIT or MY_DRAWING
FILTERS_CLASS = "filters_class"                # the class the test digit is drawn from, or ANY_CLASS
FILTERS_INDEX = "filters_index"                # the test digit's index


def train(field: str) -> str:
    """The Train page's key for one of its widgets or notes ("train_launch", "train_confusion"...)."""
    return f"train_{field}"
