"""Filters: the kernels the CNN learned, the feature maps they make, and the kernels people design.

The seed tutorial's heart in one page: filters smooth, sharpen and find edges; a CNN learns its
kernels from data instead of having them designed; and convolution is a matrix product. Widgets
here feed the served model (``cnn_core.server.serving``), ``cnn_core.common.kernels`` and
``cnn_core.plots.filters``; what is costly per model (the kernel figures, the match table) is
cached on (model key, model file version).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.kernels import (HAND_MADE_KERNELS, KERNEL_NOTES, apply_kernels, convolution_matrix, convolve2d,
                                     embed_kernel, match_kernel, match_table, matrix_convolution_check,
                                     parse_custom_kernel)
from cnn_core.common.vocabulary import item_noun, with_article
from cnn_core.plots import filters as plots
from cnn_core.server.serving import ServedModel
from pages.filter_timeline import timeline_view
from pages.keys import ANY_CLASS, DRAWN_IMAGE, MY_DRAWING, TEST_DIGIT
from pages.keys import FILTERS_CLASS as CLASS
from pages.keys import FILTERS_INDEX as INDEX
from pages.keys import FILTERS_SOURCE as SOURCE
from pages.shared import dataset_or_stop, ensure_app_navigation, model_version, pick_model

CUSTOM_TEXT, CUSTOM_SIZE, CUSTOM_START = "filters_custom_text", "filters_custom_size", "filters_custom_start"
# Tile labels are about 60 px wide, so long kernel names are shortened there (tables keep the full name).
SHORT_NAMES = {"gaussian blur": "gauss", "box blur": "box", "identity": "ident", "laplacian": "laplace"}


@st.cache_resource(max_entries=6)
def conv1_views(key: str, version: float, _served: ServedModel):
    """conv1's kernel grid (titled by nearest hand-made kernel) and its match table, per model."""
    kernels = _served.first_layer_kernels()  # (3, 3, 32)
    table = match_table(kernels)
    titles = [f"#{row['kernel']} {short_name(row['nearest'])}" for row in table]
    figure = plots.tile_grid(kernels, titles, title="conv1 kernels (one shared scale, centred on 0)",
                             diverging=True, per_tile=False, value_name="weight", width=720)
    return figure, table, titles


@st.cache_resource(max_entries=32)
def matrix_figures(kernel: np.ndarray):
    """The matrix's sparsity pattern and zoomed block; they depend on the kernel only, not the image."""
    matrix = convolution_matrix(kernel, 28, 28)
    return (plots.sparsity_figure(matrix, "the whole 784x784 matrix (dark: not zero)"),
            plots.matrix_block_figure(matrix, slice(0, 56), slice(0, 84),
                                      "zoom: outputs 0-55 (image rows 0-1), inputs 0-83"))


def short_name(name: str) -> str:
    """'−gauss' for '−gaussian blur': the sign kept, the name shortened for a tile label."""
    sign, bare = (name[0], name[1:]) if name.startswith("\u2212") else ("", name)
    return sign + SHORT_NAMES.get(bare, bare)


def kernel_text(kernel: np.ndarray) -> str:
    """A kernel as editable text: one row per line, numbers split by spaces."""
    return "\n".join("  ".join(f"{value:g}" for value in row) for row in np.asarray(kernel, np.float64).round(4))


def reset_custom_text() -> None:
    """Refill the editor with the chosen starting kernel at the chosen size (a 3x3 one padded to 5x5)."""
    size = st.session_state.get(CUSTOM_SIZE, 3)
    start = HAND_MADE_KERNELS[st.session_state.get(CUSTOM_START, "sharpen")]
    st.session_state[CUSTOM_TEXT] = kernel_text(embed_kernel(start, (size, size)))


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
    source_column, class_column, index_column, button_column = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    source = source_column.radio("Input image", (TEST_DIGIT, MY_DRAWING), key=SOURCE, horizontal=True,
                                 format_func=lambda choice: f"A test {noun}" if choice == TEST_DIGIT else choice)
    if source == MY_DRAWING:
        drawn = st.session_state.get(DRAWN_IMAGE)
        if drawn is not None and np.shape(drawn) == (28, 28):  # anything else is not a preprocessed digit
            return np.asarray(drawn, np.float32), "your drawing from the Predict page"
        st.info("Nothing has been drawn on the Predict page in this session yet: draw there and come back, "
                f"or use a test {noun} (shown below).")
    class_column.selectbox("Class", (ANY_CLASS, *range(len(class_names))), key=CLASS,
                           format_func=lambda c: "any class" if c == ANY_CLASS else f"{c}: {class_names[c]}",
                           on_change=random_test_index)
    index = index_column.number_input("Test image number", 0, len(dataset.test_images) - 1, key=INDEX)
    button_column.button(f"Random {noun}", key="filters_random", on_click=random_test_index)
    label = class_names[int(dataset.test_labels[index])]
    return dataset.test_images[index].astype(np.float32) / 255.0, f"test image {index} ({with_article(label)})"


def learned_kernels_view(key: str, version: float, extractor: ServedModel) -> None:
    st.subheader("Kernels the network learned")
    st.markdown(
        "Nobody designed these. Each conv1 kernel started as random numbers and was nudged by "
        "gradient descent until the network told the classes apart well. Blue weights subtract, red "
        "weights add; a kernel with a red side and a blue side responds to an edge.")
    figure, _, _ = conv1_views(key, version, extractor)
    left, _ = st.columns([4, 1])  # 3x3 kernels need no more room than this to read
    left.plotly_chart(figure, key="filters_conv1_kernels")
    if len(extractor.kernels) < 2:
        st.caption("This model has one convolution block, so there are no deeper kernels to browse.")
        return
    st.markdown("A deeper kernel sees every channel of the layer below, so it is a stack: one small "
                "kernel per input channel, whose responses are added up.")
    left, right = st.columns([1, 3])
    layer = left.selectbox("Layer", range(1, len(extractor.kernels)), key="filters_deep_layer",
                           format_func=lambda i: f"conv{i + 1}")
    kernels = extractor.kernels[layer]  # (height, width, in_channels, out_channels)
    channel = left.number_input(f"conv{layer + 1} output channel", 0, kernels.shape[3] - 1, key="filters_deep_channel")
    right.plotly_chart(plots.tile_grid(
        kernels[:, :, :, channel], [f"in {i}" for i in range(kernels.shape[2])], per_tile=False, diverging=True,
        title=f"conv{layer + 1} channel {channel}: its {kernels.shape[2]} input-channel kernels",
        value_name="weight", width=680), key="filters_deep_kernels")


def feature_maps_view(maps: dict[str, np.ndarray], caption: str) -> None:
    st.subheader("Feature maps")
    st.markdown(
        f"What each stage makes of {caption}. *conv* is the kernel's response plus its bias (blue "
        "negative, red positive); *relu* keeps only the positive part; *pool* keeps the largest value "
        "of each 2x2 window, halving the size. Each map is scaled to its own largest value; hover "
        "for the real numbers.")
    # One stage at a time: tabs would draw every stage's grid on each rerun, and drawing charts is
    # most of what the browser spends when the image changes.
    name = st.radio("Stage", list(maps), key="filters_stage", horizontal=True)
    stack = maps.get(name, next(iter(maps.values())))
    st.plotly_chart(plots.tile_grid(stack, title=f"{name}: {stack.shape[2]} maps of {stack.shape[0]}x{stack.shape[1]}"),
                    key="filters_maps")


def designed_view(image: np.ndarray, maps: dict[str, np.ndarray] | None, titles: list[str] | None) -> None:
    st.subheader("Designed kernels" if maps is None else "Designed kernels beside learned ones")
    beside = ("" if maps is None else " Right: the learned conv1 kernels on it, each titled with the "
              "designed kernel it most resembles.")
    st.markdown(
        "Image processing has long used hand-made kernels: averaging neighbours **smooths**, "
        "subtracting them **sharpens**, and differences across a line **find edges**. Left: those "
        "kernels on the same image." + beside)
    left, right = st.columns(2)
    names = list(HAND_MADE_KERNELS)
    left.plotly_chart(plots.tile_grid(apply_kernels(image, HAND_MADE_KERNELS), names, columns=4, width=450,
                                      title="hand-made kernels on the image"), key="filters_designed")
    with left.expander("What each hand-made kernel does"):
        st.markdown("\n".join(f"- **{name}**: {KERNEL_NOTES[name]}" for name in names))
    if maps is not None:
        right.plotly_chart(plots.tile_grid(maps["conv1"], titles, columns=6, width=450,
                                           title="learned conv1 (before ReLU)"), key="filters_learned")


def custom_kernel_view(image: np.ndarray) -> np.ndarray | None:
    """The custom kernel editor; returns the parsed kernel, or None after showing why it is invalid."""
    st.subheader("Try your own kernel")
    if CUSTOM_TEXT not in st.session_state:
        st.session_state.setdefault(CUSTOM_START, "sharpen")
        reset_custom_text()
    controls, result, kernel_column = st.columns([2, 2, 1])
    controls.radio("Size", (3, 5), key=CUSTOM_SIZE, horizontal=True, format_func=lambda s: f"{s}x{s}",
                   on_change=reset_custom_text)
    controls.selectbox("Start from", list(HAND_MADE_KERNELS), key=CUSTOM_START, on_change=reset_custom_text)
    text = controls.text_area("Kernel (rows on lines, numbers split by spaces or commas)", key=CUSTOM_TEXT,
                              height=150, help="Press Ctrl+Enter or click outside the box to apply.")
    try:
        kernel = parse_custom_kernel(text, st.session_state[CUSTOM_SIZE])
    except ValueError as error:
        controls.error(f"That kernel cannot be used: {error}.")
        return None
    match = match_kernel(kernel)
    result.plotly_chart(plots.image_figure(convolve2d(image, kernel), "your kernel on the image"),
                        key="filters_custom_result")
    kernel_column.plotly_chart(plots.image_figure(kernel, "kernel", diverging=True, width=180, show_values=True),
                               key="filters_custom_kernel")
    if match.name:
        sign = "" if match.sign > 0 else "minus "
        kernel_column.caption(f"Closest designed kernel: {sign}**{match.name}** (|cosine| {match.similarity:.3f}).")
    return kernel


def matches_view(key: str, version: float, served: ServedModel) -> None:
    st.subheader("What did the network learn?")
    st.markdown(
        "For each learned conv1 kernel, the designed kernel it looks most like. Similarity is the "
        "absolute cosine between the two kernels' nine weights: 1 means equal up to a scale factor "
        "(scale only changes contrast) and a sign (a minus, as in −sobel x, is the same detector "
        "with light and dark swapped); 0 means nothing in common. Sharpen is identity minus Laplacian, "
        "so kernels between them score close on both: the runner-up shows such near-ties. Learned "
        "kernels are rarely pure textbook filters, so read a similarity under about 0.7 as *partly like*.")
    _, table, _ = conv1_views(key, version, served)
    st.dataframe(table, hide_index=True, key="filters_matches", column_config={
        "similarity": st.column_config.ProgressColumn("similarity", min_value=0.0, max_value=1.0, format="%.3f"),
        "runner-up similarity": st.column_config.NumberColumn(format="%.3f")})


def matrix_view(image: np.ndarray, caption: str, extractor: ServedModel | None, custom: np.ndarray | None) -> None:
    st.subheader("Convolution is a matrix product")
    st.markdown(
        "Flatten the 28x28 image into a vector of 784 pixels. Sliding a kernel over it is then one "
        "784x784 matrix times that vector: row *i* holds the kernel's weights at the columns of the "
        "pixels around output pixel *i*, and zeros elsewhere. Nearly every entry is zero, and the "
        "same few weights repeat down diagonal bands; that sparsity and weight sharing is why a "
        "convolution layer needs far fewer parameters than a dense layer of the same size.")
    options = {f"hand-made: {name}": kernel for name, kernel in HAND_MADE_KERNELS.items()}
    if custom is not None:
        options["your kernel"] = custom
    if extractor is not None:
        learned = extractor.first_layer_kernels()
        options |= {f"learned: conv1 #{number}": learned[:, :, number] for number in range(learned.shape[2])}
    names = list(options)
    name = st.selectbox("Kernel", names, index=names.index("hand-made: sobel x"), key="filters_matrix_kernel")
    kernel = np.asarray(options[name], np.float32)
    result = matrix_convolution_check(image, kernel)  # cheaper to redo than to cache a 784x784 matrix per image
    stats = st.columns(3)
    stats[0].metric("Max |matrix x image - convolution|", f"{result.max_abs_difference:.2e}")
    stats[1].metric("Non-zero entries", f"{result.nonzeros:,} of {result.matrix.size:,}")
    stats[2].metric("Density", f"{result.density:.2%}")
    left, right = st.columns(2)
    sparsity, zoom = matrix_figures(kernel)
    left.plotly_chart(sparsity, key="filters_sparsity")
    right.plotly_chart(zoom, key="filters_matrix_block")
    both = np.stack([result.product, result.direct], axis=-1)  # (28, 28, 2), one shared colour scale
    left, right = st.columns(2, vertical_alignment="center")
    left.plotly_chart(plots.tile_grid(both, ["matrix x flattened image", "kernel slid over the image"],
                                      per_tile=False, width=450, title=f"{name} on {caption}"),
                      key="filters_matrix_results")
    right.markdown(
        f"The two agree to {result.max_abs_difference:.1e}, which is float rounding. The matrix is built "
        "from the kernel alone, so the same matrix works for any 28x28 image; a dense layer would "
        f"learn all {result.matrix.size:,} entries freely, a convolution only the kernel's "
        f"{np.asarray(options[name]).size}.")


def main() -> None:
    st.title("Filters")
    st.markdown(
        "A filter (or kernel) is a small grid of weights slid over an image; at each place, the "
        "weights times the pixels under them, summed, give one output pixel. Choose the weights "
        "and you smooth, sharpen or find edges. A CNN does not choose them: it **learns** them from "
        "data. Below, the kernels a network learned beside the ones people design.")
    choice, predictor = pick_model(widget_key="filters_model")
    version = model_version(choice)
    dataset = dataset_or_stop(choice.dataset)
    image, caption = choose_image(dataset, choice.class_names)
    extractor = predictor if predictor.architecture == "cnn" else None  # An MLP has no kernels.
    image_column, info_column = st.columns([1, 3])
    image_column.plotly_chart(plots.image_figure(image, caption, width=260), key="filters_input")
    maps = titles = None
    if extractor is None:
        info_column.info("This model is a multilayer perceptron: it has no convolution layers, so it has "
                         "no kernels or feature maps to show. Pick a CNN to see them; the designed kernels "
                         "and the matrix view below work with any model.")
    else:
        prediction = predictor.predict(image)
        info_column.markdown(f"**{choice.label}**: {extractor.describe()}.")
        info_column.markdown(f"It reads {caption} as **{prediction.class_name}** "
                             f"({prediction.confidence:.1%} sure).")
        maps = extractor.feature_maps(image)
        _, _, titles = conv1_views(choice.key, version, extractor)
        learned_kernels_view(choice.key, version, extractor)
        timeline_view(choice)
        matches_view(choice.key, version, extractor)
        feature_maps_view(maps, caption)
    designed_view(image, maps, titles)
    custom = custom_kernel_view(image)
    matrix_view(image, caption, extractor, custom)


ensure_app_navigation()
main()
