"""CNN Lab's engine. Never imports streamlit. Its folders follow the processes:

    common/       NumPy only, read and written by both sides: configs and presets, names, the run
                  folder, data, preprocessing, kernels, scoring
    worker/       everything that imports TensorFlow or Keras: the network, the training job, the
                  worker process, export to LiteRT, devices, tf.distribute, the CLI's train and bench
    server/       what the web server runs, without TensorFlow: LiteRT serving, the launcher, the
                  model catalogue, the Train form and the runs table
    plots/        Plotly figures, as pure functions
    experiments/  NumPy experiments on a served model, one idea per module
    cli.py        ``python -m cnn_core``: parses the flags and dispatches

Nothing outside ``worker/`` imports TensorFlow, Keras or a module of ``worker/``, except
``cli.py``, which hands ``train`` and ``bench`` to it (``tests/test_architecture.py`` holds the wall).
"""
