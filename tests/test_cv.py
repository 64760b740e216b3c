"""`mer-zoo cv`: k folds by song under one folder, cv.json with mean ± std over folds, and compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from task_stores import write_tiny_store

Cli = Callable[[list[Any]], int]
FOLDS = 3


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("cv") / "tiny.h5", n_songs=12)


@pytest.fixture(scope="module")
def cnn_cv(cli: Cli, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cv_runs")
    args = ["cv", "--model", "cnn_small", "--folds", FOLDS, "--features", tiny, "--out", out]
    assert cli([*args, "--epochs", "1", "--batch-size", "8", "--device", "cpu"]) == 0
    (parent,) = out.iterdir()
    return parent


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_one_run_per_fold_and_every_song_tested_once(cnn_cv: Path) -> None:
    assert cnn_cv.name.startswith("cv-cnn_small-window-")
    folds = sorted(p for p in cnn_cv.iterdir() if p.is_dir())
    assert len(folds) == FOLDS
    tested: list[int] = []
    for i, run in enumerate(folds, start=1):
        split = _json(run / "config.json")["split"]
        assert split["kind"] == "kfold" and split["params"]["fold"] == i and split["params"]["k"] == FOLDS
        assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
        tested += split["test"]
    assert sorted(tested) == list(range(1, 13))


def test_cv_json_is_mean_and_std_over_folds(cnn_cv: Path) -> None:
    summary = _json(cnn_cv / "cv.json")
    assert summary["kind"] == "cv" and summary["folds"] == FOLDS and summary["task"] == "window"
    assert summary["scale"] == "[-1, 1]" and summary["split"]["songs"] == 12 and len(summary["runs"]) == FOLDS
    fold_mse = [_json(cnn_cv / name / "metrics.json")["test"]["mse"] for name in summary["runs"]]
    entry = summary["test"]["mse"]
    assert entry["values"] == fold_mse and entry["n"] == FOLDS
    assert entry["mean"] == pytest.approx(np.mean(fold_mse)) and entry["std"] == pytest.approx(np.std(fold_mse))
    assert {"arousal.ccc", "valence.r2", "baseline_mse", "vs_baseline"} <= set(summary["test"]) and "val" in summary


def test_cv_prints_its_summary(cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli(["cv", "--model", "mean", "--folds", "2", "--task", "static", "--features", tiny, "--out", tmp_path]) == 0
    )
    out = capsys.readouterr().out
    assert "2-fold cv by song (task static, scale [1, 9], 12 songs, seed 0)" in out and "mean ± std" in out
    (parent,) = tmp_path.iterdir()
    assert _json(parent / "cv.json")["test"]["vs_baseline"]["mean"] == pytest.approx(1.0, rel=1e-5)


def test_compare_shows_cv_with_its_spread(
    cli: Cli, cnn_cv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fold = sorted(p for p in cnn_cv.iterdir() if p.is_dir())[0]
    csv, md = tmp_path / "board.csv", tmp_path / "board.md"
    assert cli(["compare", cnn_cv, fold, "--csv", csv, "--markdown", md]) == 0
    captured = capsys.readouterr()
    assert "± = std over folds" in captured.out and "2 groups" in captured.err
    board = pd.read_csv(csv)
    cv_row = board[board["run"] == cnn_cv.name].iloc[0]
    summary = _json(cnn_cv / "cv.json")["test"]["mse"]
    assert cv_row["test_mse"] == pytest.approx(summary["mean"]) and cv_row["test_mse_fold_std"] == pytest.approx(
        summary["std"]
    )
    assert board["group"].nunique() == 2  # a fold's own test songs are not the cross-validation's
    assert f"{summary['mean']:.4f} ± {summary['std']:.3f}" in md.read_text()


def test_bad_folds_and_refusals_leave_nothing(
    cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["cv", "--model", "cnn_small", "--folds", "1", "--features", tiny, "--out", tmp_path / "a"]) == 2
    assert "--folds must be at least 2" in capsys.readouterr().err
    assert cli(["cv", "--model", "cnn_small", "--folds", "40", "--features", tiny, "--out", tmp_path / "b"]) == 1
    assert "cannot make 40 folds from 12 songs" in capsys.readouterr().err
    assert not any((tmp_path / "b").iterdir())
