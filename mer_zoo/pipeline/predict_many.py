"""Prediction at scale: thousands of files, extracted in parallel, streamed into one CSV.

Files come from paths, folders (searched recursively for audio), shell globs, or list files
(``@list.txt``, one path a line). The same Dask workers as ``build-features`` decode each
file and compute the run's feature set; this process runs the model and appends each file's
rows to the CSV as soon as it is done (a crash loses at most the files in flight), and a
rerun skips the files the CSV already holds. Bad files are skipped with a one-line reason.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mer_zoo.errors import InputError, describe, one_line

__all__ = ["AUDIO_SUFFIXES", "StreamSummary", "collect_audio", "extract_files", "stream_predictions"]

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".m4a", ".au")
_FILES_PER_TASK = 4


def collect_audio(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every audio file named by ``inputs`` (files, folders, globs, ``@list`` files), in order, once each.

    Raises:
        InputError: an input that names nothing (no such file, an empty glob or folder).
    """
    found: list[Path] = []
    for item in inputs:
        text = str(item)
        if text.startswith("@"):
            found += _listed(Path(text[1:]))
        elif Path(text).is_dir():
            files = sorted(p for p in Path(text).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not files:
                raise InputError(f"{text}: folder holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
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
    return unique


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


def extract_files(paths: list[str], job: Any) -> list[tuple[str, dict[str, Any] | None, Any, str]]:
    """A worker task: ``(path, {set: features}, window starts, "")`` per file, or ``(path, None, None, reason)``."""
    from mer_zoo.errors import MerZooError
    from mer_zoo.pipeline.extract import extract_file

    out: list[tuple[str, dict[str, Any] | None, Any, str]] = []
    for path in paths:
        try:
            features, starts = extract_file(path, job.windows, job.extractors)
            out.append((path, features, starts, ""))
        except MerZooError as err:
            out.append((path, None, None, one_line(str(err))))
        except Exception as err:  # a decoder surprise must not stop the other files
            out.append((path, None, None, f"{path}: {describe(err)}"))
    return out


@dataclass
class StreamSummary:
    """What a streamed prediction did: files written now, skipped as already done, failed."""

    out: Path
    written: int = 0
    already: int = 0
    rows: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def stream_predictions(
    files: Sequence[Path],
    out: Path,
    job: Any,
    rows_of: Callable[[str, dict[str, Any], Any], pd.DataFrame],
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
) -> StreamSummary:
    """Extract ``files`` on Dask with ``job`` and append ``rows_of(path, features, starts)`` to ``out`` per file.

    Files whose rows ``out`` already holds are skipped; the CSV is flushed after every file.
    """
    from mer_zoo.pipeline.cluster import ClusterStart
    from mer_zoo.pipeline.handoff import TaskResults, handoff_folder
    from mer_zoo.pipeline.report import progress_bar

    summary = StreamSummary(out=out)
    done = _done_files(out)
    todo = [str(f) for f in files if str(f) not in done]
    summary.already = len(files) - len(todo)
    if not todo:
        return summary
    cluster = ClusterStart(workers, scheduler)
    try:
        with handoff_folder() as folder:
            client = cluster.client(job)
            batches = [todo[i : i + _FILES_PER_TASK] for i in range(0, len(todo), _FILES_PER_TASK)]
            tasks = TaskResults(client, folder)
            pending = iter(batches)
            batch_of: dict[str, list[str]] = {}

            def send(batch: list[str]) -> None:
                batch_of[tasks.submit(extract_files, batch, job)] = batch

            def submit(n: int) -> None:
                for batch in _take(pending, n):
                    send(batch)

            submit(tasks.window)
            with progress_bar(len(todo), progress, unit="files") as advance, _Appender(out) as append:
                for key, results in tasks:
                    batch = batch_of.pop(key)
                    if isinstance(results, BaseException):  # the worker died (e.g. a decoder crash)
                        if len(batch) > 1:  # its files again, one a task: only the one that kills fails
                            for path in batch:
                                send([path])
                            continue
                        cause = f"worker failed ({describe(results)})"
                        results = [(path, None, None, f"{path}: {cause}") for path in batch]
                    for path, features, starts, reason in results:
                        if features is None:
                            summary.failures.append((path, reason))
                        else:
                            rows = rows_of(path, features, starts)
                            append(rows)
                            summary.written += 1
                            summary.rows += len(rows)
                        advance(features is None)
                    submit(1)
    finally:
        cluster.close()
    return summary


def _take(items: Iterator[list[str]], n: int) -> list[list[str]]:
    taken = []
    for _ in range(n):
        try:
            taken.append(next(items))
        except StopIteration:
            break
    return taken


def _done_files(out: Path) -> set[str]:
    """The files a previous run already wrote to ``out`` (its last file may be cut short: redone)."""
    if not out.is_file() or out.stat().st_size == 0:
        return set()
    try:
        files = pd.read_csv(out, usecols=["file"])["file"].astype(str).tolist()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return set()
    return set(files) - {files[-1]} if files else set()


class _Appender:
    """Appends whole files' rows to a CSV, header first, flushed after every file."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._file: Any = None
        self._header = not out.is_file() or out.stat().st_size == 0

    def __enter__(self) -> Callable[[pd.DataFrame], None]:
        if not self._header:
            self._drop_partial_last_file()
        self._file = open(self.out, "a", newline="")
        return self

    def __call__(self, rows: pd.DataFrame) -> None:
        rows.to_csv(self._file, header=self._header, index=False, float_format="%.4f")
        self._header = False
        self._file.flush()

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def _drop_partial_last_file(self) -> None:
        """Rewrite ``out`` without the rows of its last file, which a crash may have cut short."""
        with open(self.out, newline="") as f:
            rows = list(csv.reader(f))
        if len(rows) < 2:
            return
        column = rows[0].index("file")
        last = rows[-1][column] if len(rows[-1]) > column else None
        kept = [rows[0]] + [r for r in rows[1:] if len(r) > column and r[column] != last]
        tmp = self.out.with_name(self.out.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)
        os.replace(tmp, self.out)
