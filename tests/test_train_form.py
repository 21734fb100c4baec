"""The Train form as data (labels, human names, every problem at once) and on the page (AppTest)."""
import re

import pytest

from cnn_core.common.config import PRESETS, ModelConfig, matched_mlp
from cnn_core.common.vocabulary import choices, menu_name
from cnn_core.server.train_form import LABELS, error_list, form_defaults, parse_form
from tests.conftest import needs_data
from tests.support import app_on

# The config's names that are not English: 'learning_rate', 'conv_channels', 'warmup_cosine'...
CODE_NAMES = re.compile(r"\b[a-z0-9]+(_[a-z0-9]+)+\b")


def test_form_defaults_parse_back_to_the_presets():
    for name, preset in PRESETS.items():
        model, train, errors = parse_form(form_defaults(name))
        assert errors == {} and train == preset and model == ModelConfig()


def test_every_problem_shows_at_once_including_clashes_between_fields():
    values = {**form_defaults(), "iterations": -1, "learning_rate": "fast", "conv_channels": "8, 8, 8",
              "pool_size": 4, "batch_size": 0, "seed": -5}
    model, train, errors = parse_form(values)
    assert model is None and train is None
    # Before: one error per config per round, so the pool clash showed only after the rest were fixed.
    assert set(errors) == {"iterations", "learning_rate", "pool_size", "batch_size", "seed"}
    assert "shrink the 28x28 image" in errors["pool_size"]


def test_a_clash_with_a_wrong_field_is_not_reported_twice():
    errors = parse_form({**form_defaults(), "train_images": 10, "batch_size": 0})[2]
    assert set(errors) == {"batch_size"}  # 10 images vs the default batch of 50 is no error of its own
    errors = parse_form({**form_defaults(), "train_images": 100, "batch_size": 200})[2]
    assert errors == {"train_images": "Training images (100) must be at least the batch size (200)"}


@pytest.mark.parametrize("changes,field", [
    ({"iterations": 0}, "iterations"), ({"learning_rate": "-1"}, "learning_rate"),
    ({"learning_rate": "quick"}, "learning_rate"), ({"conv_channels": "32, lots"}, "conv_channels"),
    ({"conv_channels": "0, 64"}, "conv_channels"), ({"conv_channels": "8, 8, 8, 8, 8"}, "conv_channels"),
    ({"init_stddev": 0.0}, "init_stddev"), ({"warmup_fraction": 1.0}, "warmup_fraction"),
    ({"eval_images": 20_000}, "eval_images"), ({"train_images": 10}, "train_images"),
    ({"hidden_units": 0}, "hidden_units"), ({"device": "gpu"}, "device"),
    ({"network": "mlp", "conv_channels": "256, 256", "pool_size": 1}, "network"),
])
def test_messages_use_the_forms_words_not_code_names(changes, field):
    errors = parse_form({**form_defaults(), **changes}, gpu_count=0)[2]
    assert list(errors) == [field]
    message = errors[field]
    assert message.startswith(LABELS[field]), message
    assert not CODE_NAMES.search(message), message


def test_big_numbers_get_thousands_separators():
    message = parse_form({**form_defaults(), "iterations": 0})[2]["iterations"]
    assert message == "Iterations must be an integer from 1 to 1,000,000, got 0"


def test_messages_land_on_the_field_the_error_names_not_on_what_its_text_says():
    """Rewording a config message cannot move it to another field: the error carries its field."""
    errors = parse_form({**form_defaults(), "conv_channels": "0, 4", "train_images": 10})[2]
    assert set(errors) == {"conv_channels", "train_images"}
    assert errors["conv_channels"].startswith("Conv channels: each block's channels must be")
    assert errors["train_images"] == "Training images (10) must be at least the batch size (50)"


def test_the_mlp_choice_builds_the_matched_fully_connected_net():
    model, _, errors = parse_form({**form_defaults(), "network": "mlp"})
    assert errors == {} and model == matched_mlp(ModelConfig())


def test_every_choice_has_a_human_name():
    for field in ("optimizer", "schedule", "preset", "dataset", "precision", "network"):
        for value in choices(field):
            assert menu_name(field, value) != value and "_" not in menu_name(field, value)


def test_error_list_follows_the_forms_order():
    text = error_list({"learning_rate": "Learning rate is bad", "dataset": "Dataset is bad"})
    assert text == "- Dataset is bad\n- Learning rate is bad"


@pytest.fixture
def train_page(runs_dir):
    """The Train page headless, with runs in a temporary folder and a fresh launcher."""
    return app_on("pages/train.py")


@needs_data
def test_the_page_shows_human_names_and_every_problem_in_one_box(train_page):
    app = train_page
    assert not app.exception, app.exception
    schedule = app.selectbox(key="train_schedule")
    assert "Warm-up then cosine" in schedule.options and "warmup_cosine" not in schedule.options
    schedule.set_value("warmup_cosine")  # The value stays the config's string.
    app.number_input(key="train_iterations").set_value(0)
    app.number_input(key="train_batch_size").set_value(0)
    app.text_input(key="train_learning_rate").set_value("fast")
    app.text_input(key="train_conv_channels").set_value("32, lots")
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    assert len(app.error) == 1, [error.value for error in app.error]
    box = app.error[0].value
    for label in ("Iterations", "Batch size", "Learning rate", "Conv channels"):
        assert f"- {label} " in box, box
    assert not CODE_NAMES.search(box), box
    assert app.selectbox(key="train_schedule").value == "warmup_cosine"


@needs_data
def test_the_page_says_what_a_run_needs_and_refuses_one_over_the_servers_bounds(train_page, runs_dir):
    app = train_page
    needs = [caption.value for caption in app.caption if caption.value.startswith("This run:")]
    assert needs and "333,526 parameters, about 1.0 GB of memory" in needs[0], needs
    assert "This server trains at most 5,000,000 parameters, 1.5 GB of memory and 30 min per run" in needs[0]
    app.number_input(key="train_batch_size").set_value(4096)
    app.number_input(key="train_iterations").set_value(1_000_000)
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    box = app.error[0].value
    assert "- Batch size: this run needs about 3.9 GB of memory" in box and "a batch of at most 885 fits" in box, box
    assert "- Iterations: this run would take about" in box and "days on this server" in box, box
    assert not [path for path in runs_dir.iterdir() if not path.name.startswith(".")]  # Nothing was queued.
