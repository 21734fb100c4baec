"""Real short training jobs: loss falls, stop, queueing, clean failures, saved runs."""
import time

import numpy as np
import pytest

from cnn_core.devices import gpu_names, resolve_device
from cnn_core.jobs import JobManager
from cnn_core.model import ModelConfig
from cnn_core.training import PRESETS, TrainConfig
from tests.conftest import needs_data

pytestmark = needs_data
SMALL_MODEL = ModelConfig(conv_channels=(8, 16), hidden_units=32)


def quick(**changes) -> TrainConfig:
    settings = dict(iterations=60, batch_size=20, learning_rate=3e-3, eval_every=20, eval_images=200, train_images=600)
    return TrainConfig(**{**settings, **changes})


def test_a_short_job_learns_and_saves_its_run(run_store):
    job = JobManager(store=run_store).submit(SMALL_MODEL, quick())
    assert job.wait(120) and job.status == "completed", job.reason
    records = job.records_since(0)
    measured = [r for r in records if r.test_loss is not None]
    assert [r.step for r in measured] == [1, 20, 40, 60]
    assert measured[-1].test_loss < measured[0].test_loss * 0.8
    assert np.mean([r.train_loss for r in records[-3:]]) < records[0].train_loss
    assert job.final_metrics["test_images"] == 10_000 and job.final_metrics["test_accuracy"] > 0.5
    assert job.device == resolve_device("auto") and records[-1].images_per_second > 0 and records[-1].eta == 0
    info = run_store.read(job.run_id)
    assert info.status == "completed" and info.has_model and info.config["train"]["iterations"] == 60
    assert len(run_store.read_history(job.run_id)) == len(records)
    assert len(run_store.read_predictions(job.run_id)) == 10_000


def test_stop_ends_a_job_after_the_current_step(run_store):
    """How soon, in seconds, is measured by benchmarks/stop_latency.py, not here."""
    job = JobManager(store=run_store).submit(SMALL_MODEL, quick(iterations=100_000, eval_every=10_000))
    while len(job.records_since(0)) < 3:
        time.sleep(0.05)
    job.stop()
    assert job.wait(120) and job.status == "stopped"
    last = job.records_since(0)[-1]
    assert last.step < 100_000 and job.final_metrics["steps"] == last.step
    assert run_store.read(job.run_id).status == "stopped" and run_store.read(job.run_id).has_model


def test_one_job_at_a_time_and_the_rest_queue(run_store):
    manager = JobManager(max_running=1, store=run_store)
    first = manager.submit(SMALL_MODEL, quick(iterations=150))
    second = manager.submit(SMALL_MODEL, quick(iterations=20))
    third = manager.submit(SMALL_MODEL, quick(iterations=20))
    assert manager.queued() == [second, third] and second.status == "queued"
    assert run_store.read(second.run_id).status == "queued"
    manager.stop(third.run_id)
    assert third.status == "stopped" and third.finished
    assert first.wait(120) and second.wait(120)
    assert first.status == second.status == "completed" and not third.records_since(0)
    assert second.records_since(0)[0].elapsed >= 0 and not manager.queued()


def test_non_finite_loss_fails_cleanly(run_store, monkeypatch):
    import cnn_core.jobs
    from cnn_core import training

    def poisoned(images, labels, config):
        # Absurdly bright input overflows the logits, as a diverging run would.
        return training.training_dataset(images, labels, config).map(lambda x, y: (x * 3e38, y))

    monkeypatch.setattr(cnn_core.jobs, "training_dataset", poisoned)
    job = JobManager(store=run_store).submit(SMALL_MODEL, quick(iterations=200))
    assert job.wait(120) and job.status == "failed"
    assert "the loss became" in job.reason and "at step 1;" in job.reason and "lower learning rate" in job.reason
    assert run_store.read(job.run_id).status == "failed"


@pytest.mark.skipif(bool(gpu_names()), reason="TensorFlow sees a GPU here, so device='gpu' is possible")
def test_an_impossible_device_fails_with_the_reason(run_store, monkeypatch):
    job = JobManager(store=run_store).submit(SMALL_MODEL, quick(device="gpu"))
    assert job.wait(60) and job.status == "failed" and "sees no GPU" in job.reason
    assert "sees no GPU" in run_store.read(job.run_id).status_info["reason"]


@pytest.mark.parametrize("changes,message", [
    ({"batch_size": 0}, "batch_size must be an integer from 1 to 4096"),
    ({"learning_rate": 5.0}, "learning_rate"), ({"learning_rate": float("nan")}, "learning_rate"),
    ({"iterations": 10**9}, "iterations"), ({"dataset": "cifar"}, "dataset"), ({"optimizer": "lion"}, "optimizer"),
    ({"train_images": 10, "batch_size": 50}, "at least batch_size"),
])
def test_absurd_hyperparameters_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_presets():
    assert PRESETS["seed"] == TrainConfig(dataset="mnist", iterations=2500, batch_size=50, learning_rate=1e-4,
                                          optimizer="adam", eval_every=250)
    assert PRESETS["fast"].schedule == "warmup_cosine" and PRESETS["fast"].precision == "auto"


@pytest.mark.skipif(not gpu_names(), reason="TensorFlow sees no GPU here")
def test_device_gpu_runs_on_the_first_gpu(run_store):
    job = JobManager(store=run_store).submit(SMALL_MODEL, quick(device="gpu", iterations=20))
    assert job.wait(120) and job.status == "completed", job.reason
    assert job.device == gpu_names()[0] == job.final_metrics["device"]
