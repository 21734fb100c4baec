"""Streamlit glue shared by the pages: the launcher, cached models and files, the visitor's identity.

The visitor's identity: the owner token and the presenter's login come from this browser's cookies
(``cnn_core.server.access``), so they survive a reload and follow to a new tab, and never travel in
the address. Text from the address or a run folder goes into Markdown through ``as_text``.

Everything here is thin: the work is in ``cnn_core``. The web server never imports TensorFlow or
Keras: training runs in worker processes (``cnn_core.server.launcher``), models are served through
LiteRT (``cnn_core.server.serving``), and even the device list comes from a child process. Each
per-model file (the experiments' neighbours, calibration and rankings) is cached on its folder and
modification time, and None when missing, so that a page can say so. Failures become a message on
the page and ``st.stop()``, never a traceback.
"""
from __future__ import annotations

import hmac
import os
import re
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from cnn_core.common.arrays import ModelFileError
from cnn_core.common.data import DataError, Dataset, load_dataset, locate
from cnn_core.common.runs import RunError, RunStore
from cnn_core.experiments import artifacts, neighbours, novelty
from cnn_core.server import access
from cnn_core.server.catalogue import ModelChoice, model_choices
from cnn_core.server.devices import DeviceReport, probe
from cnn_core.server.fetch import fetch
from cnn_core.server.launcher import Launcher, launcher_from_environment
from cnn_core.server.memory import start_trimmer, tune_malloc
from cnn_core.server.serving import ServedModel, ServingError
from pages import keys, links

PLOT_CONFIG = {"displayModeBar": False}  # charts without Plotly's toolbar, which crowds small figures
PRESENTER_LEFT = "presenter_left"  # session: the presenter logged out here; ignore the cookie until it is gone
# What Markdown, Streamlit's directives (:red[...], :material/...:) and emoji short codes could read
# as more than text anywhere in a line, and what could start a block at its beginning.
MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>()!~:$|&])")
MARKDOWN_BLOCK = re.compile(r"^(\d+(?=[.)])|(?=[#>+=-]))(.)")  # a heading, quote or list item: "# x", "- x", "1. x"
# Bare addresses GitHub-flavoured Markdown turns into links whatever is escaped ("http://...",
# "www.", "a@b.c"): an invisible word joiner after their first letter keeps them text.
AUTOLINK = re.compile(r"(?i)\b(h)(ttps?)|\b(f)(tp)|\b(w)(ww)|(@)")
WORD_JOINER = "\u2060"


def one_line(value, limit: int | None = None) -> str:
    text = str(value) if limit is None else str(value)[:limit]
    return " ".join(text.replace("\x00", " ").split())  # a newline could start a Markdown block


def as_text(value, limit: int | None = None) -> str:
    """Text from the address bar or a run folder, made safe to put in Markdown: every character that
    could be read as markup is escaped and bare addresses are kept from becoming links, so it shows
    as typed and never as a link or a format."""
    text = MARKDOWN_INLINE.sub(r"\\\1", one_line(value, limit))
    text = AUTOLINK.sub(lambda match: WORD_JOINER.join(part for part in match.groups() if part) + (
        WORD_JOINER if match.group(7) else ""), text)
    return MARKDOWN_BLOCK.sub(r"\1\\\2", text)


def ensure_app_navigation() -> None:
    """Make sure a page runs inside app.py's st.navigation, even as a fresh server's first request.

    Why this private API is still patched: Streamlit 1.67 treats a folder named ``pages/`` beside
    the main script as old-style multipage navigation until ``st.navigation`` has run once in the
    process, so a visitor whose first request is a deep link (``/train?run=...``) would get that
    page alone, with every file of ``pages/`` in the sidebar. Switching the mode off and rerunning
    sends the request through app.py. ``tests/test_app.py`` fails if Streamlit renames the flag.
    """
    from streamlit.runtime.pages_manager import PagesManager

    # Once per session: the mode is process-wide and stays off once off (AppTest alone turns it
    # back on before each of its runs, and a rerun there would drop the click being tested).
    if PagesManager.uses_pages_directory and not st.session_state.get("_navigation_checked"):
        st.session_state["_navigation_checked"] = True
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource
def launcher() -> Launcher:
    """The server's training queue: one for every visitor of this server, started with the server
    (app.py's lifespan), or by the first page view where the app runs without it."""
    tune_malloc()
    start_trimmer()
    return launcher_from_environment(RunStore())


def run_store() -> RunStore:
    return launcher().store


class _DeviceProbe:
    """The device report, asked of a child process once per server, in the background."""

    def __init__(self):
        self.report: DeviceReport | None = None
        threading.Thread(target=self._ask, name="device-probe", daemon=True).start()

    def _ask(self) -> None:
        self.report = probe()


@st.cache_resource
def _device_probe() -> _DeviceProbe:
    return _DeviceProbe()


def device_report() -> DeviceReport | None:
    """What TensorFlow sees (None for the few seconds the first probe takes)."""
    return _device_probe().report


def owner_token() -> str:
    """This browser's secret: the runs it launches can be stopped and deleted by it alone. It comes from
    the browser's cookie (set by the server, ``access.OwnerCookie``), so a reload or another tab of
    the same browser is the same owner; never from the address, which can be shared."""
    if keys.OWNER not in st.session_state:
        st.session_state[keys.OWNER] = access.valid_token(_cookie(access.OWNER_COOKIE)) or access.new_token()
    return st.session_state[keys.OWNER]


def _cookie(name: str) -> str | None:
    try:
        return st.context.cookies.get(name)
    except Exception:  # No browser behind this session (a bare script run).
        return None


def presenter_password() -> str:
    """The presenter password from st.secrets or $CNN_PRESENTER_PASSWORD ('' when none is set)."""
    try:
        from_secrets = st.secrets.get("presenter_password", "")
    except (FileNotFoundError, KeyError, AttributeError):
        from_secrets = ""
    except Exception:  # st.secrets raises its own error when secrets.toml is malformed.
        from_secrets = ""
    return str(from_secrets or os.environ.get("CNN_PRESENTER_PASSWORD", ""))


@st.cache_resource
def _presenter_guard() -> access.Throttle:
    """Wrong presenter passwords, counted per client address for the whole server."""
    return access.Throttle()


def _secret() -> bytes:
    return access.server_secret(run_store().root)


def is_presenter() -> bool:
    """Whether this session is the presenter's: logged in here, or a valid presenter cookie from a login
    in this browser (which survives a reload and opens new tabs as the presenter too)."""
    if st.session_state.get(keys.PRESENTER):
        return True
    password = presenter_password()
    if password and access.presenter_token_valid(_cookie(access.PRESENTER_COOKIE), _secret(), password):
        if not st.session_state.get(PRESENTER_LEFT):
            st.session_state[keys.PRESENTER] = True
            return True
    return False


def presenter_login() -> None:
    """A sidebar field for the presenter password, shown only when one is configured. Wrong guesses
    slow down per client address (``access.Throttle``) and are logged. The pages that can launch or
    manage runs call it first (it also keeps the visitor's cookies, ``remember_visitor``)."""
    remember_visitor()
    expected = presenter_password()
    if not expected:
        return
    with st.sidebar:
        if is_presenter():
            st.caption(":material/verified_user: Presenter: you can stop and delete every run.")
            if st.button("Stop being the presenter", key="presenter_logout"):
                st.session_state[keys.PRESENTER] = False
                st.session_state[PRESENTER_LEFT] = True
                st.rerun()
            return
        typed = st.text_input("Presenter password", type="password", key="presenter_password_input",
                              help="The presenter can stop and delete every visitor's runs.")
        if not typed:
            return
        client = client_address()
        guard = _presenter_guard()
        wait = guard.wait(client)
        if wait > 0:
            st.error(f"Too many wrong passwords: wait {wait:.0f} s, then try again.")
            return
        if hmac.compare_digest(typed.encode(), expected.encode()):
            guard.succeeded(client)
            st.session_state[keys.PRESENTER] = True
            st.session_state.pop(PRESENTER_LEFT, None)
            st.rerun()
        delay = guard.failed(client)
        st.error("That is not the presenter password." + (f" Wait {delay:.0f} s before the next try." if delay else ""))


def client_address() -> str:
    """The visitor's address as Streamlit has it, or one name for all (localhost, a test, no address)."""
    try:
        address = st.context.ip_address
    except Exception:
        address = None
    return address if isinstance(address, str) and address else "every client"


def remember_visitor() -> None:
    """Keep the presenter's login in this browser (a signed token in a cookie, never the password), or
    end it, and write the owner cookie where the server could not (an app run without app.py's server)."""
    script = []
    if not access.valid_token(_cookie(access.OWNER_COOKIE)):
        script.append(_set_cookie(access.OWNER_COOKIE, owner_token(), access.OWNER_DAYS))
    password = presenter_password()
    if password and st.session_state.get(keys.PRESENTER):
        if not access.presenter_token_valid(_cookie(access.PRESENTER_COOKIE), _secret(), password):
            script.append(_set_cookie(access.PRESENTER_COOKIE, access.presenter_token(_secret(), password),
                                      access.PRESENTER_DAYS))
    elif st.session_state.get(PRESENTER_LEFT) and _cookie(access.PRESENTER_COOKIE):
        script.append(_set_cookie(access.PRESENTER_COOKIE, "", 0))
    if script:
        with st.sidebar:
            st.html("<script>" + "".join(script) + "</script>", unsafe_allow_javascript=True)


def _set_cookie(name: str, value: str, days: float) -> str:
    """JavaScript that sets a cookie of this site (values are this server's own tokens: no quoting needed)."""
    return (f"document.cookie = '{name}={value}; path=/; max-age={int(days * 86400)}; samesite=strict'"
            " + (location.protocol === 'https:' ? '; secure' : '');")


def dataset_or_stop(name: str = "mnist") -> Dataset:
    """The dataset, or a clear message and the end of the page if it cannot be loaded."""
    try:
        return load_dataset(name)
    except DataError as error:
        if locate(name)[0] != "download":
            st.error(f"The {name} data could not be loaded: {error}")
            st.stop()
    with st.spinner(f"Downloading {name} (a worker process asks Keras for it)..."):
        problem = fetch_dataset(name)
    if problem:
        st.error(f"The {name} data is not on this machine and could not be downloaded: {problem}. "
                 "Put the four IDX files in a folder and set CNN_DATA_DIR to it (see the README).")
        st.stop()
    return load_dataset(name)


@st.cache_data(ttl=60, show_spinner=False)
def fetch_dataset(name: str) -> str | None:
    """Download a dataset in a child process, once a minute at most (an offline server fails fast)."""
    return fetch(name)


def file_version(folder: Path | None, name: str) -> float:
    """The file's modification time, 0 when missing: the cache key that refreshes after a rewrite."""
    try:
        return (Path(folder) / name).stat().st_mtime
    except (OSError, TypeError):
        return 0.0


def model_version(choice: ModelChoice) -> float:
    """When the chosen model's LiteRT file was written: a cache key for everything derived from it."""
    return file_version(choice.folder, "model.tflite")


@st.cache_resource(max_entries=6, show_spinner="Loading the model...")
def cached_served(choice: ModelChoice, version: float) -> ServedModel:
    """A model folder behind LiteRT; ``version`` (the files' mtime) refreshes the cache."""
    if choice.folder is None:
        raise ServingError(f"model {choice.key} has no folder")
    return ServedModel(choice.folder, choice.class_names)


def pick_model(label: str = "Model", widget_key: str = "model_picker", choices: list[ModelChoice] | None = None,
               preferred: str | None = None, param: str | None = links.MODEL) -> tuple[ModelChoice, ServedModel]:
    """A select box of models (by default every shipped model and saved run); returns the choice and its
    served model. It starts on the model the address names (``param``), else on ``preferred``, else on
    the model this visitor picked last, which it remembers for the other pages unless ``preferred``
    is given. The chosen model's key goes back into the address."""
    choices = model_choices(run_store()) if choices is None else choices
    if not choices:
        st.info("No model yet: the shipped model is missing and no run has finished. Train one on the Train page.")
        st.stop()
    names = [c.key for c in choices]
    if param:
        links.seed(param, widget_key, lambda raw: choices[names.index(raw)])
    if st.session_state.get(widget_key) not in choices:  # first drawn here, or its model has gone
        wanted = preferred or st.session_state.get(keys.MODEL, names[0])
        st.session_state[widget_key] = choices[names.index(wanted) if wanted in names else 0]
    choice = st.selectbox(label, choices, format_func=lambda c: c.label, key=widget_key)
    if preferred is None:
        st.session_state[keys.MODEL] = choice.key
    if param:
        links.keep(param, choice.key)
    try:
        return choice, cached_served(choice, model_version(choice))
    except (RunError, ServingError, ValueError, OSError) as error:
        st.error(f"{as_text(choice.label)} cannot be used: {as_text(error)}")
        st.stop()


def analysis_state(choice: ModelChoice) -> str:
    """Where a run's experiment files stand: "queued" or "running" while a process computes them,
    "completed" or "failed" after, "" for a model without the record (shipped models, older runs)."""
    if choice.folder is None:
        return ""
    try:
        return str(RunStore(choice.folder.parent).read_analysis(choice.folder.name).get("status", ""))
    except (RunError, OSError):
        return ""


def _rerun_when_ready(choice: ModelChoice) -> None:
    if analysis_state(choice) not in ("queued", "running"):
        st.rerun(scope="app")


def wait_for_analysis(choice: ModelChoice, what: str) -> bool:
    """True while the chosen run's experiment files are being prepared: says so, and redraws the page
    once they are there. False when there is nothing to wait for (they exist, or never will)."""
    if analysis_state(choice) not in ("queued", "running"):
        return False
    st.info(f"{what} for this run {'are' if what.endswith('s') else 'is'} being prepared: a background process "
            "computes them once training has ended. This view fills in by itself when they are ready.")
    st.fragment(run_every=3)(_rerun_when_ready)(choice)
    return True


def refused(problem: str | None) -> None:
    """Say that a per-model file was refused (and so is treated as missing), and why."""
    if problem:
        st.warning(f"A file of this model was ignored: {as_text(problem)}")


def model_predictions(choice: ModelChoice, test_count: int) -> np.ndarray | None:
    """The model's answer for every test digit (its folder's predictions.npy), or None without one."""
    if choice.folder is None:
        return None
    return _predictions(str(choice.folder), file_version(choice.folder, "predictions.npy"), test_count)


@st.cache_data(max_entries=8, show_spinner=False)
def _predictions(folder: str, version: float, count: int) -> np.ndarray | None:
    # read_predictions refuses (None) a file that is missing, linked, oversized or not ``count`` answers.
    return RunStore(Path(folder).parent).read_predictions(Path(folder).name, count)


@st.cache_data(max_entries=32, show_spinner=False)
def _json(folder: str, name: str, version: float, model: float, _served) -> tuple[dict | None, str | None]:
    try:
        return artifacts.read_json(Path(folder), name, _served), None
    except ModelFileError as error:
        return None, str(error)


def model_json(folder: Path | None, name: str, served: ServedModel | None = None) -> dict | None:
    """A JSON artifact of the model folder (novelty.json, ablation.json, robustness.json) checked against
    the model (``served``), or None when it is missing or refused (the page then says why)."""
    if folder is None:
        return None
    value, problem = _json(str(folder), name, file_version(folder, name), file_version(folder, "model.tflite"), served)
    refused(problem)
    return value


@st.cache_resource(max_entries=6, show_spinner="Loading the training digits' embeddings...")
def _reference(folder: str, version: float, hidden: int | None,
               _train_images: np.ndarray) -> tuple[novelty.NoveltyReference | None, str | None]:
    try:
        return artifacts.read_reference(Path(folder), _train_images, hidden), None
    except ModelFileError as error:
        return None, str(error)


def model_reference(folder: Path | None, dataset: Dataset,
                    served: ServedModel | None = None) -> novelty.NoveltyReference | None:
    """The model's neighbour index with the training pixels it points at, or None without a usable
    neighbours.npz (one whose embeddings do not fit ``served`` is refused, and the page says so)."""
    if folder is None:
        return None
    hidden = served.weights["hidden/kernel"].shape[1] if served is not None else None
    reference, problem = _reference(str(folder), file_version(folder, neighbours.NEIGHBOURS_FILE), hidden,
                                    dataset.train_images)
    refused(problem)
    return reference


def digit_verdict(choice, served, image28: np.ndarray, dataset: Dataset) -> novelty.Verdict | None:
    """Whether the image looks like a digit to this model, or None when the model lacks its novelty files."""
    reference = model_reference(choice.folder, dataset, served)
    calibration = model_json(choice.folder, novelty.NOVELTY_FILE, served)
    if reference is None or calibration is None:
        return None
    image = np.asarray(image28, np.float32)[None]
    return novelty.judge(served.embeddings(image), image, reference, calibration)[0]


@st.cache_data(max_entries=2, show_spinner=False)
def test_floats(name: str, count: int, _dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` test digits as floats in [0, 1], and their labels."""
    return _dataset.test_images[:count].astype(np.float32) / 255, _dataset.test_labels[:count]


def current_digit(dataset: Dataset, prefix: str) -> tuple[np.ndarray, int | None]:
    """A source radio and a test-digit picker; returns the (28, 28) digit and its label when known.

    The digit comes from the address when a link names one (``digit=7``, or ``digit=drawn`` with
    the drawing itself), and goes back into it."""
    source_key, index_key = f"{prefix}_source", f"{prefix}_index"
    links.seed_digit(source_key, index_key, len(dataset.test_labels))
    drawn = st.session_state.get(keys.DRAWN_IMAGE)
    sources = (keys.TEST_DIGIT, keys.MY_DRAWING) if drawn is not None else (keys.TEST_DIGIT,)
    if st.session_state.get(source_key) not in sources:
        st.session_state[source_key] = keys.TEST_DIGIT
    source = st.radio("Digit", sources, horizontal=True, key=source_key)
    if source == keys.MY_DRAWING:
        links.keep_digit(source, None, drawn)
        return np.asarray(drawn, np.float32), None
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if row.button("Random test digit", key=f"{prefix}_random"):
        st.session_state[index_key] = int(np.random.default_rng().integers(len(dataset.test_labels)))
    index = row.number_input("Test digit number", 0, len(dataset.test_labels) - 1, key=index_key, width=200)
    links.keep_digit(source, index, None)
    return dataset.test_images[index].astype(np.float32) / 255, int(dataset.test_labels[index])
