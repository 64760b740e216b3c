"""The bench's resumable runner: every job of a plan into its own folder, skipping finished ones.

Job ``J`` trains into ``OUT/runs/J.key/``; it counts as done when a run there has
``metrics.json`` (its test songs, ``test_songs.csv``, are scored right after). A run left without one (killed mid-way) is removed and trained again, so a
bench killed at any moment and run again trains only what is missing. ``max_minutes`` stops
launching new runs once spent; the jobs not started are returned as missing.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from mer_zoo.bench.plan import BenchJob, BenchPlan
from mer_zoo.bench.songs import scored_songs
from mer_zoo.tracking import NO_TRACKING, Tracker
from mer_zoo.training import TrainConfig, train

__all__ = ["RUNS_DIR", "finished_run", "run_bench"]

RUNS_DIR = "runs"


def finished_run(folder: Path) -> Path | None:
    """The run under a job's folder that has ``metrics.json``; None when there is none."""
    done = sorted(p.parent for p in folder.glob("*/metrics.json")) if folder.is_dir() else []
    return done[-1] if done else None


def run_bench(
    plan: BenchPlan,
    base: TrainConfig,
    out: Path,
    *,
    max_minutes: float | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    tracker: Tracker = NO_TRACKING,
) -> tuple[dict[BenchJob, Path], list[BenchJob]]:
    """Train every job of ``plan`` not yet finished under ``out``; returns the finished runs and the missing jobs."""
    runs_root = Path(out) / RUNS_DIR
    finished: dict[BenchJob, Path] = {}
    missing: list[BenchJob] = []
    start = time.monotonic()
    from rich.console import Console

    quiet = Console(file=io.StringIO())  # quiet per-run output: the bench shows one bar
    for i, job in enumerate(plan.jobs):
        folder = runs_root / job.key
        done = finished_run(folder)
        if done is None and max_minutes is not None and time.monotonic() - start > max_minutes * 60:
            missing.append(job)
            continue
        if on_progress:
            on_progress(i, len(plan.jobs), f"{job.model} {job.task}/{job.feature_set} fold {job.fold}")
        if done is None:
            if folder.exists():
                shutil.rmtree(folder)  # an unfinished run: start it again
            config = dataclasses.replace(
                base, model=job.model, task=job.task, feature_set=job.feature_set, seed=job.seed,
                split=job.split_spec, out=folder,
            )  # fmt: skip
            done = train(config, progress=False, console=quiet, tracker=tracker)
            scored_songs(done, device=base.device)
        finished[job] = done
    if on_progress:
        on_progress(len(plan.jobs), len(plan.jobs), "done")
    return finished, missing
