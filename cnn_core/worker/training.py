"""How the worker trains: Keras' precision policy, the optimizer and its schedule, the data stream, scoring.

Nothing here knows about a UI; ``cnn_core.worker.job`` runs a training job with these. What a run
is (its configs and presets) lives in ``cnn_core.common.config``.

Precision: ``float32``, or Keras' mixed policies (``mixed_bfloat16``, ``mixed_float16``: weights in
float32, layer arithmetic in 16 bits, logits and loss in float32). ``auto`` resolves per machine
with ``devices.resolve_precision``: a 16-bit type only where the hardware computes it natively.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from cnn_core.common.config import TrainConfig
from cnn_core.common.limits import SCORE_BATCH
from cnn_core.common.scoring import score_logits


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
    from cnn_core.worker.network import build_model

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
        return keras.optimizers.SGD(rate, momentum=config.beta_1)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate)
    return keras.optimizers.Adam(rate, beta_1=config.beta_1)


def compile_for_training(model, config: TrainConfig) -> None:
    """Give ``model`` the configured optimizer and the seed's loss (softmax cross-entropy on logits),
    with the labels smoothed when the config asks (the data stream then gives one-hot targets)."""
    import keras

    loss = (keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
            if config.label_smoothing else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(optimizer=make_optimizer(config), loss=loss)


def training_dataset(images: np.ndarray, labels: np.ndarray, config: TrainConfig):
    """An endless tf.data stream of shuffled (batch, 28, 28, 1) float batches in [0, 1]."""
    import tensorflow as tf

    images = tf.constant(images)
    labels = tf.constant(labels.astype(np.int32))
    count = int(images.shape[0])
    indices = tf.data.Dataset.range(count).shuffle(count, seed=config.seed, reshuffle_each_iteration=True)
    batches = indices.repeat().batch(config.batch_size, drop_remainder=True)
    def to_batch(index):
        batch_labels = tf.gather(labels, index)
        if config.label_smoothing:  # CategoricalCrossentropy smooths one-hot targets.
            batch_labels = tf.one_hot(batch_labels, 10)
        return tf.cast(tf.gather(images, index), tf.float32)[..., None] / 255.0, batch_labels

    # Fixed parallelism instead of AUTOTUNE: tf.data's autotuning thread made destroying the
    # iterator after the last step wait for seconds (seen with py-spy), and a gather of a few
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


_FORWARDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def compiled_forward(model):
    """``model``'s inference as one traced tf.function, built once per model (each call then runs the graph)."""
    import tensorflow as tf

    forward = _FORWARDS.get(model)
    if forward is None:
        spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        forward = _FORWARDS[model] = tf.function(lambda batch: model(batch, training=False), input_signature=[spec])
    return forward


def score(model, images: np.ndarray, labels: np.ndarray, batch_size: int = SCORE_BATCH) -> tuple[float, float, np.ndarray]:
    """Mean cross-entropy, accuracy and predicted classes of ``model`` on uint8 images.

    Through the traced forward pass, a few hundred images at a time: every activation of a batch is
    held at once, and a big batch made the final scoring a worker's memory peak
    (``benchmarks/worker_memory.py``; ``common.limits`` counts this batch in its estimate)."""
    forward = compiled_forward(model)
    logits = np.concatenate([forward(as_model_input(images[start:start + batch_size])).numpy()
                             for start in range(0, len(images), batch_size)])
    return score_logits(logits, labels)
