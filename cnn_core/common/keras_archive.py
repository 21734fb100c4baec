"""What a .keras file will build, found before Keras builds it: the network, checked against the bounds.

A .keras file is a zip of ``config.json`` (the layers), ``metadata.json`` and ``model.weights.h5``.
Keras builds every layer the config declares, with its weights, before it reads a single weight:
a 932-byte file declaring ``Dense(150000)`` took 5 GB. And the zip's size fields are the file's own
word: one that lied about them cost 600 MB before "Bad CRC". So, without TensorFlow:

    config = network_of(path)   # the ModelConfig the file describes, or RunError saying why not

reads ``config.json`` (bounded), accepts only the networks CNN Lab builds (``worker.network``:
the seed CNN's conv/pool blocks, flatten, dense, logits; or the MLP), which ``ModelConfig`` then
bounds by its own limits and ``limits.Limits`` by the server's parameter bound, and decompresses
each member for real, counting bytes against what that network's weights can take and checking
the CRC, so that the sizes Keras meets are the true ones. A file of any other shape is refused.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from cnn_core.common.config import IMAGE_SIZE, NUM_CLASSES, ModelConfig
from cnn_core.common.limits import Limits, active_limits
from cnn_core.common.runs import MAX_MODEL_BYTES, RunError, open_regular

MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}  # what keras.Model.save writes, nothing else
MAX_CONFIG_BYTES = 2**20
CHUNK = 2**20
WEIGHT_BYTES = 4              # float32: every saved model is float32 (cnn_core.worker.training.float32_copy)
WEIGHT_COPIES = 3             # a model saved with its optimizer keeps Adam's two moments beside each weight
WEIGHTS_SLACK = 2**20         # HDF5's own structure, beyond the weights themselves


def network_of(path: Path | str, limits: Limits | None = None, data: bytes | None = None) -> ModelConfig:
    """The network a .keras file describes, after checking the file will build no more than that
    (``data``: the file's bytes, already read, so that what is checked is what will be loaded)."""
    path = Path(path)
    limits = limits or active_limits()
    with (io.BytesIO(data) if data is not None else open_regular(path, MAX_MODEL_BYTES)) as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                names = set(archive.namelist())
                if names != MEMBERS:
                    raise RunError(f"{path.name}: not a model CNN Lab saved (it holds {', '.join(sorted(names))[:120]})")
                config = parse(read_member(archive, "config.json", MAX_CONFIG_BYTES), path.name)
                if limits.max_parameters and config.parameter_count() > limits.max_parameters:
                    raise RunError(f"{path.name}: a network of {config.parameter_count():,} parameters; this "
                                   f"machine loads at most {limits.max_parameters:,} (CNN_LIMITS)")
                weights = config.parameter_count() * WEIGHT_BYTES
                real = len_member(archive, "model.weights.h5", WEIGHT_COPIES * weights + WEIGHTS_SLACK)
                if real < weights:
                    raise RunError(f"{path.name}: declares {config.parameter_count():,} parameters but holds "
                                   f"{real:,} bytes of weights")
                read_member(archive, "metadata.json", MAX_CONFIG_BYTES)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
            raise RunError(f"{path.name}: not a .keras archive ({type(error).__name__}: {str(error)[:100]})") from None
    return config


def len_member(archive: zipfile.ZipFile, name: str, limit: int) -> int:
    """The true unpacked size of one member, read through (its CRC checked), RunError past ``limit``."""
    size = 0
    with archive.open(name) as member:
        while chunk := member.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise RunError(f"{name} unpacks to more than the {limit / 2**20:.1f} MB its network needs")
    return size


def read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One member's bytes, at most ``limit`` of them (RunError past it), its CRC checked."""
    with archive.open(name) as member:
        data = member.read(limit + 1)
        if len(data) > limit:
            raise RunError(f"{name} is over {limit // 2**10} KB")
        member.read()  # to the end, where zipfile checks the CRC
    return data


def parse(text: bytes, file_name: str) -> ModelConfig:
    """The ModelConfig of a saved Sequential of CNN Lab's layers; RunError for anything else."""
    try:
        saved = json.loads(text)
        layers = saved["config"]["layers"]
        if saved.get("class_name") != "Sequential" or not isinstance(layers, list):
            raise ValueError("not a Sequential model")
        return ModelConfig(**layer_fields(layers))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        words = str(error) if isinstance(error, (ValueError, RunError)) else f"{type(error).__name__}: {error}"
        raise RunError(f"{file_name}: cannot load model (not a network CNN Lab builds: {words[:160]})") from None


def layer_fields(layers: list) -> dict:
    """ModelConfig's fields from the layer list build_model makes; ValueError at the first layer that differs."""
    kinds = [layer["class_name"] for layer in layers]
    configs = [layer["config"] for layer in layers]
    if kinds[:1] != ["InputLayer"] or list(configs[0].get("batch_shape") or []) != [None, IMAGE_SIZE, IMAGE_SIZE, 1]:
        raise ValueError("the input is not a (28, 28, 1) image")
    if kinds[-3:] != ["Flatten", "Dense", "Dense"] or configs[-1].get("units") != NUM_CLASSES:
        raise ValueError("it does not end in flatten, a dense layer and 10 logits")
    hidden = configs[-2]
    blocks = kinds[1:-3]
    if blocks != ["Conv2D", "MaxPooling2D"] * (len(blocks) // 2):
        raise ValueError(f"layers {', '.join(blocks)[:80]}")
    stddev = (hidden.get("kernel_initializer") or {}).get("config", {}).get("stddev", 0.1)
    fields = {"hidden_units": hidden.get("units"), "init_stddev": stddev}
    if not blocks:
        return {**fields, "architecture": "mlp"}
    convs, pools = configs[1:-3:2], configs[2:-3:2]
    kernel, pool = convs[0].get("kernel_size"), pools[0].get("pool_size")
    for conv, layer_pool in zip(convs, pools):
        if (conv.get("kernel_size") != kernel or kernel[0] != kernel[1] or conv.get("strides") != [1, 1]
                or conv.get("padding") != "same" or conv.get("dilation_rate") != [1, 1] or conv.get("groups") != 1):
            raise ValueError(f"{conv.get('name')!s:.20} is not a square, stride-1 'same' convolution like the others")
        if layer_pool.get("pool_size") != pool or pool[0] != pool[1] or layer_pool.get("strides") != pool:
            raise ValueError(f"{layer_pool.get('name')!s:.20} is not a square pool like the others")
    return {**fields, "architecture": "cnn", "conv_channels": tuple(conv.get("filters") for conv in convs),
            "kernel_size": kernel[0], "pool_size": pool[0]}
