"""Which devices TensorFlow sees, which one a run will use, and what arithmetic it is fast at.

``resolve_device("auto")`` is the first GPU when TensorFlow sees one, else the CPU. A GPU asked
for on a machine without one is a ValueError that says so, not a silent fall-back.
``fast_precision(device)`` says which reduced precision the hardware runs natively: bfloat16 on
CPUs with AMX or AVX512_BF16 (from /proc/cpuinfo) and on GPUs of compute capability 8.0 or
later, float16 on tensor-core GPUs before that (7.x), none otherwise; ``resolve_precision`` turns
that into the Keras policy a run with ``precision="auto"`` uses.

    python -m cnn_core.worker.devices   # one JSON object: what the web server's device probe asks
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from cnn_core.common.vocabulary import choices
# CPU flags (Linux names) that mean native bfloat16 matrix arithmetic: Intel AMX and AVX512_BF16,
# and the Arm "bf16" feature (Graviton 3, Neoverse V1 and later).
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")


@dataclass(frozen=True)
class DeviceInfo:
    """One device as TensorFlow names it, e.g. ('/CPU:0', 'CPU', 'x86_64, 2 cores')."""

    name: str
    kind: str
    description: str


@functools.lru_cache(maxsize=1)
def list_devices() -> tuple[DeviceInfo, ...]:
    """The logical devices TensorFlow sees (cached: TensorFlow's view does not change in a process)."""
    import os
    import platform

    import tensorflow as tf

    found = []
    for device in tf.config.list_logical_devices():
        description = f"{platform.machine()}, {os.cpu_count()} cores" if device.device_type == "CPU" else ""
        if device.device_type == "GPU":
            physical = tf.config.list_physical_devices("GPU")
            index = int(device.name.rsplit(":", 1)[-1])
            if index < len(physical):
                details = tf.config.experimental.get_device_details(physical[index])
                description = details.get("device_name", "GPU")
        found.append(DeviceInfo(device.name.replace("/device:", "/"), device.device_type, description))
    return tuple(found)


def gpu_names() -> list[str]:
    """TensorFlow names of the visible GPUs ('/GPU:0', ...)."""
    return [d.name for d in list_devices() if d.kind == "GPU"]


def resolve_device(requested: str = "auto") -> str:
    """The TensorFlow device string a run will use: '/GPU:0' or '/CPU:0'."""
    if requested not in choices("device"):
        raise ValueError(f"device must be one of {', '.join(choices('device'))}, got {requested!r}")
    gpus = gpu_names()
    if requested == "gpu" and not gpus:
        raise ValueError("device 'gpu' was asked for but TensorFlow sees no GPU; use 'auto' or 'cpu'")
    if requested in ("auto", "gpu") and gpus:
        return gpus[0]
    return "/CPU:0"


def describe_hardware() -> str:
    """One plain sentence about what training will run on."""
    gpus = [d for d in list_devices() if d.kind == "GPU"]
    if not gpus:
        return "No GPU visible to TensorFlow: training runs on the CPU."
    names = ", ".join(f"{d.name} ({d.description})" for d in gpus)
    return f"{len(gpus)} GPU(s) visible: {names}. Training uses {gpus[0].name} unless told otherwise."


@functools.lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (x86 "flags", Arm "Features"); empty elsewhere."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def gpu_compute_capability(name: str) -> tuple[int, int] | None:
    """(major, minor) of a visible GPU such as '/GPU:0', as TensorFlow reports it; None if unknown."""
    import tensorflow as tf

    physical = tf.config.list_physical_devices("GPU")
    index = int(name.rsplit(":", 1)[-1])
    if index >= len(physical):
        return None
    capability = tf.config.experimental.get_device_details(physical[index]).get("compute_capability")
    return tuple(capability) if capability else None


def fast_precision(device: str) -> str:
    """The reduced precision ``device`` computes natively: 'bfloat16', 'float16' or '' (none)."""
    if not device.startswith("/"):  # A strategy's name: its replicas are the GPUs if any, else CPUs.
        device = resolve_device("auto")
    if "GPU" in device.upper():
        capability = gpu_compute_capability(device) or (0, 0)
        return "bfloat16" if capability >= (8, 0) else "float16" if capability >= (7, 0) else ""
    return "bfloat16" if cpu_flags() & set(BFLOAT16_CPU_FLAGS) else ""


def hardware_line() -> str:
    """One line for benchmark output: CPU model, cores, bfloat16 support, GPUs, TensorFlow version."""
    import os

    import tensorflow as tf

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as lines:
            model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), model)
    except OSError:
        pass
    bf16 = "bf16: " + ("yes" if fast_precision("/CPU:0") else "no AMX/AVX512_BF16")
    gpus = [f"{d.name} {d.description} (cc {gpu_compute_capability(d.name)})"
            for d in list_devices() if d.kind == "GPU"]
    return (f"{model}, {os.cpu_count()} cores, {bf16}; GPUs: {', '.join(gpus) or 'none'}; "
            f"TensorFlow {tf.__version__}")


def resolve_precision(requested: str, device: str = "/CPU:0") -> str:
    """The Keras dtype policy a run on ``device`` uses: ``requested``, or for "auto" what the hardware runs fast."""
    if requested not in choices("precision"):
        raise ValueError(f"precision must be one of {', '.join(choices('precision'))}, got {requested!r}")
    if requested != "auto":
        return requested
    native = fast_precision(device)
    return f"mixed_{native}" if native else "float32"


def report() -> dict:
    """What ``cnn_core.server.devices.probe`` asks for: devices, a sentence, what "auto" precision gives."""
    devices = list_devices()
    gpus = [d.name for d in devices if d.kind == "GPU"]
    return {"devices": [[d.name, d.kind, d.description] for d in devices], "summary": describe_hardware(),
            "auto_precision": resolve_precision("auto", gpus[0] if gpus else "/CPU:0"), "gpus": gpus}


if __name__ == "__main__":
    print(json.dumps(report()))
