"""Per-interaction latency of the issue-13 experiments, as the server runs them (LiteRT, no TensorFlow).

Each interaction is what one click on the Experiments or Lessons page costs the server once the
model is loaded: the ``cnn_core.experiments`` call and its Plotly figure or tiles (what the browser
then spends drawing it, ``benchmarks/views_latency.py`` measures). Prints the machine, then the
median and slowest of ``--repeats`` runs per interaction, against the issue's 0.5 s bar.

    python benchmarks/experiments_latency.py [--repeats 7] [--model models/seed-mnist]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cnn_core.plots import experiments as plots  # noqa: E402
from cnn_core.common.data import load_dataset  # noqa: E402
from cnn_core.experiments import ablation, artifacts, neighbours, novelty, occlusion, pairing, quiz, robustness  # noqa: E402
from cnn_core.plots.tiles import tile_stack  # noqa: E402
from cnn_core.server.serving import ServedModel  # noqa: E402

BAR = 0.5  # seconds, from the issue


def interactions(served, folder: Path, dataset) -> dict:
    """Name -> a zero-argument function doing one click's work."""
    image = dataset.test_images[0].astype(np.float32) / 255
    test = dataset.test_images[:ablation.ABLATION_IMAGES].astype(np.float32) / 255
    labels = dataset.test_labels[:ablation.ABLATION_IMAGES]
    reference = artifacts.read_reference(folder, dataset.train_images)
    calibration = artifacts.read_json(folder, novelty.NOVELTY_FILE)
    is_cnn = served.architecture == "cnn"
    masks = ablation.masks_with_off(served.channels, {1: [0, 5, 9], 2: [3]}) if is_cnn else None
    other = np.random.default_rng(0).permutation(served.kernels[0].shape[-1]) if is_cnn else None

    def strip():
        plots.strip_tiles(robustness.strip_answers(served.probabilities, robustness.invariance_strip(image)))

    def occlude():
        plots.occlusion_figure(image, occlusion.occlusion_map(served.probabilities, image))

    def nearest():
        found = neighbours.nearest(reference.index, served.embeddings(image[None])[0], 8)
        plots.neighbour_tiles(dataset.train_images[found.indices], found.labels, found.similarities)

    def verdict():
        novelty.judge(served.embeddings(image[None]), image[None], reference, calibration)

    def switch_off():
        ablation.accuracy_with_masks(served.probabilities, test, labels, masks)
        served.probabilities(image[None], masks=masks)
        maps = served.feature_maps(image)
        for block in (1, 2):  # the two grids of filters' maps the visitor clicks
            tile_stack(maps[f"relu{block}"], per_tile=True)

    def pair():
        kernels = served.kernels[0]
        plots.pairing_tiles(kernels, kernels[..., other], pairing.pair_kernels(kernels, kernels[..., other]))
        pairing.chance_level(kernels)

    def ask():
        plots.option_tiles(quiz.make_question(image, np.random.default_rng(1)))

    def curves():
        side = artifacts.read_json(folder, artifacts.ROBUSTNESS_FILE)
        plots.curve_figure({"a": side, "b": side}, "shift_accuracy")
        plots.curve_figure({"a": side, "b": side}, "rotation_accuracy")

    views = {"invariance strip (13 variants)": strip, "occlusion map (6 px patch, 145 images)": occlude,
             "8 nearest training digits": nearest, "looks like a digit": verdict,
             f"filters off: accuracy on {len(labels):,} digits + this digit": switch_off,
             "pair 32 conv1 kernels, and chance (Hungarian x6)": pair, "kernel quiz question": ask,
             "CNN vs MLP curves (from robustness.json)": curves}
    if not is_cnn:  # an MLP has no filters to switch off or pair
        views = {name: work for name, work in views.items() if work not in (switch_off, pair)}
    return views


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", type=Path, default=Path("models/seed-mnist"))
    args = parser.parse_args()
    dataset = load_dataset("mnist")
    started = time.perf_counter()
    served = ServedModel(args.model)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.model} loaded in "
          f"{time.perf_counter() - started:.2f} s (LiteRT, {served.architecture})")
    slow, views = 0, interactions(served, args.model, dataset)
    for name, work in views.items():
        work()  # the first call warms caches (LiteRT arena, Plotly validators), as a page's first view does
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            work()
            times.append(time.perf_counter() - began)
        median, worst = statistics.median(times), max(times)
        slow += median > BAR
        print(f"{name:52s} median {median * 1000:7.1f} ms   slowest {worst * 1000:7.1f} ms   "
              f"{'OK' if median <= BAR else 'OVER'}")
    print(f"{slow} of {len(views)} interactions over {BAR} s (median); load average now {os.getloadavg()[0]:.1f}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
