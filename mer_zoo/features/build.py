"""`build-features`: extract every song of a dataset with Dask into one HDF5 store.

Workers receive a few song records and the job (window settings and the feature sets) and
return arrays or one-line reasons (``extract.extract_songs``); this process is the only
writer. Each song is decoded once for all its sets. A bounded number of songs is in flight
and results are written in song-id order through a small reorder buffer, so memory stays
flat however large the corpus, and a resumed build writes exactly the bytes an
uninterrupted one writes.

The store is written to ``OUT.partial`` and moved over ``OUT`` only when complete, so a
crash (SIGKILL included) never leaves a half-written file at ``OUT``; running the same
command again resumes from the partial file.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError
from mer_zoo.features.report import BuildSummary, progress_bar, summarise

__all__ = ["COMPRESSIONS", "BuildSummary", "build_features", "make_extractors", "plan_job"]

COMPRESSIONS = (None, "gzip", "lzf")
_MAX_BATCH = 4  # songs per Dask task
_BATCHES_PER_THREAD = 8  # at least this many batches per worker thread, for balance
_IN_FLIGHT_PER_THREAD = 2  # batches submitted ahead per worker thread


def build_features(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    dataset: str = "deam",
    dataset_options: Mapping[str, Any] | None = None,
    sets: Sequence[str] = ("mel",),
    set_options: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    overwrite: bool = False,
    config: FeatureConfig = FeatureConfig(),
    start_s: float | None = None,
    compression: str | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Extract every song under ``root`` into the store ``out``, resuming a stopped build.

    Args:
        root: the dataset folder.
        out: the store to write; built as ``out.partial`` and renamed when complete.
        dataset: the reader for ``root`` (see ``mer_zoo.datasets.list_readers``).
        dataset_options: keyword options of that reader (e.g. ``labels``, ``scale`` for ``csv``).
        sets: the feature sets to compute, in one decoding pass per song (``mer-zoo features``).
        set_options: per set, settings for its extractor; ``mel`` takes its defaults from ``config``.
        workers: local worker processes (one thread each), when no ``scheduler`` is given.
        scheduler: address of a running Dask scheduler (``tcp://host:port``) to use instead;
            its workers must see ``root`` at the same path.
        overwrite: replace a store built with different settings instead of refusing.
        config: the window and mel settings, recorded in the store.
        start_s: the first window start; None takes the corpus's suggestion (its first
            annotation time: DEAM 15 s, PMEmo 15.5 s), or ``config.start_s``.
        compression: ``None`` (memory-mappable), ``"gzip"`` or ``"lzf"`` for every set.
        progress: show a progress bar on stderr.

    Returns:
        The summary; ``exit_code`` is 1 when any song failed.

    Raises:
        InputError: before any work, for a bad root, output, setting, set or scheduler address.
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
    extractors = make_extractors(sets, set_options or {}, config)
    if scheduler:
        from mer_zoo.features.cluster import check_reachable

        check_reachable(scheduler)
    from mer_zoo.features.cluster import ClusterStart

    # The workers boot while this process reads the annotations (about half a second each).
    cluster = ClusterStart(workers, scheduler)
    try:
        corpus, config, job, settings, specs, labels = _prepare(
            root, dataset, dataset_options, config, start_s, extractors, compression
        )
        partial = out.with_name(out.name + ".partial")
        with _build_lock(out):
            done = _reusable(out, settings, overwrite, len(corpus.songs))
            if done is not None:
                done.up_to_date = True
                done.notes.append(f"{out} is complete with these settings: nothing to do")
                done.seconds = time.perf_counter() - started
                return done
            notes = list(corpus.notes)
            create = functools.partial(_create, partial, job, specs, corpus, root, labels, compression)
            writer = _open_partial(partial, settings, overwrite, notes, create)
            try:
                already = writer.done_song_ids()
                todo = [song for song in corpus.songs if song.song_id not in already]
                if already:
                    notes.append(f"resumed {partial}: {len(already)} songs were already done")
                dropped = _run(writer, todo, job, corpus.root, cluster, progress)
            except BaseException:
                writer.close()
                raise
            writer.close(complete=True)
            os.replace(partial, out)
    finally:
        cluster.close()
    summary = summarise(out, len(corpus.songs), notes)
    summary.windows_dropped = dropped
    summary.songs_this_run = len(todo)
    summary.songs_resumed = len(already)
    summary.seconds = time.perf_counter() - started
    return summary


def _prepare(
    root: Path,
    dataset: str,
    dataset_options: Mapping[str, Any] | None,
    config: FeatureConfig,
    start_s: float | None,
    extractors: list[Any],
    compression: str | None,
) -> tuple[Any, FeatureConfig, Any, dict[str, Any], list[Any], Any]:
    """Read the corpus and decide everything the store records: settings, sets, label layout."""
    from mer_zoo.datasets import read_corpus
    from mer_zoo.features.layout import SetSpec

    corpus = read_corpus(root, dataset, **dict(dataset_options or {}))
    if not corpus.songs:
        raise InputError(f"{root}: no songs found (no audio files and no annotated songs)")
    start = start_s if start_s is not None else corpus.start_s
    if start is not None:
        config = dataclasses.replace(config, start_s=float(start))
    job, labels = plan_job(corpus, config, extractors)
    specs = [SetSpec.of(extractor, config) for extractor in extractors]
    settings = {
        "windows": config.window_settings(),
        "sets": {spec.name: spec.settings() for spec in specs},
        "dataset": corpus.name,
        "source_root": str(root.resolve()),
        "compression": compression,
    }
    return corpus, config, job, settings, specs, labels


def make_extractors(
    sets: Sequence[str], set_options: Mapping[str, Mapping[str, Any]], config: FeatureConfig
) -> list[Any]:
    """The extractors of ``sets`` (``mel`` with ``config``'s mel settings unless overridden), checked before work."""
    from mer_zoo.features.extractors import get_extractor

    names = [name.strip().lower() for name in sets]
    if not names:
        raise InputError("no feature set asked for; give --set NAME (see `mer-zoo features`)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"feature set {repeated[0]!r} asked for twice")
    extractors = []
    for name in names:
        defaults = config.mel_settings() if name == "mel" else {}
        extractor = get_extractor(name, **{**defaults, **dict(set_options.get(name, {}))})
        try:
            extractor.shape(config)
        except ValueError as err:
            raise InputError(f"feature set {name!r}: bad settings: {err}") from None
        extractors.append(extractor)
    return extractors


def plan_job(corpus: Any, config: FeatureConfig, extractors: Sequence[Any]) -> tuple[Any, Any]:
    """The workers' job and the store's label description for ``corpus`` under ``config``."""
    import numpy as np

    from mer_zoo.features.extract import ExtractJob
    from mer_zoo.features.windows import annotation_step, frames_per_window
    from mer_zoo.features.writer import StoreLabels

    steps = [annotation_step(song.times_s) for song in corpus.songs if len(song.times_s) > 1]
    step = float(np.median(steps)) if steps else 0.5
    n_frames = frames_per_window(config, step)
    static_only = not corpus.has_dynamic
    labels = StoreLabels(
        dynamic_scale=corpus.static_scale if static_only else corpus.dynamic_scale,
        static_scale=corpus.static_scale,
        window_labels="static" if static_only else "dynamic",
        label_rate_hz=1.0 / step,
        frames_per_window=n_frames,
    )
    return ExtractJob(config, tuple(extractors), n_frames, static_only), labels


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
    diffs = [
        f"{k} {found[k]!r} (asked {wanted[k]!r})"
        for k in ("dataset", "source_root", "compression")
        if found[k] != wanted[k]
    ]
    old, new = found["windows"], wanted["windows"]
    diffs += [
        f"{k}={old.get(k)!r} (asked {new.get(k)!r})" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    ]
    if list(found["sets"]) != list(wanted["sets"]):
        diffs.append(f"sets {', '.join(found['sets'])} (asked {', '.join(wanted['sets'])})")
    else:
        for name, spec in wanted["sets"].items():
            have = found["sets"][name]
            if have["extractor"] != spec["extractor"] or have["version"] != spec["version"]:
                diffs.append(f"{name} made by {have['extractor']} v{have['version']} (asked v{spec['version']})")
            a, b = have["config"], spec["config"]
            diffs += [
                f"{name}.{k}={a.get(k)!r} (asked {b.get(k)!r})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
            ]
    return diffs


def _reusable(out: Path, settings: dict[str, Any], overwrite: bool, songs_total: int) -> BuildSummary | None:
    """A summary when ``out`` is complete with the same settings; InputError when it must not be touched."""
    from mer_zoo.features.store import read_settings

    if not out.exists() or overwrite:
        return None
    found = read_settings(out)
    if found is None:
        raise InputError(
            f"{out}: exists and is not a mer-zoo feature store of this format; use --overwrite to replace it"
        )
    diffs = _differences(found, settings)
    if diffs:
        raise InputError(f"{out}: built with different settings: {'; '.join(diffs)}; use --overwrite to rebuild it")
    if not found["complete"]:
        return None
    return summarise(out, songs_total, [])


def _create(
    partial: Path, job: Any, specs: list[Any], corpus: Any, root: Path, labels: Any, compression: str | None
) -> Any:
    from mer_zoo.features.writer import StoreWriter

    return StoreWriter.create(
        partial, job.windows, specs, dataset=corpus.name, source_root=str(root.resolve()), labels=labels,
        compression=compression,
    )  # fmt: skip


def _open_partial(partial: Path, settings: dict[str, Any], overwrite: bool, notes: list[str], create: Any) -> Any:
    """Resume ``partial`` when it holds a stopped build with the same settings, else start afresh."""
    from mer_zoo.features.store import read_settings
    from mer_zoo.features.writer import StoreWriter

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
    return create()


def _run(
    writer: Any, todo: list[Any], job: Any, root: Path, cluster: Any, progress: bool, task: Any = None
) -> Counter[str]:
    """Extract ``todo`` on Dask and write the results in order; returns windows dropped by reason.

    ``task(batch, job) -> [SongResult]`` is what a worker runs (default ``extract_songs``;
    ``add-features`` passes its own).

    Songs go out in small batches of consecutive songs (a Dask task costs ~5 ms of CPU, an
    eighth of a song's extraction); at most a few batches per worker thread are in flight,
    and finished batches wait in ``ready`` until every earlier one is written.
    """
    from distributed import as_completed

    from mer_zoo.features.extract import SongResult, extract_songs

    task = task or extract_songs
    dropped: Counter[str] = Counter()
    if not todo:
        return dropped
    _return_freed_buffers()
    client = cluster.client(job)
    with progress_bar(len(todo), progress) as advance:
        threads = max(1, sum(client.nthreads().values()))
        size = max(1, min(_MAX_BATCH, len(todo) // (_BATCHES_PER_THREAD * threads)))
        batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        window = _IN_FLIGHT_PER_THREAD * threads + 1
        futures = as_completed(with_results=True, raise_errors=False)
        submitted = written = 0
        ready: dict[int, list[SongResult]] = {}
        index_of: dict[str, int] = {}
        shared = client.scatter(job, broadcast=True, hash=False)

        def submit_more() -> None:
            nonlocal submitted
            while submitted < len(batches) and submitted < written + window:
                future = client.submit(task, batches[submitted], shared, pure=False)
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
        writer.append_song(dataclasses.replace(result.features, path=path))
    else:
        writer.append_failure(result.song_id, path, result.reason, result.failed_set)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
