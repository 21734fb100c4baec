"""What a run is: the network (``ModelConfig``), its training (``TrainConfig``), the presets, the progress records.

Plain frozen dataclasses, validated in one place each, usable as cache keys, written to a run's
``config.json`` by the server and read by the worker (``cnn_core.worker`` builds the Keras model
from them). The defaults are the seed tutorial's:

    (batch, 28, 28, 1) -> conv 3x3x32 SAME ReLU -> max-pool 2x2 -> conv 3x3x64 SAME ReLU
    -> max-pool 2x2 -> flatten 7*7*64 -> dense 100 ReLU -> dense 10 logits

every weight and bias drawn from N(0, 0.1), Adam at 1e-4, batch 50, 2,500 iterations, a test batch
every 250. ``matched_mlp`` sizes a fully connected network to a CNN's parameter count, for the
seed's claim that the ConvNet's prior about images makes it win at equal size.

A value out of bounds raises ``ConfigError``, a ValueError that names the field(s) it is about, so
the Train form can put each message beside its field without reading the text.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from cnn_core.common.vocabulary import choices

IMAGE_SIZE = 28
NUM_CLASSES = 10
MODEL_LIMITS = {  # field: (smallest, largest) accepted value
    "conv_blocks": (1, 3), "kernel_size": (1, 7), "channels": (1, 256),
    "pool_size": (1, 4), "hidden_units": (1, 1024), "mlp_hidden_units": (1, 8192),
}
TRAIN_LIMITS = {"iterations": (1, 1_000_000), "batch_size": (1, 4096), "eval_every": (1, 1_000_000),
                "eval_images": (1, 10_000), "train_images": (0, 60_000), "seed": (0, 2**31 - 1)}
# The config words that are not fields themselves, and the field each one is about.
PART_OF = {"conv_blocks": "conv_channels", "channels": "conv_channels", "mlp_hidden_units": "hidden_units",
           "architecture": "network"}


class ConfigError(ValueError):
    """A config value that cannot be used; ``fields`` are the fields it is about, the first the one to fix."""

    def __init__(self, fields: str | tuple[str, ...], message: str):
        super().__init__(message)
        self.fields = (fields,) if isinstance(fields, str) else tuple(fields)

    @property
    def field(self) -> str:
        return self.fields[0]


def check_integer(name: str, value, limits: tuple[int, int], field: str | None = None) -> None:
    """ConfigError unless ``value`` is an integer inside ``limits``."""
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ConfigError(field or PART_OF.get(name, name), f"{name} must be an integer from {low} to {high}, got {value!r}")


def check_choice(name: str, value, field: str | None = None) -> None:
    allowed = choices(field or name)
    if value not in allowed:
        raise ConfigError(PART_OF.get(name, name), f"{name} must be one of {', '.join(allowed)}, got {value!r}")


class FromDict:
    """``to_dict`` / ``from_dict`` for a config dataclass; unknown keys (from newer versions) are ignored."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass(frozen=True)
class ModelConfig(FromDict):
    """What network to build; defaults are the seed tutorial's."""

    architecture: str = "cnn"            # "cnn", or "mlp" (flatten -> hidden -> logits)
    conv_channels: tuple[int, ...] = (32, 64)  # one conv block (conv, ReLU, max-pool) per entry
    kernel_size: int = 3                 # square kernels, SAME padding, stride 1
    pool_size: int = 2                   # square max-pool windows, stride = size, VALID
    hidden_units: int = 100              # the dense ReLU layer before the logits
    init_stddev: float = 0.1             # weights and biases ~ N(0, init_stddev), as in the seed

    def __post_init__(self):
        try:
            object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        except (TypeError, ValueError):
            raise ConfigError("conv_channels", f"conv_channels must be a list of whole numbers, "
                                               f"got {self.conv_channels!r}") from None
        validate_model_config(self)

    def feature_size(self) -> int:
        """Side length of the feature maps after the last pool."""
        side = IMAGE_SIZE
        for _ in self.conv_channels:
            side //= self.pool_size
        return side

    def parameter_count(self) -> int:
        """Trainable parameters, computed from the config without building anything."""
        if self.architecture == "mlp":
            return (IMAGE_SIZE * IMAGE_SIZE + 1) * self.hidden_units + (self.hidden_units + 1) * NUM_CLASSES
        count, in_channels = 0, 1
        for channels in self.conv_channels:
            count += (self.kernel_size ** 2 * in_channels + 1) * channels
            in_channels = channels
        flat = self.feature_size() ** 2 * in_channels
        return count + (flat + 1) * self.hidden_units + (self.hidden_units + 1) * NUM_CLASSES

    def describe(self) -> str:
        """A one-line summary for tables: 'CNN conv3x3 32-64, dense 100 (333,526 params)'."""
        if self.architecture == "mlp":
            return f"MLP 784-{self.hidden_units}-10 ({self.parameter_count():,} params)"
        convs = "-".join(str(c) for c in self.conv_channels)
        return (f"CNN conv{self.kernel_size}x{self.kernel_size} {convs}, dense {self.hidden_units} "
                f"({self.parameter_count():,} params)")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "conv_channels": list(self.conv_channels)}


def validate_model_config(config: ModelConfig) -> None:
    """The one place a ModelConfig is checked; raises ConfigError saying what is wrong."""
    check_choice("architecture", config.architecture, field="network")
    if not (isinstance(config.init_stddev, (int, float)) and 0 < config.init_stddev <= 1):
        raise ConfigError("init_stddev", f"init_stddev must be in (0, 1], got {config.init_stddev!r}")
    if config.architecture == "mlp":
        check_integer("hidden_units", config.hidden_units, MODEL_LIMITS["mlp_hidden_units"])
        return
    check_integer("conv_blocks", len(config.conv_channels), MODEL_LIMITS["conv_blocks"])
    for channels in config.conv_channels:
        check_integer("channels", channels, MODEL_LIMITS["channels"])
    for name in ("kernel_size", "pool_size", "hidden_units"):
        check_integer(name, getattr(config, name), MODEL_LIMITS[name])
    if config.feature_size() < 1:
        raise ConfigError(("pool_size", "conv_channels"),
                          f"{len(config.conv_channels)} blocks of {config.pool_size}x{config.pool_size} "
                          f"pooling shrink the 28x28 image to nothing; use fewer blocks or smaller pools")


def matched_mlp(cnn: ModelConfig) -> ModelConfig:
    """A fully connected net with (as nearly as possible) the CNN's parameter count."""
    per_hidden_unit = IMAGE_SIZE * IMAGE_SIZE + 1 + NUM_CLASSES
    hidden = max(1, round((cnn.parameter_count() - NUM_CLASSES) / per_hidden_unit))
    return ModelConfig(architecture="mlp", hidden_units=hidden, init_stddev=cnn.init_stddev)


@dataclass(frozen=True)
class TrainConfig(FromDict):
    """How to train; defaults are the seed tutorial's."""

    dataset: str = "mnist"          # "mnist" or "fashion-mnist"
    iterations: int = 2500          # optimizer steps
    batch_size: int = 50            # images per step
    learning_rate: float = 1e-4     # peak learning rate
    optimizer: str = "adam"         # "adam", "sgd" (momentum 0.9) or "rmsprop"
    schedule: str = "constant"      # "constant", or "warmup_cosine": linear warm-up then cosine decay to 0
    warmup_fraction: float = 0.1    # share of the iterations spent warming up (warmup_cosine only)
    eval_every: int = 250           # steps between test-batch measurements, as in the seed
    eval_images: int = 500          # test images scored at each measurement (rotating through the set)
    train_images: int = 0           # 0: the whole training set; else the first N images (quick runs)
    seed: int = 0                   # weights and shuffling
    device: str = "auto"            # "auto" (GPU if TensorFlow sees one), "cpu" or "gpu"
    strategy: str = "default"       # "default" (one device), "mirrored" (all local GPUs) or
                                    # "multi-worker" (the machines in $TF_CONFIG)
    precision: str = "float32"      # "float32", "mixed_bfloat16", "mixed_float16", or "auto" (16 bits
                                    # where the hardware has them natively, else float32)
    beta_1: float = 0.9             # Adam's first-moment decay, and SGD's momentum
    label_smoothing: float = 0.0    # share of each label's target spread over the other classes
    init: str = "seed"              # "seed": every weight and bias ~ N(0, the model's init_stddev);
                                    # "he": He-normal kernels (scaled by fan-in) and zero biases

    def __post_init__(self):
        validate_train_config(self)


def validate_train_config(config: TrainConfig) -> None:
    """The one place a TrainConfig is checked; raises ConfigError saying what is wrong."""
    for name, limits in TRAIN_LIMITS.items():
        check_integer(name, getattr(config, name), limits)
    rate = config.learning_rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 < rate <= 1) or not math.isfinite(rate):
        raise ConfigError("learning_rate", f"learning_rate must be a number in (0, 1], got {rate!r}")
    for name, high in (("warmup_fraction", 1.0), ("beta_1", 1.0), ("label_smoothing", 0.5)):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < high:
            raise ConfigError(name, f"{name} must be a number in [0, {high:g}), got {value!r}")
    for name in ("dataset", "optimizer", "schedule", "device", "strategy", "precision", "init"):
        check_choice(name, getattr(config, name))
    if 0 < config.train_images < config.batch_size:
        raise ConfigError(("train_images", "batch_size"),
                          f"train_images ({config.train_images}) must be at least batch_size ({config.batch_size})")


PRESETS = {
    "seed": TrainConfig(),
    # Chosen by measurement (benchmarks/fast_vs_seed.py times whole processes against the seed and
    # checks the accuracy of three seeds; benchmarks/RESULTS.md has the search and what each change
    # bought). The seed's network, fed batches of 128 for under one epoch: He initialisation (the
    # seed's N(0, 0.1) starts the 3,136-input dense layer far too large), Adam with a lighter
    # momentum at a high peak rate, warmed up then cosine-decayed, and labels smoothed by 0.1.
    # "auto" adds bfloat16 where the hardware computes it natively.
    "fast": TrainConfig(iterations=450, batch_size=128, learning_rate=8e-3, schedule="warmup_cosine",
                        warmup_fraction=0.1, eval_every=150, precision="auto", beta_1=0.8, label_smoothing=0.1,
                        init="he"),
}


@dataclass(frozen=True)
class ProgressRecord:
    """One published snapshot of a running job (a line of history.jsonl); test fields are None between measurements."""

    step: int
    epoch: float
    train_loss: float               # mean loss over the steps since the previous record
    test_loss: float | None
    test_accuracy: float | None
    learning_rate: float
    images_per_second: float        # training images per second so far (measurements excluded)
    elapsed: float                  # seconds since training started
    eta: float                      # seconds left, from the recent pace


HISTORY_COLUMNS = tuple(field.name for field in dataclasses.fields(ProgressRecord))
