"""`build-features`: extract every song of a dataset with Dask into one HDF5 store.

Workers receive a few song records and the settings and return arrays or one-line reasons
(``extract.extract_songs``); this process is the only writer. A bounded number of songs is
in flight and results are written in song-id order through a small reorder buffer, so
memory stays flat however large the corpus, and a resumed build writes exactly the bytes an
uninterrupted one writes.

The store is written to ``OUT.partial`` and moved over ``OUT`` only when complete, so a
crash (SIGKILL included) never leaves a half-written file at ``OUT``; running the same
command again resumes from the partial file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError, MerZooError

__all__ = ["COMPRESSIONS", "BuildSummary", "build_features", "render_summary"]

COMPRESSIONS = (None, "gzip", "lzf")
_MAX_BATCH = 4  # songs per Dask task
_BATCHES_PER_THREAD = 8  # at least this many batches per worker thread, for balance
_IN_FLIGHT_PER_THREAD = 2  # batches submitted ahead per worker thread


@dataclass
class BuildSummary:
    """What a build did: songs built and failed, windows kept and dropped, time taken."""

    out: Path
    songs_total: int
    songs_ok: int
    failures: list[tuple[int, str]]
    windows_kept: int
    windows_dropped: Counter[str] = field(default_factory=Counter)
    songs_this_run: int = 0
    songs_resumed: int = 0
    seconds: float = 0.0
    up_to_date: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def songs_failed(self) -> int:
        """Songs recorded under ``failures/``."""
        return len(self.failures)

    @property
    def songs_per_s(self) -> float:
        """Songs processed by this run per second of wall time (start-up included)."""
        return self.songs_this_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """1 when any song failed, else 0."""
        return 1 if self.failures else 0


def build_features(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    dataset: str = "deam",
    workers: int = 2,
    scheduler: str | None = None,
    overwrite: bool = False,
    config: FeatureConfig = FeatureConfig(),
    compression: str | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Extract every song under ``root`` into the store ``out``, resuming a stopped build.

    Args:
        root: the dataset folder.
        out: the store to write; built as ``out.partial`` and renamed when complete.
        dataset: the reader for ``root`` (see ``mer_zoo.datasets.list_readers``).
        workers: local worker processes (one thread each), when no ``scheduler`` is given.
        scheduler: address of a running Dask scheduler (``tcp://host:port``) to use instead;
            its workers must see ``root`` at the same path.
        overwrite: replace a store built with different settings instead of refusing.
        config: the extraction settings, recorded in the store.
        compression: ``None`` (memory-mappable), ``"gzip"`` or ``"lzf"`` for the ``mel`` array.
        progress: show a progress bar on stderr.

    Returns:
        The summary; ``exit_code`` is 1 when any song failed.

    Raises:
        InputError: before any work, for a bad root, output, setting or scheduler address.
    """
    started = time.perf_counter()
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset folder")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if compression not in COMPRESSIONS:
        raise InputError(f"unknown compression {compression!r}; use one of: none, gzip, lzf")
    _check_writable(out)
    if scheduler:
        _check_reachable(scheduler)
    from mer_zoo.datasets import read_corpus

    corpus = read_corpus(root, dataset)
    if not corpus.songs:
        raise InputError(f"{root}: no songs found (no audio files and no annotated songs)")
    settings = {
        "feature_config": config.to_json(),
        "dataset": corpus.name,
        "source_root": str(root.resolve()),
        "compression": compression,
    }
    partial = out.with_name(out.name + ".partial")
    with _build_lock(out):
        done = _reusable(out, settings, overwrite, len(corpus.songs))
        if done is not None:
            done.up_to_date = True
            done.notes.append(f"{out} is complete with these settings: nothing to do")
            done.seconds = time.perf_counter() - started
            return done
        notes = list(corpus.notes)
        writer = _open_partial(partial, settings, config, corpus.name, root, compression, overwrite, notes)
        try:
            already = writer.done_song_ids()
            todo = [song for song in corpus.songs if song.song_id not in already]
            if already:
                notes.append(f"resumed {partial}: {len(already)} songs were already done")
            dropped = _run(writer, todo, config, corpus.root, workers, scheduler, progress)
        except BaseException:
            writer.close()
            raise
        writer.close(complete=True)
        os.replace(partial, out)
    summary = _summarise(out, len(corpus.songs), notes)
    summary.windows_dropped = dropped
    summary.songs_this_run = len(todo)
    summary.songs_resumed = len(already)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_writable(out: Path) -> None:
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give the path of the .h5 file to write")
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"{parent}: output folder does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise InputError(f"{parent}: output folder is not writable ({err.strerror})") from None


def _check_reachable(scheduler: str) -> None:
    """Fail at once on a TCP scheduler address that refuses connections (Dask would retry for 10 s)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if parts.scheme != "tcp":
        return  # tls://, ucx://...: left to Dask
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=5):
            pass
    except (OSError, ValueError, TypeError) as err:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None


@contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """Refuse a second build of the same output while one runs (the lock dies with its process)."""
    lock_path = out.with_name(out.name + ".lock")
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"{out}: another build-features is writing it") from None
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    import json

    diffs = []
    for key in ("dataset", "source_root", "compression"):
        if found[key] != wanted[key]:
            diffs.append(f"{key} {found[key]!r} (asked {wanted[key]!r})")
    old, new = json.loads(found["feature_config"]), json.loads(wanted["feature_config"])
    diffs += [f"{k}={old.get(k)!r} (asked {new.get(k)!r})" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return diffs


def _reusable(out: Path, settings: dict[str, Any], overwrite: bool, songs_total: int) -> BuildSummary | None:
    """A summary when ``out`` is complete with the same settings; InputError when it must not be touched."""
    from mer_zoo.features.store import read_settings

    if not out.exists() or overwrite:
        return None
    found = read_settings(out)
    if found is None:
        raise InputError(f"{out}: exists and is not a mer-zoo feature store; use --overwrite to replace it")
    diffs = _differences(found, settings)
    if diffs:
        raise InputError(f"{out}: built with different settings: {'; '.join(diffs)}; use --overwrite to rebuild it")
    if not found["complete"]:
        return None
    return _summarise(out, songs_total, [])


def _open_partial(
    partial: Path,
    settings: dict[str, Any],
    config: FeatureConfig,
    dataset: str,
    root: Path,
    compression: str | None,
    overwrite: bool,
    notes: list[str],
) -> Any:
    """Resume ``partial`` when it holds a stopped build with the same settings, else start afresh."""
    from mer_zoo.features.store import StoreWriter, read_settings

    if partial.exists() and not overwrite:
        found = read_settings(partial)
        if found is not None:
            diffs = _differences(found, settings)
            if diffs:
                raise InputError(
                    f"{partial}: a stopped build with different settings ({'; '.join(diffs)}); "
                    "use --overwrite to discard it"
                )
            try:
                return StoreWriter.resume(partial)
            except (OSError, KeyError, ValueError) as err:
                notes.append(f"{partial}: unreadable stopped build discarded ({err})")
        else:
            notes.append(f"{partial}: unreadable stopped build discarded")
    return StoreWriter.create(partial, config, dataset=dataset, source_root=str(root.resolve()), compression=compression)


@contextmanager
def _dask_client(workers: int, scheduler: str | None, config: FeatureConfig) -> Iterator[Any]:
    """A client of ``scheduler``, or of a local cluster of ``workers`` single-threaded processes."""
    import dask
    from distributed import Client, LocalCluster

    from mer_zoo.features.extract import THREAD_VARIABLES, WorkerSetup

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    else:
        # Dask's default MALLOC_TRIM_THRESHOLD_ turns every freed STFT temporary back into
        # fresh pages to fault in: extraction ran 20% slower with it. Memory stays bounded
        # without it (one song at a time per worker).
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **THREAD_VARIABLES}
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        settings = {
            "distributed.nanny.pre-spawn-environ": environ,
            # Equal tasks, a bounded queue and no dashboard: stealing and profiling only cost CPU.
            "distributed.scheduler.work-stealing": False,
            "distributed.worker.profile.enabled": False,
        }
        with dask.config.set(settings):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # the scheduler's HTTP endpoint starts even without a dashboard: any free port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL,
            )
        client = Client(cluster)
    try:
        try:
            client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            raise MerZooError(f"the Dask scheduler at {scheduler} has no workers (waited 60 s)") from None
        try:
            client.register_plugin(WorkerSetup(config))
        except Exception as err:  # e.g. workers without mer-zoo installed cannot unpickle the plugin
            where = f"at {scheduler}" if scheduler else "(local)"
            raise MerZooError(f"the Dask workers {where} could not set up mer-zoo: {type(err).__name__}: {err}") from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(
    writer: Any,
    todo: list[Any],
    config: FeatureConfig,
    root: Path,
    workers: int,
    scheduler: str | None,
    progress: bool,
) -> Counter[str]:
    """Extract ``todo`` on Dask and write the results in order; returns windows dropped by reason.

    Songs go out in small batches of consecutive songs (a Dask task costs ~5 ms of CPU, an
    eighth of a song's extraction); at most a few batches per worker thread are in flight,
    and finished batches wait in ``ready`` until every earlier one is written.
    """
    from distributed import as_completed

    from mer_zoo.features.extract import SongResult, extract_songs

    dropped: Counter[str] = Counter()
    if not todo:
        return dropped
    _return_freed_buffers()
    with _dask_client(workers, scheduler, config) as client, _progress(len(todo), progress) as advance:
        threads = max(1, sum(client.nthreads().values()))
        size = max(1, min(_MAX_BATCH, len(todo) // (_BATCHES_PER_THREAD * threads)))
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        window = _IN_FLIGHT_PER_THREAD * threads + 1
        futures = as_completed(with_results=True, raise_errors=False)
        submitted = written = 0
        ready: dict[int, list[SongResult]] = {}
        index_of: dict[str, int] = {}

        def submit_more() -> None:
            nonlocal submitted
            while submitted < len(batches) and submitted < written + window:
                future = client.submit(extract_songs, batches[submitted], config, pure=False)
                index_of[future.key] = submitted
                futures.add(future)
                submitted += 1

        submit_more()
        for future, results in futures:
            i = index_of.pop(future.key)
            if isinstance(results, BaseException):  # the worker itself died (e.g. a decoder crash)
                cause = f"worker failed ({type(results).__name__}: {' '.join(str(results).split())})"
                results = [SongResult(song.song_id, None, f"{song.audio_path}: {cause}", {}) for song in batches[i]]
            ready[i] = results
            del future
            while written in ready:
                for song, result in zip(batches[written], ready.pop(written)):
                    _write(writer, song, result, root)
                    dropped.update(result.dropped if result.features is not None else {})
                    advance(result.features is None)
                written += 1
            submit_more()
    return dropped


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


def _write(writer: Any, song: Any, result: Any, root: Path) -> None:
    path = _relative(song.audio_path, root)
    if result.features is not None:
        writer.append_song(replace(result.features, path=path))
    else:
        writer.append_failure(result.song_id, path, result.reason)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (songs done, rate, time left); yields ``advance(failed)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed or 0:5.1f} songs/s")

    failed = 0
    bar = Progress(
        TextColumn("extracting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("songs"),
        Rate(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with bar:
        task = bar.add_task("songs", total=total, failed=0)

        def advance(song_failed: bool) -> None:
            nonlocal failed
            failed += song_failed
            bar.update(task, advance=1, failed=failed)

        yield advance


def _summarise(out: Path, songs_total: int, notes: list[str]) -> BuildSummary:
    from mer_zoo.features.store import FeatureStore

    with FeatureStore(out) as store:
        songs = int(store.songs.shape[0])
        failures = store.failures
        summary = BuildSummary(
            out=out,
            songs_total=songs_total,
            songs_ok=songs,
            failures=[(int(i), str(r)) for i, r in zip(failures["song_id"], failures["reason"])],
            windows_kept=len(store),
            notes=notes,
        )
    return summary


def render_summary(summary: BuildSummary) -> Any:
    """The summary as rich renderables: a table of counts, then failures and notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"build-features: {summary.out}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("songs in the dataset", str(summary.songs_total))
    table.add_row("songs built", str(summary.songs_ok))
    table.add_row("songs failed", str(summary.songs_failed))
    table.add_row("windows kept", str(summary.windows_kept))
    for reason, n in sorted(summary.windows_dropped.items()):
        table.add_row(f"windows dropped: {reason}", str(n))
    if summary.songs_resumed:
        table.add_row("songs done before this run", str(summary.songs_resumed))
    if not summary.up_to_date:
        table.add_row("songs extracted in this run", str(summary.songs_this_run))
        table.add_row("seconds", f"{summary.seconds:.1f}")
        table.add_row("songs/s", f"{summary.songs_per_s:.1f}")
    parts: list[Any] = [table]
    if summary.failures:
        failures = Table(title="failed songs", show_header=True)
        failures.add_column("song", justify="right")
        failures.add_column("reason", overflow="fold")
        for song_id, reason in summary.failures:
            failures.add_row(str(song_id), reason)
        parts.append(failures)
    parts += [Text(note) for note in summary.notes]
    return Group(*parts)
