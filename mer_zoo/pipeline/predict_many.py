"""Prediction at scale: thousands of files, extracted in parallel, streamed into one CSV.

Files come from paths, folders (searched recursively: every file libsndfile or FFmpeg opens;
the others are named as skipped, with why), shell globs, or list files (``@list.txt``, one
path a line). The same Dask workers as ``build-features`` decode each file a block of windows
at a time and compute the run's feature set, sending each block back as it is done, so a
worker's memory stays flat however long the file; this process runs the model on each block
and appends a file's rows to the CSV in one write once its last block is in
(:mod:`~mer_zoo.pipeline.predict_csv`: a crash loses at most the files in flight, and a rerun
keeps only the whole files the CSV holds). Bad files are skipped with a one-line reason.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mer_zoo.errors import InputError, MerZooError, describe, one_line

__all__ = [
    "AUDIO_SUFFIXES",
    "BlockResult",
    "Gathered",
    "RowMaker",
    "StreamSummary",
    "collect_audio",
    "extract_files",
    "gather_audio",
    "stream_predictions",
]

# Taken from a folder without a look inside (libsndfile's and FFmpeg's usual audio suffixes);
# any other file is taken when one of the two decoders opens it.
AUDIO_SUFFIXES = (
    ".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au", ".caf", ".w64",
    ".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wma", ".asf", ".ape", ".wv", ".mpc", ".mp2", ".mka",
    ".webm", ".ac3", ".tta", ".spx", ".dsf", ".amr",
)  # fmt: skip
# Never opened to look: FFmpeg would follow a playlist's entries (and predict a song twice).
_PLAYLISTS = (".m3u", ".m3u8", ".pls", ".xspf", ".asx", ".cue")
_FILES_PER_TASK = 4
_ALONE_BYTES = 64 << 20  # a file this large (an hour of mp3, 10 minutes of FLAC) goes alone in a task


class Gathered(NamedTuple):
    """The audio files the inputs name, in order, and the files of their folders skipped, with why."""

    files: list[Path]
    skipped: list[tuple[str, str]]


def collect_audio(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every audio file named by ``inputs`` (files, folders, globs, ``@list`` files), in order, once each."""
    return gather_audio(inputs).files


def gather_audio(inputs: Sequence[str | os.PathLike[str]]) -> Gathered:
    """Every audio file named by ``inputs`` (files, folders, globs, ``@list`` files), in order, once each.

    A folder gives every file under it that libsndfile or FFmpeg opens (one with an audio
    suffix is taken unopened: the workers will say if it does not decode); the other files are
    returned as skipped, each with why. Named files, globs and lists are taken as they are.

    Raises:
        InputError: an input that names nothing (no such file, an empty glob or folder).
    """
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for item in inputs:
        text = str(item)
        if text.startswith("@"):
            found += _listed(Path(text[1:]))
        elif Path(text).is_dir():
            files, passed = _scan(Path(text))
            skipped += passed
            if not files:
                raise InputError(f"{text}: folder holds no audio files (no file libsndfile or FFmpeg opens)")
            found += files
        elif Path(text).is_file():
            found.append(Path(text))
        elif glob.has_magic(text):
            files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not files:
                raise InputError(f"{text}: the pattern matches no file")
            found += files
        else:
            raise InputError(f"{text}: no such audio file")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputError("predict needs at least one audio file")
    return Gathered(unique, skipped)


def _scan(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """A folder's audio files (recursively, sorted) and its other files with why they are not taken."""
    from mer_zoo.audio import AudioReader

    files, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith("."):  # .DS_Store, macOS's ._song.mp3 resource forks
            skipped.append((str(path), "hidden file"))
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            files.append(path)
        elif path.suffix.lower() in _PLAYLISTS:
            skipped.append((str(path), "a playlist or cue sheet, not audio"))
        else:
            try:
                AudioReader(path, 8000).close()
            except MerZooError as err:
                cause = str(err).removeprefix(f"{path}: cannot decode audio (").removesuffix(")")
                skipped.append((str(path), f"no decoder opens it ({cause})"))
            else:
                files.append(path)
    return files, skipped


def _listed(path: Path) -> list[Path]:
    if not path.is_file():
        raise InputError(f"@{path}: no such list file")
    lines = [line.strip() for line in path.read_text().splitlines()]
    files = [
        Path(line) if Path(line).is_absolute() else path.parent / line
        for line in lines
        if line and not line.startswith("#")
    ]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"@{path}: {missing[0]}: no such audio file{more}")
    return files


class BlockResult(NamedTuple):
    """What a worker sends back per block of a file: features (None when the file failed), starts, flags."""

    path: str
    features: dict[str, Any] | None
    starts: Any
    silent: Any
    reason: str
    last: bool


def extract_files(paths: list[str], job: Any) -> Iterator[BlockResult]:
    """A worker task: each file's blocks of windows as they are done (``file_blocks``); a failure ends its file."""
    from mer_zoo.pipeline.extract import file_blocks

    for path in paths:
        try:
            for block in file_blocks(path, job.windows, job.extractors):
                yield BlockResult(path, block.features, block.starts, block.silent, "", block.last)
        except MerZooError as err:
            yield BlockResult(path, None, None, None, one_line(str(err)), True)
        except Exception as err:  # a decoder surprise must not stop the other files
            yield BlockResult(path, None, None, None, f"{path}: {describe(err)}", True)


@dataclass(frozen=True)
class RowMaker:
    """How windows become a run's CSV rows: the model on a block's features, a whole file's rows, rows per file."""

    columns: list[str]
    outputs: Callable[[dict[str, Any]], np.ndarray]  # features of a block -> model outputs
    rows: Callable[[str, np.ndarray, np.ndarray, np.ndarray], pd.DataFrame]  # (file, outputs, starts, silent)
    expected_rows: Callable[[int], int]  # rows of a file of n windows


@dataclass
class StreamSummary:
    """What a streamed prediction did: files written now, skipped as already done, failed, not audio."""

    out: Path
    written: int = 0
    already: int = 0
    rows: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # files of the folders given that are not audio
    notes: list[str] = field(default_factory=list)


class _Blocks:
    """A file's blocks as they arrive: model outputs, starts and flags, until its last block."""

    def __init__(self) -> None:
        self.outputs: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []
        self.silent: list[np.ndarray] = []


def stream_predictions(
    files: Sequence[Path],
    out: Path,
    job: Any,
    maker: RowMaker,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
) -> StreamSummary:
    """Extract ``files`` on Dask with ``job`` and append each file's rows (``maker``) to the CSV ``out``.

    Files whose rows ``out`` already holds whole are skipped; each file's rows are one write.
    """
    from mer_zoo.pipeline.cluster import ClusterStart
    from mer_zoo.pipeline.handoff import TaskResults, handoff_folder
    from mer_zoo.pipeline.predict_csv import PredictionCsv
    from mer_zoo.pipeline.report import progress_bar

    summary = StreamSummary(out=out)
    with PredictionCsv(out, maker.columns, maker.expected_rows) as csv_out:
        if note := csv_out.repair.note(out):
            summary.notes.append(note)
        todo = [str(f) for f in files if str(f) not in csv_out.done]
        summary.already = len(files) - len(todo)
        if not todo:
            return summary
        cluster = ClusterStart(workers, scheduler)
        try:
            with handoff_folder() as folder:
                client = cluster.client(job)
                pending = iter(_batches(todo))
                tasks = TaskResults(client, folder)
                batch_of: dict[str, list[str]] = {}

                def send(batch: list[str]) -> None:
                    batch_of[tasks.submit(extract_files, batch, job)] = batch

                def submit(n: int) -> None:
                    for batch in _take(pending, n):
                        send(batch)

                submit(tasks.window)
                with progress_bar(len(todo), progress, unit="files") as advance:
                    for key, results in tasks:
                        batch = batch_of.pop(key)
                        if isinstance(results, BaseException):  # the worker died (e.g. a decoder crash)
                            if len(batch) > 1:  # its files again, one a task: only the one that kills fails
                                for path in batch:
                                    send([path])
                                continue
                            cause = f"worker failed ({describe(results)})"
                            results = [BlockResult(path, None, None, None, f"{path}: {cause}", True) for path in batch]
                        _write_files(results, maker, csv_out, summary, advance)
                        del results  # its arrays map shared memory
                        submit(1)
        finally:
            cluster.close()
    return summary


def _write_files(results: list[Any], maker: RowMaker, csv_out: Any, summary: StreamSummary, advance: Any) -> None:
    """Run the model on each block of a task's results; write each file whose last block is in."""
    open_files: dict[str, _Blocks] = {}
    for path, features, starts, silent, reason, last in results:
        if features is None:
            open_files.pop(path, None)
            summary.failures.append((path, reason))
            advance(True)
            continue
        blocks = open_files.setdefault(path, _Blocks())
        if len(starts):
            blocks.outputs.append(maker.outputs(features))
            blocks.starts.append(np.asarray(starts))
            blocks.silent.append(np.asarray(silent, dtype=bool))
        if last:
            del open_files[path]
            rows = maker.rows(path, np.concatenate(blocks.outputs), np.concatenate(blocks.starts),
                              np.concatenate(blocks.silent))  # fmt: skip
            csv_out.append(rows)
            summary.written += 1
            summary.rows += len(rows)
            advance(False)


def _batches(todo: list[str]) -> list[list[str]]:
    """Up to ``_FILES_PER_TASK`` consecutive files a task; a large file alone (its blocks wait in one stash)."""
    batches: list[list[str]] = []
    current: list[str] = []
    for path in todo:
        try:
            large = os.stat(path).st_size >= _ALONE_BYTES
        except OSError:
            large = False
        if large:
            batches += [current, [path]] if current else [[path]]
            current = []
            continue
        current.append(path)
        if len(current) == _FILES_PER_TASK:
            batches.append(current)
            current = []
    return [*batches, current] if current else batches


def _take(items: Iterator[list[str]], n: int) -> list[list[str]]:
    taken = []
    for _ in range(n):
        try:
            taken.append(next(items))
        except StopIteration:
            break
    return taken
