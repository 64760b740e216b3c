"""``leaderboard.json``: per (task, set) group, each model's figures over folds and its paired tests.

Every figure is read from the fold runs' own ``metrics.json`` (test part). Each model is
compared with the best model of its group and with ``mean`` on the ranking figure
(lower is better) by the corrected resampled t-test over its paired folds.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mer_zoo.bench.plan import BenchJob, BenchPlan
from mer_zoo.bench.stats import corrected_t_test, ranks_with_ties
from mer_zoo.errors import MerZooError
from mer_zoo.metrics import mean_std
from mer_zoo.runs import open_run, store_record
from mer_zoo.tasks import get_task, lookup
from mer_zoo.version import __version__

__all__ = ["LEADERBOARD_FILE", "build_leaderboard"]

LEADERBOARD_FILE = "leaderboard.json"


def _test(run: Path) -> dict[str, Any]:
    m: dict[str, Any] = json.loads((run / "metrics.json").read_text())
    return m


def _compare(values: Sequence[float], other: Sequence[float], n_train: int, n_test: int) -> dict[str, Any] | None:
    if len(values) != len(other) or len(values) < 2:
        return None
    t = corrected_t_test(values, other, n_train, n_test)
    return {"mean_diff": t.mean_diff, "low": t.low, "high": t.high, "p_value": t.p_value, "tie": t.tie}


def _group(task_name: str, cells: Mapping[str, list[dict[str, Any]]], expected: Mapping[str, int]) -> dict[str, Any]:
    task = get_task(task_name)
    rank_path = task.rank_by[0]
    rows: dict[str, dict[str, Any]] = {}
    for model, metrics in cells.items():
        figures = {name: mean_std([v for m in metrics if (v := lookup(m["test"], path)) is not None])
                   for name, path in task.columns}  # fmt: skip
        values = [float(lookup(m["test"], rank_path)) for m in metrics]
        rows[model] = {"figures": figures, "rank_values": values, "folds_done": len(metrics),
                       "complete": len(metrics) == expected[model]}  # fmt: skip
    first = next(iter(cells.values()))[0]["split"]["songs"]
    n_train, n_test = int(first["train"]) + int(first["val"]), int(first["test"])
    means = {m: sum(r["rank_values"]) / len(r["rank_values"]) for m, r in rows.items()}
    best = min(means, key=means.__getitem__)
    for row in rows.values():
        row["vs_best"] = _compare(row["rank_values"], rows[best]["rank_values"], n_train, n_test)
        row["vs_mean"] = (
            _compare(row["rank_values"], rows["mean"]["rank_values"], n_train, n_test) if "mean" in rows else None
        )
    names = list(rows)
    ties = [m == best or bool(rows[m]["vs_best"] and rows[m]["vs_best"]["tie"]) for m in names]
    for model, rank in zip(names, ranks_with_ties([means[m] for m in names], ties), strict=True):
        rows[model]["rank"] = rank
    return {"task": task_name, "rank_by": rank_path, "best": best, "n_train": n_train, "n_test": n_test, "models": rows}


def build_leaderboard(
    plan: BenchPlan, finished: Mapping[BenchJob, Path], missing: Sequence[BenchJob], *, command: str, store: Path
) -> dict[str, Any]:
    """Everything the bench found: groups, skipped pairs, missing runs, the command, versions and the folds' songs."""
    cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    folds_songs: dict[str, list[int]] = {}
    for job, run in finished.items():
        cells.setdefault((job.task, job.feature_set), {}).setdefault(job.model, []).append(_test(run))
        songs = folds_songs.setdefault(f"seed{job.seed}-fold{job.fold}", list(open_run(run).split().part("test")))
        if songs != list(open_run(run).split().part("test")):
            raise MerZooError(f"{run}: its test songs differ from the other runs of fold {job.fold} (seed {job.seed})")
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for job in plan.jobs:
        counts = expected.setdefault((job.task, job.feature_set), {})
        counts[job.model] = counts.get(job.model, 0) + 1
    record = store_record(Path(store).resolve())
    fingerprint = hashlib.sha256(json.dumps({k: v for k, v in record.items() if k != "path"}, sort_keys=True).encode())
    return {
        "command": command,
        "versions": {"mer_zoo": __version__, "python": platform.python_version()},
        "store": {"path": record["path"], "dataset": record["dataset"], "fingerprint": fingerprint.hexdigest()[:16]},
        "groups": [{"set": s, **_group(t, models, expected[(t, s)])} for (t, s), models in cells.items()],
        "skipped": [{"model": m, "task": t, "set": s, "reason": r} for m, t, s, r in plan.skipped],
        "missing": [j.key for j in missing],
        "fold_test_songs": folds_songs,
    }
