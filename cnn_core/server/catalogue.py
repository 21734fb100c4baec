"""Which models there are, what each is called, and which files a model's name means.

A model is named by a key: ``"default"`` for the seed CNN this project ships in ``models/seed-mnist/``,
the name of another folder under ``models/`` (``"mlp-mnist"``), or a run id from ``runs/``. Each is a
*model folder* holding what the training worker exports (``cnn_core.worker.export``): ``model.keras``,
and ``model.tflite`` with ``weights.npz``, which ``cnn_core.server.serving`` serves through LiteRT. A
shipped folder also holds ``meta.json``: its config, accuracy and the command that made it.

    model_choices(store)          # every model a menu offers, the shipped ones first
    run_name(run)                 # 'fast CNN · MNIST · 99.2% · 15:44': one name in the table and every menu
    resolve("mlp-mnist")          # ModelFiles(folder=models/mlp-mnist, dataset="mnist", ...)
    resolve("my.keras", paths=True)   # the command line may also name a folder or a .keras file
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cnn_core.common.config import ModelConfig, PRESETS, TrainConfig
from cnn_core.common.data import DATASETS
from cnn_core.common.runs import SERVING_FILES, RunError, RunInfo, RunStore
from cnn_core.common.vocabulary import display_name

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_KEY = "default"
DEFAULT_FOLDER = MODELS_DIR / "seed-mnist"
SHIPPED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
# Settings that do not change what a preset is: a seed-preset run on the GPU is still "seed".
NOT_PRESET = ("seed", "device", "strategy", "precision", "dataset")


@dataclass(frozen=True)
class ModelChoice:
    """A model a user can pick: its key, its name for menus, the dataset it was trained on, its folder."""

    key: str
    label: str
    dataset: str = "mnist"
    folder: Path | None = None
    architecture: str = "cnn"

    @property
    def class_names(self) -> tuple[str, ...]:
        return DATASETS.get(self.dataset, DATASETS["mnist"])


@dataclass(frozen=True)
class ModelFiles:
    """What a model's name means on disk: a model folder, or (command line only) a bare .keras file."""

    name: str
    folder: Path | None          # None for a bare .keras file
    keras_file: Path | None      # the folder's model.keras, or the file named
    dataset: str = "mnist"

    @property
    def servable(self) -> bool:
        """Whether the folder holds the LiteRT files, so no TensorFlow is needed to use it."""
        return self.folder is not None and all((self.folder / name).is_file() for name in SERVING_FILES)


def read_metadata(folder: Path, name: str = "meta.json") -> dict:
    """A shipped model folder's meta.json (or a run folder's config.json), {} when it is missing or broken."""
    try:
        value = json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def default_metadata() -> dict:
    """The shipped seed CNN's metadata (config, accuracy, the command that made it), or {}."""
    return read_metadata(DEFAULT_FOLDER)


def read_configs(config: dict) -> tuple[ModelConfig | None, TrainConfig | None]:
    """A run's saved configs, or None for one that does not parse."""
    configs = []
    for kind, cls in (("model", ModelConfig), ("train", TrainConfig)):
        try:
            configs.append(cls.from_dict(config.get(kind, {})))
        except (TypeError, ValueError, AttributeError, OverflowError):
            configs.append(None)
    return configs[0], configs[1]


def preset_of(train: TrainConfig | None) -> str:
    """'seed' or 'fast' when the training is that preset's (whatever the seed or device), else 'custom'."""
    if train is None:
        return "?"
    for name, preset in PRESETS.items():
        if all(getattr(train, f) == getattr(preset, f) for f in train.to_dict() if f not in NOT_PRESET):
            return name
    return "custom"


def network_name(model: ModelConfig | None) -> str:
    """'CNN' for the seed network, 'CNN 16-32' for another, 'MLP 420' for a fully connected one."""
    if model is None:
        return "?"
    if model.architecture == "mlp":
        return f"MLP {model.hidden_units}"
    if model == ModelConfig():
        return "CNN"
    return "CNN " + "-".join(str(c) for c in model.conv_channels)


def launch_time(run_id: str) -> str:
    """'15:44' from a run id made today, '30 Nov 15:44' from an older one; the id itself otherwise."""
    started = re.match(r"^(\d{8})-(\d\d)(\d\d)\d\d-", run_id)  # ids begin with the launch time
    if not started:
        return run_id
    day = started.group(1)
    clock = f"{started.group(2)}:{started.group(3)}"
    if day == time.strftime("%Y%m%d"):
        return clock
    try:
        return f"{int(day[6:])} {time.strftime('%b', time.strptime(day[4:6], '%m'))} {clock}"
    except ValueError:
        return run_id


def run_name(run: RunInfo) -> str:
    """How a person remembers a run: preset and network, dataset, accuracy, and when it was launched."""
    model, train = read_configs(run.config)
    accuracy = run.metrics.get("test_accuracy")
    if isinstance(accuracy, (int, float)):
        score = f"{accuracy:.1%}" + (" stopped early" if run.status == "stopped" else "")
    else:
        score = run.status
    dataset = display_name(train.dataset) if train else "?"
    return f"{preset_of(train)} {network_name(model)} · {dataset} · {score} · {launch_time(run.run_id)}"


def shipped_name(meta: dict) -> str:
    """'shipped CNN seed 0 · MNIST · 99.20%': a shipped model named the way runs are, with its seed
    (two shipped CNNs differ only by it)."""
    model, train = read_configs(meta)
    accuracy = meta.get("test_accuracy")
    score = f" · {accuracy:.2%}" if isinstance(accuracy, (int, float)) else ""
    seed = f" seed {train.seed}" if train is not None else ""
    return f"shipped {network_name(model)}{seed} · {display_name(meta.get('dataset', 'mnist'))}{score}"


def training_settings(folder: Path | None) -> tuple[ModelConfig | None, TrainConfig | None]:
    """The configs a model folder was trained with: a shipped folder's meta.json or a run's config.json."""
    if folder is None:
        return None, None
    return read_configs(read_metadata(folder) or read_metadata(folder, "config.json"))


def shipped_choices() -> list[ModelChoice]:
    """Every servable folder under models/, the seed CNN first."""
    choices = []
    folders = sorted(MODELS_DIR.glob("*/meta.json"), key=lambda path: (path.parent != DEFAULT_FOLDER, path))
    for meta_path in folders:
        folder = meta_path.parent
        if folder.is_symlink() or not all((folder / name).is_file() for name in SERVING_FILES):
            continue
        meta = read_metadata(folder)
        key = DEFAULT_KEY if folder == DEFAULT_FOLDER else folder.name
        choices.append(ModelChoice(key, shipped_name(meta), meta.get("dataset", "mnist"), folder,
                                   meta.get("model", {}).get("architecture", "cnn")))
    return choices


def run_choice(run: RunInfo) -> ModelChoice:
    """A saved run as a menu entry, under its run name."""
    return ModelChoice(run.run_id, run_name(run), run.train.get("dataset", "mnist"), run.path,
                       run.config["model"].get("architecture", "cnn"))


def model_choices(store: RunStore | None = None) -> list[ModelChoice]:
    """The shipped models and every saved run the server can serve, newest first."""
    runs, _ = (store or RunStore()).list_runs()
    return shipped_choices() + [run_choice(run) for run in runs
                                if run.servable and run.status in ("completed", "stopped")]


def resolve(spec: str | None, store: RunStore | None = None, paths: bool = False) -> ModelFiles:
    """The files a model's name means: the shipped default, a shipped folder's name or a run id; with
    ``paths`` (the command line, never an address) also a model folder or a .keras file. RunError otherwise."""
    spec = spec or DEFAULT_KEY
    if spec == DEFAULT_KEY:
        if not all((DEFAULT_FOLDER / name).is_file() for name in SERVING_FILES):
            raise RunError(f"the shipped model in {DEFAULT_FOLDER} is missing; train one with "
                           "`python -m cnn_core train --preset fast` and pick its run")
        return ModelFiles(spec, DEFAULT_FOLDER, DEFAULT_FOLDER / "model.keras", default_metadata().get("dataset", "mnist"))
    shipped = MODELS_DIR / spec
    if SHIPPED_NAME.fullmatch(spec) and (shipped / "meta.json").is_file() and not shipped.is_symlink():
        return ModelFiles(spec, shipped, shipped / "model.keras", read_metadata(shipped).get("dataset", "mnist"))
    if paths and (Path(spec).exists() or spec.endswith(".keras") or "/" in spec):
        return files_at(Path(spec))
    store = store or RunStore()
    info = store.read(spec)  # RunError for a bad id, or a missing, broken or symlinked run.
    return ModelFiles(spec, info.path, info.path / "model.keras", info.train.get("dataset", "mnist"))


def files_at(path: Path) -> ModelFiles:
    """A model folder or a .keras file named on the command line."""
    if not path.exists():
        raise RunError(f"{path}: no such model file or folder")
    if path.is_dir():
        metadata = read_metadata(path) or read_metadata(path, "config.json")
        dataset = metadata.get("dataset") or metadata.get("train", {}).get("dataset", "mnist")
        return ModelFiles(str(path), path, path / "model.keras", dataset if dataset in DATASETS else "mnist")
    if path.suffix == ".keras":
        return ModelFiles(str(path), None, path, "mnist")
    raise RunError(f"{path}: expected a .keras model file, a model or run folder, or a run id")

