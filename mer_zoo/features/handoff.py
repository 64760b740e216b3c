"""Task results from workers on this machine through shared memory instead of Dask's sockets.

A worker pickles the result of each item of its task (a song) with protocol 5 as soon as
it has it, writes the out-of-band buffers (the arrays' bytes) into the task's file in the
client's folder in ``/dev/shm``, and returns only the small pickles. The client maps that
file, unlinks it and rebuilds the results with their arrays viewing the mapped pages: each
byte is copied once, into shared memory, instead of through two TCP stacks into a fresh
buffer of the client, and a worker holds one song's arrays at a time. A worker that cannot
see the folder (it runs on another machine) or cannot write to it (``/dev/shm`` full)
returns its result as before, so the hand-off needs no configuration and changes no result.
"""

from __future__ import annotations

import errno
import mmap
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["FOLDER_VARIABLE", "Stashed", "handoff_folder", "outcome", "run_stashed", "unstash"]

SHARED_MEMORY = "/dev/shm"
FOLDER_VARIABLE = "MER_ZOO_SHM_DIR"
_PREFIX = "mer-zoo-handoff-"
_ALIGN = 64  # every array starts on a cache line

T = TypeVar("T")
J = TypeVar("J")


@dataclass(frozen=True)
class Stashed:
    """A result whose arrays wait in shared memory: the file, and per item its pickle and its buffers' (offset, size)."""

    path: str
    parts: tuple[tuple[bytes, tuple[tuple[int, int], ...]], ...]


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
    folder = base / f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        folder.mkdir(mode=0o700)
    except OSError:
        yield None
        return
    try:
        yield str(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_stashed(task: Callable[[list[T], J], list[Any]], items: list[T], job: J, folder: str | None) -> Any:
    """``task`` on each of ``items`` in turn on a worker, each item's arrays moved to ``folder`` as soon as they exist.

    The worker so holds one item's arrays at a time, however many items its task has. A
    worker that cannot see or write ``folder`` returns the results of ``task(items, job)``
    as they are.
    """
    if folder is None or not os.path.isdir(folder):
        return task(items, job)
    try:
        fd, path = tempfile.mkstemp(dir=folder, suffix=".bin")
    except OSError:
        return task(items, job)
    parts: list[tuple[bytes, tuple[tuple[int, int], ...]]] = []
    size = 0
    kept = False
    try:
        for item in items:
            results = task([item], job)
            try:
                head, spans, size = _append(fd, results, size)
            except OSError:  # e.g. no space left in /dev/shm: the wire still works
                return task(items, job)  # (items before this one computed again: rare, and simple)
            parts.append((head, spans))
        if size == 0:  # no array bytes to map (every item failed, or empty arrays): the pickles alone
            return [result for head, spans in parts for result in pickle.loads(head, buffers=[b""] * len(spans))]
        kept = True
        return Stashed(path, tuple(parts))
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
    for start in range(0, len(chunks), 512):  # under any system's IOV_MAX
        group = chunks[start : start + 512]
        if os.writev(fd, group) != sum(memoryview(c).nbytes for c in group):
            raise OSError(errno.ENOSPC, "short write")
    return head, tuple(spans), end


def outcome(future: Any, value: Any) -> Any:
    """What a task gave, as ``as_completed(with_results=True, raise_errors=False)`` yields it: its result
    (rebuilt by :func:`unstash`), or its exception (an error arrives as ``(type, exception, traceback)``)."""
    if getattr(future, "status", None) == "error" and isinstance(value, tuple) and len(value) == 3:
        return value[1]
    return unstash(value)


def unstash(value: Any) -> Any:
    """A task's outcome as delivered: rebuilt from shared memory (its file then removed) if it was stashed.

    The arrays are read-only views of the mapped file, whose pages are freed with the last of
    them. Anything else (an exception of a worker that died included) comes back as it is; a
    file that cannot be read back comes back as its ``OSError``.
    """
    if not isinstance(value, Stashed):
        return value
    try:
        with open(value.path, "rb") as f:
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            mapped = mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except OSError as err:
        return err
    finally:
        Path(value.path).unlink(missing_ok=True)
    view = memoryview(mapped)
    results: list[Any] = []
    for head, spans in value.parts:
        results += pickle.loads(head, buffers=[view[start : start + size] for start, size in spans])
    return results


def _remove_orphans(base: Path) -> None:
    """Remove the hand-off folders of processes that no longer run (this user's only)."""
    for folder in base.glob(f"{_PREFIX}*"):
        pid = folder.name[len(_PREFIX) :].split("-", 1)[0]
        try:
            mine = folder.stat().st_uid == os.getuid()
        except OSError:  # removed meanwhile
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True
