"""A trial: a cross-validation by song over the study's training and validation songs only.

The study's split is made once, before any trial (:class:`TuneSetup`): its test songs are set
aside, and every trial's ``cv`` runs on the others (``TrainConfig.songs``), so no trial can
see a test song. The objective is the mean, over the folds, of the task's ranking figure on
each fold's held-out songs (MSE for window and static, RMSE per song for dynamic; lower is
better). After each fold the running mean goes to Optuna's pruner, which may stop the trial.
Each trial records the songs its folds used (``songs``) and held out (``held_out``), its
folder and where it ran (``host:pid``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_zoo.errors import MerZooError, Stopped, describe
from mer_zoo.folds import inner_family
from mer_zoo.runs import open_run
from mer_zoo.tasks import get_task, lookup
from mer_zoo.tracking import TrackingSpec, open_tracker
from mer_zoo.training import TrainConfig, cross_validate
from mer_zoo.tune.space import SearchSpace, split_params

__all__ = ["TRIAL_ERRORS", "TuneSetup", "objective", "trial_config"]

# What fails one trial, recorded (state FAIL, user attribute ``error``) while the study goes on:
# our own errors, and a configuration the model or the device cannot take (CUDA out of memory
# is a RuntimeError, a model's own refusal of a value a ValueError).
TRIAL_ERRORS = (MerZooError, RuntimeError, ValueError, ArithmeticError)


@dataclass(frozen=True)
class TuneSetup:
    """Everything a trial needs, in plain values (it travels to Dask workers).

    Attributes:
        base: the command line's train options (absolute paths; ``split`` is the study's split).
        space: the tuned options.
        folds: song folds per trial.
        pool: the split's training and validation songs, the only songs trials use.
        test: the split's test songs, set aside for the best configuration's one scoring.
        folder: the study's folder (``trial-NNNN/`` per trial).
        tracking: where trials are tracked (None: not tracked).
    """

    base: TrainConfig
    space: SearchSpace
    folds: int
    pool: tuple[int, ...]
    test: tuple[int, ...]
    folder: Path
    tracking: TrackingSpec | None = None

    @property
    def figure(self) -> str:
        """The metrics-block path the study minimises (the task's ranking figure)."""
        return get_task(self.base.task).rank_by[0]


def trial_config(base: TrainConfig, params: Mapping[str, Any], **changes: Any) -> TrainConfig:
    """``base`` with a trial's values (train options and model options) and ``changes`` applied."""
    train, model = split_params(params)
    return dataclasses.replace(base, **train, model_options={**base.model_options, **model}, **changes)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def objective(trial: Any, setup: TuneSetup) -> float:
    """Cross-validate the trial's configuration over ``setup.pool``; the mean held-out figure over folds."""
    import optuna

    params = setup.space.suggest(trial)
    folder = setup.folder / f"trial-{trial.number:04d}"
    config = trial_config(setup.base, params, songs=list(setup.pool), out=folder)
    values: list[float] = []
    songs: set[int] = set()
    held_out: list[list[int]] = []

    def after_fold(fold: int, run_dir: Path) -> None:
        split = open_run(run_dir).split()
        songs.update(split.part("all"))
        held_out.append(list(split.test))
        value = lookup(json.loads((run_dir / "metrics.json").read_text())["test"], setup.figure)
        if value is None:
            raise MerZooError(f"{run_dir}: metrics.json has no {setup.figure}")
        values.append(float(value))
        trial.report(_mean(values), fold)
        if trial.should_prune():
            raise Stopped(f"pruned after fold {fold} of {setup.folds}")

    from rich.console import Console

    quiet = Console(file=io.StringIO())  # a trial's folds print nothing; the study prints a line per trial
    try:
        cross_validate(config, setup.folds, split=inner_family(config.split), progress=False, console=quiet,
                       tracker=open_tracker(setup.tracking), on_fold=after_fold)  # fmt: skip
    except Stopped as stop:
        raise optuna.TrialPruned(str(stop)) from None
    except TRIAL_ERRORS as err:
        trial.set_user_attr("error", describe(err)[:500])
        raise
    finally:
        trial.set_user_attr("folder", str(folder))
        trial.set_user_attr("where", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("songs", sorted(songs))
        trial.set_user_attr("held_out", held_out)
        trial.set_user_attr("fold_values", values)
    return _mean(values)
