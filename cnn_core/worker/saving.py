"""Keras model files: saved atomically into a run folder, loaded with safe mode on after checking what they build.

    save_model(store, run_id, model)       # runs/<id>/model.keras, never half-written
    load_model_file("runs/<id>/model.keras")  # RunError with the reason when it cannot be loaded
"""
from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

from cnn_core.common.keras_archive import network_of
from cnn_core.common.runs import (FILE_MODE, MAX_MODEL_BYTES, RunError, RunStore, check_model_archive, fsync_folder,
                                  read_regular)


def save_model(store: RunStore, run_id: str, model) -> None:
    """Save a Keras model atomically and durably (Keras insists the name ends in .keras)."""
    folder = store.path(run_id)
    temporary = folder / f".model-{secrets.token_hex(4)}.keras"
    try:
        model.save(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, folder / "model.keras")
        fsync_folder(folder)
    finally:
        temporary.unlink(missing_ok=True)


def load_model_file(path: Path | str):
    """Load a .keras file with safe mode on, after checking what it will build; RunError with the reason
    if it cannot be loaded. The file is read once (a regular file, not a link) and Keras loads those
    bytes, the ones ``keras_archive.network_of`` checked against the bounds (``common.limits``)."""
    path = Path(path)
    check_model_archive(path)
    data = read_regular(path, MAX_MODEL_BYTES)
    network_of(path, data=data)
    from keras.src.saving import saving_lib  # loads a file object; keras.models.load_model wants a path

    try:
        return saving_lib.load_model(io.BytesIO(data), compile=False, safe_mode=True)
    except Exception as error:  # Keras raises ValueError, TypeError, OSError... for bad files.
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RunError(f"{path.name}: cannot load model ({first_line[:300]})") from None
