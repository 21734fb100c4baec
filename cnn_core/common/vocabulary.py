"""Every choice a run's config offers, and what people call each value: the one map of names.

The config keeps the code word ("warmup_cosine"); a menu shows its ``menu`` name ("Warm-up then
cosine") and a table or a run's name its ``short`` one ("warm-up+cosine"). The configs validate
against ``choices(field)``, so a value added here is accepted everywhere at once, and a test
checks that the presets and the datasets have names here.

    choices("precision")                      # ("auto", "float32", "mixed_bfloat16", "mixed_float16")
    menu_name("schedule", "warmup_cosine")    # 'Warm-up then cosine'
    short_name("precision", "mixed_bfloat16")  # 'bf16 mixed'
    item_noun("fashion-mnist")                # 'clothing item'
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    """What people call one config value."""

    menu: str       # in a menu or a radio, where there is room to explain
    short: str      # in a table, a legend or a run's name
    noun: str = ""  # datasets only: what one image is called in a sentence ("Sample a test digit")


NAMES: dict[str, dict[str, Name]] = {
    "preset": {"seed": Name("Seed: the tutorial's settings", "seed"),
               "fast": Name("Fast: under one epoch, batches of 128", "fast")},
    "dataset": {"mnist": Name("MNIST (digits)", "MNIST", "digit"),
                "fashion-mnist": Name("Fashion-MNIST (clothes)", "Fashion-MNIST", "clothing item")},
    "network": {"cnn": Name("CNN (the seed's)", "CNN"), "mlp": Name("Fully connected, same parameter count", "MLP")},
    "optimizer": {"adam": Name("Adam", "Adam"), "sgd": Name("SGD with momentum", "SGD"),
                  "rmsprop": Name("RMSprop", "RMSprop")},
    "schedule": {"constant": Name("Constant", "constant"), "warmup_cosine": Name("Warm-up then cosine", "warm-up+cosine")},
    "device": {"auto": Name("Auto (GPU if any)", "auto"), "cpu": Name("CPU", "CPU"), "gpu": Name("GPU", "GPU")},
    "strategy": {"default": Name("One device", "one device"), "mirrored": Name("Mirrored over all GPUs", "mirrored"),
                 "multi-worker": Name("Multi-worker (machines in TF_CONFIG)", "multi-worker")},
    "init": {"seed": Name("Normal, as the seed (std above)", "normal"), "he": Name("He normal, zero biases", "He")},
    # What a run trained in; every saved model is float32 whatever this says.
    "precision": {"auto": Name("Auto (by hardware)", "auto"), "float32": Name("32-bit float", "fp32"),
                  "mixed_bfloat16": Name("Mixed bfloat16", "bf16 mixed"),
                  "mixed_float16": Name("Mixed float16", "fp16 mixed")},
}


def choices(field: str) -> tuple[str, ...]:
    """The values a config field accepts, in the order menus list them."""
    return tuple(NAMES[field])


def menu_name(field: str, value) -> str:
    """What a menu shows for ``value`` (the value itself when it has no name)."""
    name = NAMES.get(field, {}).get(value)
    return name.menu if name else str(value)


def short_name(field: str, value) -> str:
    """What a table shows for ``value`` (the value itself when it has no name)."""
    name = NAMES.get(field, {}).get(value)
    return name.short if name else str(value)


def display_name(dataset: str) -> str:
    """'MNIST' and 'Fashion-MNIST', as people write them."""
    return short_name("dataset", dataset)


def item_noun(dataset: str) -> str:
    """'digit' for MNIST, 'clothing item' for Fashion-MNIST: words that follow the model's dataset."""
    name = NAMES["dataset"].get(dataset)
    return name.noun if name else "image"


def with_article(word: str) -> str:
    """'a Shirt', 'an Ankle boot', 'an 8': the indefinite article a class name needs."""
    return f"{'an' if word[:1].lower() in 'aeiou8' or word in ('11', '18') else 'a'} {word}"
