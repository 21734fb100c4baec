"""Real short training jobs: loss falls, stop, clean failures, saved runs."""
import numpy as np
import pytest

from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.worker.devices import gpu_names, resolve_device
from cnn_core.worker.job import TrainingJob
from tests.conftest import needs_data
from tests.support import poll

pytestmark = [needs_data, pytest.mark.slow]
SMALL_MODEL = ModelConfig(conv_channels=(8, 16), hidden_units=32)


def quick(**changes) -> TrainConfig:
    settings = dict(iterations=60, batch_size=20, learning_rate=3e-3, eval_every=20, eval_images=200, train_images=600)
    return TrainConfig(**{**settings, **changes})


def test_a_short_job_learns_and_saves_its_run(run_store):
    job = TrainingJob(SMALL_MODEL, quick(), run_store).start()
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
    job = TrainingJob(SMALL_MODEL, quick(iterations=100_000, eval_every=10_000), run_store).start()
    poll(lambda: len(job.records_since(0)) >= 3, 120, "three progress records", interval=0.05)
    job.stop()
    assert job.wait(120) and job.status == "stopped"
    last = job.records_since(0)[-1]
    assert last.step < 100_000 and job.final_metrics["steps"] == last.step
    assert run_store.read(job.run_id).status == "stopped" and run_store.read(job.run_id).has_model


def test_a_job_stopped_before_it_starts_trains_nothing(run_store):
    job = TrainingJob(SMALL_MODEL, quick(), run_store)
    job.stop()
    job.run()
    assert job.finished and job.status == "stopped" and not job.records_since(0)
    assert run_store.read(job.run_id).status == "stopped"


def test_non_finite_loss_fails_cleanly(run_store, monkeypatch):
    from cnn_core.worker import job as job_module
    from cnn_core.worker import training

    def poisoned(images, labels, config):
        # Absurdly bright input overflows the logits, as a diverging run would.
        return training.training_dataset(images, labels, config).map(lambda x, y: (x * 3e38, y))

    monkeypatch.setattr(job_module, "training_dataset", poisoned)
    job = TrainingJob(SMALL_MODEL, quick(iterations=200), run_store).start()
    assert job.wait(120) and job.status == "failed"
    assert "the loss became" in job.reason and "at step 1;" in job.reason and "lower learning rate" in job.reason
    assert run_store.read(job.run_id).status == "failed"


@pytest.mark.skipif(bool(gpu_names()), reason="TensorFlow sees a GPU here, so device='gpu' is possible")
def test_an_impossible_device_fails_with_the_reason(run_store, monkeypatch):
    job = TrainingJob(SMALL_MODEL, quick(device="gpu"), run_store).start()
    assert job.wait(60) and job.status == "failed" and "sees no GPU" in job.reason
    assert "sees no GPU" in run_store.read(job.run_id).status_info["reason"]


@pytest.mark.skipif(not gpu_names(), reason="TensorFlow sees no GPU here")
def test_device_gpu_runs_on_the_first_gpu(run_store):
    job = TrainingJob(SMALL_MODEL, quick(device="gpu", iterations=20), run_store).start()
    assert job.wait(120) and job.status == "completed", job.reason
    assert job.device == gpu_names()[0] == job.final_metrics["device"]
