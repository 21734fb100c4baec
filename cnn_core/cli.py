"""CNN Lab without a browser: ``python -m cnn_core <command>``.

    train     [--preset seed|fast] [--dataset ...] [--iterations N] [--batch-size N] [--lr X]
              [--device auto|cpu|gpu] [--strategy default|mirrored|multi-worker]
              [--precision auto|float32|mixed_bfloat16|mixed_float16] [--export PATH] [--json]
    evaluate  [--model PATH|RUN_ID] [--dataset ...] [--json]
    predict   IMAGE [--model PATH|RUN_ID] [--json]
    compare   [--cnn MODEL] [--mlp MODEL] [--images N] [--json]
    bench     [--steps N] [--repeats N] [--precision ...] [--json]

With ``--json`` the last line on stdout is one JSON object. Bad input of any kind is one line on
stderr starting with ``error:`` and exit status 2; there is never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from cnn_core.data import DATASETS, DataError
from cnn_core.devices import DEVICE_CHOICES, STRATEGY_CHOICES
from cnn_core.preprocess import ImageError
from cnn_core.runs import RunError
from cnn_core.training import PRECISIONS

USAGE_ERRORS = (DataError, RunError, ImageError, ValueError)


class UsageError(Exception):
    """Bad flags: reported in one line with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage and exit itself.
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m cnn_core", description="CNN Lab from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = commands.add_parser("train", help="train a model and save the run")
    train.add_argument("--preset", choices=("seed", "fast"), default="seed")
    train.add_argument("--dataset", choices=tuple(DATASETS))
    train.add_argument("--iterations", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--train-images", type=int, help="use only the first N training images")
    train.add_argument("--device", choices=DEVICE_CHOICES)
    train.add_argument("--strategy", choices=STRATEGY_CHOICES,
                       help="multi-worker: one of the machines in $TF_CONFIG (run the same command on each)")
    train.add_argument("--precision", choices=PRECISIONS,
                       help="auto: 16-bit arithmetic where the hardware has it natively, else float32")
    train.add_argument("--architecture", choices=("cnn", "mlp"), default="cnn",
                       help="mlp: the fully connected net with the seed CNN's parameter count")
    train.add_argument("--export", type=Path, help="also copy the model into this model folder (as models/seed-mnist/): "
                                                   "model.keras, meta.json and what the web server serves")
    evaluate = commands.add_parser("evaluate", help="score a model on the full test set")
    evaluate.add_argument("--model", help="a .keras file or a run id (default: the shipped model)")
    evaluate.add_argument("--dataset", choices=tuple(DATASETS))
    predict = commands.add_parser("predict", help="classify a drawn digit (PNG or JPEG)")
    predict.add_argument("image", type=Path)
    predict.add_argument("--model", help="a .keras file or a run id (default: the shipped model)")
    bench = commands.add_parser("bench", help="training throughput vs model.fit, predict latency, memory")
    bench.add_argument("--steps", type=int, default=400)
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--precision", choices=PRECISIONS, default="float32", help="for both the job and model.fit")
    compare = commands.add_parser("compare", help="the CNN against the same-size MLP: accuracy, shifted, rotated")
    compare.add_argument("--cnn", help="a model folder, .keras file or run id (default: the shipped CNN)")
    compare.add_argument("--mlp", help="a model folder, .keras file or run id (default: models/mlp-mnist)")
    compare.add_argument("--images", type=int, help="use the first N test digits (default: all 10,000)")
    for command in (train, evaluate, predict, bench, compare):
        command.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    return parser


def quiet_tensorflow(strategy: str | None = None) -> None:
    """Import TensorFlow with its start-up chatter (absl, oneDNN notices) kept off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            if strategy == "multi-worker":  # TensorFlow wants it made before its first op.
                from cnn_core.distributed import multi_worker_strategy
                multi_worker_strategy()
            tf.constant(1.0) + 1.0  # The oneDNN notice comes with the first op.
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    import warnings

    warnings.filterwarnings("ignore", module="keras")


def load_any_model(spec: str | None):
    """A model from a .keras path, a run id, or the shipped default; and its dataset name."""
    from cnn_core.inference import DEFAULT_KEY, default_metadata, load_model
    from cnn_core.runs import RunStore, load_model_file

    if spec is None or spec == DEFAULT_KEY:
        return load_model(DEFAULT_KEY), default_metadata().get("dataset", "mnist")
    path = Path(spec)
    if path.is_dir():
        path = path / "model.keras"
    if path.suffix == ".keras":
        return load_model_file(path), "mnist"
    if path.exists():
        raise RunError(f"{spec}: expected a .keras model file, a run folder or a run id")
    store = RunStore()
    info = store.read(spec)
    return store.load_model(spec), info.config.get("train", {}).get("dataset", "mnist")


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
    from cnn_core.data import load_dataset
    from cnn_core.jobs import JobManager
    from cnn_core.model import ModelConfig, matched_mlp
    from cnn_core.training import PRESETS

    overrides = {"dataset": args.dataset, "iterations": args.iterations, "batch_size": args.batch_size,
                 "learning_rate": args.lr, "seed": args.seed, "train_images": args.train_images,
                 "device": args.device, "strategy": args.strategy, "precision": args.precision}
    base = PRESETS[args.preset].to_dict()
    config = type(PRESETS["seed"]).from_dict({**base, **{k: v for k, v in overrides.items() if v is not None}})
    model_config = matched_mlp(ModelConfig()) if args.architecture == "mlp" else ModelConfig()
    if args.export and (args.export.suffix or args.export.is_file()):
        raise ValueError(f"--export needs a folder (for example models/my-cnn), got {args.export}")
    load_dataset(config.dataset)  # Missing or broken data is a usage error, before any training.
    if config.device != "cpu" and config.strategy == "default":
        from cnn_core.devices import resolve_device
        resolve_device(config.device)
    cluster = None
    if config.strategy == "multi-worker":
        from cnn_core.distributed import read_cluster, scratch_store
        cluster = read_cluster()
    job = JobManager(store=scratch_store() if cluster and not cluster.is_chief else None).submit(model_config, config)
    if sys.stderr.isatty():
        progress_bar(job, sys.stderr)
    job.wait()
    if job.status == "failed":
        raise RuntimeError(f"training failed: {job.reason}")
    result = {"run_id": job.run_id, "run_dir": str(job.store.path(job.run_id)), "status": job.status,
              "preset": args.preset, **job.final_metrics}
    if cluster:  # Only the chief (worker 0) keeps the run; the others' scratch folders are deleted.
        result.update(workers=len(cluster.workers), worker=cluster.index)
        if not cluster.is_chief:
            return {"status": job.status, "workers": len(cluster.workers), "worker": cluster.index}
    if args.export:
        export_model(job, args.export, result, args.argv)
        result["exported"] = str(args.export)
    return result


SHIPPED_FILES = ("model.tflite", "weights.npz", "filter_history.npz", "predictions.npy", "history.jsonl")


def export_model(job, folder: Path, result: dict, job_argv: list[str]) -> None:
    """Make ``folder`` a model folder like models/seed-mnist/: the model without optimizer state (a third of
    the size), meta.json, and the run's serving files (LiteRT model, weights, filter history...)."""
    import shutil

    from cnn_core.runs import atomic_write_json, load_model_file

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


def command_evaluate(args) -> dict:
    from cnn_core.data import load_dataset
    from cnn_core.training import score

    model, trained_on = load_any_model(args.model)
    dataset = load_dataset(args.dataset or trained_on)
    loss, accuracy, _ = score(model, dataset.test_images, dataset.test_labels)
    return {"accuracy": accuracy, "loss": loss, "n": int(len(dataset.test_labels)), "dataset": dataset.name}


def command_predict(args) -> dict:
    from cnn_core.inference import Predictor
    from cnn_core.preprocess import load_image_file, to_mnist

    image = to_mnist(load_image_file(args.image))  # Bad images fail before any model loads.
    model, dataset = load_any_model(args.model)
    prediction = Predictor(model, DATASETS[dataset]).predict(image)
    from cnn_core.experiments.artifacts import looks_like_digit_for_cli
    return {"digit": prediction.label, "class_name": prediction.class_name,
            "confidence": prediction.confidence, "probabilities": [float(p) for p in prediction.probabilities],
            "looks_like_digit": looks_like_digit_for_cli(model, image, args.model, dataset)}


def command_bench(args) -> dict:
    from cnn_core.bench import run_benchmarks

    if not 10 <= args.steps <= 100_000 or not 1 <= args.repeats <= 20:
        raise ValueError("--steps must be 10-100000 and --repeats 1-20")
    return run_benchmarks(steps=args.steps, repeats=args.repeats, precision=args.precision, log=sys.stderr)


def command_compare(args) -> dict:
    from cnn_core.experiments.compare import command_compare as compare_models
    return compare_models(args)


COMMANDS = {"train": command_train, "evaluate": command_evaluate, "predict": command_predict, "bench": command_bench,
            "compare": command_compare}


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
        if args.command != "predict" or args.image.is_file():
            quiet_tensorflow(getattr(args, "strategy", None))
        result = COMMANDS[args.command](args)
    except UsageError as error:
        print(f"error: {error} (see python -m cnn_core --help)", file=sys.stderr)
        return 2
    except USAGE_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # Anything else is still one line, never a traceback.
        print(f"error: {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}",
              file=sys.stderr)
        return 1
    print_result(result, args.json)
    return 0


def print_result(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        if key == "probabilities":
            shown = " ".join(f"{p:.3f}" for p in value)
        print(f"{key}: {shown}")
