"""What the web server runs, without TensorFlow: it reads run folders and serves models through LiteRT.

    serving      ServedModel: predictions, embeddings, feature maps and kernels from model.tflite
    catalogue    which models there are, what each is called, which files a name means
    launcher     the training queue: run folders in, worker processes out
    train_form   the Train page's form as data: values -> configs, or every problem at once
    run_table    the saved runs as one table
    devices      the device report, asked of a worker process (``python -m cnn_core.worker.devices``)
    fetch        a dataset download, asked of a worker process (``python -m cnn_core.worker.download``)
"""
