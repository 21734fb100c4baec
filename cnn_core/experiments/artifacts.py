"""The per-model files the experiments read, written once a model is trained.

    neighbours.npz   first 10,000 training digits' penultimate embeddings (float16, L2-normalised)
    novelty.json     the "looks like a digit" calibration: weights, threshold, measured flag rates
    ablation.json    accuracy without each conv filter on 2,000 test digits, largest drop first (CNN only)
    robustness.json  compare_side's numbers: parameters, test, shift and rotation accuracy

``write_artifacts`` takes the served model (``cnn_core.server.serving.ServedModel``, LiteRT), so the
numbers are the ones the server will reproduce. The readers check each file against the model it
belongs to (shapes, counts, ranges) and its size before use: a file that does not fit is a
``ModelFileError`` with the reason, never a crash or a gigabyte of memory further on. For a run,
the launcher starts this module as a process of its own once the training worker has exited, at
the lowest CPU priority, so the next run's training never waits for it; it records its progress in
the run's ``analysis.json``:

    python -m cnn_core.experiments.artifacts models/seed-mnist           # a model folder, by hand
    python -m cnn_core.experiments.artifacts --run RUN_ID --runs-dir runs --robustness-images 2000

No TensorFlow: LiteRT and NumPy only.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from cnn_core.common import runs
from cnn_core.common.arrays import ModelFileError
from cnn_core.experiments import ablation, compare, neighbours, novelty

ABLATION_FILE = "ablation.json"
ROBUSTNESS_FILE = "robustness.json"
RUN_ROBUSTNESS_IMAGES = 2000  # test digits for a run's shift and rotation curves


def _write_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def write_artifacts(served, dataset, folder: Path, write=_write_file, log=None,
                    robustness_images: int | None = None) -> dict:
    """Compute and write the four files into ``folder`` with ``write(path, bytes)``; returns the summaries.

    ``robustness_images`` limits the shift and rotation curves to the first N test digits (a run's
    analysis uses RUN_ROBUSTNESS_IMAGES; shipped models use all 10,000).
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


def read_json(folder: Path, name: str, served=None) -> dict | None:
    """A JSON artifact checked against its model (``served``, when given): None when the file is missing,
    ModelFileError when it is a link, too big, broken, or does not describe this model."""
    path = Path(folder) / name
    if not path.exists() and not path.is_symlink():
        return None
    try:
        value = runs.read_json(path)
    except runs.RunError as error:
        raise ModelFileError(str(error)) from None
    CHECKS.get(name, lambda value, served: None)(value, served)
    return value


def number(value, low: float = -math.inf, high: float = math.inf) -> bool:
    return runs.is_number(value) and low <= value <= high


def check_novelty(calibration: dict, served=None) -> None:
    """novelty.json: four weights per signal, a threshold, and the two measured flag rates."""
    for key in ("mean", "std", "coefficients"):
        values = calibration.get(key)
        if not isinstance(values, list) or len(values) != len(novelty.SIGNALS) or not all(map(number, values)):
            raise ModelFileError(f"{novelty.NOVELTY_FILE}: {key} should be {len(novelty.SIGNALS)} numbers")
    if not all(value > 0 for value in calibration["std"]):
        raise ModelFileError(f"{novelty.NOVELTY_FILE}: std should be positive")
    for key, low, high in (("bias", -math.inf, math.inf), ("threshold", -math.inf, math.inf),
                           ("digit_flag_rate", 0, 1), ("non_digit_flag_rate", 0, 1)):
        if not number(calibration.get(key), low, high):
            raise ModelFileError(f"{novelty.NOVELTY_FILE}: {key} should be a number from {low} to {high}")


def check_ablation(ranking: dict, served=None) -> None:
    """ablation.json: one entry per filter of this model at most, each naming a filter it has."""
    channels = list(served.channels) if served is not None else None
    filters = ranking.get("filters")
    if not isinstance(ranking.get("images"), int) or not number(ranking["images"], 1, 10**6) or not isinstance(filters, list):
        raise ModelFileError(f"{ABLATION_FILE}: expected the images scored and a list of filters")
    if channels is not None and len(filters) > sum(channels):
        raise ModelFileError(f"{ABLATION_FILE}: ranks {len(filters)} filters; this model has {sum(channels)}")
    for row in filters:
        block, index = (row.get("block"), row.get("filter")) if isinstance(row, dict) else (None, None)
        if (not isinstance(block, int) or not isinstance(index, int) or not number(row.get("drop"), -1, 1)
                or block < 1 or index < 0 or (channels is not None and (block > len(channels) or index >= channels[block - 1]))):
            raise ModelFileError(f"{ABLATION_FILE}: an entry names no filter of this model: {str(row)[:80]}")


def check_robustness(side: dict, served=None) -> None:
    """robustness.json: a parameter count, test accuracy, and accuracy by shift and by rotation."""
    if not isinstance(side.get("parameters"), int) or not number(side["parameters"], 0) or not number(side.get("test_accuracy"), 0, 1):
        raise ModelFileError(f"{ROBUSTNESS_FILE}: expected the parameter count and a test accuracy")
    if served is not None and side["parameters"] != compare.parameter_count(served.weights):
        raise ModelFileError(f"{ROBUSTNESS_FILE}: counts {side['parameters']:,} parameters; this model has "
                             f"{compare.parameter_count(served.weights):,}")
    for key, needed in (("shift_accuracy", "3"), ("rotation_accuracy", "30")):
        curve = side.get(key)
        if (not isinstance(curve, dict) or needed not in curve or len(curve) > 64
                or not all(number(value, 0, 1) and number(_float(x)) for x, value in curve.items())):
            raise ModelFileError(f"{ROBUSTNESS_FILE}: {key} should map up to 64 offsets (with {needed}) to accuracies")


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


CHECKS = {novelty.NOVELTY_FILE: check_novelty, ABLATION_FILE: check_ablation, ROBUSTNESS_FILE: check_robustness}


def read_reference(folder: Path, train_images: np.ndarray, hidden: int | None = None) -> novelty.NoveltyReference | None:
    """The neighbour index with its training pixels: None when ``neighbours.npz`` is missing,
    ModelFileError when it does not fit a model with ``hidden`` penultimate units and this training set."""
    index = neighbours.load_index_or_none(Path(folder) / neighbours.NEIGHBOURS_FILE, hidden, len(train_images))
    return None if index is None else novelty.NoveltyReference.from_index(index, train_images)


def looks_like_digit(served, image28: np.ndarray, folder: Path, train_images: np.ndarray) -> bool | None:
    """The verdict for one image, or None when the model folder lacks its novelty files."""
    hidden = served.weights["hidden/kernel"].shape[1]
    calibration = read_json(folder, novelty.NOVELTY_FILE, served)
    reference = read_reference(folder, train_images, hidden)
    if calibration is None or reference is None:
        return None
    image = np.asarray(image28, np.float32)[None]
    return novelty.judge(served.embeddings(image), image, reference, calibration)[0].looks_like_digit


def analyse_run(store, run_id: str, robustness_images: int = RUN_ROBUSTNESS_IMAGES, log=None) -> bool:
    """Write a completed run's experiment files, keeping ``analysis.json`` up to date; whether it worked."""
    import os

    from cnn_core.common.data import load_dataset
    from cnn_core.common.runs import atomic_write_bytes
    from cnn_core.server.serving import ServedModel

    started = time.time()
    store.write_analysis(run_id, "running", started=started)
    try:
        # Every core it can get: the process runs at the lowest priority, so it only takes what the
        # training of the next run leaves.
        served = ServedModel(store.path(run_id), threads=os.cpu_count() or 1)
        write_artifacts(served, load_dataset("mnist"), store.path(run_id), write=atomic_write_bytes, log=log,
                        robustness_images=robustness_images)
    except Exception as error:  # The run stays completed and usable; the pages say what is missing.
        store.write_analysis(run_id, "failed", reason=f"{type(error).__name__}: {str(error)[:300]}",
                             seconds=time.time() - started)
        return False
    store.write_analysis(run_id, "completed", seconds=time.time() - started)
    return True


def main(argv: list[str]) -> int:
    """Write the artifacts for a model folder, or (``--run``) for a run and its analysis.json."""
    import argparse
    import os

    from cnn_core.common.data import DataError, load_dataset
    from cnn_core.common.runs import RunError, RunStore
    from cnn_core.server.serving import ServedModel, ServingError

    parser = argparse.ArgumentParser(prog="python -m cnn_core.experiments.artifacts",
                                     description="Write a model's experiment files (LiteRT, no TensorFlow).")
    parser.add_argument("folder", nargs="?", help="a model folder holding model.tflite and weights.npz")
    parser.add_argument("--run", help="a run id: analyse it and record its progress in analysis.json")
    parser.add_argument("--runs-dir", default=None, help="the runs folder (default: $CNN_RUNS_DIR or runs/)")
    parser.add_argument("--robustness-images", type=int, default=RUN_ROBUSTNESS_IMAGES)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by N")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if args.run:
        from cnn_core.common.limits import active_limits, apply_memory_limit

        apply_memory_limit(active_limits().worker_memory_mb)  # the server's bound per run holds here too
        try:
            store = RunStore(args.runs_dir)
            store.read(args.run)
        except RunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0 if analyse_run(store, args.run, args.robustness_images, log) else 1
    if not args.folder or not Path(args.folder).is_dir():
        print("error: expected a model folder holding model.tflite (or --run RUN_ID)", file=sys.stderr)
        return 2
    try:
        served, dataset = ServedModel(args.folder, threads=os.cpu_count() or 1), load_dataset("mnist")
    except (ServingError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_artifacts(served, dataset, Path(args.folder), log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
