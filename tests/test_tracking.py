"""Tracking: train, cv and bench mirrored into MLflow and TensorBoard, read back with their own readers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from task_stores import write_tiny_store

from mer_zoo.metrics import flatten
from mer_zoo.tracking import Tracker, TrackingSpec, flat_params, open_tracker
from mer_zoo.tracking.base import Trackers
from mer_zoo.tracking.mlflow_tracker import tracking_uri

Cli = Callable[[list[Any]], int]
EPOCHS = 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("tracking") / "tiny.h5", n_songs=12)


@pytest.fixture(scope="module")
def tracked_run(cli: Cli, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 3-epoch cnn_small run logged to an MLflow file store and to TensorBoard."""
    tmp = tmp_path_factory.mktemp("tracked")
    args = ["train", "--model", "cnn_small", "--features", tiny, "--out", tmp / "runs", "--epochs", EPOCHS]
    args += ["--batch-size", "8", "--device", "cpu", "--mlflow", f"file:{tmp}/mlruns", "--tensorboard", tmp / "tb"]
    assert cli(args) == 0
    (run,) = (tmp / "runs").iterdir()
    return {"run": run, "mlruns": tmp / "mlruns", "tb": tmp / "tb"}


def _client(store: Path) -> Any:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"file:{store}")


def _runs(store: Path) -> list[Any]:
    client = _client(store)
    experiment = client.get_experiment_by_name("mer-zoo")
    return list(client.search_runs([experiment.experiment_id]))


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_mlflow_holds_the_params_each_epoch_and_the_test_figures(tracked_run: dict[str, Path]) -> None:
    run_dir = tracked_run["run"]
    (run,) = _runs(tracked_run["mlruns"])
    client = _client(tracked_run["mlruns"])
    config, metrics = _json(run_dir / "config.json"), _json(run_dir / "metrics.json")
    params = run.data.params
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert params["train.model"] == "cnn_small" and params["train.epochs"] == str(EPOCHS)
    assert params["train.lr"] == "0.001" and params["model.params"] == str(config["model"]["params"])
    assert params["split.test"] == json.dumps(config["split"]["test"]) and params["run_dir"] == str(run_dir)

    history = pd.read_csv(run_dir / "history.csv")
    val_loss = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in val_loss] == [1, 2, 3]
    assert [m.value for m in val_loss] == pytest.approx(history["val_loss"].tolist(), rel=1e-12)
    assert len(client.get_metric_history(run.info.run_id, "lr")) == EPOCHS

    test = flatten(metrics["test"])
    assert test and {f"test.{k}": v for k, v in test.items()} == {
        k: v for k, v in run.data.metrics.items() if k.startswith("test.") and k != "test.vs_baseline"
    }
    assert run.data.metrics["test.vs_baseline"] == pytest.approx(
        metrics["test"]["mse"] / metrics["test"]["baseline_mse"]
    )
    assert run.data.metrics["best_epoch"] == metrics["best_epoch"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "curves.png", "best.pt"} <= artifacts


def test_tensorboard_events_hold_the_same_numbers(tracked_run: dict[str, Path]) -> None:
    run_dir = tracked_run["run"]
    (folder,) = tracked_run["tb"].iterdir()
    assert folder.name == run_dir.name
    scalars = _scalars(folder)
    history = pd.read_csv(run_dir / "history.csv")
    for tag, column in (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("lr", "lr")):
        assert [s for s, _ in scalars[tag]] == [1, 2, 3]
        assert [v for _, v in scalars[tag]] == pytest.approx(history[column].tolist(), rel=1e-6)
    assert len(scalars["time/data_seconds"]) == EPOCHS
    metrics = _json(run_dir / "metrics.json")
    for part in ("val", "test"):
        for name, value in flatten(metrics[part]).items():
            assert scalars[f"{part}/{name}"] == [(EPOCHS, pytest.approx(value, rel=1e-6))]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| train.epochs | 3 |" in text and "| train.model | cnn_small |" in text


def test_cv_is_a_parent_run_with_a_child_per_fold_and_fitted_models_log_their_figures(
    cli: Cli, tiny: Path, tmp_path: Path
) -> None:
    mlruns, tb = tmp_path / "mlruns", tmp_path / "tb"
    args = ["cv", "--model", "ridge", "--folds", "2", "--features", tiny, "--out", tmp_path / "runs"]
    assert cli([*args, "--mlflow", mlruns, "--tensorboard", tb]) == 0
    (parent_dir,) = (tmp_path / "runs").iterdir()
    summary = _json(parent_dir / "cv.json")
    runs = {r.info.run_name: r for r in _runs(mlruns)}
    parent = runs.pop(parent_dir.name)
    assert sorted(runs) == sorted(summary["runs"])
    for name, child in runs.items():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        fold = _json(parent_dir / name / "metrics.json")
        assert child.data.metrics["test.mse"] == fold["test"]["mse"] and "val_loss" not in child.data.metrics
    assert parent.data.metrics["test.mse"] == pytest.approx(summary["test"]["mse"]["mean"])
    assert parent.data.metrics["std.test.mse"] == pytest.approx(summary["test"]["mse"]["std"])
    assert parent.data.params["cv.folds"] == "2"
    fold_tb = _scalars(tb / parent_dir.name / summary["runs"][0])
    assert fold_tb["test/mse"] == [
        (0, pytest.approx(_json(parent_dir / summary["runs"][0] / "metrics.json")["test"]["mse"]))
    ]


@pytest.mark.slow
def test_bench_is_a_parent_run_with_a_child_per_run(cli: Cli, tiny: Path, tmp_path: Path) -> None:
    out, mlruns = tmp_path / "bench", tmp_path / "mlruns"
    args = ["bench", "--features", tiny, "--models", "ridge", "--tasks", "window", "--folds", "2", "--out", out]
    assert cli([*args, "--mlflow", mlruns]) == 0
    runs = _runs(mlruns)
    (parent,) = [r for r in runs if r.info.run_name == f"bench-{out.name}"]
    children = [r for r in runs if r is not parent]
    assert len(children) == 4  # mean and ridge, 2 folds each
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    assert "leaderboard.json" in {a.path for a in _client(mlruns).list_artifacts(parent.info.run_id)}


@pytest.mark.parametrize(("flag", "module"), [("--mlflow", "mlflow"), ("--tensorboard", "torch.utils.tensorboard")])
def test_a_missing_package_is_one_line_naming_the_extra(
    cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    flag: str, module: str,
) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, module, None)  # `import` raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    args = ["train", "--model", "mean", "--features", tiny, "--out", tmp_path / "runs", flag, tmp_path / "t"]
    assert cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'mer-zoo: error: {flag} needs {"MLflow" if flag == "--mlflow" else "TensorBoard"}: '
                   'pip install "mer-zoo[tracking]"']  # fmt: skip
    assert not (tmp_path / "runs").exists()


def test_a_tracking_uri_that_does_not_answer_is_refused_before_any_work(
    cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--model", "mean", "--features", tiny, "--out", tmp_path / "runs"]
    assert cli([*args, "--mlflow", "nosuchscheme://x"]) == 2
    assert capsys.readouterr().err.startswith("mer-zoo: error: --mlflow nosuchscheme://x:")
    assert not (tmp_path / "runs").exists()


class _Broken(Tracker):
    label = "Broken"

    def child(self, name: str, params: Mapping[str, str]) -> Tracker:
        return self

    def epoch(self, row: Mapping[str, float]) -> None:
        raise OSError("disk full")


class _Seen(Tracker):
    def __init__(self) -> None:
        self.rows: list[Mapping[str, float]] = []
        self.status = ""

    def epoch(self, row: Mapping[str, float]) -> None:
        self.rows.append(row)

    def close(self, status: str) -> None:
        self.status = status


def test_a_failing_backend_is_dropped_with_a_warning_and_the_others_go_on(capsys: pytest.CaptureFixture[str]) -> None:
    seen = _Seen()
    with Trackers([_Broken(), seen]).run("r", {}) as tracked:
        tracked.epoch({"epoch": 1})
        tracked.epoch({"epoch": 2})
    assert len(seen.rows) == 2 and seen.status == "FINISHED"
    warnings = capsys.readouterr().err.strip().splitlines()
    assert warnings == ["mer-zoo: warning: Broken tracking failed (OSError: disk full); the run goes on without it"]


def test_params_and_uris() -> None:
    params = flat_params({"train": {"lr": 0.01, "model_options": {"dropout": 0.2}}, "split": {"test": list(range(20))}})
    assert params == {"train.lr": "0.01", "train.model_options.dropout": "0.2", "split.test": "[20 items]"}
    assert tracking_uri("mlruns") == tracking_uri("file:mlruns") == Path("mlruns").resolve().as_uri()
    assert tracking_uri("sqlite:///m.db") == f"sqlite:///{Path('m.db').resolve()}"
    assert tracking_uri("file:/tmp/m") == "file:/tmp/m" and tracking_uri("http://host:5000") == "http://host:5000"
    spec = TrackingSpec(tensorboard="tb", mlflow="mlruns").absolute()
    assert spec.tensorboard == str(Path("tb").resolve()) and spec.mlflow == Path("mlruns").resolve().as_uri()
    assert open_tracker(TrackingSpec()) is open_tracker(None)
