"""`mer-zoo tune`: an Optuna study by song folds of the training and validation songs, resumed,
its test songs never seen by a trial and scored once by the best configuration; the space file."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from task_stores import write_tiny_store

from mer_zoo.errors import InputError
from mer_zoo.training import TrainConfig
from mer_zoo.tune import TuneSetup, objective, parse_space
from mer_zoo.tune.space import Dimension

Cli = Callable[[list[Any]], int]
BIN = Path(sys.executable).parent
SONGS = 16
SPACE = """\
# what the study tunes
lr: {type: log, low: 1e-4, high: 1e-2}     # YAML reads 1e-4 as text: taken as a number
batch-size: {type: categorical, choices: [16, 32]}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("tune") / "tiny.h5", n_songs=SONGS)


def _tune(cli: Cli, store: Path, folder: Path, trials: int, *extra: Any) -> int:
    space = folder / "space.yaml"
    if not space.exists():
        space.write_text(SPACE)
    args = ["tune", "--model", "cnn_small", "--space", space, "--trials", trials, "--folds", "2", "--epochs", "2"]
    args += ["--batch-size", "16", "--features", store, "--out", folder / "tune", "--device", "cpu", "--no-progress"]
    return cli([*args, "--storage", f"sqlite:///{folder}/study.db", *extra])


def _study(folder: Path) -> Any:
    (name,) = optuna.get_all_study_names(f"sqlite:///{folder}/study.db")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/study.db")


def _record(folder: Path) -> dict[str, Any]:
    """The study's tune.json (OUT/STUDY/tune.json)."""
    return json.loads((folder / "tune" / _study(folder).study_name / "tune.json").read_text())


@pytest.fixture(scope="module")
def tuned(cli: Cli, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 3-trial study of cnn_small (2 epochs, 2 folds), then the same command with --trials 5 (tracked)."""
    folder = tmp_path_factory.mktemp("study")
    assert _tune(cli, tiny, folder, 3) == 0
    first = [(t.number, t.state.name, t.params) for t in _study(folder).trials]
    first_tune = _record(folder)
    assert _tune(cli, tiny, folder, 5, "--mlflow", folder / "mlruns") == 0
    return {"folder": folder, "first": first, "first_tune": first_tune}


def test_the_study_has_three_trials_then_the_rerun_adds_two(tuned: dict[str, Any]) -> None:
    assert [(n, s) for n, s, _ in tuned["first"]] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    study = _study(tuned["folder"])
    assert len(study.trials) == 5 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert [(t.number, t.state.name, t.params) for t in study.trials[:3]] == tuned["first"]
    assert len({json.dumps(t.params, sort_keys=True) for t in study.trials}) == 5  # the resumed sampler repeats none
    for t in study.trials:
        assert 1e-4 <= t.params["lr"] <= 1e-2 and t.params["batch-size"] in (16, 32)
        assert t.value == pytest.approx(sum(t.user_attrs["fold_values"]) / 2)


def test_no_trial_sees_a_test_song(tuned: dict[str, Any], tiny: Path) -> None:
    record = _record(tuned["folder"])
    test = set(record["test_songs"])
    best_split = json.loads((Path(record["run"]) / "config.json").read_text())["split"]
    assert test == set(best_split["test"]) and len(test) == 2  # the split's test songs, set aside
    pool = set(best_split["train"]) | set(best_split["val"])
    for trial in _study(tuned["folder"]).trials:
        songs = set(trial.user_attrs["songs"])
        assert songs == pool and not songs & test
        held_out = trial.user_attrs["held_out"]
        assert sorted(s for fold in held_out for s in fold) == sorted(pool)  # every pool song held out once
        fold_runs = sorted(Path(trial.user_attrs["folder"]).glob("cv-*/cnn_small-*/config.json"))
        assert len(fold_runs) == 2
        for config in fold_runs:
            split = json.loads(config.read_text())["split"]
            assert not set(split["train"] + split["val"] + split["test"]) & test


def test_the_best_configuration_is_an_ordinary_run_scored_once(
    tuned: dict[str, Any], cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    study = _study(tuned["folder"])
    record = _record(tuned["folder"])
    assert record["best"]["trial"] == study.best_trial.number and record["trials"] == {"complete": 5}
    run = Path(record["run"])
    config = json.loads((run / "config.json").read_text())["train"]
    assert config["lr"] == study.best_params["lr"] and config["batch_size"] == study.best_params["batch-size"]
    assert config["songs"] is None and config["epochs"] == 2
    assert json.loads((run / "tune.json").read_text())["trial"] == study.best_trial.number
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["n_songs"] == 2
    if tuned["first_tune"]["best"]["trial"] == record["best"]["trial"]:
        assert tuned["first_tune"]["run"] == record["run"]  # an unchanged best is not trained (nor tested) again
    assert cli(["compare", run]) == 0 and cli(["report", run]) == 0
    assert run.name in capsys.readouterr().out and (run / "report.html").is_file()
    trials_csv = (tuned["folder"] / "tune" / record["study"] / "trials.csv").read_text().splitlines()
    assert trials_csv[0] == "trial,state,value,lr,batch-size,folds,seconds" and len(trials_csv) == 6


def test_the_output_says_the_test_songs_are_set_aside(
    cli: Cli, tiny: Path, tuned: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert _tune(cli, tiny, tuned["folder"], 5) == 0  # nothing left to run: the study's summary only
    out = capsys.readouterr().out
    assert "5 of 5 trials finished, 0 to run" in out
    assert "over 2 song folds of the 14 training and validation songs of split random(seed=0" in out
    assert "test songs: 2 set aside before the study (no trial sees them)" in out
    assert "scored on them once, at the end" in out and "the best trial is unchanged" in out


def test_tracked_trials_are_cvs_with_their_folds(tuned: dict[str, Any]) -> None:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{tuned['folder'] / 'mlruns'}")
    runs = client.search_runs([client.get_experiment_by_name("mer-zoo").experiment_id])
    parents = [r for r in runs if r.info.run_name.startswith("cv-cnn_small-")]
    assert len(parents) == 2  # the two trials of the second call
    for parent in parents:
        folds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(folds) == 2 and parent.data.params["train.songs"] == "[14 items]"
        assert all(len(client.get_metric_history(f.info.run_id, "val_loss")) == 2 for f in folds)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ('{"opt.dropout": {"type": "float", "low": 0, "high": 0.5}}', "unexpected keyword argument 'dropout'"),
        ('{"colour": {"type": "int", "low": 1, "high": 3}}', "unknown option 'colour': a space tunes train options"),
        ('{"batch-size": {"type": "int", "low": 0, "high": 8}}', "--batch-size must be at least 1, got 0"),
    ],
)
def test_an_unknown_or_impossible_option_is_refused_before_any_trial(
    cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], space: str, message: str
) -> None:
    (tmp_path / "space.json").write_text(space)
    args = ["tune", "--model", "cnn_small", "--space", tmp_path / "space.json", "--trials", "2", "--features", tiny]
    assert cli([*args, "--out", tmp_path / "tune", "--storage", f"sqlite:///{tmp_path}/study.db"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mer-zoo: error: {tmp_path / 'space.json'}: ") and message in err
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "tune").exists()


def test_a_study_name_with_other_settings_is_refused(
    cli: Cli, tiny: Path, tuned: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name = _study(tuned["folder"]).study_name
    assert _tune(cli, tiny, tuned["folder"], 5, "--study", name, "--seed", "1") == 2
    assert f"study {name!r}" in capsys.readouterr().err and len(_study(tuned["folder"]).trials) == 5


def test_space_entries() -> None:
    space = parse_space(
        {"--Batch_Size": {"choices": [8, 16]}, "opt": {"drop-out": {"type": "float", "low": "0", "high": 0.5}},
         "epochs": {"type": "int", "low": 2, "high": 10, "step": 2}, "lr": {"type": "float", "low": "1e-4", "high": 0.1, "log": True}},
        "s.yaml",
    )  # fmt: skip
    assert space.dimensions == (
        Dimension("batch-size", "categorical", choices=(8, 16)),
        Dimension("opt.drop_out", "float", 0.0, 0.5),
        Dimension("epochs", "int", 2.0, 10.0, 2.0),
        Dimension("lr", "float", 1e-4, 0.1, log=True),
    )
    assert space.ends() == [{"batch-size": 8, "opt.drop_out": 0.0, "epochs": 2, "lr": 1e-4},
                            {"batch-size": 16, "opt.drop_out": 0.5, "epochs": 10, "lr": 0.1}]  # fmt: skip
    for bad, message in (
        ({"lr": {"type": "log", "low": 0, "high": 1}}, "a log scale needs low > 0"),
        ({"epochs": {"type": "int", "low": 1.5, "high": 3}}, "an int range needs whole numbers"),
        ({"lr": 0.01}, "expected a range or choices"),
        ({"lr": {"type": "float", "low": 1, "high": 1}}, "needs low < high"),
        ({"schedule": {"choices": []}}, "choices must be a non-empty list"),
        ({"lr": {"type": "normal", "low": 0, "high": 1}}, "type 'normal'"),
    ):
        with pytest.raises(InputError, match=message):
            parse_space(bad, "s.yaml")


class _PruningTrial(optuna.trial.FixedTrial):
    """A fixed trial whose pruner says stop after the first report."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params, number=7)
        self.reports: list[tuple[float, int]] = []
        self.attrs: dict[str, Any] = {}

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return bool(self.reports)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.attrs[key] = value


def test_a_trial_is_pruned_fold_by_fold(tiny: Path, tmp_path: Path) -> None:
    base = TrainConfig(model="ridge", features=tiny, out=tmp_path, task="static")
    setup = TuneSetup(base, parse_space({"opt.folds": {"type": "int", "low": 2, "high": 3}}), 3,
                      tuple(range(1, 15)), (15, 16), tmp_path)  # fmt: skip
    trial = _PruningTrial({"opt.folds": 2})
    with pytest.raises(optuna.TrialPruned, match="pruned after fold 1 of 3"):
        objective(trial, setup)
    (cv,) = (tmp_path / "trial-0007").iterdir()
    assert len([p for p in cv.iterdir() if p.is_dir()]) == 1 and not (cv / "cv.json").exists()
    assert len(trial.reports) == 1 and trial.reports[0][1] == 1 and trial.attrs["fold_values"] == [trial.reports[0][0]]
    assert not set(trial.attrs["songs"]) & {15, 16} and len(trial.attrs["held_out"]) == 1


@pytest.mark.slow
def test_trials_run_on_the_dask_workers_one_per_worker(cli: Cli, tiny: Path, tmp_path: Path, two_workers: str) -> None:
    (tmp_path / "space.json").write_text('{"opt.epsilon": {"type": "log", "low": 0.01, "high": 0.3}}')
    args = ["tune", "--model", "svr", "--task", "static", "--space", tmp_path / "space.json", "--trials", "3"]
    args += ["--folds", "2", "--features", tiny, "--out", tmp_path / "tune", "--scheduler", two_workers]
    assert cli([*args, "--storage", f"sqlite:///{tmp_path}/study.db", "--no-progress"]) == 0
    trials = _study(tmp_path).trials
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    where = {t.user_attrs["where"] for t in trials}
    assert len(where) == 2 and f"{socket.gethostname()}:{os.getpid()}" not in where  # both workers, not the client
