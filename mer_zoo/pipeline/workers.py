"""What a local worker process starts from: its thread limits, and a fork server with its code imported.

Dask's local cluster spawns each worker as a fresh interpreter that imports distributed and
the extraction code (about 0.7 s of CPU each, two of them on two cores), and only once the
client has itself imported distributed and started its scheduler. Started from a fork
server instead, which imports all of that once and early, while the client is still
reading the corpus, a worker is up a few milliseconds after the cluster asks for it.

A forked worker keeps the server's environment, not the one Dask sets before it spawns a
process, so the server is started with the workers' thread limits in its environment (OpenMP
and OpenBLAS read them once, at import). The server is stopped with its cluster (a server
left to exit with this process kept the command's output pipes open for its own 0.3-s
teardown), so the next cluster in the same process starts a fresh one, with the environment
and code of that moment. Where there is no fork server (Windows), workers are spawned.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = [
    "THREAD_VARIABLES",
    "process_alive",
    "remove_stale_openmp_files",
    "start_fork_server",
    "stop_fork_server",
    "worker_environment",
]

# One thread per library per worker: with two workers on two cores, a second BLAS or
# OpenMP thread per worker only oversubscribes (the original's pool ran slower than serial).
THREAD_VARIABLES = dict.fromkeys(
    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"), "1"
)
# Dask's default MALLOC_TRIM_THRESHOLD_ turns every freed STFT temporary back into fresh
# pages to fault in: extraction ran 20% slower with it. Memory stays bounded without it (one
# song at a time per worker).
_UNSET = ("MALLOC_TRIM_THRESHOLD_",)
# What every worker imports before its first song (a module that is not installed is skipped).
_PRELOAD = (
    "distributed",
    "mer_zoo.pipeline.extract",
    "mer_zoo.pipeline.dask_worker",
    "mer_zoo.pipeline.handoff",
    "mer_zoo.features.mel",
    "scipy.sparse",
    "soundfile",
    "mkl_fft",
)
# Dask spawns workers with a fixed hash seed, so that they hash alike; forked ones share the server's.
_HASH_SEED = {"PYTHONHASHSEED": "6640"}
# Intel's OpenMP (under MKL's FFT) registers each process in /dev/shm and removes the file in its
# exit handlers, which a worker ended by its nanny never runs: two files a run were left behind.
_OPENMP_FILE = re.compile(r"__KMP_REGISTERED_LIB_(\d+)_(\d+)$")


def worker_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with the workers' thread limits and without Dask's malloc trim threshold."""
    return {name: value for name, value in {**base, **THREAD_VARIABLES}.items() if name not in _UNSET}


def start_fork_server() -> bool:
    """Start the fork server local workers come from, unless one runs; False where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(_PRELOAD))
    environ = worker_environment(_HASH_SEED)
    saved = {name: os.environ.get(name) for name in (*environ, *_UNSET)}
    os.environ.update(environ)
    for name in _UNSET:
        os.environ.pop(name, None)
    try:
        with _interrupts_ignored():
            forkserver.ensure_running()
        atexit.unregister(stop_fork_server)  # once: also on paths that never reach a cluster's close()
        atexit.register(stop_fork_server)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return True


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Start the server with Ctrl-C (SIGINT) ignored, so that it and the workers it forks inherit that.

    Ctrl-C reaches every process of the terminal's group. Workers that died of it mid-start
    (their tracebacks on the terminal) left the cluster's half-made semaphores in /dev/shm;
    ignoring it, they stay until this process, which does get the interrupt, closes the
    cluster, which stops them cleanly.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_fork_server() -> None:
    """Stop the fork server at once, if one runs (its workers are gone: it has nothing to finish)."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None or not hasattr(server, "_stop"):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # no interpreter teardown
    server._stop()  # closes our end, reaps it and forgets it (as CPython's own tests stop it)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def remove_stale_openmp_files(pids: Iterable[int] = (), base: Path = Path("/dev/shm"), wait_s: float = 2.0) -> int:
    """Remove the OpenMP registration files of this user's processes that have ended; returns how many.

    ``pids`` are processes just told to stop (a cluster's workers): waited for, up to ``wait_s``.
    Files of live processes, and other users' files, are left alone.
    """
    deadline = time.monotonic() + wait_s
    for pid in pids:
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    removed = 0
    for path in base.glob("__KMP_REGISTERED_LIB_*"):
        match = _OPENMP_FILE.match(path.name)
        if match and int(match[2]) == os.getuid() and not process_alive(int(match[1])):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed
