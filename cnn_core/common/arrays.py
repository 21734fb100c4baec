"""NumPy archives from run and model folders, read only once their shapes and sizes are known to be sane.

A model folder may come from anyone who can write the runs folder: a 1 MB ``neighbours.npz`` can
hold a (10000, 30000) array of zeros that unpacks to 600 MB. So an archive is read the careful
way: the file through ``runs.open_regular`` (a regular file of the folder, bounded in size), then
each array's ``.npy`` header (its dtype and shape) checked against what the model says it must be
before a byte of its data is read. The zip's own size fields are never trusted: ``zipfile`` stops
a member at the size it declares and checks its CRC, so a member that lies fails, and the memory
it can cost is the declared shape's, which was checked first.

    arrays = read_npz(path, {"embeddings": Spec("f", (None, 100)), "labels": Spec("u", (None,))},
                      limit=64 * 2**20)
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn_core.common.runs import RunError, open_regular

HEADER_BYTES = 4096  # the most a .npy header may take (NumPy's own default limit is 10,000)


class ModelFileError(ValueError):
    """A per-model file that does not hold what its model says it must; the message says what is wrong."""


@dataclass(frozen=True)
class Spec:
    """What one array must be: its dtype kinds ("f" float, "i" signed, "u" unsigned, "iu" either) and
    its shape, each length exact (an int), in a range, or anything up to ``longest`` (None)."""

    kinds: str
    shape: tuple[int | range | None, ...]
    longest: int = 100_000
    itemsize: int = 8               # the widest element accepted, in bytes

    def fits(self, want, got: int) -> bool:
        if want is None:
            return 0 <= got <= self.longest
        return got in want if isinstance(want, range) else got == want

    def check(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        if dtype.kind not in self.kinds or dtype.hasobject or dtype.itemsize > self.itemsize:
            raise ModelFileError(f"{name} should hold {kind_words(self.kinds)}, got {dtype}")
        if len(shape) != len(self.shape) or not all(self.fits(want, got) for want, got in zip(self.shape, shape)):
            words = ["n" if want is None else f"{want.start}-{want.stop - 1}" if isinstance(want, range) else str(want)
                     for want in self.shape]
            wanted = "(" + ", ".join(words) + ("," if len(words) == 1 else "") + ")"
            raise ModelFileError(f"{name} should have shape {wanted}, got {tuple(shape)}")


def kind_words(kinds: str) -> str:
    words = {"f": "floats", "i": "integers", "u": "unsigned integers"}
    return " or ".join(words[kind] for kind in kinds)


def read_header(member) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape a .npy stream declares, read from its header alone."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member, max_header_size=HEADER_BYTES)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member, max_header_size=HEADER_BYTES)
    else:
        raise ModelFileError(f"unsupported .npy version {version}")
    return dtype, tuple(shape)


def read_npz(path: Path, specs: dict[str, Spec], limit: int) -> dict[str, np.ndarray]:
    """Every array named in ``specs`` from the .npz at ``path`` (a regular file of at most ``limit``
    bytes), each checked against its Spec from its header first. RunError for the file itself (a
    link, too big, missing), ModelFileError for what it holds."""
    arrays = {}
    with open_regular(path, limit) as handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                names = set(archive.namelist())
                missing = sorted(name for name in specs if f"{name}.npy" not in names)
                if missing:
                    raise ModelFileError(f"{path.name} lacks {', '.join(missing)}")
                for name, spec in specs.items():
                    with archive.open(f"{name}.npy") as member:
                        dtype, shape = read_header(member)
                    spec.check(f"{path.name}'s {name}", dtype, shape)
                    needed = math.prod(shape) * dtype.itemsize
                    info = archive.getinfo(f"{name}.npy")
                    if info.file_size > needed + HEADER_BYTES:
                        raise ModelFileError(f"{path.name}'s {name} declares {info.file_size:,} bytes for "
                                             f"{needed:,} of data")
                    with archive.open(f"{name}.npy") as member:
                        arrays[name] = np.lib.format.read_array(member, allow_pickle=False,
                                                                max_header_size=HEADER_BYTES)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError) as error:
            if isinstance(error, ModelFileError):
                raise
            raise ModelFileError(f"{path.name} is not a readable archive ({type(error).__name__}: "
                                 f"{str(error)[:120]})") from None
    return arrays


def read_npz_or_none(path: Path, specs: dict[str, Spec], limit: int) -> dict[str, np.ndarray] | None:
    """``read_npz``, with None for a missing file; other problems still raise."""
    if not Path(path).exists() and not Path(path).is_symlink():
        return None
    try:
        return read_npz(path, specs, limit)
    except RunError as error:
        raise ModelFileError(str(error)) from None
