"""``tune``: an Optuna study over a search space, cross-validated by song on the training and
validation songs; the best configuration trained once on the split and scored on its test songs.

The study lives in Optuna's storage (``sqlite:///OUT/optuna.db`` unless ``--storage`` names
another), under a name derived from everything that defines the objective (model, task, set,
store, split, seed, folds, space, the fixed train options), so the same command with a larger
``--trials`` continues it; a study named with ``--study`` but made with other settings is refused.
Layout::

    OUT/STUDY/trial-NNNN/cv-.../   each trial's cross-validation (its fold runs, cv.json)
    OUT/STUDY/tune.json            the study, its objective, the test songs, the best trial and run
    OUT/STUDY/trials.csv           one row per trial
    OUT/MODEL-TIMESTAMP/           the best configuration: an ordinary run (config.json,
                                   metrics.json, ...) plus tune.json naming its study
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.runs import open_run, write_json
from mer_zoo.tasks import get_task
from mer_zoo.tracking import TrackingSpec
from mer_zoo.training import TrainConfig, check_run
from mer_zoo.tune.objective import TRIAL_ERRORS, TuneSetup, objective, trial_config
from mer_zoo.tune.report import FINISHED, trial_record
from mer_zoo.tune.space import TRAIN_OPTIONS, SearchSpace

__all__ = ["TUNE_FILE", "make_pruner", "prepare", "run_trials", "storage_url", "study_settings"]

TUNE_FILE = "tune.json"
# Not part of what a study optimises: where runs go and how they compute.
_NOT_SETTINGS = ("out", "device", "num_workers", "songs")


def storage_url(text: str | None, out: Path) -> str:
    """Optuna's storage URL: ``sqlite:///OUT/optuna.db`` by default; a relative SQLite path made absolute
    (Dask workers resolve paths from their own folder)."""
    if not text:
        return f"sqlite:///{(out / 'optuna.db').resolve()}"
    prefix = "sqlite:///"
    if text.startswith(prefix) and not text[len(prefix) :].startswith("/") and text[len(prefix) :] != ":memory:":
        return prefix + str(Path(text[len(prefix) :]).resolve())
    return text


def prepare(
    base: TrainConfig, space: SearchSpace, folds: int, folder_of: Callable[[str], Path], tracking: TrackingSpec | None
) -> tuple[TuneSetup, dict[str, Any]]:
    """Every check before any trial, and the split: the setup and the study's settings.

    The split (``base.split`` under ``base.seed``) is made here, once: its test songs are set
    aside; the space's options are tried at both ends of their ranges on the model and store,
    so an unknown or impossible option is refused now. ``folder_of(name)`` is the study's folder.
    """
    if folds < 2:
        raise InputError(f"--folds must be at least 2, got {folds}")
    base = dataclasses.replace(base, features=base.features.resolve(), out=base.out.resolve(), songs=None)
    checked = check_run(base)
    split = checked.split(base)
    pool = tuple(sorted(split.train + split.val))
    if len(pool) < 2 * folds:
        raise InputError(f"--folds {folds}: the split leaves {len(pool)} training+validation songs, too few")
    for params in space.ends():
        try:
            check_run(trial_config(base, params, songs=list(pool)))
        except InputError as err:
            raise InputError(f"{space.source}: {err}") from None
    tuned = {TRAIN_OPTIONS[d.name] for d in space.dimensions if d.name in TRAIN_OPTIONS}
    fixed = {k: v for k, v in base.to_dict().items() if k not in (*_NOT_SETTINGS, *tuned)}
    settings = {"fixed": fixed, "space": space.to_dict(), "folds": folds, "split": split.label(),
                "test_songs": list(split.test)}  # fmt: skip
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    name = f"{checked.info.name}-{base.task}-{base.feature_set}-{digest}"
    setup = TuneSetup(base, space, folds, pool, tuple(split.test), folder_of(name), tracking)
    return setup, {**settings, "name": name}


def study_settings(study: Any) -> dict[str, Any] | None:
    """The settings a study was made with (None for a study mer-zoo did not make)."""
    value = study.user_attrs.get("settings")
    return value if isinstance(value, dict) else None


def make_pruner(prune: bool) -> Any:
    """Optuna's MedianPruner over folds (a trial stops when its running mean after a fold is worse
    than the median of earlier trials' at that fold), or none."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5) if prune else optuna.pruners.NopPruner()


def finished(study: Any) -> int:
    """The trials that count towards ``--trials``: complete or pruned."""
    import optuna

    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    return len(study.get_trials(deepcopy=False, states=states))


def run_trials(study: Any, setup: TuneSetup, trials: int, on_trial: Callable[[dict[str, Any]], None]) -> None:
    """Run trials in this process until ``trials`` are complete or pruned (at most as many attempts as were missing)."""
    import optuna
    from optuna.study import MaxTrialsCallback

    missing = trials - finished(study)
    if missing <= 0:
        return
    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    study.sampler = optuna.samplers.TPESampler(seed=setup.base.seed + len(study.trials))  # no repeat on resume
    study.optimize(
        lambda trial: objective(trial, setup),
        n_trials=missing,
        catch=TRIAL_ERRORS,
        callbacks=[MaxTrialsCallback(trials, states=states), lambda _, t: on_trial(trial_record(t))],
    )


def best_run(setup: TuneSetup, best: Any, previous: dict[str, Any] | None) -> tuple[Path | None, bool]:
    """The best configuration's run from an earlier call when the best trial is the same (and it finished)."""
    if previous and previous.get("best", {}).get("trial") == best.number and previous.get("run"):
        run = Path(previous["run"])
        if (run / "metrics.json").is_file():
            return run, True
    return None, False


def check_test_songs(run_dir: Path, setup: TuneSetup) -> None:
    """MerZooError unless the best configuration's run was scored on exactly the study's test songs."""
    got = tuple(open_run(run_dir).split().test)
    if got != setup.test:
        raise MerZooError(
            f"{run_dir}: its test songs differ from those the study set aside ({len(got)} vs {len(setup.test)})"
        )


@dataclass
class StudyRecord:
    """``tune.json``: the study, its objective and test songs, its best trial and the best configuration's run."""

    name: str
    storage: str
    settings: dict[str, Any]
    best: dict[str, Any]
    run: str
    trials: dict[str, int]

    def write(self, folder: Path) -> None:
        """Write ``folder/tune.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        figure = get_task(self.settings["fixed"]["task"]).rank_by[0]
        write_json(folder / TUNE_FILE, {
            "study": self.name, "storage": self.storage,
            "objective": f"mean {figure} over {self.settings['folds']} song folds of the split's training and "
                         "validation songs (lower is better)",
            "test_songs": self.settings["test_songs"], "best": self.best, "run": self.run, "trials": self.trials,
            "settings": self.settings,
        })  # fmt: skip
