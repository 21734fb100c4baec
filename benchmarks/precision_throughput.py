"""Training throughput of the seed CNN per precision and batch size: plain Keras ``fit``, alternating, medians.

The order of the settings rotates every repeat so that a busy machine slows them alike. On a CPU
without native bfloat16 (no AMX or AVX512_BF16) the mixed policies are emulated and slower, which
is why ``auto`` picks float32 there. Several batch sizes show what a bigger batch buys per image.

``--loops`` compares how the steps are run, which matters most where a step is short:

- ``fit``: Keras ``fit``, one step per call, no callback;
- ``job``: the same with a Python callback after every step that reads the loss, as a training job
  runs (``cnn_core.worker.job``: live history, stop, snapshots);
- ``fit25``: ``fit`` with ``steps_per_execution=25`` and that callback, so Python runs once per 25 steps;
- ``graph``: a ``tf.function`` running 25 steps per call in a ``tf.range`` loop, each batch sampled
  in the graph from the training set held as one tensor.

    python benchmarks/precision_throughput.py [--steps 200] [--batch-sizes 128] [--repeats 5]
    python benchmarks/precision_throughput.py --precisions float32 --batch-sizes 50 100 128
    python benchmarks/precision_throughput.py --loops job fit25 graph --steps 300 --repeats 3 --settings float32@50 mixed_bfloat16@128
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core.common.config import ModelConfig, TrainConfig  # noqa: E402
from cnn_core.common.data import load_dataset  # noqa: E402
from cnn_core.worker.devices import hardware_line  # noqa: E402
from cnn_core.worker.network import build_model  # noqa: E402
from cnn_core.worker.training import compile_for_training, precision_policy, training_dataset  # noqa: E402


CHUNK = 25  # steps per call for the fit25 and graph loops


def images_per_second(precision: str, steps: int, batch_size: int, images, labels, loop: str = "fit") -> float:
    """Throughput of ``loop`` after a warm-up (which pays for tracing)."""
    import keras

    config = TrainConfig(iterations=steps, batch_size=batch_size, precision=precision)
    with precision_policy(precision):
        model = build_model(ModelConfig())
    compile_for_training(model, config)
    if loop == "graph":
        return graph_loop(model, steps, batch_size, images, labels)
    if loop == "fit25":
        model.compile(optimizer=model.optimizer, loss=model.loss, steps_per_execution=CHUNK)

    class ReadLoss(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])

    callbacks = [ReadLoss()] if loop in ("job", "fit25") else []
    batches = training_dataset(images, labels, config)
    model.fit(batches, epochs=1, steps_per_epoch=5 * (CHUNK if loop == "fit25" else 1), verbose=0)
    began = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=callbacks)
    return steps * batch_size / (time.perf_counter() - began)


def graph_loop(model, steps: int, batch_size: int, images, labels) -> float:
    """Steps run CHUNK at a time inside one tf.function, batches drawn in the graph."""
    import tensorflow as tf

    images, labels = tf.constant(images), tf.constant(labels.astype("int32"))
    optimizer, loss_function = model.optimizer, model.loss
    optimizer.build(model.trainable_variables)
    draw = tf.random.Generator.from_seed(0)

    @tf.function
    def run(count):
        total = tf.constant(0.0)
        for _ in tf.range(count):
            chosen = draw.uniform([batch_size], 0, images.shape[0], dtype=tf.int64)
            batch = tf.cast(tf.gather(images, chosen), tf.float32)[..., None] / 255.0
            with tf.GradientTape() as tape:
                loss = loss_function(tf.gather(labels, chosen), model(batch, training=True))
            optimizer.apply(tape.gradient(optimizer.scale_loss(loss), model.trainable_variables),
                            model.trainable_variables)
            total += tf.cast(loss, tf.float32)
        return total / tf.cast(count, tf.float32)

    float(run(tf.constant(5)))
    began = time.perf_counter()
    for start in range(0, steps, CHUNK):
        float(run(tf.constant(min(CHUNK, steps - start))))
    return steps * batch_size / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--settings", nargs="+", metavar="PRECISION@BATCH",
                        help="exact pairs instead of every precision x batch size (float32@50 mixed_bfloat16@128)")
    parser.add_argument("--loops", nargs="+", default=["fit"], choices=["fit", "job", "fit25", "graph"])
    args = parser.parse_args()
    dataset = load_dataset("mnist")
    pairs = ([(setting.split("@")[0], int(setting.split("@")[1])) for setting in args.settings] if args.settings
             else [(precision, batch) for batch in args.batch_sizes for precision in args.precisions])
    settings = [(precision, batch, loop) for precision, batch in pairs for loop in args.loops]
    figures = {setting: [] for setting in settings}
    for repeat in range(args.repeats):
        shift = repeat % len(settings)
        for precision, batch, loop in settings[shift:] + settings[:shift]:
            figures[precision, batch, loop].append(images_per_second(
                precision, args.steps, batch, dataset.train_images, dataset.train_labels, loop))
    name = lambda s: f"{s[0]} @ batch {s[1]}" + (f", {s[2]}" if len(args.loops) > 1 else "")
    medians = {setting: statistics.median(values) for setting, values in figures.items()}
    baseline = medians[settings[0]]
    print(json.dumps({"hardware": hardware_line(), "steps": args.steps,
                      "images_per_second": {name(s): [round(v) for v in values] for s, values in figures.items()},
                      "median": {name(s): round(v) for s, v in medians.items()},
                      "ratio_to_first": {name(s): round(v / baseline, 3) for s, v in medians.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
