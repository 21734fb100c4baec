"""The ``fast`` preset against the ``seed`` preset: the whole process a person waits for, and full-test-set accuracy.

Each run is one ``python -m cnn_core train --preset NAME --json`` process, timed from its start to
its exit (imports, data, training, scoring, save and LiteRT export included), seed by seed, the
order alternating (seed then fast, fast then seed, ...) so that a busy machine slows both alike.
Prints the hardware, every pair, the median ratio fast/seed, and exits 1 if a fast run is under
99.0% or the median ratio is over the target for this hardware: 0.35 where the CPU (or GPU)
computes bfloat16 natively, 0.6 elsewhere.

    python benchmarks/fast_vs_seed.py [--seeds 0 1 2]
    python benchmarks/fast_vs_seed.py --fast-only --fast '{"learning_rate": 0.006}'   # a recipe's accuracies
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from train_process import train_process  # noqa: E402  (beside this script)


def hardware() -> tuple[str, bool]:
    """The hardware line and whether it computes bfloat16 natively (asked of a TensorFlow process)."""
    code = ("from cnn_core.worker.devices import hardware_line, fast_precision, resolve_device;"
            "import json; print(json.dumps([hardware_line(), fast_precision(resolve_device('auto')) == 'bfloat16']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    line, native = json.loads(done.stdout.strip().splitlines()[-1])
    return line, native


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fast", default="{}", help="JSON training-config overrides of the fast preset, to try a recipe")
    parser.add_argument("--fast-only", action="store_true",
                        help="train only the fast recipe (its accuracies and times, no ratio): to search recipes")
    args = parser.parse_args()
    overrides = json.loads(args.fast)
    line, native = hardware()
    target = 0.35 if native else 0.6
    print(f"hardware: {line}", flush=True)
    print(f"fast overrides: {json.dumps(overrides)}; target ratio {target}", flush=True)
    pairs = []
    with tempfile.TemporaryDirectory() as folder:
        for position, seed in enumerate(args.seeds):
            order = ["seed", "fast"] if position % 2 == 0 else ["fast", "seed"]
            pair = {}
            for name in order:
                if name == "seed" and args.fast_only:
                    continue
                run = train_process(name, Path(folder) / name, seed, overrides if name == "fast" else None)
                pair[name] = {key: run[key] for key in ("wall", "accuracy", "precision", "steps", "images_per_second")}
                pair[name]["phases"] = run["phases"]
            if not args.fast_only:
                pair["ratio"] = round(pair["fast"]["wall"] / pair["seed"]["wall"], 3)
            pairs.append({"seed": seed, **pair})
            print(json.dumps(pairs[-1]), flush=True)
    fast_accuracies = [pair["fast"]["accuracy"] for pair in pairs]
    if args.fast_only:
        walls = [pair["fast"]["wall"] for pair in pairs]
        print(json.dumps({"fast_accuracies": fast_accuracies, "lowest": min(fast_accuracies),
                          "median_wall": statistics.median(walls)}), flush=True)
        return 0 if min(fast_accuracies) >= 0.99 else 1
    ratios = [pair["ratio"] for pair in pairs]
    summary = {"median_ratio": statistics.median(ratios), "ratios": ratios, "target": target,
               "fast_accuracies": fast_accuracies, "seed_accuracies": [pair["seed"]["accuracy"] for pair in pairs],
               "fast_walls": [pair["fast"]["wall"] for pair in pairs], "seed_walls": [pair["seed"]["wall"] for pair in pairs]}
    print(json.dumps(summary), flush=True)
    return 0 if summary["median_ratio"] <= target and min(fast_accuracies) >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
