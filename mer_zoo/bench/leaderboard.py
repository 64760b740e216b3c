"""``leaderboard.json``: per (task, set, split) group, each model's figures over folds and its paired tests.

Every figure is read from the fold runs' own ``metrics.json`` (test part), every song figure
from their ``test_songs.csv``. Each model is compared with the best model of its group and
with ``mean`` on the ranking figure (lower is better): per fold by the corrected resampled
t-test over the folds both finished, and pooled over test songs by a paired bootstrap.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mer_zoo.bench.plan import BenchJob, BenchPlan
from mer_zoo.bench.songs import scored_songs
from mer_zoo.bench.stats import bootstrap_interval, corrected_t_test, ranks_with_ties
from mer_zoo.errors import MerZooError
from mer_zoo.metrics import mean_std
from mer_zoo.runs import open_run, store_record
from mer_zoo.tasks import get_task, lookup
from mer_zoo.version import __version__

__all__ = ["LEADERBOARD_FILE", "TEST_NAME", "build_leaderboard"]

LEADERBOARD_FILE = "leaderboard.json"
TEST_NAME = (
    "per fold: Nadeau-Bengio corrected resampled t-test over paired folds (variance x (1/k + n_test/n_train), "
    "k-1 dof); pooled: percentile bootstrap over test songs (2000 resamples, the same songs for both models)"
)


def _interval(i: Any) -> dict[str, float]:
    return {"value": i.value, "low": i.low, "high": i.high}


def _songs(runs: Sequence[Path], device: str) -> pd.DataFrame:
    """A model's test songs over all its folds (and seeds): one row per song, seeds averaged by weight."""
    rows = pd.concat([scored_songs(r, device=device) for r in runs], ignore_index=True)
    rows["werror"] = rows["error"] * rows["weight"]
    out = rows.groupby("song_id").agg(werror=("werror", "sum"), weight=("weight", "sum")).reset_index()
    out["error"] = out["werror"] / out["weight"]
    return out.drop(columns="werror")


def _compare(row: Mapping[str, Any], other: Mapping[str, Any], n_train: int, n_test: int) -> dict[str, Any] | None:
    """The paired per-fold t-test and the paired song bootstrap of ``row`` minus ``other``."""
    common = [k for k in row["folds"] if k in other["folds"]]
    if len(common) < 2:
        return None
    a = [row["rank_values"][row["folds"].index(k)] for k in common]
    b = [other["rank_values"][other["folds"].index(k)] for k in common]
    t = corrected_t_test(a, b, n_train, n_test)
    both = row["_songs"].merge(other["_songs"], on="song_id", suffixes=("", "_other"))
    boot = bootstrap_interval(both["error"], both["weight"], both["error_other"])
    return {"folds": len(common), "mean_diff": t.mean_diff, "low": t.low, "high": t.high, "p_value": t.p_value,
            "tie": t.tie, "pooled": {**_interval(boot), "tie": boot.low <= 0.0 <= boot.high}}  # fmt: skip


def _row(task_name: str, runs: Mapping[str, Path], planned: int, device: str) -> dict[str, Any]:
    """One model's figures over its finished folds (keyed by fold), its song errors and pooled figure."""
    task = get_task(task_name)
    metrics = [json.loads((run / "metrics.json").read_text())["test"] for run in runs.values()]
    songs = _songs(list(runs.values()), device) if runs else None
    return {
        "figures": {name: mean_std([v for m in metrics if (v := lookup(m, path)) is not None])
                    for name, path in task.columns},
        "folds": list(runs),
        "rank_values": [float(lookup(m, task.rank_by[0])) for m in metrics],
        "folds_done": len(runs),
        "folds_planned": planned,
        "complete": len(runs) == planned,
        "pooled": None if songs is None else _interval(bootstrap_interval(songs["error"], songs["weight"])),
        "song_errors": [] if songs is None else [[int(s), round(float(e), 6)] for s, e in zip(songs["song_id"], songs["error"])],
        "_songs": songs,
    }  # fmt: skip


def _best_predictions(runs: Mapping[str, Path], device: str) -> list[dict[str, Any]]:
    """The best model's test songs of every fold: truth and prediction per song (for the VA plane)."""
    rows = pd.concat([scored_songs(r, device=device).assign(fold=k) for k, r in runs.items()], ignore_index=True)
    return rows.drop(columns="weight").round(6).to_dict(orient="records")


def _group(
    task_name: str, runs: Mapping[str, dict[str, Path]], planned: Mapping[str, int], device: str
) -> dict[str, Any]:
    """One (task, set, split) group: every planned model's row, the best, paired tests and ranks."""
    task = get_task(task_name)
    rows = {model: _row(task_name, runs.get(model, {}), planned[model], device) for model in planned}
    done = {m: r for m, r in rows.items() if r["folds_done"]}
    # Folds of whole groups (group:artist) differ in size: the correction takes the mean over folds.
    splits = [open_run(r).split() for r in max(runs.values(), key=len).values()]
    n_train = round(sum(len(s.train) + len(s.val) for s in splits) / len(splits))
    n_test = round(sum(len(s.test) for s in splits) / len(splits))
    means = {m: sum(r["rank_values"]) / len(r["rank_values"]) for m, r in done.items()}
    best = min(means, key=means.__getitem__)
    for model, row in rows.items():
        row["vs_best"] = _compare(row, rows[best], n_train, n_test) if model in done and model != best else None
        row["vs_mean"] = (
            _compare(row, rows["mean"], n_train, n_test)
            if model in done and "mean" in done and model != "mean"
            else None
        )
        row["rank"] = None
    names = list(done)
    ties = [m == best or bool(rows[m]["vs_best"] and rows[m]["vs_best"]["tie"]) for m in names]
    for model, rank in zip(names, ranks_with_ties([means[m] for m in names], ties), strict=True):
        rows[model]["rank"] = rank
    for row in rows.values():
        del row["_songs"]
    return {"task": task_name, "rank_by": task.rank_by[0], "best": best, "n_train": n_train, "n_test": n_test,
            "models": rows, "best_predictions": _best_predictions(runs[best], device)}  # fmt: skip


def _check_folds(finished: Mapping[BenchJob, Path]) -> dict[str, list[int]]:
    """Each task's folds' test songs (a task may leave unlabelled songs out); MerZooError when two runs
    of one fold of one task were tested on different songs, so their comparison would not be paired."""
    folds: dict[str, list[int]] = {}
    for job, run in finished.items():
        songs = list(open_run(run).split().part("test"))
        if folds.setdefault(f"{job.task}:{job.split}:{job.fold_key}", songs) != songs:
            raise MerZooError(f"{run}: its test songs differ from the other {job.task} runs of {job.fold_key}")
    return folds


def build_leaderboard(
    plan: BenchPlan,
    finished: Mapping[BenchJob, Path],
    missing: Sequence[BenchJob],
    *,
    command: str,
    store: Path,
    device: str = "cpu",
) -> dict[str, Any]:
    """Everything the bench found: groups, skipped pairs, missing runs, the command, versions and the folds' songs."""
    planned: dict[tuple[str, str, str], dict[str, int]] = {}
    for job in plan.jobs:
        counts = planned.setdefault((job.task, job.feature_set, job.split), {})
        counts[job.model] = counts.get(job.model, 0) + 1
    runs: dict[tuple[str, str, str], dict[str, dict[str, Path]]] = {}
    for job, run in finished.items():
        runs.setdefault((job.task, job.feature_set, job.split), {}).setdefault(job.model, {})[job.fold_key] = run
    record = store_record(Path(store).resolve())
    fingerprint = hashlib.sha256(json.dumps({k: v for k, v in record.items() if k != "path"}, sort_keys=True).encode())
    return {
        "command": command,
        "test": TEST_NAME,
        "versions": {"mer_zoo": __version__, "python": platform.python_version()},
        "store": {"path": record["path"], "dataset": record["dataset"], "fingerprint": fingerprint.hexdigest()[:16]},
        "groups": [
            {"set": s, "split": sp, **_group(t, runs[(t, s, sp)], counts, device)}
            for (t, s, sp), counts in planned.items()
            if (t, s, sp) in runs
        ],
        "not_started": [{"task": t, "set": s, "split": sp} for (t, s, sp) in planned if (t, s, sp) not in runs],
        "skipped": [{"model": m, "task": t, "set": s, "reason": r} for m, t, s, r in plan.skipped],
        "missing": [j.key for j in missing],
        "fold_test_songs": _check_folds(finished),
    }
