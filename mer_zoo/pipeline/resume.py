"""What a build does with what is already at its output: refuse, reuse, resume, update or replace it.

``OUT`` complete with the same settings and the same corpus is reused as it is; ``OUT.partial``
with the same settings and corpus is resumed; different settings are refused (naming each
difference) unless ``--overwrite``; a second build of the same ``OUT`` is refused while one runs.

The corpus is the reader's song list and labels as ``datasets.fingerprint`` records them. When
it changed since ``OUT`` was built (songs added or removed, labels edited, audio replaced) the
build names what changed and refuses, unless ``--overwrite`` (rebuild) or ``--update``: then a
new ``OUT.partial`` gets the songs ``OUT`` already holds whose audio did not change, carried
over with their current labels (``store.carry``), and only the others are extracted; it is
moved over ``OUT`` when complete, as a build's is (a stopped update resumes the same way).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mer_zoo.datasets.fingerprint import CorpusChanges, compare_prints
from mer_zoo.errors import InputError
from mer_zoo.pipeline.report import BuildSummary, summarise

__all__ = ["build_lock", "carry_unchanged", "check_writable", "move_into_place", "open_partial", "reusable"]


def check_writable(out: Path) -> None:
    """Fail before any work when ``out`` is a folder or its folder is missing or read-only."""
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
def build_lock(out: Path) -> Iterator[None]:
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
    """Each setting in which a found store differs from the wanted one, as "name found (asked wanted)"."""
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


def _changes(found: dict[str, Any], corpus: tuple[dict[str, list[Any]], str]) -> CorpusChanges | None:
    """How the corpus differs from the one a store recorded; None when the store recorded none."""
    if found.get("corpus") is None:
        return None
    return compare_prints(found["corpus"], corpus[0], found.get("label_layout", ""), corpus[1])


def reusable(
    out: Path,
    settings: dict[str, Any],
    overwrite: bool,
    songs_total: int,
    corpus: tuple[dict[str, list[Any]], str] = ({}, ""),
    update: bool = False,
) -> BuildSummary | None:
    """A summary when ``out`` is complete with the same settings and corpus; None when there is work to do.

    ``corpus`` is the corpus table and label layout now. Raises InputError when ``out`` must not
    be touched: other settings, or another corpus without ``update``.
    """
    from mer_zoo.store import read_settings

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
    changes = _changes(found, corpus)
    if changes is None and not update:
        notes = [f"{out} records no corpus (built by an older mer-zoo): --update checks its songs and records it"]
        return summarise(out, songs_total, notes)
    if changes is not None and not changes:
        return summarise(out, songs_total, [])
    if changes is not None and changes.layout:
        raise InputError(f"{out}: the corpus changed since it was built: {changes.describe()}; "
                         "use --overwrite to rebuild it")  # fmt: skip
    if not update:
        raise InputError(
            f"{out}: the corpus changed since it was built: {changes.describe() if changes else ''}; "
            "use --update to extract the new songs and rewrite the labels, or --overwrite to rebuild it"
        )
    return None


def open_partial(
    partial: Path,
    settings: dict[str, Any],
    overwrite: bool,
    notes: list[str],
    create: Callable[[], Any],
    corpus: tuple[dict[str, list[Any]], str] = ({}, ""),
    update: bool = False,
) -> Any:
    """Resume ``partial`` when it holds a stopped build with the same settings and corpus, else start afresh."""
    from mer_zoo.store import StoreWriter, read_settings

    if partial.exists() and not overwrite:
        found = read_settings(partial)
        if found is not None:
            diffs = _differences(found, settings)
            if diffs:
                raise InputError(
                    f"{partial}: a stopped build with different settings ({'; '.join(diffs)}); "
                    "use --overwrite to discard it"
                )
            changes = _changes(found, corpus)
            if changes and not update:
                raise InputError(
                    f"{partial}: a stopped build of another corpus ({changes.describe()}); "
                    "use --update to start it again for the corpus as it is now, or --overwrite"
                )
            if changes:
                notes.append(f"{partial}: a stopped build of another corpus ({changes.describe()}) started again")
                return create()
            try:
                return StoreWriter.resume(partial)
            except (OSError, KeyError, ValueError) as err:
                notes.append(f"{partial}: unreadable stopped build discarded ({err})")
        else:
            notes.append(f"{partial}: unreadable stopped build discarded")
    return create()


def carry_unchanged(out: Path, writer: Any, corpus: Any, job: Any, done: set[int], notes: list[str]) -> set[int]:
    """Carry the songs of the complete store ``out`` whose audio is unchanged into ``writer``, labelled anew.

    A song that is new, whose audio changed, or whose current labels would give other windows
    is left to extract; so is a failed song whose labels or audio changed (a store that
    predates corpus tables carries every song it holds and retries its failures). Returns the
    ids carried.
    """
    from mer_zoo.audio import relabel
    from mer_zoo.datasets.fingerprint import corpus_prints
    from mer_zoo.store import FeatureStore, carry_failures, carry_songs

    now = corpus_prints(corpus)
    with FeatureStore(out) as store:
        recorded = store.corpus()
        old = None
        if recorded is not None:
            table = recorded[0]
            old = {int(i): (str(p), int(b), int(m), str(h)) for i, p, b, m, h in
                   zip(table["song_id"], table["path"], table["size"], table["mtime_ns"], table["labels"])}  # fmt: skip
        stored = {int(r.song_id): r for r in store.songs.itertuples()}
        failed = {int(i) for i in store.columns("failures")["song_id"]}
        starts = store.segments["start_s"].to_numpy()
        carried, kept_failures = [], set()
        for song, *row in zip(corpus.songs, now["path"], now["size"], now["mtime_ns"], now["labels"]):
            before = None if old is None else old.get(song.song_id)
            if song.song_id in done or (old is not None and (before is None or before[:3] != tuple(row[:3]))):
                continue  # done already, new, or its audio changed: extract it
            if song.song_id in stored:
                r = stored[song.song_id]
                windows = starts[r.first_segment : r.first_segment + r.n_segments]
                plan = relabel(song, windows, r.duration_s, job.windows, job.frames_per_window, job.static_labels)
                if plan is not None:
                    carried.append((song.song_id, plan, song.static))
            elif song.song_id in failed and before is not None and before[3] == row[3]:
                kept_failures.add(song.song_id)
        carry_songs(store, writer, carried)
        carry_failures(store, writer, kept_failures)
    removed = (set(stored) | failed) - {song.song_id for song in corpus.songs}
    notes.append(f"update: {len(carried)} songs carried over from {out} with their current labels, "
                 f"{len(kept_failures)} failures kept, {len(removed)} songs removed")  # fmt: skip
    return {song_id for song_id, _, _ in carried} | kept_failures


def move_into_place(partial: Path, out: Path) -> None:
    """Rename the finished ``partial`` to ``out``, unlinking an old ``out`` first.

    Renaming over an existing file makes ext4 start writing the new one back at once (its
    ``auto_da_alloc`` safeguard): 0.2-0.6 s for an 800-song store, inside the build's time.
    A crash between the two steps leaves no ``out`` and a finished ``partial``, which the
    same command completes.
    """
    out.unlink(missing_ok=True)
    os.replace(partial, out)
