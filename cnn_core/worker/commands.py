"""The command line's training commands, ``train`` and ``bench``: the CLI entry point (``cnn_core.cli``)
parses the flags and hands them here, the only commands that need TensorFlow.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from cnn_core.common.config import PRESETS, ModelConfig, TrainConfig, matched_mlp
from cnn_core.common.runs import atomic_write_json

# What a model folder (models/seed-mnist/) copies from the run that made it, besides model.keras.
SHIPPED_FILES = ("model.tflite", "weights.npz", "filter_history.npz", "predictions.npy", "history.jsonl")


def quiet_tensorflow(strategy: str | None = None) -> None:
    """Import TensorFlow with its start-up chatter (absl, oneDNN notices) kept off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            if strategy == "multi-worker":  # TensorFlow wants it made before its first op.
                from cnn_core.worker.distributed import multi_worker_strategy
                multi_worker_strategy()
            tf.constant(1.0) + 1.0  # The oneDNN notice comes with the first op.
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    import warnings

    warnings.filterwarnings("ignore", module="keras")


def progress_bar(job, stream) -> None:
    """Redraw a one-line progress bar every half second until the job ends, and once at the end."""
    total, finished, last_test = job.train_config.iterations, False, ""
    while not finished:
        finished = job.wait(0.5)
        record = job.latest()
        if record is None:
            continue
        filled = int(30 * record.step / total)
        if record.test_accuracy is not None:  # Kept on screen until the next measurement.
            last_test = f" test acc {record.test_accuracy:.3f}"
        stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {record.step}/{total} loss {record.train_loss:.3f}"
                     f"{last_test} {record.images_per_second:,.0f} img/s ETA {record.eta:4.0f}s\x1b[K")
        stream.flush()
    stream.write("\n")


def command_train(args) -> dict:
    """Train one run into the runs folder (and with ``--export``, into a model folder); the result as a dict."""
    overrides = {"dataset": args.dataset, "iterations": args.iterations, "batch_size": args.batch_size,
                 "learning_rate": args.lr, "seed": args.seed, "train_images": args.train_images,
                 "device": args.device, "strategy": args.strategy, "precision": args.precision}
    unknown = sorted(set(args.config) - set(PRESETS[args.preset].to_dict()))
    if unknown:
        raise ValueError(f"--config: {', '.join(unknown)} is not a training config field")
    config = TrainConfig.from_dict({**PRESETS[args.preset].to_dict(), **args.config,
                                    **{k: v for k, v in overrides.items() if v is not None}})
    model_config = matched_mlp(ModelConfig()) if args.architecture == "mlp" else ModelConfig()
    if args.export and (args.export.suffix or args.export.is_file()):
        raise ValueError(f"--export needs a folder (for example models/my-cnn), got {args.export}")
    quiet_tensorflow(config.strategy)
    imported = time.time()
    from cnn_core.worker.devices import resolve_device
    from cnn_core.worker.download import ensure_dataset
    from cnn_core.worker.job import TrainingJob

    ensure_dataset(config.dataset)  # Missing or broken data is a usage error, before any training.
    if config.device != "cpu" and config.strategy == "default":
        resolve_device(config.device)
    cluster = store = None
    if config.strategy == "multi-worker":
        from cnn_core.worker.distributed import read_cluster, scratch_store
        cluster = read_cluster()
        store = scratch_store() if not cluster.is_chief else None
    job = TrainingJob(model_config, config, store).start()
    if sys.stderr.isatty():
        progress_bar(job, sys.stderr)
    job.wait()
    if job.status == "failed":
        raise RuntimeError(f"training failed: {job.reason}")
    result = {"run_id": job.run_id, "run_dir": str(job.store.path(job.run_id)), "status": job.status,
              "preset": args.preset, **job.final_metrics,
              "timeline": {"tensorflow_imported": imported, **job.timeline},
              "test_batches_seconds": round(job.measure_seconds, 3)}
    if cluster:  # Only the chief (worker 0) keeps the run; the others' scratch folders are deleted.
        result.update(workers=len(cluster.workers), worker=cluster.index)
        if not cluster.is_chief:
            return {"status": job.status, "workers": len(cluster.workers), "worker": cluster.index}
    if args.export:
        export_model(job, args.export, result, args.argv)
        result["exported"] = str(args.export)
    return result


def export_model(job, folder: Path, result: dict, job_argv: list[str]) -> None:
    """Make ``folder`` a model folder like models/seed-mnist/: the model without optimizer state,
    meta.json, and the run's serving files (LiteRT model, weights, filter history...)."""
    from cnn_core.worker.saving import load_model_file

    folder.mkdir(parents=True, exist_ok=True)
    run = job.store.path(job.run_id)
    load_model_file(run / "model.keras").save(folder / "model.keras")  # Loaded uncompiled: no optimizer.
    for name in SHIPPED_FILES:
        if (run / name).is_file():
            shutil.copyfile(run / name, folder / name)
    metadata = {"model": job.model_config.to_dict(), "train": job.train_config.to_dict(),
                "dataset": job.train_config.dataset, "test_accuracy": result["test_accuracy"],
                "test_images": result["test_images"], "seconds": round(result["seconds"], 1),
                "device": result["device"], "precision": result.get("precision", "float32"),
                "date": time.strftime("%Y-%m-%d"), "command": "python -m cnn_core " + shlex.join(job_argv)}
    atomic_write_json(folder / "meta.json", metadata)


def command_bench(args) -> dict:
    if not 10 <= args.steps <= 100_000 or not 1 <= args.repeats <= 20:
        raise ValueError("--steps must be 10-100000 and --repeats 1-20")
    quiet_tensorflow()
    from cnn_core.worker.bench import run_benchmarks

    return run_benchmarks(steps=args.steps, repeats=args.repeats, precision=args.precision, log=sys.stderr)
