"""Two visitors' runs queued one behind the other: how long the second waits after the first's last step.

A launcher with one training slot (``CNN_MAX_JOBS=1``, the default) gets two runs of a preset at
once, as two visitors launching from the Train page would. The script watches the two run folders
every 50 ms and prints: from the first run's last step to the second run's first step (the wait
between one visitor's run and the next), and from that last step until the first run's experiment
files (neighbours, novelty, ablation, robustness) are all written.

    python benchmarks/turnaround.py [--preset fast] [--config '{"iterations": 300}']

Runs on the code of any checkout since the run folder became the queue (the launcher is found at
cnn_core/server/launcher.py or, before the layout change, cnn_core/launcher.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXPERIMENT_FILES = ("neighbours.npz", "novelty.json", "ablation.json", "robustness.json")


def modules():
    try:
        from cnn_core.common.config import PRESETS, ModelConfig, TrainConfig
        from cnn_core.common.runs import RunStore
        from cnn_core.server.launcher import Launcher
    except ImportError:  # the layout before cnn_core/server/
        from cnn_core.launcher import Launcher
        from cnn_core.model import ModelConfig
        from cnn_core.runs import RunStore
        from cnn_core.training import PRESETS, TrainConfig
    return PRESETS, ModelConfig, TrainConfig, RunStore, Launcher


def steps_seen(folder: Path) -> list[int]:
    try:
        return [json.loads(line)["step"] for line in (folder / "history.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError, KeyError):
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--config", default="{}", help="JSON training-config overrides of the preset")
    parser.add_argument("--timeout", type=float, default=1200)
    args = parser.parse_args()
    PRESETS, ModelConfig, TrainConfig, RunStore, Launcher = modules()
    config = TrainConfig.from_dict({**PRESETS[args.preset].to_dict(), **json.loads(args.config)})
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        launcher = Launcher(store, max_running=1)
        began = time.time()
        first = launcher.submit(ModelConfig(), config, owner="visitor one")
        second = launcher.submit(ModelConfig(), config, owner="visitor two")
        seen: dict[str, float] = {}
        deadline = began + args.timeout
        try:
            while time.time() < deadline and len(seen) < 3:
                now = time.time()
                if "first_last_step" not in seen and config.iterations in steps_seen(store.path(first)):
                    seen["first_last_step"] = now
                if "second_first_step" not in seen and steps_seen(store.path(second)):
                    seen["second_first_step"] = now
                if "first_files" not in seen and all((store.path(first) / name).is_file() for name in EXPERIMENT_FILES):
                    seen["first_files"] = now
                time.sleep(0.05)
        finally:
            launcher.close()
    if len(seen) < 3:
        print(json.dumps({"error": f"gave up after {args.timeout:.0f} s", "seen": seen}))
        return 1
    last = seen["first_last_step"]
    print(json.dumps({"preset": args.preset, "config": json.loads(args.config),
                      "last_step_to_next_first_step_seconds": round(seen["second_first_step"] - last, 2),
                      "last_step_to_experiment_files_seconds": round(seen["first_files"] - last, 2),
                      "first_last_step_after_launch_seconds": round(last - began, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
