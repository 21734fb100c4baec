"""Training throughput of the seed CNN in each precision: plain Keras ``fit``, alternating, medians.

The order of precisions rotates every repeat so that a busy machine slows them alike. On a CPU
without native bfloat16 (no AMX or AVX512_BF16) the mixed policies are emulated and slower, which
is why ``auto`` picks float32 there.

    python benchmarks/precision_throughput.py [--steps 200] [--batch-size 128] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core.data import load_dataset  # noqa: E402
from cnn_core.devices import hardware_line  # noqa: E402
from cnn_core.model import ModelConfig, build_model  # noqa: E402
from cnn_core.training import TrainConfig, compile_for_training, precision_policy, training_dataset  # noqa: E402


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
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    args = parser.parse_args()
    dataset = load_dataset("mnist")
    figures = {precision: [] for precision in args.precisions}
    for repeat in range(args.repeats):
        shift = repeat % len(args.precisions)
        for precision in args.precisions[shift:] + args.precisions[:shift]:
            figures[precision].append(images_per_second(precision, args.steps, args.batch_size,
                                                        dataset.train_images, dataset.train_labels))
    medians = {precision: statistics.median(values) for precision, values in figures.items()}
    baseline = medians[args.precisions[0]]
    print(json.dumps({"hardware": hardware_line(), "steps": args.steps, "batch_size": args.batch_size,
                      "images_per_second": {p: [round(v) for v in values] for p, values in figures.items()},
                      "median": {p: round(v) for p, v in medians.items()},
                      "ratio_to_first": {p: round(v / baseline, 3) for p, v in medians.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
