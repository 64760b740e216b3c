"""`build-features`: extract every song of a dataset with Dask into one HDF5 store.

This module decides what a build records (the corpus, its window settings and label layout,
the feature sets) and runs it: workers receive a few song records and the job and return
arrays or one-line reasons (``extract.extract_songs``), decoding each song once for all its
sets; ``dispatch.extract_in_order`` writes them in song order with this process as the only
writer; ``resume`` decides what happens to a store already at the output.

The store is written to ``OUT.partial`` and moved over ``OUT`` only when complete, so a
crash (SIGKILL included) never leaves a half-written file at ``OUT``; running the same
command again resumes from the partial file. The store records its corpus (songs, audio
sizes and times, label hashes): a rerun on a corpus that changed says what changed and
refuses, unless ``--update`` (extract the new songs, relabel the others) or ``--overwrite``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError
from mer_zoo.pipeline.report import BuildSummary, summarise
from mer_zoo.pipeline.resume import (
    build_lock,
    carry_unchanged,
    check_writable,
    move_into_place,
    open_partial,
    reusable,
)

__all__ = ["COMPRESSIONS", "BuildSummary", "build_features", "make_extractors", "plan_job"]

COMPRESSIONS = (None, "gzip", "lzf")


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
    update: bool = False,
    config: FeatureConfig = FeatureConfig(),
    start_s: float | None = None,
    compression: str | None = None,
    progress: bool = True,
    device: str | None = None,
) -> BuildSummary:
    """Extract every song under ``root`` into the store ``out``, resuming a stopped build.

    Args:
        root: the dataset folder.
        out: the store to write; built as ``out.partial`` and renamed when complete.
        dataset: the reader for ``root`` (see ``mer_zoo.datasets.list_readers``).
        dataset_options: keyword options of that reader (e.g. ``labels``, ``scale`` for ``csv``).
        sets: the feature sets to compute, in one decoding pass per song (``mer-zoo features``).
        set_options: per set, settings for its extractor; ``mel`` takes its defaults from ``config``.
            A set is ``NAME`` or ``NAME=EXTRACTOR`` (e.g. ``mert7=hf``, options under ``mert7``).
        device: ``cpu``, ``cuda`` or ``auto`` for the sets that take one (mel, hf, hear).
        workers: local worker processes (one thread each), when no ``scheduler`` is given.
        scheduler: address of a running Dask scheduler (``tcp://host:port``) to use instead;
            its workers must see ``root`` at the same path.
        overwrite: replace a store built with different settings (or from another corpus) instead of refusing.
        update: bring a complete store whose corpus changed up to date: extract the songs that are
            new (or whose audio changed), carry the others over with their current labels, drop
            the songs the corpus no longer has.
        config: the window and mel settings, recorded in the store.
        start_s: the first window start; None takes the corpus's suggestion (its first
            annotation time: DEAM 15 s, PMEmo 15.5 s), or ``config.start_s``.
        compression: ``None`` (memory-mappable), ``"gzip"`` or ``"lzf"`` for every set.
        progress: show a progress bar on stderr.

    Returns:
        The summary; ``exit_code`` is 1 when any song failed.

    Raises:
        InputError: before any work, for a bad root, output, setting, set or scheduler address,
            and for a store of another corpus without ``overwrite`` or ``update``.
    """
    started = time.perf_counter()
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset folder")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if compression not in COMPRESSIONS:
        raise InputError(f"unknown compression {compression!r}; use one of: none, gzip, lzf")
    check_writable(out)
    if scheduler is None:
        from mer_zoo.pipeline.workers import start_fork_server

        start_fork_server()  # the workers' code imports there while this process gets ready
    extractors = make_extractors(sets, set_options or {}, config, device)
    if scheduler:
        from mer_zoo.pipeline.cluster import check_reachable

        check_reachable(scheduler)
    from mer_zoo.pipeline.cluster import ClusterStart
    from mer_zoo.pipeline.dispatch import extract_in_order

    # The workers boot while this process reads the annotations (about half a second each).
    cluster = ClusterStart(workers, scheduler)
    try:
        corpus, config, job, settings, specs, labels = _prepare(
            root, dataset, dataset_options, config, start_s, extractors, compression
        )
        prints = _corpus_record(corpus, labels)
        partial = out.with_name(out.name + ".partial")
        with build_lock(out):
            done = reusable(out, settings, overwrite, len(corpus.songs), prints, update)
            if done is not None:
                done.up_to_date = True
                done.notes.append(f"{out} is complete with these settings and this corpus: nothing to do")
                done.seconds = time.perf_counter() - started
                return done
            notes = list(corpus.notes)
            create = functools.partial(_create, partial, job, specs, corpus, root, labels, compression, prints)
            writer = open_partial(partial, settings, overwrite, notes, create, prints, update)
            try:
                writer.record_corpus(prints[0])
                already = writer.done_song_ids()
                if already:
                    notes.append(f"resumed {partial}: {len(already)} songs were already done")
                if update and out.is_file() and not overwrite:
                    already |= carry_unchanged(out, writer, corpus, job, already, notes)
                todo = [song for song in corpus.songs if song.song_id not in already]
                dropped = extract_in_order(writer, todo, job, corpus.root, cluster, progress)
            except BaseException:
                writer.close()
                raise
            writer.close(complete=True)
            move_into_place(partial, out)
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
    from mer_zoo.store import SetSpec

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
    sets: Sequence[str],
    set_options: Mapping[str, Mapping[str, Any]],
    config: FeatureConfig,
    device: str | None = None,
) -> list[Any]:
    """The extractors of ``sets``, made and checked before any work (a pretrained model is loaded here).

    Args:
        sets: set names, each ``NAME`` (the extractor of that name) or ``NAME=EXTRACTOR``
            (the set ``NAME`` computed by ``EXTRACTOR``, e.g. ``mert7=hf``).
        set_options: per set name, settings for its extractor; ``mel`` takes ``config``'s mel settings.
        config: the store's window settings.
        device: ``cpu``, ``cuda`` or ``auto`` for every extractor that takes a device, unless its settings say.
    """
    from mer_zoo.features import get_extractor, takes_option

    pairs = [_set_and_extractor(entry) for entry in sets]
    names = [name for name, _ in pairs]
    if not names:
        raise InputError("no feature set asked for; give --set NAME (see `mer-zoo features`)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"feature set {repeated[0]!r} asked for twice")
    extractors = []
    for name, kind in pairs:
        defaults: dict[str, Any] = config.mel_settings() if kind == "mel" else {}
        if device is not None and takes_option(kind, "device"):
            defaults["device"] = device
        extractor = get_extractor(kind, **{**defaults, **dict(set_options.get(name, {}))})
        extractor.name = name
        try:
            extractor.shape(config)
        except ValueError as err:
            raise InputError(f"feature set {name!r}: bad settings: {err}") from None
        extractors.append(extractor)
    return extractors


def _set_and_extractor(entry: str) -> tuple[str, str]:
    """``NAME`` -> (NAME, NAME); ``NAME=EXTRACTOR`` -> (NAME, EXTRACTOR), NAME checked as a store path part."""
    import re

    from mer_zoo.features import list_extractors

    name, _, kind = (part.strip().lower() for part in entry.partition("="))
    if not kind or kind == name:
        return name, name
    if not re.fullmatch(r"[a-z0-9_][a-z0-9_.-]*", name):
        raise InputError(f"--set {entry}: a set name is letters, digits, '_', '.' and '-'")
    if name in list_extractors():
        raise InputError(f"--set {entry}: {name!r} is the name of another extractor's set; choose another name")
    return name, kind


def plan_job(corpus: Any, config: FeatureConfig, extractors: Sequence[Any]) -> tuple[Any, Any]:
    """The workers' job and the store's label description for ``corpus`` under ``config``."""
    import numpy as np

    from mer_zoo.audio import annotation_step, frames_per_window
    from mer_zoo.pipeline.extract import ExtractJob
    from mer_zoo.store import StoreLabels

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


def _corpus_record(corpus: Any, labels: Any) -> tuple[dict[str, list[Any]], str]:
    """The corpus table a store records, and how its labels are laid out (scales, frames per window)."""
    from mer_zoo.datasets.fingerprint import corpus_prints, label_layout

    layout = label_layout(corpus, frames_per_window=labels.frames_per_window, label_rate_hz=labels.label_rate_hz)
    return corpus_prints(corpus), layout


def _create(
    partial: Path, job: Any, specs: list[Any], corpus: Any, root: Path, labels: Any, compression: str | None,
    prints: tuple[dict[str, list[Any]], str],
) -> Any:  # fmt: skip
    from mer_zoo.audio import SILENCE_DBFS
    from mer_zoo.store import StoreWriter

    return StoreWriter.create(
        partial, job.windows, specs, dataset=corpus.name, source_root=str(root.resolve()), labels=labels,
        compression=compression, metadata_columns=corpus.metadata_columns, corpus=prints[0],
        label_layout=prints[1], silence_dbfs=SILENCE_DBFS,
    )  # fmt: skip
