"""The guided tour: the seed tutorial's story as steps, each a lesson link with a few sentences.

A step is a page of the app opened on one view (``?view=...`` and its settings) plus ``tour=N``;
the router draws the step's text and Back / Next above the page (``banner``), and the page shows
that view alone, so a step fits a 1024x768 projector. Every step works on a fresh server from the
shipped models (the seed CNN, the same CNN from another seed, and the MLP of the same size).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from pages import keys, links
from pages.components import link_button


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    page: str                                   # as st.switch_page names it
    params: dict = field(default_factory=dict)  # the view's address


STEPS = (
    Step("Kernels people design",
         "Image processing has long used small grids of weights chosen by hand. Slid over a digit, one that "
         "averages neighbours blurs it, one that subtracts them sharpens it, and one that takes a difference "
         "across a line lights up its edges.",
         keys.FILTERS_PAGE, {links.VIEW: "designed", links.DIGIT: "0"}),
    Step("Convolution is a matrix product",
         "Flatten the image into 784 numbers and sliding a kernel over it becomes one 784x784 matrix times "
         "that vector. Almost every entry is zero and the same nine weights repeat down the diagonals: that is "
         "why a convolution needs so few parameters.",
         keys.FILTERS_PAGE, {links.VIEW: "matrix", links.DIGIT: "0", links.MATRIX: "hand-made: sobel x"}),
    Step("Learning kernels instead of designing them",
         "A CNN starts from random kernels and lets gradient descent shape them. These are the seed network's "
         "32 conv1 kernels after training, each labelled with the designed kernel it resembles most. Click one "
         "to see what it makes of the digit.",
         keys.FILTERS_PAGE, {links.VIEW: "kernels", links.DIGIT: "0", links.KERNEL: "0"}),
    Step("Watch a training run",
         "The shipped model recorded its kernels while it trained. Press Play: from random numbers at step 1 "
         "they sharpen into light-and-dark edge detectors. A live run can be launched on the Train page, and "
         "records the same replay.",
         keys.FILTERS_PAGE, {links.VIEW: "replay", links.STEP: "1"}),
    Step("Learned filters and feature maps",
         "Each kernel makes a feature map of the digit. After ReLU only the positive responses are left, and "
         "each map keeps the strokes of one orientation or one side. Pooling then halves the size, keeping "
         "the strongest response in each 2x2 window.",
         keys.FILTERS_PAGE, {links.VIEW: "maps", links.DIGIT: "0", links.STAGE: "relu1"}),
    Step("Draw and predict",
         "Draw a digit with the mouse: it is cropped, scaled and centred as MNIST digits are, then the network "
         "answers with ten probabilities, as you draw. Try a letter too: the page says when a drawing looks "
         "like no digit it trained on.",
         keys.PREDICT_PAGE, {links.VIEW: "draw"}),
    Step("Where it goes wrong",
         "The seed CNN reads 99.2% of the 10,000 test digits correctly. The confusion matrix shows the other "
         "0.8%: click a cell to see them, or ask for a mistake and judge it yourself.",
         keys.PREDICT_PAGE, {links.VIEW: "sample", links.DIGIT: "0"}),
    Step("What the model looks at",
         "A grey patch slides over the digit; wherever covering it lowers the probability of the answer, the "
         "map turns red. The red falls on the strokes that tell this digit from the ones it could be mistaken "
         "for.",
         keys.EXPERIMENTS_PAGE, {links.VIEW: "looks", links.DIGIT: "0"}),
    Step("Why a CNN beats a fully connected net",
         "The CNN and the MLP here have about the same number of weights. Shift the test digits a few pixels "
         "and the MLP falls apart while the CNN hardly notices: its kernels are shared across the image, and "
         "pooling forgives small moves.",
         keys.LESSONS_PAGE, {links.VIEW: "compare"}),
    Step("Two seeds, two sets of filters",
         "Train the same network twice from different random starts and compare conv1 kernel by kernel. Some "
         "pairs match closely and many only partly: the networks agree on the job, not on one set of filters.",
         keys.LESSONS_PAGE, {links.VIEW: "pairs"}),
)


def step_link(number: int) -> tuple[str, dict]:
    """(page, address) of step ``number`` (0-based)."""
    step = STEPS[number]
    params = {links.MODEL: "default", **step.params, links.TOUR: str(number + 1)}
    if links.projector_on():
        params[links.PROJECTOR] = "1"
    return step.page, params


def go(number: int) -> None:
    links.go(*step_link(number))


def current_step() -> int | None:
    """The 0-based step the address is on, or None outside the tour."""
    raw = links.address(links.TOUR)
    try:
        return links.whole_number(1, len(STEPS))(raw) - 1 if raw is not None else None
    except ValueError:
        return None


def banner() -> None:
    """Above the page: the step's title and sentences, and Back / Next."""
    number = current_step()
    if number is None:
        return
    step = STEPS[number]
    with st.container(border=True, key="tour_banner"):
        st.markdown(f"**Step {number + 1} of {len(STEPS)}: {step.title}.** {step.text}")
        row = st.container(horizontal=True, vertical_alignment="center")
        if row.button("Back", key="tour_back", icon=":material/arrow_back:", disabled=number == 0):
            go(number - 1)
        if number + 1 < len(STEPS):
            if row.button("Next", key="tour_next", type="primary", icon=":material/arrow_forward:"):
                go(number + 1)
        elif row.button("Finish", key="tour_finish", type="primary"):
            st.switch_page(keys.TOUR_PAGE)
        if row.button("Leave the tour", key="tour_leave", type="tertiary"):
            links.drop(links.TOUR)
            st.rerun()
        with row:
            link_button(step.params.get(links.VIEW, ""), key="tour_link")
