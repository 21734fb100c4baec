"""Where the time of one training job goes: each phase of ``python -m cnn_core train``, and the steps against the peak.

Runs the preset's whole process ``--repeats`` times and prints, per phase, the median seconds:
process start and imports, data loading, the model built and compiled, the first step (graph
building), the training steps, the test measurements, the final scoring, the save, the LiteRT
export and the exit. Then the steps' images per second against this machine's peak for the run's
precision, with the arithmetic: cores x clock x FLOPs per cycle (from the CPU's flags), over the
network's FLOPs per training image (counted from the seed network's layers).

    python benchmarks/job_breakdown.py [--preset fast] [--repeats 3] [--config '{"batch_size": 256}']
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from train_process import train_process  # noqa: E402  (beside this script)


def forward_flops() -> dict[str, int]:
    """Multiply-adds x 2 of one image through the seed network, layer by layer."""
    return {"conv1": 28 * 28 * 32 * 3 * 3 * 1 * 2, "conv2": 14 * 14 * 64 * 3 * 3 * 32 * 2,
            "hidden": 7 * 7 * 64 * 100 * 2, "logits": 100 * 10 * 2}


def cpu_peak(precision: str) -> tuple[float, str]:
    """This CPU's peak FLOP/s for the precision, and the arithmetic behind it (x86 with AVX-512 or AVX2)."""
    flags, mhz = set(), 0.0
    with open("/proc/cpuinfo") as lines:
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == "flags" and not flags:
                flags = set(value.split())
            elif name.strip() == "cpu MHz" and not mhz:
                mhz = float(value)
    cores = os.cpu_count() or 1
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4  # float32 lanes per vector
    per_cycle = 2 * lanes * 2  # two FMA pipes, each a multiply and an add per lane
    words = f"{cores} cores x {mhz / 1000:.2f} GHz x 2 FMA pipes x {lanes} float32 lanes x 2 FLOPs"
    if precision == "mixed_bfloat16" and flags & {"avx512_bf16", "amx_bf16"}:
        per_cycle *= 2  # VDPBF16PS: two bfloat16 products per float32 lane, accumulated
        words += " x 2 (bfloat16 pairs per lane, VDPBF16PS)"
    return cores * mhz * 1e6 * per_cycle, words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", default="{}", help="JSON training-config overrides of the preset")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            runs.append(train_process(args.preset, Path(folder), seed=repeat, config=json.loads(args.config)))
            print(json.dumps({key: runs[-1][key] for key in ("wall", "accuracy", "precision", "phases")}), flush=True)
    phases = {name: round(statistics.median(run["phases"][name] for run in runs), 3) for name in runs[0]["phases"]}
    steps = runs[0]["result"]["steps"]
    batch = json.loads(args.config).get("batch_size") or _preset_batch(args.preset)
    images_per_second = statistics.median(run["images_per_second"] for run in runs)
    flops = forward_flops()
    per_image = 3 * sum(flops.values())  # forward, and a backward pass about twice its cost
    peak, arithmetic = cpu_peak(runs[0]["precision"])
    print(json.dumps({
        "preset": args.preset, "precision": runs[0]["precision"], "steps": steps, "batch_size": batch,
        "median_wall_seconds": statistics.median(run["wall"] for run in runs), "median_phases_seconds": phases,
        "accuracies": [run["accuracy"] for run in runs],
        "steps_images_per_second": round(images_per_second),
        "training_flops_per_image": per_image, "forward_flops_per_layer": flops,
        "peak_flops_per_second": peak, "peak_arithmetic": arithmetic,
        "peak_images_per_second": round(peak / per_image),
        "share_of_peak": round(images_per_second * per_image / peak, 3)}), flush=True)
    return 0


def _preset_batch(preset: str) -> int:
    from cnn_core.common.config import PRESETS

    return PRESETS[preset].batch_size


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
