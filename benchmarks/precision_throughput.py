"""Training throughput of the seed CNN per precision and batch size: plain Keras ``fit``, alternating, medians.

The order of the settings rotates every repeat so that a busy machine slows them alike. On a CPU
without native bfloat16 (no AMX or AVX512_BF16) the mixed policies are emulated and slower, which
is why ``auto`` picks float32 there. Several batch sizes show what a bigger batch buys per image.

    python benchmarks/precision_throughput.py [--steps 200] [--batch-sizes 128] [--repeats 5]
    python benchmarks/precision_throughput.py --precisions float32 --batch-sizes 50 100 128
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core.common.config import ModelConfig, TrainConfig  # noqa: E402
from cnn_core.common.data import load_dataset  # noqa: E402
from cnn_core.worker.devices import hardware_line  # noqa: E402
from cnn_core.worker.network import build_model  # noqa: E402
from cnn_core.worker.training import compile_for_training, precision_policy, training_dataset  # noqa: E402


def images_per_second(precision: str, steps: int, batch_size: int, images, labels) -> float:
    """Throughput of ``fit`` after a 5-step warm-up (which pays for tracing)."""
    config = TrainConfig(iterations=steps, batch_size=batch_size, precision=precision)
    with precision_policy(precision):
        model = build_model(ModelConfig())
    compile_for_training(model, config)
    batches = training_dataset(images, labels, config)
    model.fit(batches, epochs=1, steps_per_epoch=5, verbose=0)
    began = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
    return steps * batch_size / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    args = parser.parse_args()
    dataset = load_dataset("mnist")
    settings = [(precision, batch) for batch in args.batch_sizes for precision in args.precisions]
    figures = {setting: [] for setting in settings}
    for repeat in range(args.repeats):
        shift = repeat % len(settings)
        for precision, batch in settings[shift:] + settings[:shift]:
            figures[precision, batch].append(images_per_second(precision, args.steps, batch,
                                                               dataset.train_images, dataset.train_labels))
    name = lambda setting: f"{setting[0]} @ batch {setting[1]}"
    medians = {setting: statistics.median(values) for setting, values in figures.items()}
    baseline = medians[settings[0]]
    print(json.dumps({"hardware": hardware_line(), "steps": args.steps,
                      "images_per_second": {name(s): [round(v) for v in values] for s, values in figures.items()},
                      "median": {name(s): round(v) for s, v in medians.items()},
                      "ratio_to_first": {name(s): round(v / baseline, 3) for s, v in medians.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
