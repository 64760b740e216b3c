"""The bench's grid: every model x task x set that fit each other, and the pairs skipped with why.

Models are fnmatch patterns over the registry (``mean`` always included). A pair fits when
the checks ``train`` itself makes before any work pass (the model takes the set's kind and
size, and serves the task on this store); each fitting cell runs every fold of every seed.

Folds come from the split mechanism of ``train --split``: a bench's ``--split FAMILY`` (by
default ``kfold``; ``group:artist`` for folds of whole artists) trains fold ``I`` of ``K``
with ``--split FAMILY:I/K``, so any split kind whose spec ends in ``:I/K`` serves a bench as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.folds import fold_split
from mer_zoo.models import check_compatible, get_model_info, list_models
from mer_zoo.runs import store_record
from mer_zoo.splits import parse_split
from mer_zoo.store import FeatureStore
from mer_zoo.tasks import check_task, get_task

__all__ = ["DEFAULT_SPLIT", "BenchJob", "BenchPlan", "make_plan"]

DEFAULT_SPLIT = "kfold"


@dataclass(frozen=True)
class BenchJob:
    """One run of the bench: a model on a task and set, fold ``fold`` of ``folds`` under ``seed``."""

    model: str
    task: str
    feature_set: str
    seed: int
    fold: int
    folds: int
    split: str = DEFAULT_SPLIT

    @property
    def cell(self) -> tuple[str, str, str]:
        """The (task, set, model) the run belongs to."""
        return (self.task, self.feature_set, self.model)

    @property
    def split_spec(self) -> str:
        """The run's ``--split``: fold ``fold`` of ``folds`` in the bench's split family."""
        return fold_split(self.split, self.fold, self.folds)

    @property
    def fold_key(self) -> str:
        """The fold's name, the same for every model (``seed0-fold2``): what pairs the runs."""
        return f"seed{self.seed}-fold{self.fold}"

    @property
    def key(self) -> str:
        """The run's folder name inside the bench (stable, so a rerun finds it)."""
        family = "".join(c if c.isalnum() else "-" for c in self.split)
        return f"{self.task}--{self.feature_set}--{self.model}--{family}--{self.fold_key}of{self.folds}"


@dataclass(frozen=True)
class BenchPlan:
    """The jobs in run order and the (model, task, set, reason) pairs that were skipped."""

    jobs: tuple[BenchJob, ...]
    skipped: tuple[tuple[str, str, str, str], ...]


def expand_models(patterns: Sequence[str]) -> list[str]:
    """The registered models matching any pattern, ``mean`` first; InputError for a pattern matching none."""
    names = ["mean"]
    for pattern in patterns:
        found = list_models(pattern.strip())
        if not found:
            raise InputError(f"--models {pattern!r} matches no registered model (see `mer-zoo models`)")
        names += [n for n in found if n not in names]
    return names


def check_split(store: Path, family: str, folds: int) -> None:
    """InputError (``--split ...: why``) when fold 1 of ``family`` cannot be made on the store's songs."""
    with FeatureStore(store) as opened:
        songs, metadata = opened.songs["song_id"].tolist(), opened.metadata()
    try:
        parse_split(fold_split(family, 1, folds), songs, metadata=metadata)
    except MerZooError as err:
        raise InputError(str(err) if str(err).startswith("--split") else f"--split {family}: {err}") from None


def make_plan(
    store: Path,
    models: Sequence[str],
    tasks: Sequence[str],
    sets: Sequence[str],
    folds: int,
    seeds: Sequence[int],
    split: str = DEFAULT_SPLIT,
) -> BenchPlan:
    """The bench's jobs over ``folds`` song folds of ``split`` and ``seeds``, and the pairs that do not fit."""
    if folds < 2:
        raise InputError(f"--folds must be at least 2, got {folds}")
    if not seeds:
        raise InputError("--seeds needs at least one seed")
    jobs: list[BenchJob] = []
    skipped: list[tuple[str, str, str, str]] = []
    records = {s: store_record(Path(store).resolve(), s) for s in sets}
    check_split(store, split, folds)
    for task_name in tasks:
        task = get_task(task_name)
        for set_name, record in records.items():
            kind, n_features = record["set"]["kind"], record["set"]["shape"][0]
            for model in expand_models(models):
                info = get_model_info(model)
                try:
                    check_compatible(info.name, kind, n_features, set_name)
                    check_task(task, info.name, info.spec.n_outputs, record)
                except MerZooError as err:
                    skipped.append((info.name, task.name, set_name, str(err)))
                    continue
                jobs += [BenchJob(info.name, task.name, set_name, seed, fold, folds, split)
                         for seed in seeds for fold in range(1, folds + 1)]  # fmt: skip
    return BenchPlan(tuple(jobs), tuple(skipped))
