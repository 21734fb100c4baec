"""Benchmarks that print figures: training overhead vs plain ``model.fit``, predict latency, memory.

Side by side in one process, alternating, with the order swapped every repeat (fit then job, job
then fit, ...) so that a noisy shared machine and a warming cache hurt both alike. Both train the
same config in the same precision; the job's time is its ``fit`` call with our progress callback,
test batches and history included. Reported: each pair's ratio (job throughput / fit throughput),
their median and spread, and the hardware. Run: ``python -m cnn_core bench --json``.
"""
from __future__ import annotations

import resource
import statistics
import time

import numpy as np

from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.worker.devices import hardware_line, resolve_device, resolve_precision
from cnn_core.worker.download import ensure_dataset
from cnn_core.worker.network import build_model
from cnn_core.worker.training import compile_for_training, precision_policy, training_dataset


def plain_fit_seconds(config: TrainConfig, images, labels) -> float:
    """Wall time of a bare Keras ``fit`` of the seed network, built and compiled as a job is: the baseline."""
    with precision_policy(resolve_precision(config.precision, resolve_device(config.device))):
        model = build_model(ModelConfig(), seed=config.seed)
    compile_for_training(model, config)
    began = time.perf_counter()
    model.fit(training_dataset(images, labels, config), epochs=1, steps_per_epoch=config.iterations,
              verbose=0, shuffle=False)
    return time.perf_counter() - began


def job_fit_seconds(config: TrainConfig, store) -> tuple[float, float]:
    """Wall time of the same training inside our job, and the part of it spent on test batches."""
    from cnn_core.worker.job import TrainingJob

    job = TrainingJob(ModelConfig(), config, store)
    job.run()
    assert job.status == "completed", job.reason
    return job.fit_seconds, job._measure_seconds


def predict_latency_ms(samples: int = 200) -> tuple[float, float]:
    """p50 and p95 of one drawn image through the app's path: preprocessing, then the LiteRT-served model."""
    from cnn_core.common.preprocess import preprocess_rgba
    from cnn_core.server.catalogue import DEFAULT_FOLDER
    from cnn_core.server.serving import ServedModel
    from cnn_core.worker.export import served_from_keras

    predictor = ServedModel(DEFAULT_FOLDER) if (DEFAULT_FOLDER / "model.tflite").is_file() \
        else served_from_keras(build_model(ModelConfig()))
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[60:220, 130:150] = 255  # A thick vertical stroke, a "1", as the canvas returns it.
    predictor.predict(preprocess_rgba(canvas))  # The first call allocates the interpreter's tensors.
    timings = []
    for _ in range(samples):
        began = time.perf_counter()
        predictor.predict(preprocess_rgba(canvas))
        timings.append((time.perf_counter() - began) * 1000)
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 95))


def run_benchmarks(steps: int = 400, repeats: int = 5, precision: str = "float32", log=None) -> dict:
    """All figures as one dict (throughputs in images per second)."""
    import tempfile

    from cnn_core.common.runs import RunStore

    # The seed's batch size, optimizer and test-batch cadence.
    config = TrainConfig(iterations=steps, precision=precision)
    dataset = ensure_dataset("mnist")
    fit_times, job_times, measure_times = [], [], []

    def fit():
        fit_times.append(plain_fit_seconds(config, dataset.train_images, dataset.train_labels))

    def job():
        seconds, measuring = job_fit_seconds(config, store)
        job_times.append(seconds)
        measure_times.append(measuring)

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        for repeat in range(repeats):
            for run in (fit, job) if repeat % 2 == 0 else (job, fit):
                run()
            if log:
                log.write(f"repeat {repeat + 1}/{repeats}: fit {fit_times[-1]:.2f} s, job {job_times[-1]:.2f} s "
                          f"({measure_times[-1]:.2f} s of it test batches)\n")
    images = steps * config.batch_size
    fit_throughput = images / statistics.median(fit_times)
    job_throughput = images / statistics.median(job_times)
    ratios = [fit_time / job_time for fit_time, job_time in zip(fit_times, job_times)]
    # Without the test batches (the seed's recipe measures them; plain fit does not): the cost of
    # the job's own machinery, progress callback, history and snapshots.
    machinery = [fit_time / (job_time - measuring) for fit_time, job_time, measuring
                 in zip(fit_times, job_times, measure_times)]
    p50, p95 = predict_latency_ms()
    return {
        "hardware": hardware_line(), "precision": resolve_precision(precision, resolve_device(config.device)),
        "steps": steps, "batch_size": config.batch_size, "repeats": repeats,
        "fit_images_per_second": round(fit_throughput, 1), "job_images_per_second": round(job_throughput, 1),
        "ratio": round(statistics.median(ratios), 4), "ratio_min": round(min(ratios), 4),
        "ratio_max": round(max(ratios), 4), "ratios": [round(r, 4) for r in ratios],
        "job_test_batch_seconds": round(statistics.median(measure_times), 3),
        "ratio_without_test_batches": round(statistics.median(machinery), 4),
        "fit_seconds": [round(t, 3) for t in fit_times], "job_seconds": [round(t, 3) for t in job_times],
        "predict_ms_p50": round(p50, 3), "predict_ms_p95": round(p95, 3),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
