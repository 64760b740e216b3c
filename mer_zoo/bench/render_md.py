"""``leaderboard.md``: one paste-ready table per (task, set, split) group, and the cell texts the page shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "cell",
    "folds_text",
    "group_title",
    "interval_text",
    "leaderboard_markdown",
    "ranked",
    "table_rows",
    "vs_text",
]


def cell(entry: Mapping[str, Any] | None) -> str:
    """``mean ± std`` of a figure over folds; ``—`` when absent."""
    if not entry or entry.get("mean") is None:
        return "—"
    return f"{entry['mean']:.4f} ± {entry['std']:.4f}"


def interval_text(entry: Mapping[str, Any] | None, sign: str = "") -> str:
    """A pooled figure and its interval: ``0.1234 [0.1000, 0.1500]``; ``—`` without one."""
    if not entry:
        return "—"
    return f"{entry['value']:{sign}.4f} [{entry['low']:{sign}.4f}, {entry['high']:{sign}.4f}]"


def vs_text(test: Mapping[str, Any] | None) -> str:
    """A paired difference per fold and pooled over songs, ties marked; ``—`` without one."""
    if not test:
        return "—"
    mark = " (tie)" if test["tie"] else ""
    folds = f"{test['mean_diff']:+.4f} [{test['low']:+.4f}, {test['high']:+.4f}] p={test['p_value']:.3f}{mark}"
    return f"{folds}; songs {interval_text(test['pooled'], '+')}" + (" (tie)" if test["pooled"]["tie"] else "")


def folds_text(row: Mapping[str, Any]) -> str:
    """``3`` for a complete row, ``1 of 3 (incomplete)`` for one the bench did not finish."""
    done, planned = row["folds_done"], row["folds_planned"]
    return f"{done}" if row["complete"] else f"{done} of {planned} (incomplete)"


def ranked(group: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The group's models by rank, then mean of the ranking figure; models with no finished fold last."""

    def order(item: tuple[str, Mapping[str, Any]]) -> tuple[float, float]:
        row = item[1]
        values = row["rank_values"]
        return (row["rank"] if row["rank"] is not None else float("inf"),
                sum(values) / len(values) if values else float("inf"))  # fmt: skip

    return sorted(group["models"].items(), key=order)


def table_rows(group: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, Mapping[str, Any], list[str]]]]:
    """The header and, per model in rank order, its cells: rank, model, figures, pooled, vs best, vs mean, folds."""
    names = list(next(iter(group["models"].values()))["figures"])
    header = ["rank", "model", *names, f"pooled {group['rank_by']} [95%]", "vs best", "vs mean", "folds"]
    rows = []
    for model, row in ranked(group):
        rank = "—" if row["rank"] is None else str(row["rank"])
        cells = [rank, model, *(cell(row["figures"][n]) for n in names), interval_text(row["pooled"]),
                 vs_text(row["vs_best"]), vs_text(row["vs_mean"]), folds_text(row)]  # fmt: skip
        rows.append((model, row, cells))
    return header, rows


def group_title(group: Mapping[str, Any]) -> str:
    """``task window, set mel, split kfold (ranked by mse, lower is better)``."""
    return (f"task {group['task']}, set {group['set']}, split {group['split']} "
            f"(ranked by {group['rank_by']}, lower is better)")  # fmt: skip


def leaderboard_markdown(board: Mapping[str, Any]) -> str:
    """Every group as a Markdown table in rank order, then groups not started, skipped pairs, missing runs."""
    lines = [f"# mer-zoo bench\n\n`{board['command']}`\n", f"Differences (model minus other): {board['test']}.\n"]
    for group in board["groups"]:
        header, rows = table_rows(group)
        lines.append(f"## {group_title(group)}\n")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(cells) + " |" for _, _, cells in rows]
        lines.append("")
    if board["not_started"]:
        lines.append("## not started\n")
        lines += [f"- task {g['task']}, set {g['set']}, split {g['split']}" for g in board["not_started"]]
        lines.append("")
    if board["skipped"]:
        lines.append("## skipped\n")
        lines += [f"- {s['model']} x {s['task']} x {s['set']}: {s['reason']}" for s in board["skipped"]]
        lines.append("")
    if board["missing"]:
        lines.append("## missing (not run within --max-minutes)\n")
        lines += [f"- {key}" for key in board["missing"]]
    return "\n".join(lines) + "\n"
