"""The app's two small browser components: a grid of tiles that reflows and answers clicks, and a
"Link to this view" button.

Both are ``st.components.v2`` components written inline (a few lines of HTML, CSS and JavaScript
served by this server, nothing fetched from elsewhere). The grid is a CSS grid of the tiles'
images (``cnn_core.plots.tiles``): on a narrow screen it reflows into fewer columns instead of
shrinking tiles below ``MIN_TILE`` pixels, labels sit under their tile (cut with an ellipsis,
never overlapping a neighbour), and a click on a tile reaches Python as a one-off trigger.
The link button reads the browser's own address, which the pages keep equal to what is on the
screen (``pages.links``), adds the section, and shows it ready to copy.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import streamlit as st

from cnn_core.plots.tiles import TileGrid
from pages import links

MIN_TILE = 48          # pixels: the smallest side a 28x28 map or a kernel is drawn at
MAP_TILE = 60          # pixels for a 28x28 map or digit
PROJECTOR_SCALE = 1.5  # tiles this much larger in projector mode

_GRID_JS = """
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector('.tile-root');
  if (!root) {
    root = document.createElement('div');
    root.className = 'tile-root';
    parentElement.appendChild(root);
  }
  root.style.setProperty('--cell', data.cell + 'px');
  root.style.setProperty('--label', data.label + 'px');
  const parts = [];
  if (data.heading) {
    const heading = document.createElement('div');
    heading.className = 'tile-heading';
    heading.textContent = data.heading;
    parts.push(heading);
  }
  const grid = document.createElement('div');
  grid.className = 'tile-grid' + (data.tiles.every((tile) => tile.label.length <= data.oneLine) ? ' one-line' : '');
  data.tiles.forEach((tile, index) => {
    const cell = document.createElement(data.clickable ? 'button' : 'div');
    cell.className = 'tile' + (data.selected.includes(index) ? ' selected' : '') +
                     (data.off.includes(index) ? ' off' : '');
    cell.title = tile.title;
    cell.dataset.index = index;
    const pictures = document.createElement('div');
    pictures.className = 'pictures';
    tile.sources.forEach((source) => {
      const picture = document.createElement('img');
      picture.src = source;
      picture.alt = tile.label;
      picture.draggable = false;
      pictures.appendChild(picture);
    });
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = tile.label;
    cell.append(pictures, label);
    if (data.clickable) {
      cell.type = 'button';
      cell.setAttribute('aria-pressed', data.selected.includes(index) || data.off.includes(index));
      cell.onclick = () => setTriggerValue('clicked', index);
    }
    grid.appendChild(cell);
  });
  parts.push(grid);
  if (data.legend) {
    const legend = document.createElement('div');
    legend.className = 'tile-legend';
    const low = document.createElement('span'); low.textContent = data.legend.low;
    const bar = document.createElement('span'); bar.className = 'bar'; bar.style.background = data.legend.gradient;
    const high = document.createElement('span'); high.textContent = data.legend.high;
    const name = document.createElement('span'); name.className = 'name'; name.textContent = data.legend.name;
    legend.append(low, bar, high, name);
    if (data.legend.middle) {
      const middle = document.createElement('span'); middle.className = 'middle'; middle.textContent = data.legend.middle;
      bar.appendChild(middle);
    }
    parts.push(legend);
  }
  if (data.hint) {
    const hint = document.createElement('div');
    hint.className = 'tile-hint';
    hint.textContent = data.hint;
    parts.push(hint);
  }
  root.replaceChildren(...parts);
}
"""

_GRID_CSS = """
.tile-root { font-family: inherit; color: inherit; }
.tile-heading { font-weight: 600; font-size: calc(var(--label) + 3px); margin: 0 0 6px; }
/* Fixed-size columns, as many as the width holds: a narrow screen gets fewer columns, never smaller tiles. */
.tile-grid { display: grid; gap: 6px 8px; justify-content: start; grid-template-columns: repeat(auto-fill, var(--cell)); }
.tile { display: flex; flex-direction: column; align-items: stretch; min-width: 0; padding: 2px;
        border: 2px solid transparent; border-radius: 4px; background: none; font: inherit; color: inherit;
        text-align: center; }
button.tile { cursor: pointer; }
button.tile:hover { border-color: var(--st-border-color, #d0d5dd); }
button.tile:focus-visible { outline: 2px solid var(--st-primary-color, #2563eb); }
.tile.selected { border-color: var(--st-primary-color, #2563eb); }
.pictures { display: flex; gap: 2px; }
.pictures img { flex: 1 1 0; min-width: 0; width: 100%; aspect-ratio: 1; image-rendering: pixelated;
                display: block; }
/* Two lines at most, each cut with an ellipsis: a label never spills onto its neighbour. */
.label { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; overflow: hidden;
         font-size: var(--label); line-height: 1.25; min-height: 2.5em; margin-top: 2px; overflow-wrap: anywhere; }
.tile-grid.one-line .label { -webkit-line-clamp: 1; min-height: 1.25em; white-space: nowrap; text-overflow: ellipsis;
                             display: block; }
.tile-grid .tile .label:empty { display: none; }
.tile.off .pictures img { opacity: 0.2; filter: grayscale(1); }
.tile.off .label::before { content: "off \\00b7 "; font-weight: 600; }
.tile-legend { display: flex; align-items: center; gap: 6px; margin-top: 8px; font-size: var(--label); }
.tile-legend .bar { position: relative; display: inline-block; width: 140px; height: 10px; border-radius: 2px;
                    border: 1px solid #d0d5dd; }
.tile-legend .middle { position: absolute; left: 50%; top: 11px; transform: translateX(-50%); }
.tile-legend .name { margin-left: 6px; }
.tile-hint { font-size: var(--label); opacity: 0.75; margin-top: 4px; }
"""

_LINK_JS = """
export default function(component) {
  const { data, parentElement } = component;
  let root = parentElement.querySelector('.link-root');
  if (root) { Object.assign(root.querySelector('button').dataset, {view: data.view, page: data.page}); return; }
  root = document.createElement('div');
  root.className = 'link-root';
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.view = data.view;
  button.dataset.page = data.page;
  button.textContent = data.label;
  const field = document.createElement('input');
  field.readOnly = true;
  field.hidden = true;
  field.setAttribute('aria-label', 'The link to this view');
  const note = document.createElement('span');
  note.className = 'note';
  button.onclick = async () => {
    // The link opens Home with ?page=...: a browser that opens /filters directly first asks
    // /filters/_stcore/health (a 404) before finding the server; Home sends it on to the page.
    const here = new URL(window.location.href);
    const page = button.dataset.page;
    let base = here.pathname;
    if (page && base.endsWith('/' + page)) base = base.slice(0, -page.length);
    const url = new URL(here.origin + base);
    if (page) url.searchParams.set('page', page);
    here.searchParams.forEach((value, name) => { if (name !== 'tour' && name !== 'page') url.searchParams.set(name, value); });
    url.searchParams.set('view', button.dataset.view);
    field.value = url.toString();
    field.hidden = false;
    field.focus();
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      note.textContent = 'Copied.';
    } catch (error) {
      note.textContent = 'Press Ctrl+C to copy.';
    }
  };
  root.append(button, field, note);
  parentElement.appendChild(root);
}
"""

_LINK_CSS = """
.link-root { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; font-family: inherit; }
.link-root button { font: inherit; font-size: 0.85rem; padding: 2px 10px; border-radius: 6px; cursor: pointer;
                    border: 1px solid var(--st-border-color, #d0d5dd); background: none; color: inherit; }
.link-root input { flex: 1 1 240px; min-width: 0; font: inherit; font-size: 0.8rem; padding: 2px 6px; }
.link-root .note { font-size: 0.8rem; opacity: 0.75; }
"""

_grid = st.components.v2.component("cnn_lab_tile_grid", js=_GRID_JS, css=_GRID_CSS)
_link = st.components.v2.component("cnn_lab_view_link", js=_LINK_JS, css=_LINK_CSS)


def tile_size(side: int, asked: int | None = None) -> int:
    """On-screen pixels for one picture of ``side`` data pixels (a 28x28 map, a 3x3 kernel): ``asked``
    or a default, never under ``MIN_TILE``, and larger in projector mode."""
    size = max(MIN_TILE, asked or (MAP_TILE if side >= 20 else MIN_TILE))
    return round(size * (PROJECTOR_SCALE if links.projector_on() else 1))


def tile_grid(grid: TileGrid, key: str, heading: str = "", clickable: bool = False, selected: Iterable[int] = (),
              off: Iterable[int] = (), hint: str = "", size: int | None = None,
              on_click: Callable[[], None] | None = None) -> int | None:
    """Draw ``grid``; with ``clickable``, return the index of the tile clicked in this run (else None).

    ``on_click`` runs before the page when a tile is clicked (read the index with ``clicked(key)``).
    """
    pictures = max((len(tile.sources) for tile in grid.tiles), default=1)
    size = tile_size(grid.side, size)
    data = {"tiles": [{"sources": list(tile.sources), "label": tile.label, "title": tile.title} for tile in grid.tiles],
            "cell": size * pictures + 2 * (pictures - 1) + 8, "label": 15 if links.projector_on() else 11,
            "heading": heading, "clickable": clickable, "selected": [int(i) for i in selected],
            "off": [int(i) for i in off], "hint": hint, "oneLine": 7 if size < MAP_TILE else 9,
            "legend": grid.legend.as_dict() if grid.legend else None}
    callbacks = {"on_clicked_change": on_click or (lambda: None)} if clickable else {}
    _grid(key=key, data=data, **callbacks)
    return clicked(key) if clickable else None


def clicked(key: str) -> int | None:
    """The tile clicked in grid ``key`` in this run, if any (a trigger: None on the next run)."""
    state = st.session_state.get(key)
    value = getattr(state, "clicked", None) if state is not None else None
    return int(value) if isinstance(value, (int, float)) else None


def link_button(view: str, label: str = "Link to this view", key: str | None = None) -> None:
    """A button that shows (and copies) the address of this section, as it is on the screen now."""
    _link(key=key or f"link_{view}", data={"view": view, "label": label, "page": links.current_page()})


def heading(title: str, view: str) -> None:
    """A section's heading with its "Link to this view" button beside it (during the tour, the banner
    above the page names the step and holds the button)."""
    if in_tour():
        return
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    row.subheader(title, width="content")
    with row:
        link_button(view)


def in_tour() -> bool:
    """Whether the address is a step of the guided tour (whose banner above the page tells the story)."""
    return links.address(links.TOUR) is not None


def page_title(title: str) -> None:
    """The page's title, left out during the tour: the banner names the step, and a 768-pixel screen
    needs the room for the view."""
    if not in_tour():
        st.title(title)


def intro(text: str) -> None:
    """A view's explanation: in full, or folded during the tour, which says it in two or three sentences."""
    if in_tour():
        with st.expander("More about this view"):
            st.markdown(text)
    else:
        st.markdown(text)


def settings(folded: bool, label: str = "Model and digit"):
    """Where a page's menus go: in the open, or folded away when the view is a tour step or one section."""
    return st.expander(label) if folded else st.container()
