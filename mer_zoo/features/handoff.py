"""Task results from workers on this machine through shared memory instead of Dask's sockets.

A worker pickles its task's result with protocol 5, writes the out-of-band buffers (the
arrays' bytes) into one file of the client's folder in ``/dev/shm`` and returns only the
small pickle. The client maps that file, unlinks it and rebuilds the result with its arrays
viewing the mapped pages: each byte is copied once, into shared memory, instead of through
two TCP stacks into a fresh buffer of the client. A worker that cannot see the folder (it
runs on another machine) or cannot write to it (``/dev/shm`` full) returns its result as
before, so the hand-off needs no configuration and changes no result.
"""

from __future__ import annotations

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
    """A result whose buffers wait in shared memory: its pickle, the file and each buffer's (offset, size)."""

    head: bytes
    path: str
    spans: tuple[tuple[int, int], ...]


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


def run_stashed(task: Callable[[T, J], Any], items: T, job: J, folder: str | None) -> Any:
    """``task(items, job)`` on a worker, its result's arrays left in ``folder`` when the worker can write there."""
    result = task(items, job)
    if folder is None or not os.path.isdir(folder):
        return result
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    parts: list[Any] = []
    spans: list[tuple[int, int]] = []
    size = 0
    for buffer in buffers:
        raw = buffer.raw()
        pad = -size % _ALIGN
        if pad:
            parts.append(bytes(pad))
            size += pad
        spans.append((size, raw.nbytes))
        parts.append(raw)
        size += raw.nbytes
    if size == 0:
        return result
    try:
        fd, path = tempfile.mkstemp(dir=folder, suffix=".bin")
    except OSError:
        return result
    try:
        for start in range(0, len(parts), 512):  # under any system's IOV_MAX
            os.writev(fd, parts[start : start + 512])
        complete = os.fstat(fd).st_size == size
    except OSError:  # e.g. no space left in /dev/shm: the wire still works
        complete = False
    finally:
        os.close(fd)
    if not complete:
        Path(path).unlink(missing_ok=True)
        return result
    return Stashed(head, path, tuple(spans))


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
    return pickle.loads(value.head, buffers=[view[start : start + size] for start, size in value.spans])


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
