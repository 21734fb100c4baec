"""Plotly figures as pure functions: data in, ``go.Figure`` out (no Streamlit, no TensorFlow).

    runs         loss and accuracy while training, runs overlaid, the misclassified digits
    confusion    the confusion matrix, its clickable cells and the digits in one cell
    filters      kernel and feature-map grids, single images, the convolution matrix
    predict      class probabilities as bars, a 28x28 digit as pixels
    experiments  the experiments' strips, maps, curves and rankings
"""
