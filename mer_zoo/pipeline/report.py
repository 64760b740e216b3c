"""What a build tells its user: a progress bar while it runs, a summary table when it ends."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BuildSummary", "progress_bar", "render_summary", "summarise"]


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
    windows_silent: int = 0  # kept windows flagged silent (peak below the floor)
    backends: dict[str, int] = field(default_factory=dict)  # songs per decoder
    sets: list[str] = field(default_factory=list)
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


@contextmanager
def progress_bar(total: int, enabled: bool, unit: str = "songs") -> Iterator[Any]:
    """A rich progress bar on stderr (``unit`` done, rate, time left); yields ``advance(failed)``."""
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
            return Text(f"{task.speed or 0:5.1f} {unit}/s")

    failed = 0
    bar = Progress(
        TextColumn("extracting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        Rate(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with bar:
        task = bar.add_task(unit, total=total, failed=0)

        def advance(song_failed: bool) -> None:
            nonlocal failed
            failed += song_failed
            bar.update(task, advance=1, failed=failed)

        yield advance


def summarise(out: Path, songs_total: int, notes: list[str]) -> BuildSummary:
    """The summary of the finished store ``out``: songs built, failures with their reasons, windows kept."""
    from mer_zoo.store import FeatureStore

    with FeatureStore(out) as store:  # its columns, not its tables: pandas costs a build 0.3 s to import
        failures = store.columns("failures")
        backends = Counter(str(b) for b in store.columns("songs")["backend"] if b)
        return BuildSummary(
            out=out,
            songs_total=songs_total,
            songs_ok=store.rows("songs"),
            failures=[(int(i), str(r)) for i, r in zip(failures["song_id"], failures["reason"])],
            windows_kept=len(store),
            windows_silent=int(store.silent().sum()),
            backends=dict(backends),
            sets=list(store.sets),
            notes=notes,
        )


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
    table.add_row("windows silent (left out of training unless --keep-silent)", str(summary.windows_silent))
    if summary.backends.get("pyav"):
        table.add_row("songs decoded by FFmpeg (PyAV): libsndfile cannot read them", str(summary.backends["pyav"]))
    table.add_row("feature sets", ", ".join(summary.sets))
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
