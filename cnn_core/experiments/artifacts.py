"""The per-model files the experiments read, written once by the worker after training.

    neighbours.npz   first 10,000 training digits' penultimate embeddings (float16, L2-normalised)
    novelty.json     the "looks like a digit" calibration: weights, threshold, measured flag rates
    ablation.json    accuracy without each conv filter on 2,000 test digits, largest drop first (CNN only)
    robustness.json  compare_side's numbers: parameters, test, shift and rotation accuracy

``write_artifacts`` takes the served model (``cnn_core.server.serving.ServedModel``, LiteRT), so the
numbers are the ones the server will reproduce. Run it by hand for a model folder:
``python -m cnn_core.experiments.artifacts models/seed-mnist``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from cnn_core.experiments import ablation, compare, neighbours, novelty

ABLATION_FILE = "ablation.json"
ROBUSTNESS_FILE = "robustness.json"


def _write_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def write_artifacts(served, dataset, folder: Path, write=_write_file, log=None,
                    robustness_images: int | None = None) -> dict:
    """Compute and write the four files into ``folder`` with ``write(path, bytes)``; returns the summaries.

    ``robustness_images`` limits the shift and rotation curves to the first N test digits (the
    worker uses 2,000 to keep a run's analysis under a minute; shipped models use all 10,000).
    """
    folder, log = Path(folder), log or (lambda message: None)
    started = time.perf_counter()
    index = neighbours.build_index(served.embeddings, dataset.train_images, dataset.train_labels)
    write(folder / neighbours.NEIGHBOURS_FILE, neighbours.save_index(None, index))
    log(f"neighbours: {len(index.labels)} embeddings in {time.perf_counter() - started:.1f} s")
    reference = novelty.NoveltyReference.from_index(index, dataset.train_images)
    calibration = novelty.calibrate(served.embeddings, reference, dataset.test_images)
    write(folder / novelty.NOVELTY_FILE, json.dumps(calibration, indent=2).encode())
    log(f"novelty: flags {calibration['digit_flag_rate']:.2%} of digits, "
        f"{calibration['non_digit_flag_rate']:.2%} of non-digits ({time.perf_counter() - started:.1f} s)")
    images = dataset.test_images.astype(np.float32) / 255
    summaries = {"novelty": calibration}
    if served.architecture == "cnn":
        channels = served.channels
        count = ablation.ABLATION_IMAGES
        ranking = ablation.rank_filters(served.probabilities, images[:count], dataset.test_labels[:count], channels)
        write(folder / ABLATION_FILE, json.dumps(ranking, indent=2).encode())
        summaries["ablation"] = ranking
        log(f"ablation: {len(ranking['filters'])} filters ranked ({time.perf_counter() - started:.1f} s)")
    count = robustness_images or len(images)
    robustness = compare.compare_side(served.probabilities, compare.parameter_count(served.weights),
                                      images[:count], dataset.test_labels[:count])
    write(folder / ROBUSTNESS_FILE, json.dumps(robustness, indent=2).encode())
    log(f"robustness: done ({time.perf_counter() - started:.1f} s)")
    return {**summaries, "robustness": robustness}


def read_json(folder: Path, name: str) -> dict | None:
    """A JSON artifact, or None when the file is missing or unreadable."""
    try:
        value = json.loads((Path(folder) / name).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_reference(folder: Path, train_images: np.ndarray) -> novelty.NoveltyReference | None:
    """The neighbour index with its training pixels, or None when ``neighbours.npz`` is missing or broken."""
    try:
        index = neighbours.load_index(Path(folder) / neighbours.NEIGHBOURS_FILE)
    except (OSError, ValueError):
        return None
    return novelty.NoveltyReference.from_index(index, train_images)


def looks_like_digit(served, image28: np.ndarray, folder: Path, train_images: np.ndarray) -> bool | None:
    """The verdict for one image, or None when the model folder lacks its novelty files."""
    calibration, reference = read_json(folder, novelty.NOVELTY_FILE), read_reference(folder, train_images)
    if calibration is None or reference is None:
        return None
    image = np.asarray(image28, np.float32)[None]
    return novelty.judge(served.embeddings(image), image, reference, calibration)[0].looks_like_digit


def main(argv: list[str]) -> int:
    """Write the artifacts for a model folder holding model.tflite and weights.npz (LiteRT, no TensorFlow)."""
    from cnn_core.common.data import DataError, load_dataset
    from cnn_core.server.serving import ServedModel, ServingError

    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m cnn_core.experiments.artifacts MODEL_FOLDER (a folder holding model.tflite)", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    try:
        served, dataset = ServedModel(folder), load_dataset("mnist")
    except (ServingError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_artifacts(served, dataset, folder, log=lambda message: print(message, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
