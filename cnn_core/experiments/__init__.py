"""Small experiments that test what the seed tutorial claims, one idea per module.

    transforms   shift, rotate, scale and thicken 28x28 digits (NumPy)
    robustness   accuracy against shift and rotation; the invariance strip of one digit
    occlusion    which parts of the digit the answer depends on
    ablation     switch conv filters off; rank every filter by the accuracy lost without it
    neighbours   the training digits nearest to one, by the penultimate layer's activations
    novelty      "that doesn't look like a digit": the score, its calibration, non-digit drawings
    pairing      two runs' conv1 kernels paired by an optimal assignment
    quiz         predict a kernel's output, then see the answer
    compare      the CNN against the fully connected net of the same size (``compare`` CLI)
    artifacts    the per-model files the pages read, written once a run is trained

Every function takes NumPy arrays and callables such as ``probabilities(images) -> (n, 10)``, so
the same code runs wherever a served model does (``cnn_core.server.serving``, LiteRT). Nothing
here imports streamlit or TensorFlow.
"""
