"""The address of a view: every URL parameter's name, and keeping widgets and the address in step.

A lesson link such as ``/filters?model=default&digit=7&view=kernels&kernel=5`` opened in another
browser shows the same view. Each page *seeds* a widget from the address just before drawing it,
and *keeps* the widget's value in the address just after, so the address always says what is on
the screen. A value the page wrote itself is never seeded again: the browser updates its address a
moment after a run ends, so a quick next click can arrive with the value before last, which must
not undo that click. A new value (a link opened, a tour step, ``go``) is seeded.

A link carries the view only: never who the visitor is, which runs they own, or presenter rights,
which stay with the session of whoever opens it. A value from the address is parsed and checked
here and shown, if at all, as text, never as Markdown.
"""
from __future__ import annotations

import re
from collections.abc import Callable
import numpy as np
import streamlit as st

from cnn_core.common.digit_code import decode_digit, encode_digit
from pages import keys

# Every URL parameter of the app, one home for their names.
PAGE = "page"            # a link's page, read on Home (see app.py): /?page=filters&... opens /filters
MODEL = "model"          # a catalogue key: "default", "mlp-mnist", a run id
DIGIT = "digit"          # a test-set index, or DRAWN_DIGIT for the digit carried in DRAWN
DRAWN = "drawn"          # the drawn digit itself (cnn_core.common.digit_code)
VIEW = "view"            # the section or tab on show
CLASS = "class"          # a class a test digit is drawn from
LAYER, CHANNEL, KERNEL = "layer", "channel", "kernel"   # Filters: a deep layer, its output channel, a conv1 kernel
STAGE, STEP = "stage", "step"                          # Filters: the feature maps' stage, the replay's snapshot
MATRIX = "matrix"        # Filters: the matrix view's kernel
CUSTOM, SIZE = "custom", "size"   # Filters: your own kernel's numbers, and its size
PATCH, FILL = "patch", "fill"     # Experiments: the occlusion patch
OFF = "off"              # Experiments: filters switched off, "1.3,1.5,2.10"
LEFT, RIGHT = "left", "right"     # Lessons: two models compared
PAIR_A, PAIR_B = "a", "b"         # Lessons: two runs whose filters are paired
QUIZ = "quiz"            # Lessons: the quiz question's number
RUN = "run"              # Train: the watched run
TOUR = "tour"            # the guided tour's step
PROJECTOR = "projector"  # "1": larger type and tiles, the sidebar collapsed
DRAWN_DIGIT = "drawn"    # DIGIT's value for the drawn digit

REMEMBERED = 50                # values kept per parameter: a visitor's last few dozen clicks
_WRITTEN = "links_written"     # session: {name: [texts]} this page has written (or read) since it opened
_PAGE = "links_page"           # session: the page those were written on
_PROBLEMS = "links_problems"   # session: names of parameters this run could not read


def current_page() -> str:
    """The page running now, by its address ("filters"; "" for Home)."""
    return st.session_state.get(_PAGE, "")


def begin(page: str) -> None:
    """Called by the router before a page runs: a new page starts with nothing written."""
    if st.session_state.get(_PAGE) != page:
        st.session_state[_PAGE] = page
        st.session_state[_WRITTEN] = {}
    st.session_state[_PROBLEMS] = []


def address(name: str) -> str | None:
    """The parameter's text in the address, if any."""
    value = st.query_params.get(name)
    return None if value is None else str(value)


def is_new(name: str) -> bool:
    """Whether the address holds a value for ``name`` that this page has not written (or read) itself."""
    raw = address(name)
    return raw is not None and raw not in st.session_state.get(_WRITTEN, {}).get(name, ())


def _remember(name: str, text: str) -> None:
    texts = st.session_state.setdefault(_WRITTEN, {}).setdefault(name, [])
    if text not in texts:
        texts.append(text)
        del texts[:-REMEMBERED]


def go(page: str, params: dict) -> None:
    """Open ``page`` on the view ``params`` describe, every one of them applied (a tour step, a drill-down)."""
    st.session_state[_PAGE] = None  # the page starts afresh, whichever page it is
    st.switch_page(page, query_params={name: str(value) for name, value in params.items()})


def seed(name: str, key: str, parse: Callable[[str], object]) -> bool:
    """Before a widget: set its state (``key``) from the address when the address is new; True if it did.

    ``parse`` turns the text into the widget's value or raises ValueError; a value it refuses
    leaves the widget as it was and is reported once by ``problems()``.
    """
    if not is_new(name):
        return False
    raw = address(name)
    _remember(name, raw)  # read once, whatever it holds
    try:
        value = parse(raw)
    except (ValueError, TypeError, KeyError, IndexError):
        st.session_state.setdefault(_PROBLEMS, []).append(name)
        return False
    st.session_state[key] = value
    return True


def tabs(views: dict[str, str], key: str, default: str) -> tuple[list, str]:
    """Tabs whose choice the address keeps (``view=``): the tabs, and the name of the one on show.

    ``views`` maps each name the address may hold to its tab's label; ``key`` is the tabs' widget key.
    """
    seed(VIEW, key, lambda raw: views[raw])
    if st.session_state.get(key) not in views.values():
        st.session_state[key] = views[default]
    shown = st.tabs(list(views.values()), key=key, on_change="rerun")
    view = next(name for name, label in views.items() if label == st.session_state[key])
    keep(VIEW, view)
    return shown, view


def keep(name: str, value) -> None:
    """After a widget: write its value into the address (None removes the parameter)."""
    text = None if value is None else str(value)
    if address(name) != text:
        if text is None:
            del st.query_params[name]
        else:
            st.query_params[name] = text
    if text is not None:
        _remember(name, text)


def drop(*names: str) -> None:
    """Remove parameters that no longer describe the view (a section that is not shown)."""
    for name in names:
        keep(name, None)


def problems(slot=None) -> None:
    """Say, once, which parameters of the link could not be read (by name, never echoing their text).

    Call it at the end of the page with a ``slot`` (``st.empty()``) made near its top, so that every
    parameter has been read by then and the note still shows first."""
    names = sorted(set(st.session_state.get(_PROBLEMS, [])))
    if names:
        (slot or st).caption("Part of this link could not be read (" + ", ".join(names) + "), so those "
                             "settings show their defaults.")
        st.session_state[_PROBLEMS] = []


def plain(text: str) -> str:
    """``text`` with Markdown's special characters escaped: what came with an address, shown as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


# Parsers: text from the address -> a value a widget accepts, or ValueError.
def whole_number(low: int, high: int) -> Callable[[str], int]:
    """A parser for an integer between ``low`` and ``high``."""
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"expected {low} to {high}, got {value}")
        return value
    return parse


def one_of(options) -> Callable[[str], object]:
    """A parser for one of ``options``, matched by its text."""
    by_text = {str(option): option for option in options}
    return lambda raw: by_text[raw]


def seed_drawn() -> bool:
    """A drawing carried by the address becomes this visitor's drawn digit (what every page offers)."""
    return seed(DRAWN, keys.DRAWN_IMAGE, decode_digit)


def keep_drawn(image28: np.ndarray | None) -> None:
    """The drawn digit into the address (or out of it)."""
    keep(DRAWN, None if image28 is None else encode_digit(image28))


def seed_digit(source_key: str, index_key: str, count: int) -> None:
    """Before a digit picker: ``digit=7`` picks test digit 7, ``digit=drawn`` the drawing in ``drawn=``."""
    seed_drawn()
    if not is_new(DIGIT):
        return
    raw = address(DIGIT)
    if raw == DRAWN_DIGIT:
        _remember(DIGIT, raw)
        if st.session_state.get(keys.DRAWN_IMAGE) is not None:
            st.session_state[source_key] = keys.MY_DRAWING
        else:
            st.session_state.setdefault(_PROBLEMS, []).append(DRAWN)
        return
    if seed(DIGIT, index_key, whole_number(0, count - 1)):
        st.session_state[source_key] = keys.TEST_DIGIT


def keep_digit(source: str, index: int | None, drawn: np.ndarray | None) -> None:
    """After a digit picker: the test digit's number, or ``drawn`` and the drawing itself."""
    if source == keys.MY_DRAWING:
        keep(DIGIT, DRAWN_DIGIT)
        keep_drawn(drawn)
    else:
        keep(DIGIT, index)
        keep_drawn(None)


def projector_on() -> bool:
    """Whether projector mode is on (larger type and tiles, for a room)."""
    return bool(st.session_state.get(keys.PROJECTOR))


def on_off(raw: str) -> bool:
    """A parser for a switch: "1" on, "0" off."""
    return {"1": True, "0": False}[raw]
