"""What a run is: the training config's bounds, the presets, and the one vocabulary of names."""
import dataclasses

import pytest

from cnn_core.common import vocabulary
from cnn_core.common.config import HISTORY_COLUMNS, PRESETS, ConfigError, ProgressRecord, TrainConfig
from cnn_core.common.data import DATASETS


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


def test_training_errors_name_their_fields():
    with pytest.raises(ConfigError) as caught:
        TrainConfig(train_images=10, batch_size=50)
    assert caught.value.fields == ("train_images", "batch_size")
    with pytest.raises(ConfigError) as caught:
        TrainConfig(precision="fp8")
    assert caught.value.field == "precision"


def test_every_choice_has_its_names_and_every_preset_and_dataset_is_named():
    assert vocabulary.choices("preset") == tuple(PRESETS)
    assert vocabulary.choices("dataset") == tuple(DATASETS)
    for field, names in vocabulary.NAMES.items():
        assert names and all(name.menu and name.short for name in names.values()), field
    assert vocabulary.menu_name("schedule", "warmup_cosine") == "Warm-up then cosine"
    assert vocabulary.short_name("precision", "mixed_bfloat16") == "bf16 mixed"
    assert vocabulary.short_name("precision", "something new") == "something new"
    assert vocabulary.display_name("fashion-mnist") == "Fashion-MNIST" and vocabulary.item_noun("mnist") == "digit"
    assert vocabulary.with_article("8") == "an 8" and vocabulary.with_article("Shirt") == "a Shirt"


def test_the_history_file_has_one_column_per_progress_field():
    assert HISTORY_COLUMNS == tuple(field.name for field in dataclasses.fields(ProgressRecord))


@pytest.mark.parametrize("changes,field", [
    ({"beta_1": 1.0}, "beta_1"), ({"beta_1": -0.1}, "beta_1"), ({"label_smoothing": 0.7}, "label_smoothing"),
    ({"label_smoothing": "some"}, "label_smoothing"), ({"init": "glorot"}, "init"),
])
def test_the_recipe_fields_are_bounded(changes, field):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**changes)
    assert caught.value.field == field


def test_the_seed_preset_is_still_the_tutorial():
    seed = PRESETS["seed"]
    assert (seed.batch_size, seed.iterations, seed.learning_rate, seed.optimizer, seed.schedule) == (50, 2500, 1e-4, "adam", "constant")
    assert (seed.beta_1, seed.label_smoothing, seed.init, seed.precision, seed.eval_every) == (0.9, 0.0, "seed", "float32", 250)
