"""``tune``: check everything, run the study's missing trials (here or on a Dask cluster), then
train the best configuration once on the split and score it on the test songs set aside."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mer_zoo.errors import InputError, MerZooError, describe
from mer_zoo.runs import write_json
from mer_zoo.tracking import TrackingSpec, open_tracker
from mer_zoo.training import TrainConfig, make_console, summary_table, train
from mer_zoo.tune.objective import trial_config
from mer_zoo.tune.report import params_text, trial_line, trial_record, trials_frame, trials_table
from mer_zoo.tune.space import load_space
from mer_zoo.tune.study import (
    TUNE_FILE,
    StudyRecord,
    best_run,
    check_test_songs,
    finished,
    make_pruner,
    prepare,
    run_trials,
    storage_url,
    study_settings,
)

__all__ = ["TuneResult", "tune"]


@dataclass
class TuneResult:
    """A study after ``tune``: its name, storage and folder, the trials, the best trial and its run."""

    study: str
    storage: str
    folder: Path
    trials: pd.DataFrame
    best: dict[str, Any]
    run: Path
    reused: bool


def _open_study(name: str, url: str, settings: dict[str, Any], prune: bool) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=name, storage=url, load_if_exists=True, direction="minimize",
                                    pruner=make_pruner(prune))  # fmt: skip
    except Exception as err:  # a bad URL, an unreachable database, a foreign file
        raise InputError(f"--storage {url}: {describe(err)[:300]}") from None
    recorded = study_settings(study)
    if recorded is None and not study.trials:
        study.set_user_attr("settings", settings)
    elif recorded is None:
        raise InputError(f"study {name!r} in {url} was not made by mer-zoo tune: give another --study")
    elif recorded != json.loads(json.dumps(settings)):
        mine, theirs = settings["fixed"], recorded.get("fixed", {})
        keys = [k for k in settings if k != "fixed" and settings[k] != recorded.get(k)]
        keys += [f"--{k.replace('_', '-')}" for k in sorted({**mine, **theirs}) if mine.get(k) != theirs.get(k)]
        raise InputError(f"study {name!r} in {url} was made with other settings ({', '.join(keys)}): "
                         "give the same options, or another --study")  # fmt: skip
    return study


def tune(
    base: TrainConfig,
    space_path: Path,
    *,
    trials: int,
    folds: int = 3,
    storage: str | None = None,
    study: str | None = None,
    scheduler: str | None = None,
    prune: bool = True,
    tracking: TrackingSpec | None = None,
    progress: bool = True,
    console: Any = None,
) -> TuneResult:
    """Run study ``study`` (derived from the settings when None) up to ``trials`` complete or pruned trials.

    Every check runs before any trial; the split's test songs are set aside before the study
    and scored once, by the best configuration, at the end.
    """
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise InputError('mer-zoo tune needs Optuna: pip install "mer-zoo[tune]"') from None
    if trials < 1:
        raise InputError(f"--trials must be at least 1, got {trials}")
    console = console or make_console()
    space = load_space(Path(space_path))
    out = base.out.resolve()
    tracking = tracking.absolute() if tracking is not None else None  # workers resolve paths from their own folder
    open_tracker(tracking)  # a missing package or a tracking URI that does not answer fails now
    setup, settings = prepare(base, space, folds, lambda name: out / (study or name), tracking)
    name = study or settings["name"]
    url = storage_url(storage, out)
    out.mkdir(parents=True, exist_ok=True)
    opened = _open_study(name, url, settings, prune)
    done = finished(opened)
    missing = max(trials - done, 0)
    figure = setup.figure
    where = f" on the Dask cluster at {scheduler}, one trial per worker" if scheduler and missing else ""
    console.print(
        f"study {name} in {url}: {done} of {trials} trials finished, {missing} to run{where}", highlight=False
    )
    console.print(f"objective: mean {figure} on each fold's held-out songs, over {folds} song folds of the "
                  f"{len(setup.pool)} training and validation songs of split {settings['split']} (lower is better)",
                  highlight=False)  # fmt: skip
    console.print(f"test songs: {len(setup.test)} set aside before the study (no trial sees them); the best "
                  "configuration is scored on them once, at the end", highlight=False)  # fmt: skip

    def show(record: dict[str, Any]) -> None:
        console.print(trial_line(record, figure, folds), highlight=False)

    try:
        if scheduler and missing:
            from mer_zoo.tune.parallel import run_on_cluster

            run_on_cluster(scheduler, setup, name, url, trials=trials, missing=missing, prune=prune, on_trial=show)
        else:
            run_trials(opened, setup, trials, show)
    except KeyboardInterrupt:
        console.print(f"interrupted: the same command continues study {name}")
        raise
    return _finish(opened, setup, settings, name, url, trials, progress, console)


def _finish(
    study: Any, setup: Any, settings: dict[str, Any], name: str, url: str, trials: int, progress: bool, console: Any
) -> TuneResult:
    import optuna

    records = [trial_record(t) for t in study.get_trials(deepcopy=False)]
    frame = trials_frame(records, [d.name for d in setup.space.dimensions])
    setup.folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(setup.folder / "trials.csv", index=False)
    if not any(r["state"] == "COMPLETE" for r in records):
        raise MerZooError(f"study {name}: no trial completed ({len(records)} tried); see {setup.folder / 'trials.csv'}")
    best = study.best_trial
    console.print(trials_table(frame, setup.figure, best.number))
    if finished(study) < trials:
        console.print(f"{trials - finished(study)} trials short of {trials} (failed ones do not count): the same "
                      "command runs them", highlight=False)  # fmt: skip
    best_record = {"trial": best.number, "value": best.value, "params": dict(best.params)}
    console.print(f"best: trial {best.number}, mean {setup.figure} {best.value:.4f} over {setup.folds} folds "
                  f"({params_text(best.params)})", highlight=False)  # fmt: skip
    path = setup.folder / TUNE_FILE
    previous = json.loads(path.read_text()) if path.is_file() else None
    run, reused = best_run(setup, best, previous)
    if run is None:
        console.print(f"training the best configuration on the split's training songs; scoring it once on its "
                      f"{len(setup.test)} test songs", highlight=False)  # fmt: skip
        run = train(trial_config(setup.base, best.params), progress=progress, console=console,
                    tracker=open_tracker(setup.tracking))  # fmt: skip
        write_json(run / TUNE_FILE, {"study": name, "storage": url, **best_record})
    else:
        console.print(
            f"the best trial is unchanged: its run {run} was scored on the test songs already", highlight=False
        )
        console.print(summary_table(json.loads((run / "metrics.json").read_text())))
    check_test_songs(run, setup)
    states = optuna.trial.TrialState
    counts = {s.name.lower(): sum(r["state"] == s.name for r in records) for s in states}
    StudyRecord(name, url, settings, best_record, str(run), {k: v for k, v in counts.items() if v}).write(setup.folder)
    return TuneResult(name, url, setup.folder, frame, best_record, run, reused)
