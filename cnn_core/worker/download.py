"""Get a dataset onto this machine with Keras' download (needs internet), in a process that may import TensorFlow.

    python -m cnn_core.worker.download mnist   # finds it on disk, or has Keras download it; exit 1 with why not

The web server never runs this code itself: ``cnn_core.server.fetch`` starts this command as a
child process. Keras keeps what it downloads in ``~/.keras/datasets/``, where
``cnn_core.common.data`` finds it from then on.
"""
from __future__ import annotations

import sys

from cnn_core.common.data import DATASETS, DataError, Dataset, load_dataset, locate, looked_in


def keras_download(name: str) -> None:
    """Ask Keras to download the dataset into its cache; DataError when that fails."""
    import keras

    loader = {"mnist": keras.datasets.mnist, "fashion-mnist": keras.datasets.fashion_mnist}[name]
    try:
        loader.load_data()
    except Exception as error:  # Keras raises many types for network trouble.
        raise DataError(f"{name}: not found locally and the download failed "
                        f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}). "
                        f"Looked in: {looked_in(name)}. Set CNN_DATA_DIR to a folder holding "
                        f"{name}/train-images-idx3-ubyte.gz and the other three files.") from None


def ensure_dataset(name: str) -> Dataset:
    """The dataset from disk, downloading it first when no place has it; DataError when it cannot be had."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if locate(name)[0] == "download":
        keras_download(name)
    return load_dataset(name)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in DATASETS:
        print(f"error: usage: python -m cnn_core.worker.download {{{','.join(DATASETS)}}}", file=sys.stderr)
        return 2
    try:
        dataset = ensure_dataset(argv[0])
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{dataset.name}: {dataset.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
