"""The Train page's form as plain data: defaults from a preset, and values -> configs or messages.

    values = form_defaults("fast")              # {"iterations": 1400, "conv_channels": "32, 64", ...}
    model, train, errors = parse_form(values)   # errors: {"iterations": "iterations must be ..."}

The configs validate themselves (``ValueError`` naming the field); this module only turns the
form's strings into values and each failure into a message for the field it is about, so the page
can show it beside that field instead of raising.
"""
from __future__ import annotations

from cnn_core.model import ModelConfig, matched_mlp
from cnn_core.training import PRESETS, TrainConfig

NETWORKS = {"cnn": "CNN (the seed's)", "mlp": "Fully connected, same parameter count"}
MODEL_FIELDS = ("conv_channels", "kernel_size", "pool_size", "hidden_units", "init_stddev")
TRAIN_FIELDS = ("dataset", "iterations", "batch_size", "learning_rate", "optimizer", "schedule",
                "warmup_fraction", "eval_every", "eval_images", "train_images", "seed", "device", "strategy")
# Words that open a config's error message but are not form fields: where to show the message.
MESSAGE_FIELDS = {"conv_blocks": "conv_channels", "channels": "conv_channels", "architecture": "network"}


def form_defaults(preset: str = "seed") -> dict:
    """Every form field's starting value: the seed network and the preset's training."""
    model, train = ModelConfig(), PRESETS[preset]
    values = {name: getattr(train, name) for name in TRAIN_FIELDS}
    values.update({name: getattr(model, name) for name in MODEL_FIELDS if name != "conv_channels"})
    values["conv_channels"] = ", ".join(str(c) for c in model.conv_channels)
    values["learning_rate"] = f"{train.learning_rate:g}"
    values["network"] = "cnn"
    return values


def field_of(message: str) -> str:
    """The form field a config error is about: the message's first word, mapped to a field."""
    first = message.split(" ", 1)[0]
    if " pooling shrink" in message:
        return "pool_size"
    first = MESSAGE_FIELDS.get(first, first)
    return first if first in (*MODEL_FIELDS, *TRAIN_FIELDS, "network") else "form"


def parse_channels(text: str) -> tuple[int, ...]:
    """'32, 64' -> (32, 64); ValueError naming conv_channels otherwise."""
    parts = [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise ValueError(f"conv_channels must be whole numbers separated by commas, like 32, 64; got {text!r}")
    return tuple(int(part) for part in parts)


def parse_rate(text) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise ValueError(f"learning_rate must be a number such as 0.0001 or 1e-4, got {text!r}") from None


FLOAT_FIELDS = ("init_stddev", "warmup_fraction")


def whole(name: str, value):
    """A whole-number float from a number input becomes an int, except in the float fields."""
    if name not in FLOAT_FIELDS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def parse_form(values: dict, gpu_count: int = 0) -> tuple[ModelConfig | None, TrainConfig | None, dict]:
    """Configs from the form's values, or None and ``{field: message}`` for each problem found."""
    errors: dict[str, str] = {}
    model = train = None
    model_values = {name: whole(name, values[name]) for name in MODEL_FIELDS if name != "conv_channels"}
    try:
        model_values["conv_channels"] = parse_channels(values["conv_channels"])
        model = ModelConfig(**model_values)
    except ValueError as error:
        errors[field_of(str(error))] = str(error)
    if model is not None and values.get("network") == "mlp":
        try:
            model = matched_mlp(model)
        except ValueError as error:  # The CNN is too big for an MLP within the size limits.
            model, errors["network"] = None, f"no fully connected net matches this CNN's size: {error}"
    train_values = {name: whole(name, values[name]) for name in TRAIN_FIELDS}
    try:
        train_values["learning_rate"] = parse_rate(values["learning_rate"])
        train = TrainConfig(**train_values)
    except ValueError as error:
        errors[field_of(str(error))] = str(error)
    if values.get("device") == "gpu" and gpu_count == 0:
        errors["device"] = "device 'gpu' was chosen but TensorFlow sees no GPU here; choose auto or cpu"
    if errors:
        return None, None, errors
    return model, train, {}
