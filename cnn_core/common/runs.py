"""Saved runs: one folder per training run under ``runs/`` (or ``$CNN_RUNS_DIR``).

The run folder is the contract between the training worker, which writes it, and the web server,
which only reads it (and asks a worker to stop by leaving a ``stop`` file):

    config.json      model and training configs, plus a hash of the launching visitor's token
    status.json      queued / running / completed / stopped / failed, reason, device, pid, host
    heartbeat        the time, rewritten by a running worker every HEARTBEAT_SECONDS
    history.jsonl    the progress records, appended one JSON object per line as they come
    metrics.json     final full-test-set metrics
    predictions.npy  the model's answer for every test image (uint8)
    model.keras      the trained Keras model (downloads, the command line)
    weights.npz, model.tflite   what the server serves (see cnn_core.worker.export)
    filter_history.npz          conv1 as it formed (see cnn_core.common.snapshots)
    analysis.json    the experiment files' state: queued (the worker is done with the run), running,
                     completed or failed, written by ``python -m cnn_core.experiments.artifacts``,
                     a light LiteRT process the launcher starts once the worker has exited
    neighbours.npz, novelty.json, ablation.json, robustness.json   the experiment files
    stop             present when someone asked the run to stop

Whole-file writes are atomic (a temporary file in the same folder, fsynced, then renamed), so a
process killed mid-save never leaves a file that loads half-written; the history is append-only
and a torn last line is ignored. A new run folder is made whole in a hidden staging folder and
then renamed into place, and a deleted one is renamed away before it is removed, so a full disk
or a read-only folder never leaves half a run. Every file a server reads or serves is opened with
``open_regular``: a regular file directly inside its folder, never through a symbolic link, and
no larger than a bound. A running run whose heartbeat has gone stale reads as
"interrupted", whatever the PID in its status says. Folders that are not valid runs (broken JSON,
wrong field types, symlinks) are listed as skipped with their problem and never break a reader.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_core.common.config import HISTORY_COLUMNS, ModelConfig, TrainConfig

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE = ("queued", "running")
ANALYSIS_FILE = "analysis.json"
ANALYSIS_STATES = ("queued", "running", "completed", "failed")
SERVING_FILES = ("model.tflite", "weights.npz")  # what a model folder needs for anything to serve it
HEARTBEAT_SECONDS = 0.5
STALE_SECONDS = 10.0              # a running run silent this long reads as interrupted
MAX_MODEL_BYTES = 64 * 2**20      # a .keras file, packed and unpacked; the seed CNN's is 1.4 MB
TEMPORARY_AGE = 60.0              # seconds after which a dot-file left by a save is debris
FILE_MODE = 0o644
MAX_JSON_BYTES = 2**20            # config, status, metrics: a few hundred bytes each
MAX_HISTORY_BYTES = 4 * 2**20     # history.jsonl read at most (its tail): a 30-minute run writes ~2 MB
MAX_PREDICTIONS_BYTES = 2**20     # predictions.npy: 10,000 uint8 answers and a header
VERDICTS = ".verdicts"            # beside the runs: how runs ended whose own folder could not say


class RunError(RuntimeError):
    """A run id is invalid, or a run is missing or broken."""


def disk_problem(error: OSError) -> str:
    """A write's OSError in a visitor's words: a full disk and a read-only folder say so."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the server's disk is full"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the server's runs folder is read-only"
    return f"the server could not write its runs folder ({error.strerror or error})"


def regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a symbolic link to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path | str, limit: int):
    """Open a file of a run or model folder for reading (binary), or RunError saying why not.

    Only a regular file directly inside a folder that is not a symbolic link itself; the file is
    opened with O_NOFOLLOW (a link is refused, not followed), it must have one name only (a hard
    link to a file elsewhere is refused too) and at most ``limit`` bytes."""
    path = Path(path)
    if path.parent.is_symlink():
        raise RunError(f"{path.parent.name} is a symbolic link, which CNN Lab does not follow")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        handle = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP or path.is_symlink():
            raise RunError(f"{path.name} is a symbolic link, which CNN Lab does not follow") from None
        raise RunError(f"{path.name} is missing" if error.errno == errno.ENOENT
                       else f"{path.name}: unreadable ({error.strerror})") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise RunError(f"{path.name} is not a regular file")
        if info.st_nlink > 1:
            raise RunError(f"{path.name} has other names (a hard link), which CNN Lab does not serve")
        if info.st_size > limit:
            raise RunError(f"{path.name} is {info.st_size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit")
        return os.fdopen(handle, "rb")
    except BaseException:
        os.close(handle)
        raise


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of ``path``, under ``open_regular``'s rules."""
    with open_regular(path, limit) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # It grew after the size check.
        raise RunError(f"{Path(path).name} is over the {limit / 2**20:.0f} MB limit")
    return data


@dataclass(frozen=True)
class RunInfo:
    """What the pages show about one saved run; every field has been type-checked."""

    run_id: str
    path: Path
    status: str
    config: dict = field(repr=False)
    metrics: dict = field(repr=False)
    status_info: dict = field(repr=False)

    @property
    def has_model(self) -> bool:
        return regular(self.path / "model.keras")

    @property
    def servable(self) -> bool:
        """Whether the server can serve it (LiteRT model and weights written, as regular files)."""
        return all(regular(self.path / name) for name in SERVING_FILES)

    @property
    def train(self) -> dict:
        return self.config["train"]

    @property
    def reason(self) -> str:
        return str(self.status_info.get("reason") or "")


def default_root() -> Path:
    return Path(os.environ.get("CNN_RUNS_DIR", "runs"))


def new_run_id() -> str:
    """A sortable, unguessable id: date, time and six hex digits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe folder name, else raise RunError (no path traversal)."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise RunError(f"invalid run id {str(run_id)[:80]!r}: expected letters, digits, '-', '_' or '.'")
    return run_id


def owner_hash(token: str) -> str:
    """What a run folder keeps of its launcher's token: a hash, so the folder cannot be used to impersonate."""
    return hashlib.sha256(token.encode()).hexdigest()


def fsync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), FILE_MODE)  # mkstemp makes 0600 files; runs are ordinary files
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode())


def read_json(path: Path, limit: int = MAX_JSON_BYTES) -> dict:
    """Read a JSON object (a regular file of at most ``limit`` bytes); RunError says which file is broken."""
    try:
        value = json.loads(read_regular(path, limit))
    except RunError as error:
        raise RunError(f"{path.name}: unreadable ({str(error).removeprefix(path.name + ' ')[:120]})") from None
    except (OSError, ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep.
        raise RunError(f"{path.name}: unreadable ({(getattr(error, 'strerror', None) or str(error))[:120]})") from None
    if not isinstance(value, dict):
        raise RunError(f"{path.name}: expected a JSON object")
    return value


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_config(config: dict) -> None:
    """RunError unless config.json holds a model and a training config that parse."""
    model, train = config.get("model"), config.get("train")
    if not isinstance(model, dict) or not isinstance(train, dict):
        raise RunError("config.json: expected 'model' and 'train' objects")
    try:
        ModelConfig.from_dict(model)
        TrainConfig.from_dict(train)
    except (TypeError, ValueError, OverflowError) as error:  # OverflowError: int() of JSON's 1e999.
        raise RunError(f"config.json: {str(error)[:160]}") from None


def check_fields(name: str, values: dict, numbers: tuple[str, ...] = (), texts: tuple[str, ...] = ()) -> None:
    """RunError when a field present in ``values`` has the wrong type (absent fields are fine)."""
    for key in numbers:
        if key in values and values[key] is not None and not is_number(values[key]):
            raise RunError(f"{name}: {key} should be a number, got {str(values[key])[:40]!r}")
    for key in texts:
        if key in values and values[key] is not None and not isinstance(values[key], str):
            raise RunError(f"{name}: {key} should be text, got {str(values[key])[:40]!r}")


def check_model_archive(path: Path) -> None:
    """RunError unless ``path`` is a .keras zip whose packed and declared unpacked sizes are sane (no
    zip bomb); ``keras_archive.network_of`` then checks the true sizes and what it will build."""
    if path.is_symlink() or not path.is_file():
        raise RunError(f"{path.name}: no such model file")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise RunError(f"{path.name} is over the {MAX_MODEL_BYTES // 2**20} MB limit")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (OSError, zipfile.BadZipFile) as error:
        raise RunError(f"{path.name}: not a .keras archive ({type(error).__name__})") from None
    if unpacked > MAX_MODEL_BYTES:
        raise RunError(f"{path.name} unpacks to {unpacked // 2**20} MB, over the {MAX_MODEL_BYTES // 2**20} MB limit")


class RunStore:
    """The folder of saved runs."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._verdicts: dict[str, dict] = {}  # settle()'s records that no file could hold

    def path(self, run_id: str) -> Path:
        """The run's folder; RunError for a bad id or a symlink (never served from elsewhere)."""
        folder = self.root / check_run_id(run_id)
        if folder.is_symlink():
            raise RunError(f"run {run_id} is a symbolic link, which CNN Lab does not follow")
        return folder

    # Writing (the worker, and the server when it queues a run).
    def create(self, config: dict, run_id: str | None = None, owner: str | None = None) -> str:
        """Make a new run folder holding its config and a 'queued' status.

        The folder is filled in a hidden staging folder and renamed into place whole, so a launcher
        never sees it half-made and a full disk leaves nothing behind: an OSError then becomes a
        RunError that says what went wrong (``disk_problem``)."""
        run_id = check_run_id(run_id or new_run_id())
        folder = self.path(run_id)
        if folder.exists():
            raise FileExistsError(f"run {run_id} exists already")
        staging = self.root / f".new-{run_id}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            atomic_write_json(staging / "config.json", {**config, **({"owner": owner_hash(owner)} if owner else {})})
            atomic_write_json(staging / "status.json", self._status_record("queued", queued_at=time.time()))
            os.rename(staging, folder)  # Atomic; fails if another process took the id meanwhile.
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, FileExistsError) or folder.exists():
                raise FileExistsError(f"run {run_id} exists already") from None
            raise RunError(f"No run was queued: {disk_problem(error)}.") from None
        return run_id

    @staticmethod
    def _status_record(status: str, **details) -> dict:
        assert status in STATUSES, status
        return {"status": status, "updated": time.time(), "pid": os.getpid(), "host": socket.gethostname(), **details}

    def write_status(self, run_id: str, status: str, **details) -> None:
        atomic_write_json(self.path(run_id) / "status.json", self._status_record(status, **details))

    def settle(self, run_id: str, status: str, **details) -> None:
        """Record how a run ended, even when its folder cannot be written (a full disk, a read-only
        folder): then in ``.verdicts/`` beside the runs, else in this process's memory. ``read``
        shows the verdict for as long as status.json still says the run is active."""
        try:
            self.write_status(run_id, status, **details)
            self._verdicts.pop(run_id, None)
            return
        except OSError:
            pass
        record = self._status_record(status, **details)
        self._verdicts[run_id] = record
        try:
            (self.root / VERDICTS).mkdir(exist_ok=True)
            atomic_write_json(self.root / VERDICTS / f"{run_id}.json", record)
        except OSError:
            pass  # The memory of this server still has it.

    def _verdict(self, run_id: str) -> dict | None:
        """A verdict ``settle`` could not write into the run folder, or None."""
        if run_id in self._verdicts:
            return self._verdicts[run_id]
        path = self.root / VERDICTS / f"{run_id}.json"
        if not regular(path):
            return None
        try:
            record = read_json(path)
        except RunError:
            return None
        return record if record.get("status") in STATUSES else None

    def beat(self, run_id: str, **details) -> None:
        """The worker's sign of life (and what it is doing), read by ``read``."""
        atomic_write_json(self.path(run_id) / "heartbeat", {"time": time.time(), **details})

    def append_history(self, run_id: str, record: dict) -> None:
        """Add one progress record to history.jsonl (one line, flushed)."""
        line = json.dumps({key: record.get(key) for key in HISTORY_COLUMNS}) + "\n"
        with open(self.path(run_id) / "history.jsonl", "a") as out:
            out.write(line)

    def write_history(self, run_id: str, records: list[dict]) -> None:
        """Replace the history with ``records`` (atomic)."""
        text = "".join(json.dumps({key: r.get(key) for key in HISTORY_COLUMNS}) + "\n" for r in records)
        atomic_write_bytes(self.path(run_id) / "history.jsonl", text.encode())

    def write_metrics(self, run_id: str, metrics: dict) -> None:
        atomic_write_json(self.path(run_id) / "metrics.json", metrics)

    def write_predictions(self, run_id: str, predictions: np.ndarray) -> None:
        self.write_array(run_id, "predictions.npy", predictions.astype(np.uint8))

    def write_array(self, run_id: str, name: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        atomic_write_bytes(self.path(run_id) / name, buffer.getvalue())

    def write_file(self, run_id: str, name: str, data: bytes) -> None:
        atomic_write_bytes(self.path(run_id) / name, data)

    def request_stop(self, run_id: str) -> None:
        """Leave a ``stop`` file: a worker, wherever it runs, checks for it several times a second."""
        atomic_write_bytes(self.path(run_id) / "stop", str(time.time()).encode())

    def write_analysis(self, run_id: str, state: str, **details) -> None:
        """Where the run's experiment files stand (see ANALYSIS_FILE above)."""
        assert state in ANALYSIS_STATES, state
        record = {"status": state, "updated": time.time(), "pid": os.getpid(), "host": socket.gethostname(), **details}
        atomic_write_json(self.path(run_id) / ANALYSIS_FILE, record)

    def read_analysis(self, run_id: str) -> dict:
        """The run's analysis.json, type-checked; {} when there is none (a run from before, or not MNIST)."""
        path = self.path(run_id) / ANALYSIS_FILE
        if not path.is_file():
            return {}
        try:
            record = read_json(path)
            check_fields(ANALYSIS_FILE, record, numbers=("updated", "pid", "seconds"), texts=("reason", "host"))
        except RunError:
            return {}
        return record if record.get("status") in ANALYSIS_STATES else {}

    def stop_requested(self, run_id: str) -> bool:
        return (self.path(run_id) / "stop").exists()

    # Reading (the server).
    def read(self, run_id: str) -> RunInfo:
        """One run's config, status and metrics, type-checked; RunError if the folder is not a valid run."""
        folder = self.path(run_id)
        if not folder.is_dir():
            raise RunError(f"there is no run {run_id}")
        config = read_json(folder / "config.json")
        check_config(config)
        status_info = read_json(folder / "status.json")
        if status_info.get("status") in (*ACTIVE, "interrupted"):
            status_info = self._verdict(run_id) or status_info
        check_fields("status.json", status_info, numbers=("updated", "pid", "queued_at", "returncode"),
                     texts=("reason", "device", "host"))
        status = status_info.get("status")
        if status not in STATUSES:
            raise RunError(f"status.json: unknown status {str(status)[:40]!r}")
        if status == "running" and self.stale(folder, status_info):
            status = "interrupted"
            status_info = {**status_info, "reason": "its worker stopped answering (server restart or crash)"}
        metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
        check_fields("metrics.json", metrics, numbers=("test_accuracy", "test_loss", "seconds", "steps",
                                                        "images_per_second", "parameters", "test_images"),
                     texts=("device", "precision"))
        if status == "completed" and not regular(folder / "model.keras"):
            raise RunError(f"run {run_id} is marked completed but model.keras is missing")
        return RunInfo(run_id, folder, status, config, metrics, status_info)

    @staticmethod
    def last_beat(folder: Path, status_info: dict) -> float:
        """When the run's worker last showed a sign of life (heartbeat, else the status's time)."""
        times = [status_info.get("updated") or 0.0]
        try:
            beat = json.loads(read_regular(folder / "heartbeat", MAX_JSON_BYTES)).get("time")
            if is_number(beat):
                times.append(beat)
        except (RunError, OSError, ValueError, AttributeError, RecursionError):
            pass
        return max(times)

    def stale(self, folder: Path, status_info: dict) -> bool:
        return time.time() - self.last_beat(folder, status_info) > STALE_SECONDS

    def list_runs(self) -> tuple[list[RunInfo], list[str]]:
        """All valid runs, newest first, and one line per folder that was skipped and why."""
        runs, problems = [], []
        if not self.root.is_dir():
            return runs, problems
        for entry in sorted(self.root.iterdir(), reverse=True):
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_symlink() or not entry.is_dir():
                    raise RunError("not a run folder" + (" (a symbolic link)" if entry.is_symlink() else ""))
                runs.append(self.read(entry.name))
            except RunError as error:
                problems.append(f"{entry.name[:64]}: {error}")
        return runs, problems

    def read_history(self, run_id: str) -> list[dict]:
        """The progress records, oldest first; a torn or malformed line is skipped. At most the last
        MAX_HISTORY_BYTES are read: a history that grew past them shows its latest records."""
        return read_history_file(self.path(run_id) / "history.jsonl")

    def history_csv(self, run_id: str) -> bytes:
        """The history as CSV, for download."""
        lines = [",".join(HISTORY_COLUMNS)]
        for record in self.read_history(run_id):
            lines.append(",".join("" if record[key] is None else repr(record[key]) for key in HISTORY_COLUMNS))
        return ("\n".join(lines) + "\n").encode()

    def read_predictions(self, run_id: str, count: int | None = None) -> np.ndarray | None:
        """One class index (0-9) per test image, as the worker writes them (``count`` of them when
        given), or None for anything else: missing, linked, oversized or of another shape."""
        try:
            with open_regular(self.path(run_id) / "predictions.npy", MAX_PREDICTIONS_BYTES) as handle:
                predictions = np.load(handle, allow_pickle=False)
        except (RunError, OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None
        if (isinstance(predictions, np.ndarray) and predictions.ndim == 1
                and np.issubdtype(predictions.dtype, np.integer) and predictions.size
                and (count is None or predictions.size == count)
                and predictions.min() >= 0 and predictions.max() < 10):
            return predictions
        return None

    def is_owner(self, run_id: str, token: str | None) -> bool:
        """Whether ``token`` launched this run."""
        try:
            recorded = read_json(self.path(run_id) / "config.json").get("owner")
        except RunError:
            return False
        return bool(token) and isinstance(recorded, str) and secrets.compare_digest(recorded, owner_hash(token))

    def clean_debris(self, run_id: str) -> None:
        """Remove temporary files an interrupted save left behind (older than TEMPORARY_AGE)."""
        now = time.time()
        for entry in self.path(run_id).iterdir():
            if entry.name.startswith(".") and entry.is_file() and now - entry.stat().st_mtime > TEMPORARY_AGE:
                entry.unlink(missing_ok=True)

    def delete(self, run_id: str) -> None:
        """Delete a run folder (never through a symlink); RunError if it cannot be removed.

        The folder is first renamed to a hidden name in one step, so a removal that fails half-way
        (a read-only file, say) leaves no half a run in the list; what is left of it goes next time."""
        folder = self.path(run_id)
        if not folder.is_dir():
            raise RunError(f"there is no run {run_id}")
        trash = self.root / f".deleted-{run_id}-{secrets.token_hex(3)}"
        try:
            os.rename(folder, trash)
        except OSError as error:
            raise RunError(f"run {run_id} could not be deleted: {disk_problem(error)}") from None
        shutil.rmtree(trash, ignore_errors=True)
        self._verdicts.pop(run_id, None)
        (self.root / VERDICTS / f"{run_id}.json").unlink(missing_ok=True)
        self.empty_trash()

    def empty_trash(self) -> None:
        """Remove what earlier deletes and creates could not (hidden folders of runs gone)."""
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith((".deleted-", ".new-")) and entry.is_dir() and not entry.is_symlink():
                if entry.name.startswith(".new-") and time.time() - entry.stat().st_mtime < TEMPORARY_AGE:
                    continue  # Maybe a create in progress in another server.
                shutil.rmtree(entry, ignore_errors=True)


def read_history_file(path: Path, limit: int = MAX_HISTORY_BYTES) -> list[dict]:
    """The progress records of a history.jsonl, oldest first: every well-formed line of its last
    ``limit`` bytes (a partial first line of that tail, and torn or malformed lines, are skipped)."""
    try:
        with open_regular(path, 2**62) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                handle.seek(size - limit)
                handle.readline()  # The rest of a line cut by the seek.
            text = handle.read(limit)
    except (RunError, OSError):
        return []
    records = []
    for line in text.decode(errors="replace").splitlines():
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and is_number(value.get("step")):
            records.append({key: (value.get(key) if is_number(value.get(key)) else None) for key in HISTORY_COLUMNS})
    return records

