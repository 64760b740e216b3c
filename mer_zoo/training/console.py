"""What a run prints: the console, warnings, and a run's figures as a table per task."""

from __future__ import annotations

import sys
from typing import Any

from mer_zoo.tasks import get_task, lookup, ratio

__all__ = ["fmt", "make_console", "summary_table", "warn"]

# Per task: (header, path in a metrics block, format); "ratio" is the ranking figure over the baseline's.
_ROWS = {
    "window": (
        ("songs", "n_songs", "d"), ("windows", "n_windows", "d"), ("MSE", "mse", ".4f"),
        ("mean MSE", "baseline_mse", ".4f"), ("ratio", "ratio", ".2f"), ("A R²", "arousal.r2", ".3f"),
        ("A CCC", "arousal.ccc", ".3f"),
        ("V R²", "valence.r2", ".3f"), ("V CCC", "valence.ccc", ".3f"),
    ),
    "static": (
        ("songs", "n_songs", "d"), ("MSE", "mse", ".4f"), ("mean MSE", "baseline_mse", ".4f"),
        ("ratio", "ratio", ".2f"),
        ("A RMSE", "arousal.rmse", ".3f"), ("A R²", "arousal.r2", ".3f"), ("A r", "arousal.pearson", ".3f"),
        ("A CCC", "arousal.ccc", ".3f"), ("V RMSE", "valence.rmse", ".3f"), ("V R²", "valence.r2", ".3f"),
        ("V r", "valence.pearson", ".3f"), ("V CCC", "valence.ccc", ".3f"),
    ),
    "dynamic": (
        ("songs", "n_songs", "d"), ("frames", "n_frames", "d"),
        ("A RMSE/song", "arousal.per_song.rmse", ".3f"), ("mean A RMSE/song", "arousal.baseline_per_song.rmse", ".3f"),
        ("A r/song", "arousal.per_song.pearson", ".3f"), ("A r pooled", "arousal.pooled.pearson", ".3f"),
        ("V RMSE/song", "valence.per_song.rmse", ".3f"), ("mean V RMSE/song", "valence.baseline_per_song.rmse", ".3f"),
        ("V r/song", "valence.per_song.pearson", ".3f"), ("V r pooled", "valence.pooled.pearson", ".3f"),
        ("ratio", "ratio", ".2f"),
    ),
}  # fmt: skip
_CAPTIONS = {
    "window": "per window; ratio = MSE / mean-baseline MSE on the same windows; A = arousal, V = valence",
    "static": "per song (mean of its windows' predictions); ratio = MSE / mean-baseline MSE; A = arousal, V = valence",
    "dynamic": "per 0.5-s frame: RMSE and Pearson r per song, mean ± std over songs (MediaEval 2015); pooled = all "
    "frames at once; ratio = mean RMSE/song over the mean baseline's; A = arousal, V = valence",
}


def make_console() -> Any:
    """A rich console; pipes and logs get whole table rows (width 160) instead of 80 columns."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def warn(message: str) -> None:
    """One ``mer-zoo: warning: ...`` line on stderr."""
    sys.stderr.write(f"mer-zoo: warning: {message}\n")
    sys.stderr.flush()


def fmt(value: Any, spec: str = ".4f") -> str:
    """A figure for a table: ``-`` when undefined, ``mean ± std`` for ``{"mean", "std"}`` summaries."""
    if isinstance(value, dict):
        if value.get("mean") is None:
            return "-"
        std = value.get("std")
        return format(value["mean"], spec) + ("" if std is None else f" ± {format(std, spec)}")
    return "-" if value is None else format(value, spec)


def summary_table(metrics: dict[str, Any]) -> Any:
    """A rich table: the model against the mean baseline on each scored part, in the task's figures."""
    from rich import box
    from rich.table import Table

    task = get_task(metrics.get("task", "window"))
    where = f"task {task.name}, scale {metrics['scale']}, split {metrics['split']['kind']}"
    title = f"{metrics['model']} vs the mean baseline ({where})"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.caption = _CAPTIONS[task.name]
    table.add_column("part", justify="left")
    for header, _, _ in _ROWS[task.name]:
        table.add_column(header, justify="right")
    for part in ("val", "test", "all"):
        if part not in metrics:
            continue
        block = metrics[part]
        cells = [
            fmt(ratio(task, block) if path == "ratio" else lookup(block, path), spec)
            for _, path, spec in _ROWS[task.name]
        ]
        table.add_row(part, *cells)
    return table
