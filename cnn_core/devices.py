"""Which devices TensorFlow sees, and which one a run will use.

``resolve_device("auto")`` is the first GPU when TensorFlow sees one, else the CPU. A GPU asked
for on a machine without one is a ValueError that says so, not a silent fall-back.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

DEVICE_CHOICES = ("auto", "cpu", "gpu")
STRATEGY_CHOICES = ("default", "mirrored")


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
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {requested!r}")
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
