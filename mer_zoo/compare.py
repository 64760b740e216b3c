"""Leaderboards of runs and cross-validations, one per comparable group.

Runs are only ranked against runs of the same task, on the same store and the same test
songs: ``compare`` puts each run in such a group (a cross-validation's group is its fold
plan over the store's songs) and ranks inside it, lower first, by the task's ranking figure
(MSE for window and static, the mean per-song RMSE for dynamic). A cross-validation's row
holds the mean over folds, with the spread over folds in ``*_fold_std`` columns.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.runs import open_run
from mer_zoo.tasks import get_task, lookup, ratio

__all__ = ["BASE_COLUMNS", "compare", "group_titles", "leaderboard_markdown", "leaderboard_tables"]

BASE_COLUMNS = ["group", "task", "scale", "dataset", "run", "model", "split", "test_songs"]
TAIL_COLUMNS = ["vs_baseline", "params", "train_seconds"]
FOLD_STD = "_fold_std"


def _read(path: Path, what: str, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise MerZooError(f"{path.parent}: no {what} ({hint})")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise MerZooError(f"{path}: unreadable {what} ({err})") from None


def _songs_key(songs: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, sorted(songs))).encode()).hexdigest()[:10]


def _run_row(directory: Path) -> tuple[dict[str, Any], tuple[str, ...], str]:
    run = open_run(directory)
    m = _read(
        run.path / "metrics.json",
        "metrics.json",
        f"the run did not finish; continue it with `mer-zoo train --resume {run.path}`",
    )
    task, split = get_task(m.get("task", "window")), run.split()
    block = m["test"]
    row = {"task": task.name, "scale": m["scale"], "dataset": m.get("dataset"), "run": run.path.name,
           "model": m["model"], "split": split.kind, "test_songs": block["n_songs"], "vs_baseline": ratio(task, block),
           "params": m.get("params"), "train_seconds": m.get("train_seconds")}  # fmt: skip
    row.update({name: lookup(block, path) for name, path in task.columns})
    key = (task.name, str(run.store_path), _songs_key(split.test))
    title = f"test part of split {split.label()}: {len(split.test)} songs"
    return row, key, title


def _cv_row(directory: Path) -> tuple[dict[str, Any], tuple[str, ...], str]:
    s = _read(directory / "cv.json", "cv.json", "the cross-validation did not finish")
    task, params = get_task(s["task"]), s["split"]["params"]
    test = s["test"]
    row = {"task": task.name, "scale": s["scale"], "dataset": s.get("dataset"), "run": directory.name,
           "model": s["model"], "split": f"cv {s['folds']} folds", "test_songs": s["split"]["songs"],
           "params": s.get("params"), "train_seconds": s.get("train_seconds")}  # fmt: skip
    for name, path in (*task.columns, ("vs_baseline", "vs_baseline")):
        entry = test.get(path, {})
        row[name], row[name + FOLD_STD] = entry.get("mean"), entry.get("std")
    plan = json.dumps(params, sort_keys=True)
    key = (task.name, s["features"], "cv:" + plan + ":" + str(s["split"]["songs"]))
    title = f"{s['folds']}-fold cross-validation {plan} over {s['split']['songs']} songs (every song tested once)"
    return row, key, title


def compare(paths: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One row per run (its test part) or cross-validation (mean over folds), ranked within groups.

    ``group`` numbers the groups (same task, store and test songs); ``attrs["groups"]`` maps
    each number to a one-line description of what its rows share.
    """
    if not paths:
        raise InputError("compare needs at least one run directory")
    rows: list[dict[str, Any]] = []
    keys: list[tuple[str, ...]] = []
    titles: dict[tuple[str, ...], str] = {}
    for p in paths:
        directory = Path(p)
        row, key, title = _cv_row(directory) if (directory / "cv.json").is_file() else _run_row(directory)
        rows.append(row)
        keys.append(key)
        titles.setdefault(
            key, f"task {row['task']} (scale {row['scale']}) on store {Path(key[1]).name} ({row['dataset']}), {title}"
        )
    order = list(dict.fromkeys(keys))
    for row, key in zip(rows, keys):
        row["group"] = order.index(key) + 1
    metric_columns = list(dict.fromkeys(name for key in order for name, _ in get_task(key[0]).columns))
    has_cv = any("vs_baseline" + FOLD_STD in row for row in rows)
    std_columns = [c + FOLD_STD for c in (*metric_columns, "vs_baseline")] if has_cv else []
    df = pd.DataFrame(rows, columns=BASE_COLUMNS + metric_columns + TAIL_COLUMNS + std_columns)
    ranks = [row[get_task(key[0]).columns[0][0]] for row, key in zip(rows, keys)]
    df["_rank"] = pd.to_numeric(pd.Series(ranks, dtype=object), errors="coerce")
    df = (
        df.sort_values(["group", "_rank"], kind="stable", na_position="last")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
    df.attrs["groups"] = {i + 1: titles[key] for i, key in enumerate(order)}
    return df


def group_titles(df: pd.DataFrame) -> dict[int, str]:
    """Group number -> what its rows share (task, scale, store, test songs)."""
    return dict(df.attrs.get("groups", {}))


_FORMATS = {"params": "{:,.0f}", "train_seconds": "{:.1f}", "test_songs": "{:.0f}", "vs_baseline": "{:.2f}"}
_SHORT = {
    "test_songs": "songs", "test_mse": "MSE", "baseline_mse": "mean MSE", "vs_baseline": "ratio",
    "train_seconds": "train s", "rmse_per_song": "RMSE/song", "baseline_rmse_per_song": "mean RMSE/song",
    **{f"{d}_{m}": f"{d[0].upper()} {h}" for d in ("arousal", "valence") for m, h in (
        ("r2", "R²"), ("ccc", "CCC"), ("rmse", "RMSE"), ("pearson", "r"), ("rmse_song", "RMSE/song"),
        ("r_song", "r/song"), ("r_pooled", "r pooled"))},
}  # fmt: skip
# The terminal leaves out the spread over songs, the static RMSEs, and the split and baselines (the same for
# every run of a group: its title and caption give them); the CSV and Markdown keep every column.
_BASELINES = ("baseline_mse", "baseline_rmse_per_song")
_TERMINAL_SKIP = frozenset(
    ("split", *_BASELINES, *(f"{d}_{m}" for d in ("arousal", "valence") for m in (
        "rmse_song_std", "r_song_std", "baseline_rmse_song", "rmse")))
)  # fmt: skip
_TEXT = ("run", "model", "split")


def _present(part: pd.DataFrame, skip: frozenset[str] = frozenset()) -> list[str]:
    """The columns to show for one group, in its task's order, where some row has a value (std folded into figures)."""
    task = get_task(str(part["task"].iloc[0]))
    columns = [*BASE_COLUMNS[4:], *(name for name, _ in task.columns), *TAIL_COLUMNS]
    return [c for c in columns if c not in skip and c in part.columns and part[c].notna().any()]


def _cell(row: pd.Series, column: str) -> str:
    value = row[column]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if column in _TEXT:
        return str(value)
    text = _FORMATS.get(column, "{:.4f}" if "mse" in column else "{:.3f}").format(value)
    std = row.get(column + FOLD_STD)
    return (
        text
        if std is None or (isinstance(std, float) and np.isnan(std))
        else f"{text} ± {_FORMATS.get(column, '{:.3f}').format(std)}"
    )


def _baseline_note(part: pd.DataFrame) -> str:
    column = next((c for c in _BASELINES if c in part.columns and part[c].notna().any()), None)
    if column is None:
        return "mean baseline -"
    row = part[part[column].notna()].iloc[0]
    return f"mean baseline {_SHORT.get(column, column).removeprefix('mean ')} {_cell(row, column)}"


def _spread_note(part: pd.DataFrame) -> str:
    std = [c for c in part.columns if c.endswith(FOLD_STD)]
    return "; ± = std over folds" if std and part[std].notna().any().any() else ""


def _groups(df: pd.DataFrame, skip: frozenset[str] = frozenset()) -> list[tuple[int, pd.DataFrame, list[str]]]:
    return [(int(g), part, _present(part, skip)) for g, part in df.groupby("group", sort=True)]


def leaderboard_markdown(df: pd.DataFrame) -> str:
    """The leaderboard as GitHub Markdown: one table per group, each under the line saying what it shares."""
    titles, out = group_titles(df), []
    for number, part, columns in _groups(df):
        out += [f"**Group {number}**: {titles.get(number, '')}; lower first{_spread_note(part)}", ""]
        out.append("| " + " | ".join(columns) + " |")
        out.append("|" + "|".join("---" if c in _TEXT else "---:" for c in columns) + "|")
        out += ["| " + " | ".join(_cell(row, c) for c in columns) + " |" for _, row in part.iterrows()]
        out.append("")
    return "\n".join(out)


def leaderboard_tables(df: pd.DataFrame) -> list[Any]:
    """The leaderboard as rich tables for the terminal, one per group (short headers; the CSV has the full names)."""
    from rich import box
    from rich.table import Table

    titles, tables = group_titles(df), []
    for number, part, columns in _groups(df, _TERMINAL_SKIP):
        table = Table(
            title=f"group {number}: {titles.get(number, '')}",
            caption=f"ranked within this group only, lower first; {_baseline_note(part)}; "
            f"ratio = figure / mean baseline's{_spread_note(part)}",
            box=box.SIMPLE_HEAD,
        )
        for c in columns:
            table.add_column(_SHORT.get(c, c), justify="left" if c in _TEXT else "right")
        for _, row in part.iterrows():
            table.add_row(*(_cell(row, c) for c in columns))
        tables.append(table)
    return tables
