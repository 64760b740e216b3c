"""Task results from workers on this machine through shared memory instead of Dask's sockets.

The client names a file in its folder in ``/dev/shm`` for each task. The worker pickles the
result of each item of its task (a song) with protocol 5 as soon as it has it, writes the
out-of-band buffers (the arrays' bytes) into that file and, once the task is done, the small
pickles and their buffers' places after them. The client maps the file, unlinks it and
rebuilds the results with their arrays viewing the mapped pages: each byte is copied once,
into shared memory, instead of through two TCP stacks into a fresh buffer of the client; a
worker holds one song's arrays at a time; and a finished task's result is never fetched
from its worker (a round trip that cost a third of Dask's CPU per task). A worker that
cannot see the folder (it runs on another machine) or cannot write to it (``/dev/shm``
full) returns its result as before, fetched as any Dask result, so the hand-off needs no
configuration and changes no result.
"""

from __future__ import annotations

import errno
import mmap
import os
import pickle
import shutil
import struct
import uuid
from asyncio import CancelledError
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mer_zoo.pipeline.workers import process_alive

__all__ = [
    "FOLDER_PREFIX",
    "FOLDER_VARIABLE",
    "SHARED_MEMORY",
    "Stashed",
    "TaskResults",
    "handoff_folder",
    "run_stashed",
    "unstash",
]

SHARED_MEMORY = "/dev/shm"
FOLDER_VARIABLE = "MER_ZOO_SHM_DIR"
FOLDER_PREFIX = "mer-zoo-handoff-"  # then the client's pid, "-" and a random name
_ALIGN = 64  # every array starts on a cache line
_INDEX_SIZE = struct.Struct("<Q")  # the file ends with its index's pickle, then that pickle's length
_IN_FLIGHT_PER_THREAD = 2  # tasks sent ahead per worker thread

T = TypeVar("T")
J = TypeVar("J")


@dataclass(frozen=True)
class Stashed:
    """What a worker returns when its task's results wait in ``path``."""

    path: str


@contextmanager
def handoff_folder(base: Path | None = None) -> Iterator[str | None]:
    """A fresh folder under ``base`` for one run's results, removed afterwards; None where ``base`` is unusable.

    ``base`` defaults to ``$MER_ZOO_SHM_DIR``, else ``/dev/shm``; an empty ``MER_ZOO_SHM_DIR``
    turns the hand-off off. Folders left by runs whose process is gone (killed before
    cleaning up) are removed first.
    """
    if base is None:
        named = os.environ.get(FOLDER_VARIABLE, SHARED_MEMORY)
        base = Path(named) if named else None
    if base is None or not (base.is_dir() and os.access(base, os.W_OK | os.X_OK)):
        yield None
        return
    _remove_orphans(base)
    folder = base / f"{FOLDER_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        folder.mkdir(mode=0o700)
    except OSError:
        yield None
        return
    try:
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class TaskResults:
    """Tasks sent to ``client``'s workers with their results stashed in ``folder``, and those results as tasks end.

    Iterating yields ``(key, results)`` in the order tasks end: ``results`` is what the task
    returned, or the exception it ended with (a worker that died included), or the
    ``OSError`` of a stash that could not be read back. ``threads`` counts the workers'
    threads; ``window`` is how many tasks to keep in flight for them.

    Made only once the client is connected: it imports ``distributed``, as the cluster's
    thread did.
    """

    def __init__(self, client: Any, folder: str | None) -> None:
        from distributed import as_completed

        self.threads = max(1, sum(client.nthreads().values()))
        self.window = _IN_FLIGHT_PER_THREAD * self.threads + 1
        self._client = client
        self._folder = folder
        self._ended = as_completed(with_results=False)
        self._paths: dict[str, str | None] = {}

    def submit(self, task: Callable[[list[T], J], Iterable[Any]], items: list[T], job: J) -> str:
        """Send ``task(items, job)`` to a worker; returns the task's key.

        The job goes with each task (0.5 KB): scattered once, it was lost, and every task
        after it cancelled, once a crashing item had killed each worker holding it.
        """
        path = None if self._folder is None else os.path.join(self._folder, f"{uuid.uuid4().hex}.bin")
        future = self._client.submit(run_stashed, task, items, job, path, pure=False)
        self._paths[future.key] = path
        self._ended.add(future)
        return str(future.key)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for future in self._ended:
            path = self._paths.pop(future.key)
            yield str(future.key), _result(future, path)
            del future


def _result(future: Any, path: str | None) -> Any:
    """A task's results: read from ``path`` when its worker stashed them there, else fetched; or its exception."""
    if path is not None and future.status == "finished" and os.path.exists(path):
        value: Any = Stashed(path)
    else:  # not stashed (a worker elsewhere, a full /dev/shm), failed, or run again after its worker died
        try:
            value = future.result()
        except (Exception, CancelledError) as err:
            value = err
        if path is not None and not isinstance(value, Stashed):  # part of a file, or a lost run's
            Path(path).unlink(missing_ok=True)
    try:
        return unstash(value)
    except OSError as err:
        return err


def run_stashed(task: Callable[[list[T], J], Iterable[Any]], items: list[T], job: J, path: str | None) -> Any:
    """``task`` on each of ``items`` in turn on a worker, each result's arrays moved to ``path`` as soon as they exist.

    The worker so holds one result's arrays at a time, however many items its task has; a task
    that yields an item's results in parts (a generator) holds one part at a time. A
    worker that cannot see or write ``path``'s folder returns the results of
    ``task(items, job)`` as they are.
    """
    if path is None:
        return list(task(items, job))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:  # its folder is on another machine, or gone
        return list(task(items, job))
    parts: list[tuple[bytes, tuple[tuple[int, int], ...]]] = []
    size = 0
    kept = False
    try:
        for item in items:
            for result in task([item], job):  # a task may yield an item's results in parts (a long file's blocks)
                try:
                    head, spans, size = _append(fd, [result], size)
                except OSError:  # e.g. no space left in /dev/shm: the wire still works
                    return list(task(items, job))  # (items before this one computed again: rare, and simple)
                parts.append((head, spans))
        index = pickle.dumps(parts, protocol=5)
        try:
            _write_all(fd, [index, _INDEX_SIZE.pack(len(index))])
        except OSError:
            return list(task(items, job))
        kept = True
        return Stashed(path)
    finally:
        os.close(fd)
        if not kept:
            Path(path).unlink(missing_ok=True)


def _append(fd: int, value: Any, size: int) -> tuple[bytes, tuple[tuple[int, int], ...], int]:
    """Pickle ``value`` with its buffers out of band, write them at ``size`` in ``fd``: (pickle, spans, new size)."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    chunks: list[Any] = []
    spans: list[tuple[int, int]] = []
    end = size
    for buffer in buffers:
        raw = buffer.raw()
        pad = -end % _ALIGN
        if pad:
            chunks.append(bytes(pad))
            end += pad
        spans.append((end, raw.nbytes))
        chunks.append(raw)
        end += raw.nbytes
    _write_all(fd, chunks)
    return head, tuple(spans), end


def _write_all(fd: int, chunks: list[Any]) -> None:
    for start in range(0, len(chunks), 512):  # under any system's IOV_MAX
        group = chunks[start : start + 512]
        if os.writev(fd, group) != sum(memoryview(c).nbytes for c in group):
            raise OSError(errno.ENOSPC, "short write")


def unstash(value: Any) -> Any:
    """A task's results as delivered: rebuilt from shared memory (its file then removed) if they were stashed.

    The arrays are read-only views of the mapped file, whose pages are freed with the last of
    them. Anything else comes back as it is.

    Raises:
        OSError: the file cannot be read back (``FileNotFoundError`` when it is gone).
    """
    if not isinstance(value, Stashed):
        return value
    try:
        with open(value.path, "rb") as f:
            end = os.fstat(f.fileno()).st_size - _INDEX_SIZE.size
            (length,) = _INDEX_SIZE.unpack(os.pread(f.fileno(), _INDEX_SIZE.size, end))
            parts = pickle.loads(os.pread(f.fileno(), length, end - length))
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            mapped = mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    finally:
        Path(value.path).unlink(missing_ok=True)
    view = memoryview(mapped)
    results: list[Any] = []
    for head, spans in parts:
        results += pickle.loads(head, buffers=[view[start : start + size] for start, size in spans])
    return results


def _remove_orphans(base: Path) -> None:
    """Remove the hand-off folders of processes that no longer run (this user's only)."""
    for folder in base.glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        try:
            mine = folder.stat().st_uid == os.getuid()
        except OSError:  # removed meanwhile
            continue
        if mine and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
