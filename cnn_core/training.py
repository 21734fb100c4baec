"""What a training run is: its config, presets, progress records, optimizer, data stream, scoring.

Nothing here knows about a UI. ``cnn_core.jobs`` runs them in background threads.

Precision: ``float32``, or Keras' mixed policies (``mixed_bfloat16``, ``mixed_float16``: weights in
float32, layer arithmetic in 16 bits, logits and loss in float32). ``auto`` resolves per machine
with ``resolve_precision``: a 16-bit type only where the hardware computes it natively.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from cnn_core.data import DATASETS
from cnn_core.devices import DEVICE_CHOICES, STRATEGY_CHOICES, fast_precision, resolve_device

OPTIMIZERS = ("adam", "sgd", "rmsprop")
SCHEDULES = ("constant", "warmup_cosine")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


@dataclass(frozen=True)
class TrainConfig:
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

    def __post_init__(self):
        validate_train_config(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def validate_train_config(config: TrainConfig) -> None:
    """The one place a TrainConfig is checked; raises ValueError saying what is wrong."""
    integers = {"iterations": (1, 1_000_000), "batch_size": (1, 4096), "eval_every": (1, 1_000_000),
                "eval_images": (1, 10_000), "train_images": (0, 60_000), "seed": (0, 2**31 - 1)}
    for name, (low, high) in integers.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    rate = config.learning_rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 < rate <= 1) or not math.isfinite(rate):
        raise ValueError(f"learning_rate must be a number in (0, 1], got {rate!r}")
    if not 0 <= config.warmup_fraction < 1:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {config.warmup_fraction!r}")
    choices = {"dataset": tuple(DATASETS), "optimizer": OPTIMIZERS, "schedule": SCHEDULES,
               "device": DEVICE_CHOICES, "strategy": STRATEGY_CHOICES, "precision": PRECISIONS}
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(config, name)!r}")
    if 0 < config.train_images < config.batch_size:
        raise ValueError(f"train_images ({config.train_images}) must be at least batch_size ({config.batch_size})")


PRESETS = {
    "seed": TrainConfig(),
    # Found by measurement (benchmarks/fast_vs_seed.py; figures in benchmarks/RESULTS.md). The seed's
    # batch of 50 (on a 2-core CPU, batches of 50 to 256 train at the same images per second, so a
    # bigger batch buys nothing there) and Adam at a 40x higher peak rate, warmed up then
    # cosine-decayed over 2,000 steps: 99.20, 99.24, 99.07% for seeds 0-2 on the 10,000 test digits
    # (2.5e-3 over 2,000 steps gave 98.93% for seed 2; 4e-3 over 1,800 steps 99.08-99.12%). It is
    # four fifths of the seed's images; "auto" adds bfloat16 where the hardware has it natively.
    "fast": TrainConfig(iterations=2000, batch_size=50, learning_rate=4e-3, schedule="warmup_cosine",
                        warmup_fraction=0.05, eval_every=400, precision="auto"),
}


@dataclass(frozen=True)
class ProgressRecord:
    """One published snapshot of a running job; test fields are None between measurements."""

    step: int
    epoch: float
    train_loss: float               # mean loss over the steps since the previous record
    test_loss: float | None
    test_accuracy: float | None
    learning_rate: float
    images_per_second: float        # training images per second so far (measurements excluded)
    elapsed: float                  # seconds since training started
    eta: float                      # seconds left, from the recent pace


def resolve_precision(requested: str, device: str = "/CPU:0") -> str:
    """The Keras dtype policy a run on ``device`` uses: ``requested``, or for "auto" what the hardware runs fast."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    native = fast_precision(device)
    return f"mixed_{native}" if native else "float32"


@contextlib.contextmanager
def precision_policy(policy: str):
    """Build models under Keras' dtype ``policy`` inside the block; the previous policy comes back after.

    Keras keeps the policy per thread, so a job's thread does not change its neighbours'. Layers
    keep the policy they were built with, so only building needs to happen inside.
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(model, model_config):
    """A float32 model with ``model``'s weights: what a run saves, whatever precision it trained in."""
    from cnn_core.model import build_model

    if model.dtype_policy.name == "float32":
        return model
    with precision_policy("float32"):
        copy = build_model(model_config, seed=None)
    copy.set_weights(model.get_weights())
    return copy


def make_optimizer(config: TrainConfig):
    """The Keras optimizer with the configured learning-rate schedule."""
    import keras

    rate = config.learning_rate
    if config.schedule == "warmup_cosine":
        warmup = int(config.iterations * config.warmup_fraction)
        rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else rate, decay_steps=max(1, config.iterations - warmup),
            warmup_target=rate if warmup else None, warmup_steps=warmup)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate)
    return keras.optimizers.Adam(rate)


def compile_for_training(model, config: TrainConfig) -> None:
    """Give ``model`` the configured optimizer and the seed's loss (softmax cross-entropy on logits)."""
    import keras

    model.compile(optimizer=make_optimizer(config),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def training_dataset(images: np.ndarray, labels: np.ndarray, config: TrainConfig):
    """An endless tf.data stream of shuffled (batch, 28, 28, 1) float batches in [0, 1]."""
    import tensorflow as tf

    images = tf.constant(images)
    labels = tf.constant(labels.astype(np.int32))
    count = int(images.shape[0])
    indices = tf.data.Dataset.range(count).shuffle(count, seed=config.seed, reshuffle_each_iteration=True)
    batches = indices.repeat().batch(config.batch_size, drop_remainder=True)
    to_batch = lambda index: (tf.cast(tf.gather(images, index), tf.float32)[..., None] / 255.0,
                              tf.gather(labels, index))
    # Fixed parallelism instead of AUTOTUNE: tf.data's autotuning thread made destroying the
    # iterator after the last step wait 10-15 s (seen with py-spy), and a gather of a few
    # hundred images needs no tuning.
    options = tf.data.Options()
    options.autotune.enabled = False
    # Under a multi-worker strategy each worker takes its share of every global batch (there are
    # no files to split between workers).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.map(to_batch, num_parallel_calls=2).prefetch(2).with_options(options)


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1], the model's input."""
    return (images.astype(np.float32) / 255.0)[..., None]


def score(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 250) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and predicted classes of ``model`` on uint8 images.

    250 at a time: at 1,000 the eager forward pass's activations (conv1's alone are 100 MB) made
    the final scoring a peak of a worker's memory (see ``benchmarks/worker_memory.py``)."""
    losses, predictions = [], []
    for start in range(0, len(images), batch_size):
        logits = model(as_model_input(images[start:start + batch_size]), training=False).numpy().astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        batch_labels = labels[start:start + batch_size].astype(np.int64)
        losses.append(-log_probabilities[np.arange(len(batch_labels)), batch_labels])
        predictions.append(logits.argmax(axis=1))
    predicted = np.concatenate(predictions)
    return float(np.concatenate(losses).mean()), float((predicted == labels).mean()), predicted
