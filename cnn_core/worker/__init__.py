"""Everything that imports TensorFlow or Keras: what a training worker process runs.

    network      the network as Keras layers, and its one forward pass with every stage in view
    training     precision policy, optimizer and schedule, the data stream, scoring
    job          TrainingJob: one run, with progress records, stop, and the saved run folder
    process      ``python -m cnn_core.worker RUN_ID``: the worker the web server's launcher starts
    export       a Keras model -> weights.npz + model.tflite (LiteRT), which everything else serves
    saving       model.keras written atomically and read with safe mode on
    devices      what TensorFlow sees, and what precision "auto" means here (also the device probe)
    distributed  tf.distribute.MultiWorkerMirroredStrategy from $TF_CONFIG
    download     Keras' dataset download (``python -m cnn_core.worker.download NAME``)
    commands     the command line's train and bench
    bench        the benchmarks' trainers: our job against a bare model.fit

Nothing outside this folder imports it, except the CLI entry point (``cnn_core.cli``), which
hands ``train`` and ``bench`` over. The web server starts these modules as child processes.
"""
