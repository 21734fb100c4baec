"""The web server's heap: glibc told to give large blocks back, and trimmed when visitors leave.

Streamlit serves every visitor from a thread of its own, and glibc's malloc gives busy threads
arenas of their own and raises its mmap threshold after each large free, so the tens of megabytes
an upload or a figure takes come from those arenas and stay there once freed: five visitors'
uploads at once left 480 MB held in a test process, 3 MB with the settings below
(``tests/test_preprocess.py`` measures it). Here, once per process:

    tune_malloc()      # large blocks (>= 1 MB) always mmapped, so freeing them returns them; 2 arenas
    start_trimmer()    # malloc_trim(0) every TRIM_SECONDS: the small free pages go back too

Both do nothing where the C library is not glibc (macOS, musl).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_MMAP_THRESHOLD = -3     # mallopt parameters, from glibc's malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD = 2**20    # blocks this large bypass the arenas and go back to the system when freed
ARENAS = 2                # as the workers' MALLOC_ARENA_MAX (cnn_core.server.launcher)
TRIM_SECONDS = 30.0
_started = threading.Event()


def _glibc():
    """glibc's C library, or None elsewhere."""
    try:
        library = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return library if hasattr(library, "mallopt") and hasattr(library, "malloc_trim") else None
    except OSError:
        return None


def tune_malloc() -> bool:
    """Fix the mmap threshold and cap the arenas for this process; whether glibc took both."""
    library = _glibc()
    if library is None:
        return False
    return bool(library.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(library.mallopt(M_ARENA_MAX, ARENAS))


def trim() -> bool:
    """Give the free memory at the top of every heap back to the system now; whether any was."""
    library = _glibc()
    return bool(library.malloc_trim(0)) if library is not None else False


def start_trimmer(every: float = TRIM_SECONDS) -> None:
    """A daemon thread that trims the heap every ``every`` seconds (once per process, however often called)."""
    if _started.is_set():
        return
    _started.set()

    def loop() -> None:
        while True:
            threading.Event().wait(every)
            trim()

    threading.Thread(target=loop, name="malloc-trim", daemon=True).start()
