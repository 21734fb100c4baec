"""Projector mode: larger type and tiles for a room, the sidebar folded away, kept by the address.

The router (app.py) draws the switch in the sidebar on every page. Turned on, it adds
``projector=1`` to the address, so a lesson link made in projector mode opens in projector mode,
and the session keeps it from page to page. The tile grids read it (``pages.components``) to
draw their tiles larger; the type is enlarged with one style rule, since Streamlit sizes its
text in rem.
"""
from __future__ import annotations

import streamlit as st

from pages import keys, links

# Less empty room above the title than Streamlit leaves (6rem), on every page: on a 768-pixel-high
# projector that band decides whether the answer fits under the canvas.
PAGE_STYLE = """<style>
[data-testid=stMainBlockContainer] { padding-top: 3.5rem; }
</style>"""
# Streamlit's text and spacing are in rem: a larger root font enlarges them all together. The
# main column may use the whole width, which a room needs more than margins.
STYLE = """<style>
html { font-size: 20px !important; }
[data-testid=stMainBlockContainer] { max-width: none; padding-left: 2.5rem; padding-right: 2.5rem; }
</style>"""


def projector_controls() -> None:
    """The switch in the sidebar; when on, the larger type and a folded sidebar."""
    links.seed(links.PROJECTOR, keys.PROJECTOR, links.on_off)
    on = st.sidebar.toggle("Projector mode", key=keys.PROJECTOR,
                           help="Larger type and pictures for a room, and the sidebar folds away (open it "
                                "again with the arrow at the top left). The address keeps it, so a link "
                                "made now opens in projector mode too.")
    links.keep(links.PROJECTOR, "1" if on else None)
    st.html(PAGE_STYLE)
    if on:
        st.set_page_config(initial_sidebar_state="collapsed")
        st.html(STYLE)
