"""The Train page's form as plain data: labels, human names for choices, values -> configs or messages.

    values = form_defaults("fast")              # {"iterations": 2000, "conv_channels": "32, 64", ...}
    model, train, errors = parse_form(values)   # errors: {"iterations": "Iterations must be ..."}

The configs validate themselves (``ConfigError``, which names the fields it is about); this module
turns the form's strings into values, checks every field on its own so that all problems show at
once, puts each message on the field the error names, and rewrites it in the words the form shows
(``LABELS``), never the config's names. Menus name values as ``common.vocabulary`` does. With the
server's ``Limits`` (``cnn_core.common.limits``), a run over a bound gets the reason on its field.
"""
from __future__ import annotations

import dataclasses
import re

from cnn_core.common.config import PRESETS, ConfigError, ModelConfig, TrainConfig, matched_mlp
from cnn_core.common.limits import Limits

MODEL_FIELDS = ("conv_channels", "kernel_size", "pool_size", "hidden_units", "init_stddev")
# Every TrainConfig field, so a preset's value of a field the form does not show still reaches the run.
TRAIN_FIELDS = tuple(field.name for field in dataclasses.fields(TrainConfig))
# Each field's label on the form; error messages use the same words.
LABELS = {
    "network": "Network", "dataset": "Dataset", "train_images": "Training images", "seed": "Seed",
    "conv_channels": "Conv channels", "kernel_size": "Kernel size", "pool_size": "Pool size",
    "hidden_units": "Dense units", "init_stddev": "Initial weight std", "iterations": "Iterations",
    "batch_size": "Batch size", "eval_every": "Test every", "eval_images": "Test images",
    "learning_rate": "Learning rate", "optimizer": "Optimizer", "schedule": "Schedule",
    "warmup_fraction": "Warm-up share", "device": "Device", "strategy": "Strategy", "precision": "Precision",
    "beta_1": "Adam β1", "label_smoothing": "Label smoothing", "init": "Initialisation",
}
MESSAGE_WORDS = {"conv_blocks": "the number of blocks", "channels": "each block's channels"}
FLOAT_FIELDS = ("init_stddev", "warmup_fraction", "beta_1", "label_smoothing")


def form_defaults(preset: str = "seed") -> dict:
    """Every form field's starting value: the seed network and the preset's training."""
    model, train = ModelConfig(), PRESETS[preset]
    values = {name: getattr(train, name) for name in TRAIN_FIELDS}
    values.update({name: getattr(model, name) for name in MODEL_FIELDS if name != "conv_channels"})
    values["conv_channels"] = ", ".join(str(c) for c in model.conv_channels)
    values["learning_rate"] = f"{train.learning_rate:g}"
    values["network"] = "cnn"
    return values


def in_words(field: str, message: str) -> str:
    """A config message in the form's words, opening with the field's label:
    'train_images (10) must be at least batch_size (50)'
    -> 'Training images (10) must be at least the batch size (50)'; big numbers get commas."""
    def word(match: re.Match) -> str:
        name = match.group(0)
        if name in MESSAGE_WORDS:
            return MESSAGE_WORDS[name]
        return LABELS[name] if match.start() == 0 else f"the {LABELS[name].lower()}"
    names = "|".join(sorted((*LABELS, *MESSAGE_WORDS), key=len, reverse=True))
    message = re.sub(rf"\b({names})\b", word, message)
    message = re.sub(r"(?<![\d.e-])\d{5,}\b", lambda m: f"{int(m.group(0)):,}", message)
    if field in LABELS and not message.startswith(LABELS[field]):
        return f"{LABELS[field]}: {message}"
    return message[:1].upper() + message[1:]


def parse_channels(text: str) -> tuple[int, ...]:
    """'32, 64' -> (32, 64); ConfigError otherwise."""
    parts = [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise ConfigError("conv_channels", f"conv_channels must be whole numbers separated by commas, like 32, 64; got {text!r}")
    return tuple(int(part) for part in parts)


def parse_rate(text) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise ConfigError("learning_rate", f"learning_rate must be a number such as 0.0001 or 1e-4, got {text!r}") from None


def whole(name: str, value):
    """A whole-number float from a number input becomes an int, except in the float fields."""
    if name not in FLOAT_FIELDS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def field_errors(config_class, values: dict) -> dict[str, str]:
    """Each field checked on its own against the defaults, so every bad field is found in one go."""
    errors = {}
    for name, value in values.items():
        try:
            config_class(**{name: value})
        except ConfigError as error:
            if len(error.fields) == 1:  # A clash with another field's default is no error of this one.
                errors[error.field] = str(error)
    return errors


def parse_form(values: dict, gpu_count: int = 0,
               limits: Limits | None = None) -> tuple[ModelConfig | None, TrainConfig | None, dict]:
    """Configs from the form's values, or None and ``{field: message}`` for every problem found,
    the server's ``limits`` (if given) included."""
    errors: dict[str, str] = {}
    model_values = {name: whole(name, values[name]) for name in MODEL_FIELDS if name != "conv_channels"}
    train_values = {name: whole(name, values[name]) for name in TRAIN_FIELDS}
    for name, parse in (("conv_channels", parse_channels), ("learning_rate", parse_rate)):
        try:
            (model_values if name in MODEL_FIELDS else train_values)[name] = parse(values[name])
        except ConfigError as error:
            errors[error.field] = str(error)
    good_model = {k: v for k, v in model_values.items() if k not in errors}
    good_train = {k: v for k, v in train_values.items() if k not in errors}
    errors.update(field_errors(ModelConfig, good_model))
    errors.update(field_errors(TrainConfig, good_train))
    if values.get("device") == "gpu" and gpu_count == 0:
        errors["device"] = "GPU was chosen but TensorFlow sees no GPU here; choose Auto or CPU"
    # Clashes between fields (too many pools for the image, fewer images than a batch) are looked
    # for among the fields that are fine on their own, so they show with the other problems.
    model = train = None
    single = set(errors)
    for config_class, good in ((ModelConfig, good_model), (TrainConfig, good_train)):
        try:
            built = config_class(**{k: v for k, v in good.items() if k not in single})
        except ConfigError as error:
            # A clash with a field that is itself wrong was measured against that field's default.
            if not single & set(error.fields):
                errors.setdefault(error.field, str(error))
            continue
        model, train = (built, train) if config_class is ModelConfig else (model, built)
    if model is not None and not errors and values.get("network") == "mlp":
        try:
            model = matched_mlp(model)
        except ValueError as error:  # The CNN is too big for an MLP within the size limits.
            errors["network"] = f"no fully connected net matches this CNN's size: {error}"
    if errors:
        return None, None, {field: in_words(field, message) for field, message in errors.items()}
    over = limits.check(model, train) if limits is not None else {}
    if over:  # Already in the form's words; each opens with its field's label.
        return None, None, {field: f"{LABELS[field]}: {message}" for field, message in over.items()}
    return model, train, {}


def error_list(errors: dict[str, str]) -> str:
    """All problems as one Markdown list, in the form's order, for a single message under the form."""
    order = list(LABELS)
    ranked = sorted(errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    return "\n".join(f"- {message}" for _, message in ranked)
