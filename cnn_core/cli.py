"""CNN Lab without a browser: ``python -m cnn_core <command>``.

    train     [--preset seed|fast] [--dataset ...] [--iterations N] [--batch-size N] [--lr X]
              [--device auto|cpu|gpu] [--strategy default|mirrored|multi-worker]
              [--precision auto|float32|mixed_bfloat16|mixed_float16] [--export PATH] [--json]
    evaluate  [--model PATH|RUN_ID] [--dataset ...] [--json]
    predict   IMAGE [--model PATH|RUN_ID] [--json]
    compare   [--cnn MODEL] [--mlp MODEL] [--images N] [--json]
    bench     [--steps N] [--repeats N] [--precision ...] [--json]

The entry point: it parses the flags and dispatches. ``train`` and ``bench`` run in
``cnn_core.worker.commands`` with TensorFlow; ``evaluate``, ``predict`` and ``compare`` serve the
model folder through LiteRT, as the web server does, and load TensorFlow only to export a bare
``.keras`` file first. With ``--json`` the last line on stdout is one JSON object. Bad input of any
kind is one line on stderr starting with ``error:`` and exit status 2; there is never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cnn_core.common.config import PRESETS
from cnn_core.common.data import DATASETS, DataError, load_dataset
from cnn_core.common.preprocess import ImageError
from cnn_core.common.runs import RunError
from cnn_core.common.vocabulary import choices
from cnn_core.server.serving import ServingError

USAGE_ERRORS = (DataError, RunError, ImageError, ServingError, ValueError)


class UsageError(Exception):
    """Bad flags: reported in one line with exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the whole usage and exit itself.
        raise UsageError(message)


def json_object(text: str) -> dict:
    """A --config value: a JSON object, or the reason it is not one."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"beta_1\": 0.8}}', got {text[:80]!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m cnn_core", description="CNN Lab from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = commands.add_parser("train", help="train a model and save the run")
    train.add_argument("--preset", choices=tuple(PRESETS), default="seed")
    train.add_argument("--dataset", choices=tuple(DATASETS))
    train.add_argument("--iterations", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--train-images", type=int, help="use only the first N training images")
    train.add_argument("--device", choices=choices("device"))
    train.add_argument("--strategy", choices=choices("strategy"),
                       help="multi-worker: one of the machines in $TF_CONFIG (run the same command on each)")
    train.add_argument("--precision", choices=choices("precision"),
                       help="auto: 16-bit arithmetic where the hardware has it natively, else float32")
    train.add_argument("--architecture", choices=choices("network"), default="cnn",
                       help="mlp: the fully connected net with the seed CNN's parameter count")
    train.add_argument("--config", type=json_object, default={}, metavar="JSON",
                       help="training config fields over the preset's, e.g. '{\"beta_1\": 0.8}' (the flags above win)")
    train.add_argument("--export", type=Path, help="also copy the model into this model folder (as models/seed-mnist/): "
                                                   "model.keras, meta.json and what the web server serves")
    evaluate = commands.add_parser("evaluate", help="score a model on the full test set")
    evaluate.add_argument("--model", help="a model folder, .keras file or run id (default: the shipped model)")
    evaluate.add_argument("--dataset", choices=tuple(DATASETS))
    predict = commands.add_parser("predict", help="classify a drawn digit (PNG or JPEG)")
    predict.add_argument("image", type=Path)
    predict.add_argument("--model", help="a model folder, .keras file or run id (default: the shipped model)")
    bench = commands.add_parser("bench", help="training throughput vs model.fit, predict latency, memory")
    bench.add_argument("--steps", type=int, default=400)
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--precision", choices=choices("precision"), default="float32",
                       help="for both the job and model.fit")
    compare = commands.add_parser("compare", help="the CNN against the same-size MLP: accuracy, shifted, rotated")
    compare.add_argument("--cnn", help="a model folder, .keras file or run id (default: the shipped CNN)")
    compare.add_argument("--mlp", help="a model folder, .keras file or run id (default: models/mlp-mnist)")
    compare.add_argument("--images", type=int, help="use the first N test digits (default: all 10,000)")
    for command in (train, evaluate, predict, bench, compare):
        command.add_argument("--json", action="store_true", help="end with one JSON object on stdout")
    return parser


def served_model(spec: str | None, class_names: tuple[str, ...] | None = None):
    """The model a name means (``catalogue.resolve``) behind LiteRT, and the files it came from.

    A model folder is served from its own LiteRT files; only a bare .keras file (or a folder that
    lacks them) is exported first, which takes TensorFlow."""
    from cnn_core.server.catalogue import resolve
    from cnn_core.server.serving import ServedModel

    files = resolve(spec, paths=True)
    names = class_names or DATASETS[files.dataset]
    if files.servable:
        return ServedModel(files.folder, names), files
    if files.keras_file is None or not files.keras_file.is_file():
        raise RunError(f"{files.name}: no model there (expected model.tflite and weights.npz, or model.keras)")
    from cnn_core.common.keras_archive import network_of
    from cnn_core.common.runs import check_model_archive

    check_model_archive(files.keras_file)
    network_of(files.keras_file)  # What it would build, checked before TensorFlow even loads.
    from cnn_core.worker.commands import quiet_tensorflow
    from cnn_core.worker.export import served_from_keras
    from cnn_core.worker.saving import load_model_file

    quiet_tensorflow()
    return served_from_keras(load_model_file(files.keras_file), names), files


def dataset_for(name: str):
    """The dataset from disk, downloading it first (in a child process, ``cnn_core.server.fetch``) if need be."""
    from cnn_core.server.fetch import fetch

    problem = fetch(name)
    if problem:
        raise DataError(problem)
    return load_dataset(name)


def command_evaluate(args) -> dict:
    from cnn_core.common.scoring import score_logits

    served, files = served_model(args.model)
    dataset = dataset_for(args.dataset or files.dataset)
    loss, accuracy, _ = score_logits(served.logits(dataset.test_images.astype(np.float32) / 255), dataset.test_labels)
    return {"accuracy": accuracy, "loss": loss, "n": int(len(dataset.test_labels)), "dataset": dataset.name}


def command_predict(args) -> dict:
    from cnn_core.common.preprocess import load_image_file, to_mnist
    from cnn_core.experiments.artifacts import looks_like_digit

    image = to_mnist(load_image_file(args.image))  # Bad images fail before any model loads.
    served, files = served_model(args.model)
    prediction = served.predict(image)
    verdict = None
    if files.folder is not None and files.dataset == "mnist":
        verdict = looks_like_digit(served, image, files.folder, dataset_for("mnist").train_images)
    return {"digit": prediction.label, "class_name": prediction.class_name,
            "confidence": prediction.confidence, "probabilities": [float(p) for p in prediction.probabilities],
            "looks_like_digit": verdict}


def command_compare(args) -> dict:
    """{"cnn": {...}, "mlp": {...}}: the two models' test, shifted and rotated accuracy (experiments.compare)."""
    from cnn_core.experiments.compare import DEFAULT_MLP, compare_side, parameter_count

    dataset = dataset_for("mnist")
    count = args.images or len(dataset.test_labels)
    if not 100 <= count <= len(dataset.test_labels):
        raise ValueError(f"--images must be from 100 to {len(dataset.test_labels)}, got {count}")
    images, labels = dataset.test_images[:count], dataset.test_labels[:count]
    sides = {side: served_model(spec) for side, spec in (("cnn", args.cnn), ("mlp", args.mlp or DEFAULT_MLP))}
    return {side: {"model": files.name, **compare_side(served.probabilities, parameter_count(served.weights),
                                                       images, labels)}
            for side, (served, files) in sides.items()}


def command_train(args) -> dict:
    from cnn_core.worker.commands import command_train as train

    return train(args)


def command_bench(args) -> dict:
    from cnn_core.worker.commands import command_bench as bench

    return bench(args)


COMMANDS = {"train": command_train, "evaluate": command_evaluate, "predict": command_predict, "bench": command_bench,
            "compare": command_compare}


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
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
