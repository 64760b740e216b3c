"""`add-features`: compute more feature sets for the windows of a finished store, without touching the others.

The store's songs, paths (relative to its ``source_root``), window starts and window
settings say what to compute. The new sets go first into a side file, ``STORE.add.partial``
(a store of the new sets only, written by the build's crash-safe writer: a rerun resumes
from the songs it holds). Then a new store is written to ``STORE.partial``: the old
groups copied as they are (HDF5 object copy), the new sets, and the failures, and it is
moved over ``STORE`` in one ``os.replace``. The original file is only read until that
rename, so a kill at any moment leaves it whole.

A song whose audio is gone or fails in a new set keeps its windows in the other sets: its
rows of every new set are NaN, and ``failures`` gets one row per new set naming the song,
the reason and the set.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.audio import load_audio, window_slices
from mer_zoo.errors import InputError, MerZooError, one_line
from mer_zoo.pipeline.extract import ExtractJob, SongResult
from mer_zoo.store import SongFeatures

__all__ = ["SIDE_SUFFIX", "AddSong", "AddSummary", "add_features", "add_songs", "render_add_summary"]

SIDE_SUFFIX = ".add.partial"


@dataclass(frozen=True)
class AddSong:
    """One song of the store: its audio, its windows' start times and its first row in the store."""

    song_id: int
    audio_path: Path
    start_s: np.ndarray
    first_row: int


@dataclass
class AddSummary:
    """What an add did: the sets added, songs done and failed, time taken."""

    store: Path
    sets: list[str]
    songs_total: int
    failures: list[tuple[int, str]] = field(default_factory=list)
    songs_this_run: int = 0
    songs_resumed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when any song failed in a new set, else 0."""
        return 1 if self.failures else 0


def add_songs(songs: list[AddSong], job: ExtractJob) -> list[SongResult]:
    """The worker task: each song's windows in every set of ``job``, or a one-line reason; never raises."""
    results = []
    for song in songs:
        try:
            results.append(_compute(song, job))
        except MerZooError as err:
            results.append(SongResult(song.song_id, None, one_line(str(err)), {}))
        except Exception as err:  # a decoder surprise must not stop the other songs
            results.append(
                SongResult(song.song_id, None, one_line(f"{song.audio_path}: {type(err).__name__}: {err}"), {})
            )
    return results


def _compute(song: AddSong, job: ExtractJob) -> SongResult:
    config, n = job.windows, len(song.start_s)
    first, end = float(song.start_s[0]), float(song.start_s[-1]) + config.clip_s
    y, duration = load_audio(song.audio_path, config.sample_rate, offset_s=first, duration_s=end - first)
    slices = window_slices(song.start_s, first, config)
    if slices[-1].stop > len(y):
        reason = (
            f"{song.audio_path}: audio ends at {duration:.2f} s, before the end of the store's last window ({end:g} s)"
        )
        return SongResult(song.song_id, None, reason, {})
    features = {}
    for extractor in job.extractors:
        try:
            features[extractor.name] = extractor.compute(y, [s.start for s in slices], config)
        except Exception as err:
            reason = f"{song.audio_path}: feature set {extractor.name!r} failed ({type(err).__name__}: {err})"
            return SongResult(song.song_id, None, one_line(reason), {}, extractor.name)
    unlabelled = np.full(n, np.nan, dtype=np.float32)  # the side file holds features only
    song_features = SongFeatures(
        song_id=song.song_id, path=str(song.audio_path), duration_s=float(duration), features=features,
        start_s=song.start_s, end_s=song.start_s + config.clip_s, arousal=unlabelled, valence=unlabelled,
    )  # fmt: skip
    return SongResult(song.song_id, song_features, "", {})


def add_features(
    store: str | os.PathLike[str],
    sets: Sequence[str],
    *,
    set_options: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    device: str | None = None,
) -> AddSummary:
    """Add ``sets`` to the finished ``store`` for its windows, resuming a stopped add.

    Args:
        store: a complete store written by ``build-features``.
        sets: the feature sets to add (``mer-zoo features``), computed in one decoding pass per song;
            each ``NAME`` or ``NAME=EXTRACTOR`` (e.g. ``mert7=hf``).
        set_options: per set name, settings for its extractor.
        workers: local worker processes (one thread each), when no ``scheduler`` is given.
        scheduler: address of a running Dask scheduler; its workers must see the audio at the same path.
        overwrite: recompute a set the store already has instead of refusing.
        progress: show a progress bar on stderr.
        device: ``cpu``, ``cuda`` or ``auto`` for the sets that take one (mel, hf, hear).

    Raises:
        InputError: before any work, for a bad store, set, setting or scheduler address.
    """
    from mer_zoo.pipeline.build import make_extractors
    from mer_zoo.pipeline.cluster import ClusterStart
    from mer_zoo.pipeline.dispatch import extract_in_order
    from mer_zoo.pipeline.resume import build_lock

    started = time.perf_counter()
    store = Path(store)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if not store.is_file():
        raise InputError(f"{store}: no such feature store (build one with `mer-zoo build-features`)")
    if not os.access(store.parent, os.W_OK):
        raise InputError(f"{store.parent}: folder is not writable")
    with build_lock(store):
        base = _read_store(store)
        extractors = make_extractors(sets, set_options or {}, base["config"], device)
        present = [e.name for e in extractors if e.name in base["sets"]]
        if present and not overwrite:
            raise InputError(f"{store}: already has feature set {', '.join(present)}; use --overwrite to recompute it")
        if scheduler:
            from mer_zoo.pipeline.cluster import check_reachable

            check_reachable(scheduler)
        songs: list[AddSong] = base["songs"]
        summary = AddSummary(store, [e.name for e in extractors], len(songs))
        side = store.with_name(store.name + SIDE_SUFFIX)
        job = ExtractJob(base["config"], tuple(extractors), base["frames_per_window"])
        writer = _open_side(side, base, extractors, summary.notes)
        try:
            done = writer.done_song_ids()
            todo = [song for song in songs if song.song_id not in done]
            if done:
                summary.notes.append(f"resumed {side}: {len(done)} songs were already done")
            cluster = ClusterStart(workers, scheduler)
            try:
                extract_in_order(writer, todo, job, base["source_root"], cluster, progress, task=add_songs)
            finally:
                cluster.close()
        except BaseException:
            writer.close()
            raise
        writer.close(complete=True)
        from mer_zoo.store import merge_sets

        summary.failures = merge_sets(store, side, songs, summary.sets, base["sets"])
        os.replace(store.with_name(store.name + ".partial"), store)
        side.unlink()
    summary.songs_this_run, summary.songs_resumed = len(todo), len(done)
    summary.seconds = time.perf_counter() - started
    return summary


def _read_store(store: Path) -> dict[str, Any]:
    """What an add needs from the store: sets, window settings, songs with their windows, label layout."""
    from mer_zoo.store import FeatureStore

    with FeatureStore(store) as features:
        attrs = features.attrs
        root = Path(str(attrs["source_root"]))
        songs, starts = features.songs, features.segments["start_s"].to_numpy()
        description = features.describe()
        compression = features.data(features.sets[0]).compression if features.sets else None
        return {
            "sets": list(features.sets),
            "config": features.config,
            "source_root": root,
            "dataset": str(attrs["dataset"]),
            "compression": compression,
            "frames_per_window": int(description["labels"]["frames_per_window"]),
            "songs": [
                AddSong(int(i), root / str(p), starts[f : f + n], int(f))
                for i, p, f, n in zip(songs.song_id, songs.path, songs.first_segment, songs.n_segments)
                if n > 0
            ],
        }


def _open_side(side: Path, base: dict[str, Any], extractors: Sequence[Any], notes: list[str]) -> Any:
    """Resume the side file when it holds a stopped add of the same sets and settings, else start afresh."""
    from mer_zoo.store import SetSpec, StoreLabels, StoreWriter, read_settings

    config = base["config"]
    specs = [SetSpec.of(extractor, config) for extractor in extractors]
    wanted = {
        "windows": config.window_settings(),
        "sets": {spec.name: spec.settings() for spec in specs},
        "dataset": base["dataset"],
        "source_root": str(base["source_root"]),
        "compression": base["compression"],
    }
    if side.exists():
        found = read_settings(side)
        if found is not None and {key: found[key] for key in wanted} == json.loads(json.dumps(wanted)):
            try:
                return StoreWriter.resume(side)
            except (OSError, KeyError, ValueError) as err:
                notes.append(f"{side}: unreadable stopped add discarded ({err})")
        else:
            notes.append(f"{side}: a stopped add of other sets or settings discarded")
    return StoreWriter.create(
        side, config, specs, dataset=base["dataset"], source_root=str(base["source_root"]),
        labels=StoreLabels(frames_per_window=base["frames_per_window"]), compression=base["compression"],
    )  # fmt: skip


def render_add_summary(summary: AddSummary) -> Any:
    """The summary as rich renderables: a table of counts, then failures and notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"add-features: {summary.store}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("feature sets added", ", ".join(summary.sets))
    table.add_row("songs in the store", str(summary.songs_total))
    table.add_row("songs failed (NaN rows in the new sets)", str(len({i for i, _ in summary.failures})))
    if summary.songs_resumed:
        table.add_row("songs done before this run", str(summary.songs_resumed))
    table.add_row("songs extracted in this run", str(summary.songs_this_run))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    parts: list[Any] = [table]
    if summary.failures:
        failures = Table(title="failed songs", show_header=True)
        failures.add_column("song", justify="right")
        failures.add_column("reason", overflow="fold")
        for song_id, reason in dict(summary.failures).items():
            failures.add_row(str(song_id), reason)
        parts.append(failures)
    parts += [Text(note) for note in summary.notes]
    return Group(*parts)
