"""The seed CNN: its Keras layers against the seed's low-level form, its one forward pass, its config's
bounds, and the parameter-matched MLP."""
import numpy as np
import pytest

from cnn_core.common.config import ConfigError, ModelConfig, matched_mlp
from cnn_core.worker.network import build_model, forward
from tests.reference import LowLevelCNN, reference_stages


def test_default_is_the_seed_network():
    model = build_model(ModelConfig())
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (28, 28, 32) and shapes["pool1"] == (14, 14, 32)
    assert shapes["conv2"] == (14, 14, 64) and shapes["pool2"] == (7, 7, 64)
    assert shapes["flatten"] == (7 * 7 * 64,) and shapes["hidden"] == (100,) and shapes["logits"] == (10,)
    assert model.count_params() == ModelConfig().parameter_count() == 333_526


def test_initial_weights_and_biases_are_normal_01():
    kernel, bias = build_model(ModelConfig(), seed=3).get_layer("hidden").get_weights()
    assert abs(kernel.std() - 0.1) < 0.005 and abs(kernel.mean()) < 0.005
    assert 0.05 < bias.std() < 0.15  # Biases too are drawn from N(0, 0.1), as in the seed.


@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(conv_channels=(8, 16, 4), kernel_size=5, hidden_units=20)])
def test_low_level_form_gives_the_keras_logits(config):
    keras_model = build_model(config, seed=1)
    low_level = LowLevelCNN(config, seed=2).copy_from(keras_model)
    images = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    expected = keras_model(images, training=False).numpy()
    np.testing.assert_allclose(low_level(images).numpy(), expected, atol=1e-5, rtol=0)
    assert low_level.parameter_count() == keras_model.count_params()


def test_low_level_form_differs_before_copying():
    config = ModelConfig(conv_channels=(4,), hidden_units=8)
    images = np.ones((2, 28, 28, 1), np.float32)
    assert not np.allclose(LowLevelCNN(config, seed=5)(images), build_model(config, seed=1)(images))


def test_he_initialisation_scales_kernels_to_their_fan_in_and_zeroes_biases():
    model = build_model(ModelConfig(), seed=3, init_scheme="he")
    for name, fan_in in (("conv2", 3 * 3 * 32), ("hidden", 7 * 7 * 64)):
        kernel, bias = model.get_layer(name).get_weights()
        assert kernel.std() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1) and not bias.any()
    seed_like = build_model(ModelConfig(), seed=3)
    assert seed_like.get_layer("hidden").get_weights()[1].std() > 0.05  # the seed's N(0, 0.1) biases


def test_matched_mlp_has_the_same_parameter_count():
    for cnn in (ModelConfig(), ModelConfig(conv_channels=(16,), hidden_units=50), ModelConfig(conv_channels=(64, 128, 256))):
        mlp = matched_mlp(cnn)
        assert mlp.architecture == "mlp"
        assert abs(mlp.parameter_count() - cnn.parameter_count()) / cnn.parameter_count() < 0.02
        assert build_model(mlp).count_params() == mlp.parameter_count()
    assert matched_mlp(ModelConfig()).hidden_units == 420


@pytest.mark.parametrize("changes,message", [
    ({"conv_channels": ()}, "conv_blocks must be an integer from 1 to 3"),
    ({"conv_channels": (8, 8, 8, 8)}, "conv_blocks"),
    ({"kernel_size": 9}, "kernel_size must be an integer from 1 to 7, got 9"),
    ({"conv_channels": (0, 4)}, "channels"),
    ({"conv_channels": (300,)}, "channels"),
    ({"hidden_units": 2000}, "hidden_units"),
    ({"hidden_units": 2.5}, "hidden_units"),
    ({"pool_size": 4, "conv_channels": (4, 4, 4)}, "shrink the 28x28 image to nothing"),
    ({"architecture": "rnn"}, "architecture"),
    ({"init_stddev": -1}, "init_stddev"),
])
def test_invalid_configs_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)


@pytest.mark.parametrize("changes,fields", [
    ({"kernel_size": 9}, ("kernel_size",)), ({"conv_channels": (8, 8, 8, 8)}, ("conv_channels",)),
    ({"conv_channels": (300,)}, ("conv_channels",)), ({"architecture": "rnn"}, ("network",)),
    ({"pool_size": 4, "conv_channels": (4, 4, 4)}, ("pool_size", "conv_channels")),
])
def test_config_errors_name_their_fields(changes, fields):
    """The Train form puts each message on the field the error names, never on what its text says."""
    with pytest.raises(ConfigError) as caught:
        ModelConfig(**changes)
    assert caught.value.fields == fields


@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(conv_channels=(8, 16, 4), kernel_size=5, hidden_units=20),
                                    matched_mlp(ModelConfig())], ids=["seed", "three-blocks", "mlp"])
def test_the_forward_pass_shows_every_stage_and_masks_switch_filters_off(config):
    model = build_model(config, seed=4)
    images = np.random.default_rng(2).random((5, 28, 28), dtype=np.float32)
    stages = {name: np.asarray(value) for name, value in forward(model, images[..., None]).items()}
    expected = reference_stages(model, images, config.pool_size)
    assert sorted(stages) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(stages[name], expected[name], atol=1e-5, err_msg=name)
    np.testing.assert_allclose(stages["logits"], model(images[..., None]).numpy(), atol=1e-6)
    if config.architecture == "cnn":
        masks = [np.ones(channels, np.float32) for channels in config.conv_channels]
        masks[0][:] = 0  # every conv1 filter off: the rest of the network sees zeros
        masked = forward(model, images[..., None], masks)
        assert not np.asarray(masked["relu1"]).any()
        assert np.allclose(np.asarray(masked["logits"]), np.asarray(masked["logits"])[0])


def test_config_round_trips_through_dict():
    config = ModelConfig(conv_channels=(8, 16), kernel_size=5)
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert hash(config) == hash(ModelConfig.from_dict(config.to_dict()))  # Usable as a cache key.


def test_mixed_precision_keeps_the_seed_network_and_float32_logits():
    from cnn_core.worker.training import precision_policy

    with precision_policy("mixed_bfloat16"):
        mixed = build_model(ModelConfig())
    plain = build_model(ModelConfig())
    assert [layer.name for layer in mixed.layers] == [layer.name for layer in plain.layers]
    assert mixed.count_params() == plain.count_params() == 333_526
    assert mixed.get_layer("hidden").compute_dtype == "bfloat16" and mixed.get_layer("logits").compute_dtype == "float32"
    assert {weight.dtype for weight in mixed.weights} == {"float32"}  # Weights stay float32; only arithmetic is 16-bit.
