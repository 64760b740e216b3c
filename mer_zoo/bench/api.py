"""``bench``: plan the grid, train what is missing, write ``leaderboard.json``, ``.md`` and ``.html``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from mer_zoo.bench.leaderboard import LEADERBOARD_FILE, build_leaderboard
from mer_zoo.bench.plan import DEFAULT_SPLIT, BenchPlan, make_plan
from mer_zoo.bench.render_html import leaderboard_html
from mer_zoo.bench.render_md import leaderboard_markdown
from mer_zoo.bench.run import run_bench
from mer_zoo.errors import InputError
from mer_zoo.folds import fold_family
from mer_zoo.runs import write_json
from mer_zoo.tracking import NO_TRACKING, Tracker, flat_params
from mer_zoo.training import TrainConfig

__all__ = ["BenchResult", "bench"]

BenchResult = tuple[Path, BenchPlan, list[str]]


def bench(
    base: TrainConfig,
    *,
    models: Sequence[str],
    tasks: Sequence[str],
    sets: Sequence[str],
    folds: int | None,
    seeds: Sequence[int],
    command: str,
    split: str = DEFAULT_SPLIT,
    max_minutes: float | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
    tracker: Tracker = NO_TRACKING,
) -> BenchResult:
    """Run the bench into ``base.out`` (fold ``I`` of ``folds`` trains with ``--split SPLIT:I/K``).

    ``folds`` None takes K of ``group:COLUMN:K``, else 5. Returns the page's path, the plan and
    the keys of the runs ``max_minutes`` left missing. Tracked, the bench is a parent run and each
    run it trains is a child (finished runs a resumed bench skips were tracked when they ran).
    """
    out = base.out
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a folder")
    split, folds = fold_family(split, folds)
    plan = make_plan(base.features, models, tasks, sets, folds, seeds, split)
    if not plan.jobs:
        raise InputError("no model fits any task and set of this store: " + "; ".join(s[3] for s in plan.skipped))
    if overwrite and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    params = {"bench": {"models": ",".join(models), "tasks": ",".join(tasks), "sets": ",".join(sets), "folds": folds,
                        "seeds": ",".join(map(str, seeds)), "split": split, "command": command},
              "train": base.to_dict(), "run_dir": str(out.resolve())}  # fmt: skip
    with tracker.run(f"bench-{out.resolve().name}", flat_params(params)) as tracked:
        finished, missing = run_bench(plan, base, out, max_minutes=max_minutes, on_progress=on_progress,
                                      tracker=tracked)  # fmt: skip
        board = build_leaderboard(plan, finished, missing, command=command, store=base.features, device=base.device)
        write_json(out / LEADERBOARD_FILE, board)
        (out / "leaderboard.md").write_text(leaderboard_markdown(board))
        page = out / "leaderboard.html"
        page.write_text(leaderboard_html(board))
        tracked.final({}, 0, [out / LEADERBOARD_FILE, out / "leaderboard.md", page])
    return page, plan, board["missing"]
