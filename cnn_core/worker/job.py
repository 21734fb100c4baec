"""One training run: Keras ``fit`` with a callback that reports progress, then the saved run.

A ``TrainingJob`` runs in a thread (``start``, then ``wait``) or in the caller's (``run``), with one
callback that publishes ``ProgressRecord``s, checks the loss is finite and honours ``stop()``
between steps. Readers poll ``records_since(n)`` from any thread. The worker process
(``cnn_core.worker.process``), the CLI's ``train`` and the benchmarks each run one job.
"""
from __future__ import annotations

import math
import threading
import time
import traceback

from cnn_core.common.config import ModelConfig, ProgressRecord, TrainConfig
from cnn_core.common.limits import memory_bound_mb, out_of_memory, out_of_memory_reason
from cnn_core.common.runs import RunStore
from cnn_core.common.snapshots import FilterHistory
from cnn_core.worker.devices import resolve_device, resolve_precision
from cnn_core.worker.download import ensure_dataset
from cnn_core.worker.network import build_model, conv_layers
from cnn_core.worker.saving import save_model
from cnn_core.worker.training import compile_for_training, float32_copy, precision_policy, score, training_dataset

# Records are published at most this often (seconds), and always at test measurements.
PUBLISH_INTERVAL = 0.25


class ProgressCallback:
    """Builds the Keras callback lazily so that importing this module stays free of TensorFlow."""

    @staticmethod
    def create(job: "TrainingJob"):
        import keras

        class Publisher(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                job.after_step(batch + 1, float(logs["loss"]))

        return Publisher()


class TrainingJob:
    """One training run: configs in, progress records and a saved run out."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig,
                 store: RunStore | None = None, keep_model: bool = False, run_id: str | None = None):
        self.model_config, self.train_config = model_config, train_config
        self.store = store or RunStore()
        self.keep_model = keep_model
        config = {"model": model_config.to_dict(), "train": train_config.to_dict()}
        # A worker process is handed a run folder the server already made (and queued).
        self.run_id = run_id if run_id is not None else self.store.create(config)
        self.filter_history = FilterHistory()
        self.status, self.reason, self.device = "queued", "", ""
        self.final_metrics: dict = {}
        self.model = None
        self.on_completed = None  # called after the save, before the status says "completed"
        self.timeline: dict[str, float] = {}  # phase name -> time.time() when it ended (benchmarks read it)
        self._records: list[ProgressRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # Reading, from any thread.
    def records_since(self, index: int = 0) -> list[ProgressRecord]:
        with self._lock:
            return self._records[index:]

    def latest(self) -> ProgressRecord | None:
        with self._lock:
            return self._records[-1] if self._records else None

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # Control.
    def start(self) -> "TrainingJob":
        """Run the job in a thread of its own; ``wait`` for it to end."""
        self._thread = threading.Thread(target=self.run, name=f"train-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to end after the current step (or never to start, if queued)."""
        self._stop.set()
        if self.model is not None:
            self.model.stop_training = True

    # The work, in the job's thread.
    def run(self) -> None:
        try:
            if self._stop.is_set():
                return self._finish("stopped", "stopped before it started")
            self._train()
        except Exception as error:  # A failed job reports why; the process carries on.
            detail = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
            reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
            if out_of_memory(f"{type(error).__name__} {error}"):  # TensorFlow's OOM, under the kernel's bound.
                reason = out_of_memory_reason(memory_bound_mb())
            self._finish("failed", reason, trace=traceback.format_exc(limit=8))
        finally:
            self._done.set()

    @property
    def measure_seconds(self) -> float:
        """Seconds spent on the test batches between steps (inside the steps' wall time)."""
        return getattr(self, "_measure_seconds", 0.0)

    def mark(self, phase: str) -> None:
        """Note that ``phase`` has just ended (see ``timeline``)."""
        self.timeline[phase] = time.time()

    def _train(self) -> None:
        import tensorflow as tf

        config = self.train_config
        self.mark("started")
        self.device = config.strategy if config.strategy != "default" else resolve_device(config.device)
        dataset = ensure_dataset(config.dataset)
        images, labels = dataset.train_images, dataset.train_labels
        if config.train_images:
            images, labels = images[:config.train_images], labels[:config.train_images]
        self.test_images, self.test_labels = dataset.test_images, dataset.test_labels
        self.train_count = len(images)
        self.status = "running"
        self.mark("data_loaded")
        self.store.write_status(self.run_id, "running", device=self.device)
        scope = strategy_scope(config.strategy) if config.strategy != "default" else tf.device(self.device)
        self.precision = resolve_precision(config.precision, self.device)
        with scope:
            with precision_policy(self.precision):  # Keras' policy, for this model only.
                self.model = build_model(self.model_config, seed=config.seed, init_scheme=config.init)
            compile_for_training(self.model, config)
            if self._stop.is_set():
                self.model.stop_training = True
            self._start_clock()
            self.model.fit(training_dataset(images, labels, config), epochs=1, steps_per_epoch=config.iterations,
                           callbacks=[ProgressCallback.create(self)], verbose=0, shuffle=False)
            self.fit_seconds = time.perf_counter() - self._started  # Wall time of fit, as bench compares.
        self.mark("steps_done")
        if self.reason:  # after_step found a non-finite loss.
            return self._finish("failed", self.reason)
        self._evaluate_and_save()

    def _start_clock(self) -> None:
        self.mark("model_built")
        self._started = self._last_publish = time.perf_counter()
        self._measure_seconds = 0.0
        self._last_step, self._last_mean = 0, 0.0
        self._recent = []  # (time, step) pairs for the ETA

    def after_step(self, step: int, running_mean_loss: float) -> None:
        """Called by Keras after each step with the mean loss since step 1."""
        if not math.isfinite(running_mean_loss):
            self.reason = f"the loss became {running_mean_loss} at step {step}; try a lower learning rate"
            self.model.stop_training = True
            return
        if self._stop.is_set():
            self.model.stop_training = True
        if step == 1:
            self.mark("first_step")  # the train function traced and compiled, one batch done
        if self.filter_history.wants(step):
            self._snapshot(step)
        config = self.train_config
        measure = step == 1 or step % config.eval_every == 0 or step == config.iterations
        now = time.perf_counter()
        if not measure and now - self._last_publish < PUBLISH_INTERVAL and not self._stop.is_set():
            return
        # Keras reports the running mean; the mean over just the new steps follows from two of them.
        interval_loss = (running_mean_loss * step - self._last_mean * self._last_step) / (step - self._last_step)
        self._last_step, self._last_mean = step, running_mean_loss
        test_loss = test_accuracy = None
        if measure:
            began = time.perf_counter()
            test_loss, test_accuracy = self._measure(step)
            self._measure_seconds += time.perf_counter() - began
        self._publish(step, interval_loss, test_loss, test_accuracy)

    def _measure(self, step: int) -> tuple[float, float]:
        """Loss and accuracy on the next slice of the test set, as the seed's test batches rotate."""
        count = self.train_config.eval_images
        start = (step // self.train_config.eval_every * count) % len(self.test_images)
        chosen = slice(start, start + count)
        loss, accuracy, _ = score(self.model, self.test_images[chosen], self.test_labels[chosen])
        return loss, accuracy

    def _publish(self, step, train_loss, test_loss, test_accuracy) -> None:
        now = time.perf_counter()
        elapsed = now - self._started
        training_seconds = max(elapsed - self._measure_seconds, 1e-9)
        self._recent = [(t, s) for t, s in self._recent if now - t < 10] + [(now, step)]
        first_time, first_step = self._recent[0]
        pace = (step - first_step) / (now - first_time) if step > first_step else step / training_seconds
        record = ProgressRecord(
            step=step, epoch=step * self.train_config.batch_size / self.train_count,
            train_loss=train_loss, test_loss=test_loss, test_accuracy=test_accuracy,
            learning_rate=float(self.model.optimizer.learning_rate.numpy()),
            images_per_second=self._throughput(step, now),
            elapsed=elapsed, eta=(self.train_config.iterations - step) / pace if pace > 0 else float("nan"))
        self._last_publish = now
        with self._lock:
            self._records.append(record)
        self.store.append_history(self.run_id, vars_of(record))
        if test_loss is not None:
            self._snapshot(step)

    def _snapshot(self, step: int) -> None:
        """conv1 as it is now, for the Filters page's replay (an MLP has no conv1)."""
        convs = conv_layers(self.model)
        if convs:
            kernel, bias = convs[0].get_weights()
            self.filter_history.record(step, kernel, bias, self.test_images)

    def _throughput(self, step: int, now: float) -> float:
        """Training images per second after step 1 (which includes tracing), measurements excluded."""
        if step == 1:
            self._first_step = (now, self._measure_seconds)
            return 0.0
        began, measured_before = self._first_step
        seconds = now - began - (self._measure_seconds - measured_before)
        return (step - 1) * self.train_config.batch_size / max(seconds, 1e-9)

    def _evaluate_and_save(self) -> None:
        self.model = float32_copy(self.model, self.model_config)  # Saved and scored as it will be served.
        loss, accuracy, predicted = score(self.model, self.test_images, self.test_labels)
        self.mark("scored")
        latest = self.latest()
        self.final_metrics = {
            "test_accuracy": accuracy, "test_loss": loss, "test_images": len(self.test_labels),
            "steps": latest.step if latest else 0, "seconds": latest.elapsed if latest else 0.0,
            "images_per_second": latest.images_per_second if latest else 0.0,
            "device": self.device, "parameters": self.model_config.parameter_count(),
            "precision": self.precision,
        }
        self.store.write_history(self.run_id, [vars_of(r) for r in self.records_since(0)])
        self.store.write_predictions(self.run_id, predicted)
        self.store.write_metrics(self.run_id, self.final_metrics)
        save_model(self.store, self.run_id, self.model)
        self.mark("saved")
        from cnn_core.worker.export import export_serving

        export_serving(self.model, self.store.path(self.run_id),
                       lambda path, data: self.store.write_file(self.run_id, path.name, data))
        self.filter_history.save(self.store, self.run_id)
        self.mark("exported")
        stopped = self._stop.is_set() and self.final_metrics["steps"] < self.train_config.iterations
        if not stopped and self.on_completed:
            self.on_completed()
        self._finish("stopped" if stopped else "completed", "stopped by request" if stopped else "")

    def _finish(self, status: str, reason: str = "", trace: str = "") -> None:
        self.status, self.reason = status, reason
        details = {"reason": reason, "device": self.device}
        if trace:
            details["trace"] = trace
        self.store.write_status(self.run_id, status, **details)
        if not self.keep_model:
            self.model = None


def vars_of(record: ProgressRecord) -> dict:
    return dict(record.__dict__)


def strategy_scope(name: str):
    """The scope of a tf.distribute strategy over all local GPUs (or the CPUs configured), or over workers."""
    import tensorflow as tf

    if name == "multi-worker":
        from cnn_core.worker.distributed import multi_worker_strategy

        return multi_worker_strategy().scope()

    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices).scope()

