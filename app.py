"""CNN Lab: learn, train and look inside a convolutional neural network on MNIST.

Run with ``streamlit run app.py``. This file is the router: it registers the pages with
``st.navigation`` and draws the home view, which shows what the engine sees.

It is also the server: ``streamlit run`` finds ``app`` below (an ``st.App``) and serves this same
file as the script of every page view, with two additions at the server's start rather than at a
first visit: the training queue starts (``server_start``), so runs a previous server left queued
train with no browser open; and the first page a browser gets sets its owner cookie
(``cnn_core.server.access.OwnerCookie``).
"""
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
PAGES = [("pages/tour.py", "Guided tour", ":material/tour:"),
         ("pages/train.py", "Train", ":material/model_training:"),
         ("pages/filters.py", "Filters", ":material/filter:"),
         ("pages/predict.py", "Predict", ":material/draw:"),
         ("pages/experiments.py", "Experiments", ":material/science:"),
         ("pages/lessons.py", "Lessons", ":material/school:")]


def home() -> None:
    """What CNN Lab is, and what it found: datasets, devices, the shipped models, saved runs."""
    from cnn_core.common.data import available
    from cnn_core.server.catalogue import default_metadata, shipped_choices
    from pages.shared import as_text, device_report, launcher, presenter_login, run_store

    presenter_login()
    st.title("CNN Lab")
    st.markdown(
        "Train the convolutional network of the classic TensorFlow MNIST tutorial, watch it learn, "
        "and look inside it: the kernels it learned beside the ones people design, the feature maps "
        "they produce, and what it answers when you draw a digit.")
    tour_start()
    left, middle, right = st.columns(3)
    with left:
        st.subheader("Data")
        for name, where in available().items():
            st.markdown(f"**{name}**: {where}")
    with middle:
        st.subheader("Devices")
        report = device_report()
        if report is None:
            st.write("Asking a worker process which devices TensorFlow sees...")
        else:
            st.write(report.error or report.summary)
            st.caption(", ".join(name for name, _, _ in report.devices))
    with right:
        st.subheader("Models")
        shipped = shipped_choices()
        metadata = default_metadata()
        if shipped and metadata:
            st.markdown(f"Shipped seed CNN: **{metadata.get('test_accuracy', 0):.2%}** on the 10,000 test digits.")
            st.caption("Also shipped: " + "; ".join(choice.label for choice in shipped[1:]) + ".")
        else:
            st.warning("The shipped model is missing: train one on the Train page.")
        runs, problems = run_store().list_runs()
        queue = launcher()
        st.markdown(f"**{len(runs)}** saved run(s); {len(queue.running())} training now, "
                    f"{len(queue.queue())} queued.")
        for problem in problems:
            st.caption(f"Skipped: {as_text(problem)}")
    st.divider()
    st.markdown(
        "- **Train**: configure the network and its training, launch it, watch the loss fall live, "
        "stop it, compare runs.\n"
        "- **Filters**: the learned conv1/conv2 kernels and their feature maps, beside smoothing, "
        "sharpening and edge-detecting kernels; convolution as a matrix product.\n"
        "- **Predict**: draw a digit, or pick or upload one, and see the class probabilities.\n"
        "- **Experiments**: what the network tolerates, what it looks at, what it has seen, and what "
        "switching its filters off costs.\n"
        "- **Lessons**: why a CNN beats a fully connected net of the same size, whether two trainings "
        "learn the same filters, and a kernel quiz.")


def tour_start() -> None:
    """The way into the guided tour, from Home."""
    from pages.tour_steps import STEPS, step_link

    row = st.container(horizontal=True, vertical_alignment="center")
    page, params = step_link(0)
    row.page_link(page, label="Start the guided tour", icon=":material/tour:", query_params=params)
    row.caption(f"{len(STEPS)} steps through the seed tutorial's story, each a page of this app with "
                "two or three sentences; about 20 minutes with questions.")


def follow_link(page, pages) -> None:
    """A lesson link opens Home with ?page=filters&...; send it on to that page with the rest of its
    address. (Opened at /filters itself, a browser first asks /filters/_stcore/health, a 404, before
    it finds the server at /.)"""
    from pages import links

    wanted = links.address(links.PAGE)
    if wanted is None or page.url_path != "":
        return
    target = next((candidate for candidate in pages if candidate.url_path == wanted and wanted), None)
    rest = {name: st.query_params[name] for name in st.query_params if name != links.PAGE}
    if target is None:  # not a page of this app: Home, and the address without it
        del st.query_params[links.PAGE]
        return
    st.switch_page(target, query_params=rest)


def main() -> None:
    from pages import links
    from pages.projector import projector_controls
    from pages.tour_steps import banner

    # An emoji for the tab icon: Streamlit draws it inline, where a Material icon would be
    # fetched from fonts.gstatic.com, which a conference network may not reach.
    st.set_page_config(page_title="CNN Lab", page_icon="\U0001F522", layout="wide")
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True)]
    pages += [st.Page(path, title=title, icon=icon, url_path=path.removeprefix("pages/").removesuffix(".py"))
              for path, title, icon in PAGES if (ROOT / path).is_file()]
    page = st.navigation(pages)
    follow_link(page, pages)
    links.begin(page.url_path)
    projector_controls()
    banner()
    page.run()


@asynccontextmanager
async def server_start(_app):
    """What the server does once, when it starts: tune its heap and start the training queue."""
    from pages.shared import launcher

    launcher()
    yield


if __name__ == "__main__":  # A page view: Streamlit runs this file as the script.
    main()
else:  # The server importing this file (streamlit run app.py, or uvicorn app:app).
    from starlette.middleware import Middleware

    from cnn_core.server.access import OwnerCookie

    app = st.App(__file__, lifespan=server_start, middleware=[Middleware(OwnerCookie)])
