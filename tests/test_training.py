"""Precision: the config field, what ``auto`` picks on which hardware, and a bf16-trained model end to end."""
import keras
import numpy as np
import pytest

from cnn_core.common.config import PRESETS, ModelConfig, TrainConfig
from cnn_core.common.vocabulary import choices
from cnn_core.worker import devices
from cnn_core.worker.devices import resolve_precision
from cnn_core.worker.job import TrainingJob
from cnn_core.worker.network import build_model
from cnn_core.worker.saving import load_model_file
from cnn_core.worker.training import as_model_input, float32_copy, precision_policy
from tests.conftest import needs_data
from tests.reference import LowLevelCNN

SMALL_MODEL = ModelConfig(conv_channels=(8, 16), hidden_units=32)


def test_precision_is_a_validated_config_field():
    assert TrainConfig().precision == "float32" and PRESETS["seed"].precision == "float32"
    assert TrainConfig.from_dict(TrainConfig(precision="mixed_bfloat16").to_dict()).precision == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision must be one of auto, float32, mixed_bfloat16, mixed_float16"):
        TrainConfig(precision="bfloat16")


@pytest.mark.parametrize("flags,expected", [
    ({"avx2", "fma"}, "float32"),                     # AMD EPYC without AVX512_BF16, most laptops
    ({"avx512f", "avx512_bf16"}, "mixed_bfloat16"),   # Cooper Lake, Zen 4
    ({"amx_tile", "amx_bf16", "avx512f"}, "mixed_bfloat16"),  # Sapphire Rapids and later
    ({"fp", "asimd", "bf16"}, "mixed_bfloat16"),      # Arm Neoverse V1 (Graviton 3)
])
def test_auto_on_a_cpu_follows_its_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset(flags))
    assert resolve_precision("auto", "/CPU:0") == expected
    assert resolve_precision("float32", "/CPU:0") == "float32"  # An explicit choice is kept as asked.


@pytest.mark.parametrize("capability,expected", [
    ((6, 1), "float32"), ((7, 0), "mixed_float16"), ((7, 5), "mixed_float16"),
    ((8, 0), "mixed_bfloat16"), ((9, 0), "mixed_bfloat16"), (None, "float32"),
])
def test_auto_on_a_gpu_follows_its_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(devices, "gpu_compute_capability", lambda name: capability)
    assert resolve_precision("auto", "/GPU:0") == expected


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx512_bf16 amx_tile\n")
    assert devices.cpu_flags.__wrapped__(str(cpuinfo)) == {"fpu", "sse2", "avx512_bf16", "amx_tile"}
    assert devices.cpu_flags.__wrapped__(str(tmp_path / "missing")) == frozenset()


def test_the_policy_is_restored_and_the_logits_stay_float32():
    with precision_policy("mixed_bfloat16"):
        model = build_model(SMALL_MODEL, seed=1)
    assert keras.config.dtype_policy().name == "float32"
    assert model.get_layer("conv1").compute_dtype == "bfloat16" and model.get_layer("conv1").variable_dtype == "float32"
    assert model.get_layer("logits").compute_dtype == "float32"
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    logits = model(images, training=False)
    assert logits.dtype == "float32"
    copy = float32_copy(model, SMALL_MODEL)
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    # bfloat16 keeps 8 bits of mantissa: the float32 copy agrees to about 1% of the logits' scale.
    expected = copy(images, training=False).numpy()
    np.testing.assert_allclose(logits.numpy(), expected, atol=0.02 * np.abs(expected).max())


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_precision_run_learns_and_saves_a_float32_model(run_store, precision):
    config = TrainConfig(iterations=40, batch_size=20, learning_rate=3e-3, eval_every=20, eval_images=200,
                         train_images=600, precision=precision)
    job = TrainingJob(SMALL_MODEL, config, run_store, keep_model=True).start()
    assert job.wait(180) and job.status == "completed", job.reason
    assert job.final_metrics["precision"] == precision and job.final_metrics["test_accuracy"] > 0.5
    assert run_store.read(job.run_id).config["train"]["precision"] == precision
    saved = load_model_file(run_store.path(job.run_id) / "model.keras")
    assert {layer.compute_dtype for layer in saved.layers} == {"float32"}
    # The low-level tf.nn form of the seed network gives the saved model's logits.
    images = as_model_input(np.random.default_rng(1).integers(0, 256, (16, 28, 28), dtype=np.uint8))
    low_level = LowLevelCNN(SMALL_MODEL).copy_from(saved)
    np.testing.assert_allclose(low_level(images).numpy(), saved(images, training=False).numpy(), atol=1e-4)


@needs_data
@pytest.mark.slow
def test_a_bf16_trained_model_exports_to_litert(run_store):
    from cnn_core.server.serving import ServedModel
    from cnn_core.worker import export

    config = TrainConfig(iterations=20, batch_size=20, learning_rate=3e-3, eval_every=20, eval_images=200,
                         train_images=600, precision="mixed_bfloat16")
    job = TrainingJob(SMALL_MODEL, config, run_store).start()
    assert job.wait(180) and job.status == "completed", job.reason
    saved = load_model_file(run_store.path(job.run_id) / "model.keras")
    weights = export.model_weights(saved)
    assert {array.dtype for array in weights.values()} == {np.dtype(np.float32)}
    served = ServedModel(run_store.path(job.run_id))  # what the worker exported, as the server reads it
    images = as_model_input(np.random.default_rng(2).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    np.testing.assert_allclose(served.logits(images), saved(images, training=False).numpy(), atol=1e-4)


def test_every_precision_choice_is_known_to_keras():
    for precision in choices("precision")[1:]:
        assert keras.DTypePolicy(precision).name == precision


def test_scoring_through_the_traced_forward_pass_equals_keras_eagerly():
    from cnn_core.common.scoring import score_logits
    from cnn_core.worker.training import score

    model = build_model(SMALL_MODEL, seed=2)
    images = np.random.default_rng(3).integers(0, 256, (700, 28, 28), dtype=np.uint8)
    labels = np.random.default_rng(4).integers(0, 10, 700)
    eager = score_logits(model(as_model_input(images), training=False).numpy(), labels)
    loss, accuracy, predicted = score(model, images, labels, batch_size=300)  # three batches, the last short
    assert loss == pytest.approx(eager[0], rel=1e-5) and accuracy == eager[1] and (predicted == eager[2]).all()


@needs_data
@pytest.mark.slow
def test_label_smoothing_and_he_initialisation_train(run_store):
    config = TrainConfig(iterations=40, batch_size=32, learning_rate=3e-3, eval_every=20, eval_images=200,
                         train_images=640, label_smoothing=0.1, init="he", beta_1=0.8, schedule="warmup_cosine")
    job = TrainingJob(SMALL_MODEL, config, run_store).start()
    assert job.wait(180) and job.status == "completed", job.reason
    assert job.final_metrics["test_accuracy"] > 0.5
    order = ["started", "data_loaded", "model_built", "first_step", "steps_done", "scored", "saved", "exported"]
    assert [name for name in order if name in job.timeline] == order
    assert all(job.timeline[a] <= job.timeline[b] for a, b in zip(order, order[1:]))
