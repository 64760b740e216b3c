"""Songs out to Dask in batches, results back into a store writer in song order.

Shared by ``build-features`` and ``add-features``: a bounded number of batches is in
flight, so memory stays flat however large the corpus, and finished batches wait in a small
reorder buffer until every earlier one is written, so a resumed build writes exactly the
bytes an uninterrupted one writes.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mer_zoo.datasets.fingerprint import relative_path
from mer_zoo.pipeline.report import progress_bar

__all__ = ["MAX_BATCH", "extract_in_order", "split_batches"]

T = TypeVar("T")

MAX_BATCH = 8  # songs per Dask task, at most (16 ran 2% faster, but in-flight results doubled)
_MAX_WORK = MAX_BATCH + 1  # a task's audio in typical songs' worth, at most: long songs go fewer to a task
_SHARE = 4  # a batch is at most 1/(_SHARE x threads) of the audio left, so the last ones are small


def extract_in_order(
    writer: Any,
    todo: list[Any],
    job: Any,
    root: Path,
    cluster: Any,
    progress: bool,
    task: Callable[[list[Any], Any], list[Any]] | None = None,
) -> Counter[str]:
    """Extract ``todo`` on ``cluster``'s workers and write the results in order; returns windows dropped by reason.

    ``task(batch, job) -> [SongResult]`` is what a worker runs (default ``extract_songs``;
    ``add-features`` passes its own). Songs go out in batches of consecutive songs
    (``split_batches``, weighed by their audio files' sizes); workers on this machine hand their arrays over through shared memory
    (``handoff``). The songs of a task whose worker died (a decoder crash) go out again one a
    task, so that only the song that kills fails.
    """
    from mer_zoo.errors import describe
    from mer_zoo.pipeline.extract import SongResult, extract_songs
    from mer_zoo.pipeline.handoff import TaskResults, handoff_folder

    task = task or extract_songs
    dropped: Counter[str] = Counter()
    if not todo:
        return dropped
    _return_freed_buffers()
    client = cluster.client(job)

    with progress_bar(len(todo), progress) as advance, handoff_folder() as folder:
        tasks = TaskResults(client, folder)
        batches = split_batches(todo, tasks.threads, [_audio_bytes(song.audio_path) for song in todo])
        submitted = written = 0
        ready: dict[int, list[SongResult]] = {}
        part_of: dict[str, tuple[int, int | None]] = {}  # task -> (its batch, its song when sent alone)
        alone: dict[int, list[SongResult | None]] = {}  # batches sent again one song a task: results so far

        def send(songs: list[Any], batch: int, position: int | None = None) -> None:
            part_of[tasks.submit(task, songs, job)] = (batch, position)

        def submit_more() -> None:
            nonlocal submitted
            while submitted < len(batches) and submitted < written + tasks.window:
                send(batches[submitted], submitted)
                submitted += 1

        submit_more()
        for key, results in tasks:
            i, position = part_of.pop(key)
            songs = batches[i] if position is None else [batches[i][position]]
            if isinstance(results, BaseException):  # the worker died (e.g. a decoder crash)
                if len(songs) > 1:  # its songs again, one a task: only the one that kills fails
                    alone[i] = [None] * len(songs)
                    for k, song in enumerate(songs):
                        send([song], i, k)
                    continue
                cause = f"worker failed ({describe(results)})"
                results = [SongResult(song.song_id, None, f"{song.audio_path}: {cause}", {}) for song in songs]
            if position is not None:
                alone[i][position] = results[0]
                if None in alone[i]:
                    continue
                results = [r for r in alone.pop(i) if r is not None]
            ready[i] = results
            del results  # a written batch's arrays map shared memory: nothing here may outlive its writing
            while written in ready:
                dropped += _write(writer, batches[written], ready.pop(written), root, advance)
                written += 1
            submit_more()
    return dropped


def split_batches(todo: list[T], threads: int, sizes: Sequence[float | None] | None = None) -> list[list[T]]:
    """Consecutive batches of ``todo``, largest first and shrinking to one song, for ``threads`` workers.

    ``sizes`` weighs each song (its audio file's bytes; None where unknown counts as a
    typical song, the median). Each batch holds at most ``MAX_BATCH`` songs, at most
    ``MAX_BATCH + 1`` typical songs' worth, and at most a ``1 / (4 x threads)`` share of what
    is still to go (guided scheduling): a Dask task costs a few ms of CPU between client,
    scheduler and worker, so large batches keep that small; weighing keeps a batch of long
    songs (and the results it holds in flight) no larger than one of typical songs; and the
    shrinking last batches let every worker finish within a song of the others.
    """
    weights = _typical_units([None] * len(todo) if sizes is None else sizes)
    left = sum(weights)
    batches: list[list[T]] = []
    start = 0
    while start < len(todo):
        budget = min(_MAX_WORK, left / (_SHARE * max(1, threads)))
        end, work = start + 1, weights[start]
        while end < len(todo) and end - start < MAX_BATCH and work + weights[end] <= budget:
            work += weights[end]
            end += 1
        batches.append(todo[start:end])
        left -= work
        start = end
    return batches


def _typical_units(sizes: Sequence[float | None]) -> list[float]:
    """``sizes`` over their median (an unknown size: 1.0)."""
    known = [size for size in sizes if size]
    typical = statistics.median(known) if known else 1.0
    return [size / typical if size else 1.0 for size in sizes]


def _audio_bytes(path: Path) -> int | None:
    """The size of a song's audio file, or None where this process cannot see it (a remote worker's disk)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _return_freed_buffers() -> None:
    """Have glibc give every freed result buffer (> 128 KiB) back to the system at once.

    Results arrive as megabyte buffers on Dask's comm thread and are freed on this one;
    glibc's default raises its mmap threshold after such frees and keeps the memory in
    per-thread heaps, so this process grew from ~130 to ~180 MB over 800 songs. A fixed
    threshold keeps it flat for a few page faults per song. Elsewhere than glibc: no-op.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is not None:
        mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


def _write(
    writer: Any, songs: list[Any], results: list[Any], root: Path, advance: Callable[[bool], None]
) -> Counter[str]:
    """One batch: its songs committed together (one flush), then its failures one by one; returns windows dropped."""
    done = [r for r in results if r.features is not None]
    paths = {song.song_id: relative_path(song.audio_path, root) for song in songs}
    writer.append_songs([dataclasses.replace(r.features, path=paths[r.song_id]) for r in done])
    dropped: Counter[str] = Counter()
    for result in results:
        if result.features is None:
            writer.append_failure(result.song_id, paths[result.song_id], result.reason, result.failed_set)
        else:
            dropped.update(result.dropped)
        advance(result.features is None)
    return dropped
