"""Filters: the kernels the CNN learned, the feature maps they make, and the kernels people design.

The seed tutorial's heart in one page: filters smooth, sharpen and find edges; a CNN learns its
kernels from data instead of having them designed; and convolution is a matrix product. Widgets
here feed the served model (``cnn_core.server.serving``), ``cnn_core.common.kernels`` and the
figures and tiles of ``cnn_core.plots``; what is costly per model (the kernel tiles, the match
table) is cached on (model key, model file version). Every setting is in the address
(``pages.links``), and ``?view=<section>`` shows one section alone, as the guided tour does.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.kernels import match_table
from cnn_core.common.vocabulary import item_noun, with_article
from cnn_core.plots import filters as plots
from cnn_core.plots.tiles import tile_stack
from cnn_core.server.serving import ServedModel
from pages import keys, links
from pages.components import clicked, heading, in_tour, intro, page_title, settings, tile_grid
from pages.filter_timeline import timeline_view
from pages.keys import ANY_CLASS, DRAWN_IMAGE, MY_DRAWING, TEST_DIGIT
from pages.keys import FILTERS_CLASS as CLASS
from pages.keys import FILTERS_INDEX as INDEX
from pages.keys import FILTERS_SOURCE as SOURCE
from pages.kernel_views import custom_kernel_view, designed_view, matrix_view
from pages.shared import PLOT_CONFIG, dataset_or_stop, ensure_app_navigation, model_version, pick_model

SECTIONS = {"kernels": "Kernels the network learned", "replay": "Watch the filters form",
            "matches": "What did the network learn?", "maps": "Feature maps",
            "designed": "Designed kernels", "custom": "Try your own kernel", "matrix": "Convolution is a matrix product"}
SHORT_NAMES = {"gaussian blur": "gauss", "box blur": "box", "identity": "ident", "laplacian": "laplace",
               "prewitt x": "prew. x", "prewitt y": "prew. y"}
PARTLY = 0.7  # |cosine| under which a learned kernel is only partly like its nearest designed one
KERNEL, DEEP_LAYER, DEEP_CHANNEL, STAGE = "filters_kernel", "filters_deep_layer", "filters_deep_channel", "filters_stage"


@st.cache_resource(max_entries=6)
def conv1_views(key: str, version: float, _served: ServedModel):
    """conv1's kernel tiles (labelled by nearest hand-made kernel), their match table and labels, per model."""
    kernels = _served.first_layer_kernels()  # (3, 3, 32)
    table = match_table(kernels)
    # Short names fit a tile's two lines; a weak match (|cosine| under 0.7) is named in brackets:
    # only partly like that designed kernel. The table below keeps the full names.
    names = [short_name(row["nearest"]) for row in table]
    labels = [f"#{row['kernel']} {name}" if row["similarity"] >= PARTLY else f"#{row['kernel']} ({name})"
              for row, name in zip(table, names)]
    titles = [f"conv1 kernel #{row['kernel']}: most like {row['nearest']} (|cosine| {row['similarity']:.2f}); "
              f"weights {kernels[..., row['kernel']].min():.2f} to {kernels[..., row['kernel']].max():.2f}"
              for row in table]
    return tile_stack(kernels, labels, titles, signed=True, value_name="weight"), table, labels


def short_name(name: str) -> str:
    """'−gauss' for '−gaussian blur': the sign kept, the name shortened for a tile label."""
    sign, bare = (name[0], name[1:]) if name.startswith("\u2212") else ("", name)
    return sign + SHORT_NAMES.get(bare, bare)


def focused_view() -> str | None:
    """The one section the address asks for (``?view=maps``), or None for the whole page."""
    view = links.address(links.VIEW)
    return view if view in SECTIONS else None


def random_test_index() -> None:
    """Pick a random test digit, of the chosen class when one is chosen."""
    labels = dataset_or_stop(st.session_state.get("filters_dataset", "mnist")).test_labels
    wanted = st.session_state.get(CLASS, ANY_CLASS)
    pool = np.arange(len(labels)) if wanted == ANY_CLASS else np.flatnonzero(labels == int(wanted))
    st.session_state[INDEX] = int(np.random.default_rng().choice(pool))


def choose_image(dataset, class_names) -> tuple[np.ndarray, str]:
    """The input image as (28, 28) float32 in [0, 1], and a caption saying where it came from."""
    st.session_state["filters_dataset"] = dataset.name
    noun = item_noun(dataset.name)
    links.seed_digit(SOURCE, INDEX, len(dataset.test_images))
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")  # wraps on a narrow screen
    source = row.radio("Input image", (TEST_DIGIT, MY_DRAWING), key=SOURCE, horizontal=True, width=330,
                       format_func=lambda choice: f"A test {noun}" if choice == TEST_DIGIT else choice)
    drawn = st.session_state.get(DRAWN_IMAGE)
    if source == MY_DRAWING:
        if drawn is not None and np.shape(drawn) == (28, 28):  # anything else is not a preprocessed digit
            links.keep_digit(MY_DRAWING, None, drawn)
            return np.asarray(drawn, np.float32), "your drawing from the Predict page"
        st.info("Nothing has been drawn on the Predict page in this session yet: draw there and come back, "
                f"or use a test {noun} (shown below).")
    row.selectbox("Class", (ANY_CLASS, *range(len(class_names))), key=CLASS, width=140,
                  format_func=lambda c: "any class" if c == ANY_CLASS else f"{c}: {class_names[c]}",
                  on_change=random_test_index)
    index = row.number_input("Test image number", 0, len(dataset.test_images) - 1, key=INDEX, width=150)
    row.button(f"Random {noun}", key="filters_random", on_click=random_test_index)
    links.keep_digit(TEST_DIGIT, index, None)
    label = class_names[int(dataset.test_labels[index])]
    return dataset.test_images[index].astype(np.float32) / 255.0, f"test image {index} ({with_article(label)})"


def choose_kernel(key: str) -> None:
    """A click on a conv1 kernel (or on its map) selects it."""
    index = clicked(key)
    if index is not None:
        st.session_state[KERNEL] = index


def learned_kernels_view(key: str, version: float, served: ServedModel, maps: dict[str, np.ndarray]) -> None:
    heading(SECTIONS["kernels"], "kernels")
    intro(
        "Nobody designed these. Each conv1 kernel started as random numbers and was nudged by "
        "gradient descent until the network told the classes apart well. Blue weights subtract, red "
        "weights add; a kernel with a red side and a blue side responds to an edge. **Click a kernel** "
        "to see its weights and what it makes of the image.")
    grid, table, _ = conv1_views(key, version, served)
    kernel = st.session_state[KERNEL]
    tile_grid(grid, key="filters_conv1_kernels", heading="conv1 kernels (one shared scale, centred on 0)", size=56,
              clickable=True, selected=[kernel], on_click=lambda: choose_kernel("filters_conv1_kernels"),
              hint=f"Each named after the designed kernel it most resembles; in brackets when only partly "
                   f"(|cosine| under {PARTLY}).")
    row = table[kernel]
    detail = st.container(horizontal=True, gap="medium", vertical_alignment="center")
    weights = served.first_layer_kernels()[:, :, kernel]
    detail.plotly_chart(plots.image_figure(weights, f"kernel #{kernel}", diverging=True, width=130, show_values=True),
                        key="filters_kernel_weights", config=PLOT_CONFIG, width=210)
    with detail.container(width=260):
        tile_grid(tile_stack(np.stack([maps["conv1"][:, :, kernel], maps["relu1"][:, :, kernel]], axis=-1),
                             ["conv1 (signed)", "after ReLU"], per_tile=True), key="filters_kernel_maps", size=100)
    with detail.container(width=300):
        likeness = ("looks most like" if row["similarity"] >= PARTLY
                    else "is only partly like anything designed; nearest is")
        st.markdown(f"Kernel **#{kernel}** {likeness} **{row['nearest']}** (|cosine| {row['similarity']:.2f}), "
                    f"then {row['runner-up']} ({row['runner-up similarity']:.2f}).")
        if st.button(f"Switch kernel #{kernel} off and see what it costs", key="filters_switch_off",
                     icon=":material/toggle_off:"):
            digit = {links.DIGIT: links.address(links.DIGIT) or "0"}
            if links.address(links.DRAWN):
                digit[links.DRAWN] = links.address(links.DRAWN)
            links.go(keys.EXPERIMENTS_PAGE, {links.MODEL: key, links.VIEW: "off", links.OFF: f"1.{kernel}", **digit})
    deeper_kernels_view(served)


def deeper_kernels_view(served: ServedModel) -> None:
    if len(served.kernels) < 2:
        st.caption("This model has one convolution block, so there are no deeper kernels to browse.")
        return
    st.markdown("A deeper kernel sees every channel of the layer below, so it is a stack: one small "
                "kernel per input channel, whose responses are added up.")
    layers = list(range(1, len(served.kernels)))
    row = st.container(horizontal=True, vertical_alignment="bottom")
    layer = row.selectbox("Layer", layers, key=DEEP_LAYER, format_func=lambda i: f"conv{i + 1}", width=120)
    kernels = served.kernels[layer]  # (height, width, in_channels, out_channels)
    if not 0 <= st.session_state.get(DEEP_CHANNEL, 0) < kernels.shape[3]:
        st.session_state[DEEP_CHANNEL] = 0
    channel = row.number_input(f"conv{layer + 1} output channel", 0, kernels.shape[3] - 1, key=DEEP_CHANNEL, width=170)
    stack = kernels[:, :, :, channel]
    tile_grid(tile_stack(stack, [f"in {i}" for i in range(stack.shape[2])], signed=True, value_name="weight"),
              key="filters_deep_kernels", heading=f"conv{layer + 1} channel {channel}: its {stack.shape[2]} "
                                                  "input-channel kernels")


def seed_channels(served: ServedModel) -> None:
    """The conv1 kernel, the deeper layer and its channel from the address: every section reads them."""
    count = served.first_layer_kernels().shape[2]
    links.seed(links.KERNEL, KERNEL, links.whole_number(0, count - 1))
    st.session_state[KERNEL] = min(int(st.session_state.get(KERNEL, 0)), count - 1)
    if len(served.kernels) < 2:
        return
    links.seed(links.LAYER, DEEP_LAYER, lambda raw: links.whole_number(2, len(served.kernels))(raw) - 1)
    if st.session_state.get(DEEP_LAYER) not in range(1, len(served.kernels)):
        st.session_state[DEEP_LAYER] = 1
    channels = served.kernels[st.session_state[DEEP_LAYER]].shape[3]
    links.seed(links.CHANNEL, DEEP_CHANNEL, links.whole_number(0, channels - 1))


def keep_channels(served: ServedModel) -> None:
    links.keep(links.KERNEL, st.session_state[KERNEL])
    if len(served.kernels) >= 2:
        links.keep(links.LAYER, st.session_state[DEEP_LAYER] + 1)
        links.keep(links.CHANNEL, st.session_state.get(DEEP_CHANNEL, 0))


def choose_map(stage: str, key: str) -> None:
    """A click on a map selects its channel: conv1's kernel, or a deeper layer's output channel."""
    index = clicked(key)
    if index is None:
        return
    block = int(stage[-1])
    if block == 1:
        st.session_state[KERNEL] = index
    else:
        st.session_state[DEEP_LAYER], st.session_state[DEEP_CHANNEL] = block - 1, index


def feature_maps_view(maps: dict[str, np.ndarray], caption: str) -> None:
    heading(SECTIONS["maps"], "maps")
    intro(
        f"What each stage makes of {caption}. *conv* is the kernel's response plus its bias (blue "
        "negative, red positive); *relu* keeps only the positive part, drawn like the digit (light on "
        "dark); *pool* keeps the largest value of each 2x2 window, halving the size. Each map is "
        "scaled to its own largest value; **click a map** for its real numbers.")
    stages = list(maps)
    links.seed(links.STAGE, STAGE, links.one_of(stages))
    if st.session_state.get(STAGE) not in stages:
        st.session_state[STAGE] = stages[0]
    # One stage at a time: tabs would draw every stage's grid on each rerun.
    name = st.radio("Stage", stages, key=STAGE, horizontal=True)
    links.keep(links.STAGE, name)
    stack = maps[name]
    block = int(name[-1])
    chosen = st.session_state.get(KERNEL, 0) if block == 1 else st.session_state.get(DEEP_CHANNEL, 0)
    chosen = min(int(chosen), stack.shape[2] - 1)
    if block > 1 and st.session_state.get(DEEP_LAYER, 1) != block - 1:
        chosen = -1  # the deeper-kernels view shows another layer: nothing here is its channel
    tile_grid(tile_stack(stack, per_tile=True), key="filters_maps",
              heading=f"{name}: {stack.shape[2]} maps of {stack.shape[0]}x{stack.shape[1]}",
              clickable=True, selected=[chosen] if chosen >= 0 else [],
              on_click=lambda: choose_map(name, "filters_maps"))
    if chosen >= 0:
        detail = plots.image_figure(stack[:, :, chosen], f"{name} map #{chosen} (hover for its values)", width=260)
        st.plotly_chart(detail, key="filters_map_detail", config=PLOT_CONFIG, width=300)


def matches_view(key: str, version: float, served: ServedModel) -> None:
    heading(SECTIONS["matches"], "matches")
    intro(
        "For each learned conv1 kernel, the designed kernel it looks most like. Similarity is the "
        "absolute cosine between the two kernels' nine weights: 1 means equal up to a scale factor "
        "(scale only changes contrast) and a sign (a minus, as in −sobel x, is the same detector "
        "with light and dark swapped); 0 means nothing in common. Sharpen is identity minus Laplacian, "
        "so kernels between them score close on both: the runner-up shows such near-ties. Learned "
        "kernels are rarely pure textbook filters, so read a similarity under about 0.7 as *partly like*.")
    _, table, _ = conv1_views(key, version, served)
    st.dataframe(table, hide_index=True, key="filters_matches", column_config={
        "kernel": st.column_config.NumberColumn(width=60),
        "nearest": st.column_config.TextColumn(width=110),
        "similarity": st.column_config.ProgressColumn("similarity", min_value=0.0, max_value=1.0, format="%.3f",
                                                      width=110),
        "runner-up": st.column_config.TextColumn(width=110),
        "runner-up similarity": st.column_config.NumberColumn("runner-up sim.", format="%.3f", width=100)})


def main() -> None:
    page_title("Filters")
    focus = focused_view()
    if focus is None:
        st.markdown(
            "A filter (or kernel) is a small grid of weights slid over an image; at each place, the "
            "weights times the pixels under them, summed, give one output pixel. Choose the weights "
            "and you smooth, sharpen or find edges. A CNN does not choose them: it **learns** them from "
            "data. Below, the kernels a network learned beside the ones people design. Digits and maps "
            "that cannot be negative are drawn as MNIST stores them, light on dark; kernels and signed "
            "responses blue (negative), white (zero) and red (positive).")
    elif not in_tour() and st.button("Show the whole page", key="filters_whole_page", icon=":material/unfold_more:"):
        links.drop(links.VIEW)
        st.rerun()
    folded = settings(focus is not None, "Model and input image")
    with folded:
        choice, predictor = pick_model(widget_key="filters_model")
        dataset = dataset_or_stop(choice.dataset)
        image, caption = choose_image(dataset, choice.class_names)
    version = model_version(choice)
    unread = st.empty()  # says, at the end, what of the address could not be read
    cnn = predictor if predictor.architecture == "cnn" else None  # An MLP has no kernels.
    # The input and the model's answer; for one section alone (a lesson link, a tour step), folded
    # away with the menus.
    top = (st.container(horizontal=True, gap="medium") if focus is None else folded).container(horizontal=True)
    top.plotly_chart(plots.image_figure(image, caption, width=110, colour_bar=False), key="filters_input",
                     config=PLOT_CONFIG, width=200)
    info = top.container(width="stretch")
    maps = titles = None
    if cnn is None:
        info.info("This model is a multilayer perceptron: it has no convolution layers, so it has "
                  "no kernels or feature maps to show. Pick a CNN to see them; the designed kernels "
                  "and the matrix view below work with any model.")
    else:
        prediction = predictor.predict(image)
        info.markdown(f"**{choice.label}**: {cnn.describe()}.")
        info.markdown(f"It reads {caption} as **{prediction.class_name}** ({prediction.confidence:.1%} sure).")
        maps = cnn.feature_maps(image)
        _, _, titles = conv1_views(choice.key, version, cnn)
    shown = lambda view: focus in (None, view)  # noqa: E731
    if cnn is not None:
        seed_channels(cnn)
        if shown("kernels"):
            learned_kernels_view(choice.key, version, cnn, maps)
        if shown("replay"):
            timeline_view(choice)
        if shown("matches"):
            matches_view(choice.key, version, cnn)
        if shown("maps"):
            feature_maps_view(maps, caption)
        keep_channels(cnn)
    if shown("designed"):
        designed_view(image, maps, titles)
    custom = custom_kernel_view(image) if shown("custom") else None
    if shown("matrix"):
        matrix_view(image, caption, cnn.first_layer_kernels() if cnn is not None else None, custom)

    links.problems(unread)

ensure_app_navigation()
main()
