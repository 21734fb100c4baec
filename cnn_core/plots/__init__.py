"""Figures as pure functions: data in, a ``go.Figure`` (or tiles) out (no Streamlit, no TensorFlow).

    runs         loss and accuracy while training, runs overlaid
    confusion    the confusion matrix and its clickable cells
    tiles        grids of kernels, maps and digits as small PNGs, for pages/components.py
    filters      single images and maps with their values, the convolution matrix
    predict      class probabilities as bars, a 28x28 digit as pixels
    experiments  the experiments' strips, maps, curves and rankings
"""
