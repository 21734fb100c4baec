"""LiteRT serving (cnn_core.worker.export, cnn_core.server.serving) checked against the Keras model it came from."""
import shutil
import threading
import zipfile

import numpy as np
import pytest

from cnn_core.common.config import ModelConfig, matched_mlp
from cnn_core.experiments.transforms import as_batch
from cnn_core.server import serving
from cnn_core.server.serving import ServedModel, ServingError
from cnn_core.worker.export import export_serving, served_from_keras
from cnn_core.worker.network import build_model
from tests.conftest import needs_data
from tests.reference import reference_stages

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
CONFIGS = {
    "seed-cnn": ModelConfig(),
    "three-block-cnn": ModelConfig(conv_channels=(16, 32, 32)),
    "matched-mlp": matched_mlp(ModelConfig()),
    "trained-seed-cnn": ModelConfig(),
}


def write(path, data: bytes) -> None:
    path.write_bytes(data)


def train_a_few_steps(model, steps: int = 5) -> None:
    """Move the weights off their initial values (random digits and labels: only the weights matter here)."""
    import keras

    generator = np.random.default_rng(1)
    images = generator.random((steps * 20, 28, 28, 1), dtype=np.float32)
    labels = generator.integers(0, 10, steps * 20)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, batch_size=20, epochs=1, verbose=0)


@pytest.fixture(scope="module", params=list(CONFIGS))
def exported(request, tmp_path_factory):
    """(config, Keras model, its exported folder) for each kind of network."""
    config = CONFIGS[request.param]
    model = build_model(config, seed=3)
    if request.param.startswith("trained"):
        train_a_few_steps(model)
    folder = tmp_path_factory.mktemp(request.param)
    export_serving(model, folder, write)
    return config, model, folder


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """The seed CNN (random weights) and its exported folder, for the mask and hostile-file tests."""
    config = ModelConfig()
    model = build_model(config, seed=5)
    folder = tmp_path_factory.mktemp("seed")
    export_serving(model, folder, write)
    return model, folder


def digits(count: int = 6, seed: int = 0) -> np.ndarray:
    """Random images in [0, 1], (count, 28, 28), plus an all-dark and an all-bright one."""
    images = np.random.default_rng(seed).random((count, 28, 28), dtype=np.float32)
    return np.concatenate([images, np.zeros((1, 28, 28), np.float32), np.ones((1, 28, 28), np.float32)])


def test_litert_matches_keras(exported):
    config, model, folder = exported
    served = ServedModel(folder)
    images = digits()
    reference = reference_stages(model, images, config.pool_size)
    np.testing.assert_allclose(served.logits(images), np.asarray(model(images[..., None])), **TOLERANCE)
    np.testing.assert_allclose(served.logits(images), reference["logits"], **TOLERANCE)
    np.testing.assert_allclose(served.embeddings(images), reference["hidden"], **TOLERANCE)
    np.testing.assert_allclose(served.probabilities(images).sum(axis=1), 1.0, rtol=1e-5)
    blocks = len(config.conv_channels) if config.architecture == "cnn" else 0
    assert served.architecture == config.architecture and served.channels == list(config.conv_channels)[:blocks]
    assert served.stage_names == [f"{stage}{block}" for block in range(1, blocks + 1) for stage in ("conv", "relu", "pool")]
    for index in (0, len(images) - 1):
        maps = served.feature_maps(images[index])
        assert list(maps) == served.stage_names
        for name in served.stage_names:
            np.testing.assert_allclose(maps[name], reference[name][index], **TOLERANCE, err_msg=name)
    for block, kernel in enumerate(served.kernels, start=1):
        np.testing.assert_array_equal(kernel, model.get_layer(f"conv{block}").get_weights()[0])


def test_more_images_than_one_litert_batch(seed, monkeypatch):
    model, folder = seed
    served = ServedModel(folder)
    monkeypatch.setattr(serving, "BATCH", 3)
    images = digits(8, seed=2)
    np.testing.assert_allclose(served.logits(images), np.asarray(model(images[..., None])), **TOLERANCE)


def test_an_all_ones_mask_is_no_mask(seed):
    _, folder = seed
    served = ServedModel(folder)
    images = digits()
    ones = {block: np.ones(channels, np.float32) for block, channels in enumerate(served.channels, start=1)}
    np.testing.assert_array_equal(served.logits(images, masks=ones), served.logits(images))


@pytest.mark.parametrize("block, channels, off", [(1, 32, 5), (2, 64, 40)])
def test_switching_off_a_filter_zeroes_its_channel(seed, block, channels, off):
    """The classify path with one filter off equals Keras with that channel of relu<block> set to zero."""
    model, folder = seed
    served = ServedModel(folder)
    images = digits()
    mask = np.ones(channels, np.float32)
    mask[off] = 0.0
    reference = reference_stages(model, images)
    relu = reference[f"relu{block}"].copy()
    assert np.abs(relu[..., off]).max() > 0  # The filter does respond, so switching it off matters.
    relu[..., off] = 0.0
    features = relu
    for layer in model.layers[model.layers.index(model.get_layer(f"conv{block}")) + 1:]:
        features = np.asarray(layer(features))
    masked = served.logits(images, masks={block: mask})
    np.testing.assert_allclose(masked, features, **TOLERANCE)
    assert not np.allclose(masked, served.logits(images), **TOLERANCE)
    np.testing.assert_allclose(served.embeddings(images), reference["hidden"], **TOLERANCE)  # Unmasked again.


def test_masks_on_two_blocks_at_once(seed):
    """Every filter of conv2 off: the hidden layer sees only zeros, so the logits are ReLU(bias) through the top."""
    model, folder = seed
    served = ServedModel(folder)
    images = digits()
    masks = {1: np.ones(32, np.float32), 2: np.zeros(64, np.float32)}
    hidden_bias = model.get_layer("hidden").get_weights()[1]
    kernel, bias = model.get_layer("logits").get_weights()
    expected = np.maximum(hidden_bias, 0) @ kernel + bias
    np.testing.assert_allclose(served.logits(images, masks=masks), np.broadcast_to(expected, (len(images), 10)), **TOLERANCE)


@pytest.mark.parametrize("masks", [{1: np.ones(31)}, {2: np.ones(32)}, {3: np.ones(32)}, {1: np.ones((32, 1))}])
def test_a_mask_of_the_wrong_size_raises(seed, masks):
    served = ServedModel(seed[1])
    with pytest.raises(ValueError, match="a mask for conv"):
        served.probabilities(digits(1), masks=masks)


def test_predict_and_describe(seed):
    model, folder = seed
    served = ServedModel(folder)
    image = digits(1)[0]
    prediction = served.predict(image)
    assert prediction.label == int(np.argmax(np.asarray(model(image[None, :, :, None]))[0]))
    assert prediction.probabilities.shape == (10,) and 0 <= prediction.confidence <= 1
    assert served.describe() == "conv1: 32 kernels of 3x3 on 1 channel; conv2: 64 kernels of 3x3 on 32 channels"
    assert served.first_layer_kernels().shape == (3, 3, 32)
    maps = served.feature_maps(image[..., None])  # (28, 28, 1) is one image too.
    assert maps["conv1"].shape == (28, 28, 32) and maps["pool2"].shape == (7, 7, 64)


def test_threads_share_one_model(seed):
    served = ServedModel(seed[1])
    images = digits(4, seed=7)
    expected = served.logits(images)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(served.logits(images))
        except Exception as error:  # Reported below: a thread's exception would otherwise vanish.
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 80
    for result in results:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("shape", [(32, 32, 3), (28,), (28, 28, 3), (2, 28, 28, 3), (28, 27), (2, 2, 28, 28), ()])
def test_as_batch_refuses_other_shapes(shape):
    with pytest.raises(ValueError, match=r"expected 28x28 grayscale images"):
        as_batch(np.zeros(shape))


@pytest.mark.parametrize("shape, batch", [((28, 28), 1), ((28, 28, 1), 1), ((5, 28, 28), 5), ((5, 28, 28, 1), 5),
                                          ((0, 28, 28), 0)])
def test_as_batch_accepts_one_image_or_many(shape, batch):
    array, single = as_batch(np.zeros(shape, np.uint8))
    assert array.shape == (batch, 28, 28) and array.dtype == np.float32 and single == (len(shape) < 3 or shape[0] == 28)


def test_feature_maps_take_one_image(seed):
    with pytest.raises(ValueError, match="one 28x28 image, got 2"):
        ServedModel(seed[1]).feature_maps(digits(1).repeat(2, axis=0)[:2])


@pytest.fixture
def copy(seed, tmp_path):
    """A copy of the seed CNN's folder to spoil."""
    folder = tmp_path / "model"
    shutil.copytree(seed[1], folder)
    return folder


def test_weights_that_are_not_a_zip(copy):
    (copy / "weights.npz").write_bytes(b"these are not weights")
    with pytest.raises(ServingError, match="weights.npz is not a readable weights file"):
        ServedModel(copy)


def test_weights_holding_pickled_objects(copy):
    objects = np.array([{"run": "code"}], dtype=object)
    np.savez(copy / "weights.npz", **{"hidden/kernel": objects, "logits/kernel": objects})
    with pytest.raises(ServingError, match="weights.npz is not a readable weights file"):
        ServedModel(copy)


def test_weights_without_the_dense_layers(copy):
    np.savez(copy / "weights.npz", **{"conv1/kernel": np.zeros((3, 3, 1, 32)), "conv1/bias": np.zeros(32)})
    with pytest.raises(ServingError, match="weights.npz lacks the hidden and logits layers"):
        ServedModel(copy)


def test_a_weights_zip_bomb(copy, monkeypatch):
    monkeypatch.setattr(serving, "MAX_WEIGHTS_BYTES", 2**20)
    with zipfile.ZipFile(copy / "weights.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("logits/kernel.npy", bytes(4 * 2**20))
    assert (copy / "weights.npz").stat().st_size < 2**20
    with pytest.raises(ServingError, match="unpacks to 4 MB, over the limit"):
        ServedModel(copy)


def test_an_oversize_model(copy, monkeypatch):
    monkeypatch.setattr(serving, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(ServingError, match="model.tflite is .* MB, over the"):
        ServedModel(copy)


def test_a_model_that_is_not_litert(copy):
    (copy / "model.tflite").write_bytes(b"TFL3" + bytes(100))
    with pytest.raises(ServingError, match="model.tflite cannot be loaded"):
        ServedModel(copy)


@pytest.mark.parametrize("name", ["model.tflite", "weights.npz"])
def test_a_missing_or_symlinked_file(copy, tmp_path, name):
    (copy / name).rename(tmp_path / name)
    with pytest.raises(ServingError, match=f"{name} is missing"):
        ServedModel(copy)
    (copy / name).symlink_to(tmp_path / name)  # A link out of the folder is refused, never followed.
    with pytest.raises(ServingError, match=f"{name} is a symbolic link, which CNN Lab does not follow"):
        ServedModel(copy)


def test_serving_errors_are_value_errors():
    assert issubclass(ServingError, ValueError)
    with pytest.raises(ServingError):
        ServedModel("/no/such/folder")


@needs_data
def test_the_shipped_model_serves_and_is_accurate():
    from cnn_core.common.data import load_dataset
    from cnn_core.server.catalogue import DEFAULT_FOLDER
    from cnn_core.worker.saving import load_model_file

    dataset = load_dataset("mnist")
    images = dataset.test_images[:2000].astype(np.float32) / 255.0
    served = ServedModel(DEFAULT_FOLDER)
    accuracy = float((served.probabilities(images).argmax(axis=1) == dataset.test_labels[:2000]).mean())
    assert accuracy >= 0.98, f"the shipped model scores {accuracy:.2%} on the first 2,000 test digits"
    # The shipped LiteRT files are exported from the shipped model.keras, not from an older one.
    keras_logits = np.asarray(load_model_file(DEFAULT_FOLDER / "model.keras")(images[:200, :, :, None]))
    np.testing.assert_allclose(served.logits(images[:200]), keras_logits, **TOLERANCE)


def test_weights_and_litert_model_from_different_networks_are_refused(copy, tmp_path):
    # A hostile folder, or one whose export was cut short between its two files: refuse it at load,
    # with a ServingError the pages show, not a ValueError or KeyError on the first prediction.
    other_config = ModelConfig(conv_channels=(8,))
    other = tmp_path / "other"
    other.mkdir()
    export_serving(build_model(other_config), other, write)
    shutil.copy(other / "weights.npz", copy / "weights.npz")
    with pytest.raises(ServingError):
        served = ServedModel(copy)
        served.probabilities(digits(1))
        served.feature_maps(digits(1)[0])


def test_a_keras_model_served_in_memory_answers_as_its_exported_folder(seed):
    """The command line serves a bare .keras file this way: the same LiteRT export, never written to disk."""
    model, folder = seed
    images = digits()
    in_memory = served_from_keras(model)
    assert in_memory.folder is None and in_memory.channels == ServedModel(folder).channels
    np.testing.assert_allclose(in_memory.logits(images), ServedModel(folder).logits(images), **TOLERANCE)
