"""The bounds a server puts on each run, in one place: parameters, worker memory, run length.

A public CNN Lab (one server on a 1-3 GB instance, anyone with the link) must refuse a run that
would take the instance down or hold the queue for days, and say why before it starts. The
bounds come from one setting, ``$CNN_LIMITS``: ``public`` (the default) or ``workstation`` (no
bounds beyond what the configs themselves accept), and each can be set on its own:

    CNN_MAX_PARAMETERS    trainable parameters per run           public: 5,000,000
    CNN_WORKER_MEMORY_MB  a worker's memory, enforced by the OS  public: 1,500 MB
    CNN_MAX_RUN_MINUTES   a run's estimated (and enforced) time  public: 30 min

"none" (or 0) lifts one bound. ``estimate(model, train)`` computes, from the configs alone and
without TensorFlow, what a run will need; ``Limits.check`` turns every bound it passes into a
message for the Train form's field. The estimates are calibrated on this project's measurements
(``benchmarks/worker_memory.py`` for memory, ``benchmarks/fast_vs_seed.py`` for pace); the
worker's memory bound is also enforced by the kernel (``apply_memory_limit``), so an estimate
that is wrong ends the run as "failed: out of memory", never the instance.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from cnn_core.common.config import IMAGE_SIZE, NUM_CLASSES, ModelConfig, TrainConfig

MB = 2**20
# The estimate is of a worker's peak VmData (its heap and private mappings), which is what the
# kernel's bound (RLIMIT_DATA) counts: at large batches it runs up to 300 MB above the resident
# memory, TensorFlow's buffers being mapped before they are touched. Fitted to
# benchmarks/worker_memory.py's peaks (benchmarks/RESULTS.md): the seed run, analysis included,
# 1,018 MB; the seed network, a wide CNN and a compute-heavy CNN at several batch sizes, 5.7 to 8.9
# bytes per activation (the largest is taken).
BASE_MB = 820.0                  # TensorFlow, the data as tensors, tf.data, LiteRT and the run's analysis
BYTES_PER_PARAMETER = 16         # the weight, its gradient and Adam's two moments, float32
BYTES_PER_ACTIVATION = 9.0       # float32, its gradient and the backward pass's own buffers
SCORE_BATCH = 250                # images per forward pass when the worker scores the test set
TEST_IMAGES = 10_000             # the final scoring runs over the whole test set
# The pace of a 2-core CPU server in float32, as a fixed cost per step plus the arithmetic: fitted
# to the seed CNN's measured pace at a batch of 50 (benchmarks/RESULTS.md) and at 4,096 (issue 19),
# a training step costing about three forward passes of 8.3 MFLOP per image.
FLOPS = 100e9
STEP_SECONDS = 0.012
START_SECONDS = 25.0             # a worker's start: importing TensorFlow, the data, the first graph
TRAIN_COST = 3.0                 # a training step costs about three forward passes per image
START_GRACE_SECONDS = 120.0      # on top of the run length before the launcher stops a run
# After an MNIST run, the experiment files (cnn_core.experiments.artifacts) cost forward passes
# through LiteRT on one thread: embedding 10,000 training digits, calibrating on the 10,000 test
# digits and ~1,500 drawings, 2,000 test digits per conv filter switched off, 14 shifted and
# turned copies of 2,000 test digits. Their pace is fitted to the seed run's analysis, one to two
# and a half minutes on a 2-core CPU (issue 20).
ANALYSIS_IMAGES = 10_000 + 11_500 + 14 * 2_000
ABLATION_IMAGES = 2_000
ANALYSIS_FLOPS = 15e9
# How TensorFlow, oneDNN, glibc and Python say an allocation failed (under RLIMIT_DATA, for one).
OUT_OF_MEMORY = ("ResourceExhaustedError", "MemoryError", "OOM when allocating", "bad_alloc",
                 "Cannot allocate memory", "could not create a memory object", "failed to allocate")


@dataclass(frozen=True)
class Estimate:
    """What a run will need, computed from its configs."""

    parameters: int
    memory_mb: float        # a worker's peak resident memory
    seconds: float          # wall time from the worker's start to its saved model

    def describe(self) -> str:
        return (f"{self.parameters:,} parameters, about {memory_text(self.memory_mb)} of memory and "
                f"{duration_text(self.seconds)} (its experiment files included)")


@dataclass(frozen=True)
class Limits:
    """One server's bounds per run; None lifts a bound."""

    name: str = "public"
    max_parameters: int | None = 5_000_000
    worker_memory_mb: int | None = 1500
    max_run_minutes: float | None = 30.0

    @property
    def max_run_seconds(self) -> float | None:
        return None if self.max_run_minutes is None else self.max_run_minutes * 60

    def describe(self) -> str:
        """'at most 5,000,000 parameters, 1.5 GB of memory and 30 min per run (CNN_LIMITS=public)'."""
        parts = [f"{self.max_parameters:,} parameters" if self.max_parameters else None,
                 f"{memory_text(self.worker_memory_mb)} of memory" if self.worker_memory_mb else None,
                 duration_text(self.max_run_seconds) if self.max_run_seconds else None]
        parts = [part for part in parts if part]
        if not parts:
            return f"no bounds per run beyond the form's own (CNN_LIMITS={self.name})"
        listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        return f"at most {listed} per run (CNN_LIMITS={self.name})"

    def check(self, model: ModelConfig, train: TrainConfig) -> dict[str, str]:
        """{form field: message} for every bound the run would pass; {} when it fits."""
        found, problems = estimate(model, train), {}
        if self.max_parameters and found.parameters > self.max_parameters:
            field = "hidden_units" if dense_share(model) > 0.5 else "conv_channels"
            problems[field] = (f"this network has {found.parameters:,} parameters; this server trains at most "
                               f"{self.max_parameters:,} per run. Use fewer channels or dense units, or more pooling.")
        if self.worker_memory_mb and found.memory_mb > self.worker_memory_mb:
            batch = largest_batch(model, train, self.worker_memory_mb)
            advice = (f"a batch of at most {batch:,} fits" if batch else
                      "this network fits at no batch size: use a smaller one")
            problems.setdefault("batch_size", f"this run needs about {memory_text(found.memory_mb)} of memory; this "
                                              f"server allows {memory_text(self.worker_memory_mb)} per run: {advice}.")
        if self.max_run_seconds and found.seconds > self.max_run_seconds:
            steps = largest_iterations(model, train, self.max_run_seconds)
            field = ("conv_channels" if analysis_share(model, train) >= 0.5 else
                     "eval_every" if test_share(model, train) >= 0.5 else "iterations")
            if field == "conv_channels":
                advice = (f"{duration_text(analysis_seconds(model, train))} of it the experiment files after "
                          "training, which grow with the filters and the network's size: use a smaller network")
            elif field == "eval_every":
                advice = "test less often, on fewer test images"
            else:
                advice = f"at most {steps:,} iterations fit" if steps else "use a smaller network or batch"
            problems[field] = (f"this run would take about {duration_text(found.seconds)} on this server, which "
                               f"allows {duration_text(self.max_run_seconds)} per run: {advice}.")
        return problems


PROFILES = {"public": Limits(),
            "workstation": Limits("workstation", max_parameters=None, worker_memory_mb=None, max_run_minutes=None)}
OVERRIDES = {"max_parameters": ("CNN_MAX_PARAMETERS", int), "worker_memory_mb": ("CNN_WORKER_MEMORY_MB", int),
             "max_run_minutes": ("CNN_MAX_RUN_MINUTES", float)}


def active_limits(environ=None) -> Limits:
    """The limits from $CNN_LIMITS and the single-bound overrides; ValueError for a value that is neither."""
    environ = os.environ if environ is None else environ
    name = environ.get("CNN_LIMITS", "public").strip().lower() or "public"
    if name not in PROFILES:
        raise ValueError(f"CNN_LIMITS must be one of {', '.join(PROFILES)}, got {name!r}")
    limits = PROFILES[name]
    for field, (variable, kind) in OVERRIDES.items():
        text = environ.get(variable, "").strip().lower()
        if not text:
            continue
        try:
            value = None if text in ("none", "0") else kind(text)
        except ValueError:
            raise ValueError(f"{variable} must be a positive number or 'none', got {text!r}") from None
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{variable} must be a positive number or 'none', got {text!r}")
        limits = replace(limits, **{field: value})
    return limits


def activations_per_image(model: ModelConfig) -> int:
    """Floats a training step keeps per image for the backward pass: every layer's output."""
    if model.architecture == "mlp":
        return IMAGE_SIZE ** 2 + 2 * model.hidden_units + NUM_CLASSES
    side, count = IMAGE_SIZE, IMAGE_SIZE ** 2
    for channels in model.conv_channels:
        count += 2 * side * side * channels  # the convolution and its ReLU
        side //= model.pool_size
        count += side * side * channels      # the pooled maps
    return count + side * side * model.conv_channels[-1] + 2 * model.hidden_units + NUM_CLASSES


def forward_flops(model: ModelConfig) -> float:
    """Multiply-adds (x2) of one image's forward pass."""
    if model.architecture == "mlp":
        return 2.0 * (IMAGE_SIZE ** 2 * model.hidden_units + model.hidden_units * NUM_CLASSES)
    flops, side, inputs = 0.0, IMAGE_SIZE, 1
    for channels in model.conv_channels:
        flops += 2.0 * model.kernel_size ** 2 * inputs * channels * side * side
        side, inputs = side // model.pool_size, channels
    flat = side * side * inputs
    return flops + 2.0 * (flat * model.hidden_units + model.hidden_units * NUM_CLASSES)


def dense_share(model: ModelConfig) -> float:
    """The share of the parameters in the dense layers (which field a parameter message is about)."""
    total = model.parameter_count()
    if model.architecture == "mlp":
        return 1.0
    flat = model.feature_size() ** 2 * model.conv_channels[-1]
    return ((flat + 1) * model.hidden_units + (model.hidden_units + 1) * NUM_CLASSES) / total


def memory_mb(model: ModelConfig, batch: int) -> float:
    """A worker's estimated peak for this network at this batch size."""
    per_image = activations_per_image(model) * BYTES_PER_ACTIVATION
    return BASE_MB + (model.parameter_count() * BYTES_PER_PARAMETER + max(batch, SCORE_BATCH) * per_image) / MB


def test_images(train: TrainConfig) -> int:
    """Images the run scores without training on them: its test measurements and the final scoring."""
    measurements = train.iterations // train.eval_every + 1
    return measurements * train.eval_images + TEST_IMAGES


def seconds(model: ModelConfig, train: TrainConfig) -> float:
    """Wall time from the worker's start to its saved model and experiment files, at a 2-core server's
    float32 pace."""
    flops = forward_flops(model)
    training = train.iterations * (train.batch_size * TRAIN_COST * flops / FLOPS + STEP_SECONDS)
    return START_SECONDS + training + test_images(train) * flops / FLOPS + analysis_seconds(model, train)


def analysis_seconds(model: ModelConfig, train: TrainConfig) -> float:
    """The experiment files' time after the run (MNIST only: the others have none)."""
    if train.dataset != "mnist":
        return 0.0
    filters = sum(model.conv_channels) if model.architecture == "cnn" else 0
    return (ANALYSIS_IMAGES + ABLATION_IMAGES * filters) * forward_flops(model) / ANALYSIS_FLOPS


def test_share(model: ModelConfig, train: TrainConfig) -> float:
    """The share of the run's time spent scoring test images (which field a time message is about)."""
    return test_images(train) * forward_flops(model) / FLOPS / max(seconds(model, train) - START_SECONDS, 1e-9)


def analysis_share(model: ModelConfig, train: TrainConfig) -> float:
    """The share of the run's time spent on its experiment files afterwards."""
    return analysis_seconds(model, train) / max(seconds(model, train) - START_SECONDS, 1e-9)


def estimate(model: ModelConfig, train: TrainConfig) -> Estimate:
    return Estimate(model.parameter_count(), memory_mb(model, train.batch_size), seconds(model, train))


def largest_batch(model: ModelConfig, train: TrainConfig, limit_mb: float) -> int:
    """The largest batch size whose estimate fits ``limit_mb`` (0 when none does)."""
    per_image = activations_per_image(model) * BYTES_PER_ACTIVATION / MB
    room = limit_mb - BASE_MB - model.parameter_count() * BYTES_PER_PARAMETER / MB
    if room < SCORE_BATCH * per_image:
        return 0
    return int(room / per_image)


def largest_iterations(model: ModelConfig, train: TrainConfig, limit_seconds: float) -> int:
    """The most iterations at this batch size whose estimate fits ``limit_seconds``."""
    low, high = 0, train.iterations
    while low < high:  # seconds() grows with the iterations, so a bisection finds the edge
        middle = (low + high + 1) // 2
        if seconds(model, replace(train, iterations=middle, eval_every=min(train.eval_every, middle))) <= limit_seconds:
            low = middle
        else:
            high = middle - 1
    return low


def memory_text(megabytes: float) -> str:
    """'640 MB' or '1.5 GB'."""
    return f"{megabytes:,.0f} MB" if megabytes < 1000 else f"{megabytes / 1000:,.1f} GB"


def duration_text(seconds_: float) -> str:
    """'40 s', '12 min', '3.5 h' or '8.2 days'."""
    if seconds_ < 90:
        return f"{seconds_:.0f} s"
    if seconds_ < 90 * 60:
        return f"{seconds_ / 60:.0f} min"
    if seconds_ < 48 * 3600:
        return f"{seconds_ / 3600:.1f} h"
    return f"{seconds_ / 86400:.1f} days"


def out_of_memory(text: str) -> bool:
    """Whether an error (its type name and message, or a worker's log) says memory ran out."""
    return any(word in text for word in OUT_OF_MEMORY)


def out_of_memory_reason(limit_mb: int | None) -> str:
    """The reason a run that ran out of memory reads in its status."""
    bound = f"this server's limit of {memory_text(limit_mb)} per run" if limit_mb else "the memory there is"
    return f"out of memory: the run needed more than {bound}; use a smaller batch or network"


def memory_bound_mb() -> int | None:
    """This process's bound from ``apply_memory_limit``, in MB (None when it has none)."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_DATA)[0]
    return None if soft == resource.RLIM_INFINITY else round(soft / MB)


def apply_memory_limit(limit_mb: int | None) -> None:
    """Have the kernel refuse this process's allocations beyond ``limit_mb`` (RLIMIT_DATA: the heap and
    private mappings, not the shared libraries), so a run over its bound fails alone. No-op off Linux."""
    if not limit_mb:
        return
    try:
        import resource
    except ImportError:
        return
    limit = int(limit_mb * MB)
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
