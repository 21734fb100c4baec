"""The Filters page's sections about kernels people design: the classic ones on the image, your own
kernel, and convolution written as a matrix product.

Each section is one function of the input image; ``pages/filters.py`` decides which ones to draw
(all, or the one a lesson link focuses on). Settings live in the address (``pages.links``): the
custom kernel's numbers and size, and the matrix view's kernel.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.common.kernels import (CUSTOM_KERNEL_SIZES, HAND_MADE_KERNELS, KERNEL_NOTES, apply_kernels,
                                     convolution_matrix, convolve2d, embed_kernel, match_kernel,
                                     matrix_convolution_check, parse_custom_kernel)
from cnn_core.plots import filters as plots
from cnn_core.plots.tiles import tile_stack
from pages import links
from pages.components import heading, intro, tile_grid
from pages.shared import PLOT_CONFIG

CUSTOM_TEXT, CUSTOM_SIZE, CUSTOM_START = "filters_custom_text", "filters_custom_size", "filters_custom_start"
MATRIX_KERNEL = "filters_matrix_kernel"


@st.cache_resource(max_entries=32)
def matrix_figures(kernel: np.ndarray):
    """The matrix's sparsity pattern and zoomed block; they depend on the kernel only, not the image."""
    matrix = convolution_matrix(kernel, 28, 28)
    return (plots.sparsity_figure(matrix, "the whole 784x784 matrix (dark: not zero)", height=380),
            plots.matrix_block_figure(matrix, slice(0, 56), slice(0, 84),
                                      "zoom: outputs 0-55 (image rows 0-1), inputs 0-83"))


def kernel_text(kernel: np.ndarray) -> str:
    """A kernel as editable text: one row per line, numbers split by spaces."""
    return "\n".join("  ".join(f"{value:g}" for value in row) for row in np.asarray(kernel, np.float64).round(4))


def address_text(kernel_text_value: str) -> str:
    """The custom kernel's numbers for the address: rows split by ';', numbers by ','."""
    return ";".join(",".join(line.split()) for line in kernel_text_value.strip().splitlines() if line.strip())


def reset_custom_text() -> None:
    """Refill the editor with the chosen starting kernel at the chosen size (a 3x3 one padded to 5x5)."""
    size = st.session_state.get(CUSTOM_SIZE, 3)
    start = HAND_MADE_KERNELS[st.session_state.get(CUSTOM_START, "sharpen")]
    st.session_state[CUSTOM_TEXT] = kernel_text(embed_kernel(start, (size, size)))


def resize_custom_text() -> None:
    """Keep the typed kernel when the size changes: padded with zeros to 5x5, or its centre kept for 3x3."""
    size = st.session_state.get(CUSTOM_SIZE, 3)
    old = 5 if size == 3 else 3
    try:
        kernel = parse_custom_kernel(st.session_state.get(CUSTOM_TEXT, ""), old)
    except ValueError:
        reset_custom_text()  # nothing usable was typed: start again from the chosen kernel
        return
    resized = embed_kernel(kernel, (size, size)) if size > old else kernel[1:4, 1:4]
    st.session_state[CUSTOM_TEXT] = kernel_text(resized)


def designed_view(image: np.ndarray, maps: dict[str, np.ndarray] | None, titles: list[str] | None) -> None:
    heading("Designed kernels" if maps is None else "Designed kernels beside learned ones", "designed")
    beside = ("" if maps is None else " Below them, the learned conv1 kernels on it, each labelled with the "
              "designed kernel it most resembles.")
    intro(
        "Image processing has long used hand-made kernels: averaging neighbours **smooths**, "
        "subtracting them **sharpens**, and differences across a line **find edges**. First, those "
        "kernels on the same image." + beside)
    names = list(HAND_MADE_KERNELS)
    grid = tile_stack(apply_kernels(image, HAND_MADE_KERNELS), names, [f"{name}: {KERNEL_NOTES[name]}" for name in names],
                      per_tile=True)
    tile_grid(grid, key="filters_designed", heading="hand-made kernels on the image")
    with st.expander("What each hand-made kernel does"):
        st.markdown("\n".join(f"- **{name}**: {KERNEL_NOTES[name]}" for name in names))
    if maps is not None:
        tile_grid(tile_stack(maps["conv1"], titles, per_tile=True), key="filters_learned",
                  heading="learned conv1 kernels on the image (before ReLU)")


def custom_kernel_view(image: np.ndarray) -> np.ndarray | None:
    """The custom kernel editor; returns the parsed kernel, or None after showing why it is invalid."""
    heading("Try your own kernel", "custom")
    links.seed(links.SIZE, CUSTOM_SIZE, lambda raw: links.one_of(CUSTOM_KERNEL_SIZES)(raw))
    links.seed(links.CUSTOM, CUSTOM_TEXT, lambda raw: "\n".join(raw[:400].replace(",", " ").split(";")))
    st.session_state.setdefault(CUSTOM_SIZE, 3)
    if CUSTOM_TEXT not in st.session_state:
        st.session_state.setdefault(CUSTOM_START, "sharpen")
        reset_custom_text()
    row = st.container(horizontal=True, gap="medium")
    controls, result, kernel_column = row.container(width=260), row.container(width=230), row.container(width=220)
    controls.radio("Size", CUSTOM_KERNEL_SIZES, key=CUSTOM_SIZE, horizontal=True, format_func=lambda s: f"{s}x{s}",
                   on_change=resize_custom_text)
    controls.selectbox("Start from", list(HAND_MADE_KERNELS), key=CUSTOM_START, on_change=reset_custom_text)
    text = controls.text_area("Kernel (rows on lines, numbers split by spaces or commas)", key=CUSTOM_TEXT,
                              height=150, help="Press Ctrl+Enter or click outside the box to apply.")
    links.keep(links.SIZE, st.session_state[CUSTOM_SIZE])
    links.keep(links.CUSTOM, address_text(text)[:400])
    try:
        kernel = parse_custom_kernel(text, st.session_state[CUSTOM_SIZE])
    except ValueError as error:
        controls.error(f"That kernel cannot be used: {links.plain(error)}.")  # its text may have come with a link
        return None
    match = match_kernel(kernel)
    result.plotly_chart(plots.image_figure(convolve2d(image, kernel), "your kernel on the image", width=220),
                        key="filters_custom_result", config=PLOT_CONFIG)
    kernel_column.plotly_chart(plots.image_figure(kernel, "kernel", diverging=True, width=130, show_values=True),
                               key="filters_custom_kernel", config=PLOT_CONFIG)
    if match.name:
        sign = "" if match.sign > 0 else "minus "
        kernel_column.caption(f"Closest designed kernel: {sign}**{match.name}** (|cosine| {match.similarity:.3f}).")
    return kernel


def matrix_view(image: np.ndarray, caption: str, learned: np.ndarray | None, custom: np.ndarray | None) -> None:
    heading("Convolution is a matrix product", "matrix")
    intro(
        "Flatten the 28x28 image into a vector of 784 pixels. Sliding a kernel over it is then one "
        "784x784 matrix times that vector: row *i* holds the kernel's weights at the columns of the "
        "pixels around output pixel *i*, and zeros elsewhere. Nearly every entry is zero, and the "
        "same few weights repeat down diagonal bands; that sparsity and weight sharing is why a "
        "convolution layer needs far fewer parameters than a dense layer of the same size.")
    options = {f"hand-made: {name}": kernel for name, kernel in HAND_MADE_KERNELS.items()}
    if custom is not None:
        options["your kernel"] = custom
    if learned is not None:
        options |= {f"learned: conv1 #{number}": learned[:, :, number] for number in range(learned.shape[2])}
    names = list(options)
    links.seed(links.MATRIX, MATRIX_KERNEL, links.one_of(names))
    if st.session_state.get(MATRIX_KERNEL) not in names:
        st.session_state[MATRIX_KERNEL] = "hand-made: sobel x"
    name = st.selectbox("Kernel", names, key=MATRIX_KERNEL, width=320)
    links.keep(links.MATRIX, name)
    kernel = np.asarray(options[name], np.float32)
    result = matrix_convolution_check(image, kernel)  # cheaper to redo than to cache a 784x784 matrix per image
    sparsity, zoom = matrix_figures(kernel)
    charts = st.container(horizontal=True, gap="medium")
    charts.plotly_chart(sparsity, key="filters_sparsity", width=380, config=PLOT_CONFIG)
    charts.plotly_chart(zoom, key="filters_matrix_block", width=420, config=PLOT_CONFIG)
    # Metrics sized to their text, in a row that wraps: none is cut at 1024 px.
    stats = st.container(horizontal=True, gap="large")
    stats.metric("Largest difference", f"{result.max_abs_difference:.2e}", width="content",
                 help="Max |matrix x image − convolution| over the 784 output pixels.")
    stats.metric("Non-zero entries", f"{result.nonzeros:,} of {result.matrix.size:,}", width="content")
    stats.metric("Density", f"{result.density:.2%}", width="content")
    both = np.stack([result.product, result.direct], axis=-1)  # (28, 28, 2), one shared colour scale
    row = st.container(horizontal=True, gap="medium", vertical_alignment="center")
    with row.container(width=300):
        tile_grid(tile_stack(both, ["matrix x image", "kernel slid"],
                             ["matrix times the flattened image", "the kernel slid over the image"]),
                  key="filters_matrix_results", heading=f"{name} on {caption}", size=110)
    row.markdown(
        f"The two agree to {result.max_abs_difference:.1e}, which is float rounding. The matrix is built "
        "from the kernel alone, so the same matrix works for any 28x28 image; a dense layer would "
        f"learn all {result.matrix.size:,} entries freely, a convolution only the kernel's "
        f"{np.asarray(options[name]).size}.")
