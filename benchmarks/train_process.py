"""One training run as a person launching it waits for it: the whole ``python -m cnn_core train`` process.

Shared by ``fast_vs_seed.py`` and ``job_breakdown.py``. The wall time runs from just before the
process starts to just after it exits, so it holds the interpreter's start, the imports, the data,
the training, the scoring, the save, the LiteRT export and the exit. The run's own ``timeline``
(time.time() at the end of each phase) splits it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each phase of a job, as (name, the timeline mark that ends it); the one before starts it.
PHASES = (("process start and imports", "tensorflow_imported"), ("data loading", "data_loaded"),
          ("model built and compiled", "model_built"), ("first step (graph building)", "first_step"),
          ("training steps", "steps_done"), ("final scoring", "scored"), ("save", "saved"),
          ("LiteRT export", "exported"))


def train_process(preset: str, runs_dir: Path, seed: int = 0, config: dict | None = None) -> dict:
    """Run one training process; its wall time, its JSON result and its phases in seconds."""
    command = [sys.executable, "-m", "cnn_core", "train", "--preset", preset, "--seed", str(seed), "--json"]
    if config:
        command += ["--config", json.dumps(config)]
    env = {**os.environ, "CNN_RUNS_DIR": str(runs_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    began = time.time()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    ended = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    timeline = {"process_started": began, **result.pop("timeline")}
    phases, previous = {}, began
    for name, mark in PHASES:
        phases[name] = round(timeline[mark] - previous, 3)
        previous = timeline[mark]
    phases["training steps"] = round(phases["training steps"] - result["test_batches_seconds"], 3)
    phases["test measurements"] = result["test_batches_seconds"]
    phases["exit"] = round(ended - timeline["exported"], 3)
    return {"wall": round(ended - began, 2), "accuracy": result["test_accuracy"], "precision": result["precision"],
            "steps": result["steps"], "images_per_second": result["images_per_second"], "phases": phases,
            "result": result}
