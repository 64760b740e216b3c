"""``leaderboard.md``: one paste-ready table per (task, set) group of a leaderboard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TEST_NAME", "cell", "leaderboard_markdown", "vs_text"]

TEST_NAME = "Nadeau-Bengio corrected resampled t-test over paired folds (variance x (1/k + n_test/n_train), k-1 dof)"


def cell(entry: Mapping[str, Any] | None) -> str:
    """``mean ± std`` of a figure over folds; ``—`` when absent."""
    if not entry or entry.get("mean") is None:
        return "—"
    return f"{entry['mean']:.4f} ± {entry['std']:.4f}"


def vs_text(test: Mapping[str, Any] | None) -> str:
    """A paired difference as ``+0.0123 [-0.01, 0.03] p=0.21``, ``tie`` marked; ``—`` without one."""
    if not test:
        return "—"
    mark = " (tie)" if test["tie"] else ""
    return f"{test['mean_diff']:+.4f} [{test['low']:+.4f}, {test['high']:+.4f}] p={test['p_value']:.3f}{mark}"


def leaderboard_markdown(board: Mapping[str, Any]) -> str:
    """Every group as a Markdown table ranked by its first figure, then skipped pairs, missing runs, the command."""
    lines = [f"# mer-zoo bench\n\n`{board['command']}`\n", f"Differences: {TEST_NAME}; lower is better.\n"]
    for group in board["groups"]:
        models = sorted(group["models"].items(), key=lambda kv: kv[1]["rank"])
        names = list(next(iter(group["models"].values()))["figures"])
        lines.append(f"## task {group['task']}, set {group['set']} (ranked by {group['rank_by']})\n")
        lines.append("| rank | model | " + " | ".join(names) + " | vs best | vs mean | folds |")
        lines.append("|" + "---|" * (len(names) + 6))
        for model, row in models:
            folds = f"{row['folds_done']}" + ("" if row["complete"] else " (incomplete)")
            figures = " | ".join(cell(row["figures"][n]) for n in names)
            lines.append(f"| {row['rank']} | {model} | {figures} | {vs_text(row['vs_best'])} | "
                         f"{vs_text(row['vs_mean'])} | {folds} |")  # fmt: skip
        lines.append("")
    if board["skipped"]:
        lines.append("## skipped\n")
        lines += [f"- {s['model']} x {s['task']} x {s['set']}: {s['reason']}" for s in board["skipped"]]
        lines.append("")
    if board["missing"]:
        lines.append("## missing (not run within --max-minutes)\n")
        lines += [f"- {key}" for key in board["missing"]]
    return "\n".join(lines) + "\n"
