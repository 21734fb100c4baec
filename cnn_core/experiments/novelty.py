""""That doesn't look like a digit": a familiarity score for a drawing, and its calibration.

A classifier always names a class, even for a letter or a scribble. Four signals say how far a
drawing is from the training digits, each a known out-of-distribution cue:

    embedding_similarity  cosine similarity of its penultimate activations to the nearest indexed
                          training digit (the neighbour index; Sun et al. 2022, deep nearest neighbours)
    pixel_distance        mean Euclidean distance of its pixels to the 5 nearest of those digits
    solid_fraction        share of its ink pixels whose four neighbours are ink too (blobs, not strokes)
    activation_norm       log length of its penultimate activation vector (unfamiliar input is weaker)

No single one catches enough: the embedding signal alone flags under half of the non-digits below.
``calibrate`` weighs them with a logistic regression (digits against generated non-digit drawings:
letters in PIL fonts, random strokes, filled blobs, all put through the canvas's preprocessing), then
sets the threshold on half the real test digits so that ``TARGET_FLAG_RATE`` of them are flagged.
Both rates are then measured on data the fit never saw: the other half of the test digits
(alternate indices) and drawings from another seed. The worker saves the result as ``novelty.json``.

    reference = NoveltyReference.from_index(index, dataset.train_images)
    calibration = calibrate(served.embeddings, reference, dataset.test_images)      # worker
    verdict = judge(served.embeddings(image28[None]), image28[None], reference, calibration)[0]
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnn_core.experiments.neighbours import NeighbourIndex, similarities
from cnn_core.common.preprocess import ImageError, to_mnist

SIGNALS = ("embedding_similarity", "pixel_distance", "solid_fraction", "activation_norm")
PIXEL_NEIGHBOURS = 5       # nearest training digits averaged in pixel_distance
TARGET_FLAG_RATE = 0.015   # share of the calibration digits flagged; the bar is at most 2%
NOVELTY_FILE = "novelty.json"
CHUNK = 250                # queries per similarity or pixel-distance block: 250 x 10000 floats = 10 MB
CANVAS = 280               # drawings are made at the Predict canvas's size, then preprocessed
# Letters that are not drawn like any digit: O is a 0, l and I are 1s, S a 5, Z a 2, B an 8,
# g and q are 9s, b a 6, and so on; a model that reads those as digits is right to.
LETTERS = "ACEFHKMNPRTUVWXYacefhkmnprtuvwxy"
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/TTF"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True)
class NoveltyReference:
    """The training digits a drawing is compared with: the neighbour index and the same digits' pixels."""

    index: NeighbourIndex
    pixels: np.ndarray  # (n, 784) float32 in [0, 1], row i is training image index.indices[i]
    squared: np.ndarray = None  # (n,) float32: each row's squared length, computed once (not per query)

    @classmethod
    def from_index(cls, index: NeighbourIndex, train_images: np.ndarray) -> "NoveltyReference":
        pixels = np.asarray(train_images)[index.indices].reshape(len(index.indices), -1).astype(np.float32)
        if np.asarray(train_images).dtype == np.uint8:
            pixels /= 255
        return cls(index, pixels, np.einsum("ij,ij->i", pixels, pixels))


@dataclass(frozen=True)
class Verdict:
    """Whether one drawing looks like a digit, and why."""

    looks_like_digit: bool
    score: float                 # the calibrated familiarity; >= threshold looks like a digit
    threshold: float
    signals: dict[str, float]    # the four raw signals, by name


def _as_images(images) -> np.ndarray:
    images = np.asarray(images)
    return images.astype(np.float32) / 255 if images.dtype == np.uint8 else images.astype(np.float32)


def pixel_distances(reference: NoveltyReference, images: np.ndarray) -> np.ndarray:
    """(n,) mean Euclidean distance to the PIXEL_NEIGHBOURS nearest reference digits."""
    flat = _as_images(images).reshape(len(images), -1)
    squared_reference = reference.squared if reference.squared is not None else np.einsum(
        "ij,ij->i", reference.pixels, reference.pixels)
    result = []
    for start in range(0, len(flat), CHUNK):
        block = flat[start:start + CHUNK]
        squared = block @ reference.pixels.T  # |a - b|^2 = |a|^2 - 2 a.b + |b|^2, in place
        squared *= -2
        squared += squared_reference
        squared += (block ** 2).sum(axis=1)[:, None]
        nearest = np.partition(squared, PIXEL_NEIGHBOURS - 1, axis=1)[:, :PIXEL_NEIGHBOURS]
        result.append(np.sqrt(np.maximum(nearest, 0)).mean(axis=1))
    return np.concatenate(result) if result else np.zeros(0)


def solid_fractions(images: np.ndarray) -> np.ndarray:
    """(n,) share of ink pixels (> 0.5) whose four neighbours are all ink: high for blobs, low for strokes."""
    ink = _as_images(images) > 0.5
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    inner = ink & padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    return inner.sum(axis=(1, 2)) / np.maximum(ink.sum(axis=(1, 2)), 1)


def signals(embeddings: np.ndarray, images: np.ndarray, reference: NoveltyReference) -> np.ndarray:
    """(n, 4) the SIGNALS for images and their penultimate embeddings, in SIGNALS order."""
    embeddings = np.atleast_2d(np.asarray(embeddings, np.float32))
    # In blocks: every test digit against every indexed one at once is a matrix of hundreds of MB,
    # which made the calibration a worker's memory peak (benchmarks/worker_memory.py measures it).
    nearest_similarity = np.concatenate([
        np.atleast_2d(similarities(reference.index, embeddings[start:start + CHUNK])).max(axis=1)
        for start in range(0, len(embeddings), CHUNK)]) if len(embeddings) else np.zeros(0, np.float32)
    norm = np.log(np.linalg.norm(embeddings, axis=1) + 1e-3)
    return np.stack([nearest_similarity, pixel_distances(reference, images), solid_fractions(images), norm], axis=1)


def fit_weights(digit_signals: np.ndarray, other_signals: np.ndarray, steps: int = 3000) -> dict:
    """Logistic regression of "not a digit" on standardised signals, the two classes weighted equally."""
    mean, std = digit_signals.mean(axis=0), digit_signals.std(axis=0) + 1e-9
    features = (np.concatenate([digit_signals, other_signals]) - mean) / std
    target = np.r_[np.zeros(len(digit_signals)), np.ones(len(other_signals))]
    weight = np.where(target == 1, len(digit_signals) / len(other_signals), 1.0)
    coefficients, bias = np.zeros(features.shape[1]), 0.0
    for _ in range(steps):  # plain gradient descent: four weights, a convex loss
        error = (1 / (1 + np.exp(-(features @ coefficients + bias))) - target) * weight
        coefficients -= 0.5 * (features.T @ error / len(target) + 1e-3 * coefficients)
        bias -= 0.5 * error.mean()
    return {"mean": mean.tolist(), "std": std.tolist(), "coefficients": coefficients.tolist(), "bias": float(bias)}


def scores(signal_table: np.ndarray, calibration: dict) -> np.ndarray:
    """(n,) familiarity: minus the fitted log-odds of "not a digit"; higher looks more like a digit."""
    standard = (np.atleast_2d(signal_table) - np.asarray(calibration["mean"])) / np.asarray(calibration["std"])
    return -(standard @ np.asarray(calibration["coefficients"]) + calibration["bias"])


def judge(embeddings: np.ndarray, images: np.ndarray, reference: NoveltyReference, calibration: dict) -> list[Verdict]:
    """A verdict per image, from its embedding, its pixels and a ``calibrate`` result."""
    table = signals(embeddings, images, reference)
    values = scores(table, calibration)
    return [Verdict(bool(value >= calibration["threshold"]), float(value), float(calibration["threshold"]),
                    dict(zip(SIGNALS, map(float, row)))) for value, row in zip(values, table)]


def calibrate(embed, reference: NoveltyReference, digit_images: np.ndarray, fit_drawings: dict | None = None,
              measure_drawings: dict | None = None, target: float = TARGET_FLAG_RATE) -> dict:
    """Fit the weights and the threshold, then measure both flag rates on held-out data.

    ``digit_images``: real test digits; even indices fit and set the threshold, odd ones measure.
    ``fit_drawings`` / ``measure_drawings``: {kind: (n, 28, 28)}; by default 300 per kind from seed
    1 and 200 per kind from seed 0. Returns a JSON-ready dict (the worker's ``novelty.json``).
    """
    fit_drawings = fit_drawings or non_digit_drawings(300, seed=1)
    measure_drawings = measure_drawings or non_digit_drawings(200, seed=0)
    digits = _as_images(digit_images)
    table = lambda images: signals(embed(images), images, reference)
    digit_table = table(digits)
    calibration = fit_weights(digit_table[0::2], np.concatenate([table(images) for images in fit_drawings.values()]))
    calibration["threshold"] = float(np.quantile(scores(digit_table[0::2], calibration), target))
    flagged = {kind: float(np.mean(scores(table(images), calibration) < calibration["threshold"]))
               for kind, images in measure_drawings.items()}
    counts = {kind: int(len(images)) for kind, images in measure_drawings.items()}
    calibration.update(
        signals=list(SIGNALS), target_flag_rate=target,
        digit_flag_rate=float(np.mean(scores(digit_table[1::2], calibration) < calibration["threshold"])),
        digits_measured=int(len(digits[1::2])),
        non_digit_flag_rate=sum(flagged[kind] * counts[kind] for kind in counts) / max(sum(counts.values()), 1),
        non_digit_flag_rate_by_kind=flagged, non_digits_measured=counts)
    return calibration


@lru_cache(maxsize=None)
def fonts() -> tuple[Path, ...]:
    """The TrueType fonts found for drawing letters (may be empty: Pillow's own font is the fallback)."""
    return tuple(folder / name for folder in FONT_DIRS for name in FONT_FILES if (folder / name).is_file())


def _font(rng: np.random.Generator, size: int) -> ImageFont.ImageFont:
    found = fonts()
    if found:
        return ImageFont.truetype(str(found[rng.integers(len(found))]), size)
    return ImageFont.load_default(size=size)


def draw_letter(rng: np.random.Generator) -> Image.Image:
    """A random letter that is not digit-shaped, in a random font, size and slant, white on black."""
    canvas = Image.new("L", (CANVAS, CANVAS))
    letter = LETTERS[rng.integers(len(LETTERS))]
    ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), letter, fill=255, anchor="mm",
                                font=_font(rng, int(rng.integers(150, 230))))
    return canvas.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)


def draw_strokes(rng: np.random.Generator) -> Image.Image:
    """Two to four random pen strokes of four to seven points each: a scribble."""
    canvas = Image.new("L", (CANVAS, CANVAS))
    pen = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(2, 5)):
        points = [tuple(point) for point in rng.uniform(20, CANVAS - 20, size=(rng.integers(4, 8), 2))]
        pen.line(points, fill=255, width=int(rng.integers(14, 30)), joint="curve")
    return canvas


def draw_blob(rng: np.random.Generator) -> Image.Image:
    """One to three filled ellipses or polygons: a smear of ink."""
    canvas = Image.new("L", (CANVAS, CANVAS))
    pen = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5:
            centre, radii = rng.uniform(70, CANVAS - 70, 2), rng.uniform(30, 90, 2)
            pen.ellipse([*(centre - radii), *(centre + radii)], fill=255)
        else:
            pen.polygon([tuple(point) for point in rng.uniform(20, CANVAS - 20, size=(rng.integers(3, 7), 2))], fill=255)
    return canvas


DRAWERS = {"letter": draw_letter, "strokes": draw_strokes, "blob": draw_blob}


def non_digit_drawings(per_kind: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """{kind: (per_kind, 28, 28) float32} letters, scribbles and blobs, preprocessed like drawings."""
    rng = np.random.default_rng(seed)
    drawings = {}
    for kind, draw in DRAWERS.items():
        images = []
        while len(images) < per_kind:
            try:
                images.append(to_mnist(np.asarray(draw(rng), np.float32) / 255))
            except ImageError:  # a drawing with no ink at all; draw another
                continue
        drawings[kind] = np.stack(images)
    return drawings


def describe(verdict: Verdict, digit_flag_rate: float = TARGET_FLAG_RATE) -> str:
    """The familiarity score in words: what it weighs, what the threshold means, the odds it stands for.

    The score is the calibration's log-odds of "a digit" against "a non-digit drawing", so a score
    of s stands for odds of about e**s to 1; the words say so without the formula.
    """
    odds = float(np.exp(min(abs(verdict.score), 30.0)))
    if odds >= 100:
        odds_text = f"{odds:,.0f} to 1"
    else:
        odds_text = f"{odds:.1f} to 1"
    side = "for" if verdict.score >= 0 else "against"
    return (f"Familiarity {verdict.score:.2f}: how much this resembles the digits the model trained on, "
            "weighing four things (how close the model's inner picture of it comes to its nearest training "
            "digit, how close its pixels come, whether the ink is strokes rather than blobs, and how strongly "
            f"the network responds). A score of {verdict.score:.2f} stands for odds of about {odds_text} "
            f"{side} it being a digit. The line is drawn at {verdict.threshold:.2f}, where "
            f"{1 - digit_flag_rate:.1%} of real test digits score above it.")
