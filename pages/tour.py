"""The guided tour's front page: what it covers, and a link to each step (``pages.tour_steps``)."""
from __future__ import annotations

import streamlit as st

from pages.shared import ensure_app_navigation
from pages.tour_steps import STEPS, step_link


def main() -> None:
    st.title("Guided tour")
    st.markdown(
        f"The seed tutorial's story in {len(STEPS)} steps, for a demo or to read alone: from kernels "
        "people design, through kernels a network learns, to what the trained network answers and why a "
        "CNN beats a fully connected net. Each step opens a page of this app on one view, with two or three "
        "sentences above it and Back / Next. Each step is an ordinary link too: copy it into your notes.")
    page, params = step_link(0)
    st.page_link(page, label="Start the tour", icon=":material/play_arrow:", query_params=params)
    for number, step in enumerate(STEPS):
        page, params = step_link(number)
        st.page_link(page, label=f"{number + 1}. {step.title}", query_params=params)


ensure_app_navigation()
main()
