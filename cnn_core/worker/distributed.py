"""Training on several machines: TensorFlow's MultiWorkerMirroredStrategy, the cluster from $TF_CONFIG.

Every worker runs the same command with its own ``TF_CONFIG``, as TensorFlow defines it:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    python -m cnn_core train --strategy multi-worker --json

Worker 0 is the chief: it saves the run and prints the result. Each step's batch is the global
batch, split across the workers, and the gradients are averaged over all of them, so N workers
with ``--batch-size B`` train as one machine with batch B would, B / N images each per step.

TensorFlow allows one such strategy per process, made before its first op (collective ops are
configured at start-up), so ``multi_worker_strategy()`` is called by the CLI before anything else.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'


@dataclass(frozen=True)
class Cluster:
    """The workers in TF_CONFIG and which one this process is."""

    workers: tuple[str, ...]        # "host:port" of every worker, in TF_CONFIG's order
    index: int                      # this process's place in ``workers``; 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def read_cluster(environ=None) -> Cluster:
    """The cluster described by $TF_CONFIG; ValueError saying what is wrong and what was expected."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        raise ValueError(f"--strategy multi-worker needs TF_CONFIG set on every worker, e.g. {EXAMPLE}")
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); expected e.g. {EXAMPLE}") from None
    cluster, task = spec.get("cluster"), spec.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG needs a 'cluster' and a 'task' object, got {raw[:200]}")
    if set(cluster) != {"worker"}:
        raise ValueError(f"TF_CONFIG's cluster must list only 'worker' tasks (worker 0 is the chief), "
                         f"got {sorted(cluster)}")
    workers = cluster["worker"]
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise ValueError(f"TF_CONFIG's cluster.worker must be a list of 'host:port' strings, got {workers!r}")
    index = task.get("index")
    if task.get("type") != "worker" or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG's task must be {{'type': 'worker', 'index': 0..{len(workers) - 1}}}, got {task!r}")
    return Cluster(tuple(workers), index)


_strategy = None


def multi_worker_strategy():
    """This process's MultiWorkerMirroredStrategy (made once, before TensorFlow's first op)."""
    global _strategy
    if _strategy is None:
        read_cluster()
        import tensorflow as tf

        patch_keras_for_multi_worker()
        _strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return _strategy


def patch_keras_for_multi_worker() -> None:
    """Make Keras 3's ``fit`` work under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Keras 3.15 fails there twice: before the first step it all-reduces a whole input batch just to
    read its shapes (eagerly, which TensorFlow refuses), and after each step it averages the scalar
    loss across workers along an axis 0 that a scalar does not have. Both are replaced, for this
    process only: the shapes come from this worker's share of the batch, and scalars are averaged
    over the replicas. Gradients are untouched: Keras' optimizer all-reduces them as before.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_cnn_lab_patched", False):
        return
    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                local = self.distribute_strategy.experimental_local_results
                data_batch = tree.map_structure(lambda value: local(value)[0], next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer._cnn_lab_patched = True


def scratch_store():
    """A RunStore in a temporary folder, deleted at exit: where a worker other than the chief writes."""
    import atexit
    import shutil
    import tempfile

    from cnn_core.common.runs import RunStore

    folder = tempfile.mkdtemp(prefix="cnn-lab-worker-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return RunStore(folder)
