"""NumPy-only code both sides share: the contract between the worker, which writes, and the server, which reads.

    config       ModelConfig, TrainConfig, the presets, ProgressRecord (a line of history.jsonl)
    vocabulary   every config choice and what people call it
    runs         the run folder: atomic writes, heartbeat, validation
    data         finding, reading and validating MNIST and Fashion-MNIST on disk
    preprocess   drawn or uploaded images -> 28x28 MNIST-style digits
    kernels      hand-made kernels, convolution, convolution as a matrix, kernel matching
    snapshots    conv1 recorded during training (filter_history.npz)
    scoring      softmax, cross-entropy and accuracy from logits
    exiting      the entry points' fast exit, once a command's files are all written
"""
