"""`mer-zoo train --task static|dynamic`, file splits, the task check, and models that are fitted, not trained."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from task_stores import FRAMES, WINDOWS, write_tiny_store

from mer_zoo.models import get_model, register_model
from mer_zoo.models.registry import REGISTRY
from mer_zoo.store.reader import FeatureStore
from mer_zoo.training.batches import task_loss

Cli = Callable[[list[Any]], int]
SONGS = 16


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("tiny") / "tiny.h5", n_songs=SONGS)


def _train(cli: Cli, store: Path, out: Path, *extra: Any) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    assert cli(["train", "--features", store, "--out", out, "--batch-size", "8", "--device", "cpu", *extra]) == 0
    (run,) = set(out.iterdir()) - before
    return run


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


class _Ridge(torch.nn.Module):
    """A stand-in for the classical regressors: least squares on the window vectors, state in a buffer."""

    fitted = True
    calls: ClassVar[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("coef", torch.zeros(n_features + 1, 2, dtype=torch.float64))

    def fit_arrays(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        _Ridge.calls.append((x, y, groups))
        design = np.hstack([x, np.ones((len(x), 1))])
        self.coef.copy_(torch.from_numpy(np.linalg.lstsq(design, y.astype(np.float64), rcond=None)[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        design = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
        return (design @ self.coef).float()


def _register_test_models() -> None:
    if "t_ridge" in REGISTRY.names():
        return

    @register_model("t_ridge", inputs=("vector",))
    def _ridge(*, n_mels: int = 128, n_outputs: int = 2) -> torch.nn.Module:
        """Least squares on window vectors (test stand-in)."""
        return _Ridge(n_mels)

    class _ClaimsTemporal(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(1, 2)

        def forward(self, x: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
            return self.linear(x.mean(dim=(1, 2, 3)).unsqueeze(1))  # ignores n_frames

    @register_model("t_claims_temporal", temporal=True)
    def _claims(*, n_mels: int = 128, n_outputs: int = 2) -> torch.nn.Module:
        """Declares temporal outputs but gives one value per window (test)."""
        return _ClaimsTemporal()

    @register_model("t_three_outputs", n_outputs=3)
    def _three(*, n_mels: int = 128, n_outputs: int = 3) -> torch.nn.Module:
        """Three outputs (test)."""
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(n_outputs))


_register_test_models()


def test_static_task_scores_songs_on_the_static_scale(cli: Cli, tiny: Path, tmp_path: Path) -> None:
    run = _train(cli, tiny, tmp_path, "--model", "cnn_small", "--task", "static", "--epochs", "5", "--seed", "1")
    config, metrics = _json(run / "config.json"), _json(run / "metrics.json")
    assert config["train"]["task"] == "static" and config["task"]["scale"] == "[1, 9]"
    assert metrics["task"] == "static" and metrics["scale"] == "[1, 9]" and metrics["unit"] == "songs"
    test = metrics["test"]
    assert test["n_songs"] == len(config["split"]["test"]) and test["n_windows"] == WINDOWS * test["n_songs"]
    with FeatureStore(tiny) as store:
        songs = store.songs.set_index("song_id")
    train_songs = songs.loc[config["split"]["train"]]
    assert config["train_mean"] == pytest.approx(
        [train_songs["arousal_mean"].mean(), train_songs["valence_mean"].mean()]
    )
    assert test["mse"] < test["baseline_mse"] and test["arousal"]["r2"] > 0  # five epochs learn the 1..9 labels
    mean = _train(cli, tiny, tmp_path, "--model", "mean", "--task", "static", "--seed", "1")
    assert _json(mean / "metrics.json")["test"]["mse"] == pytest.approx(test["baseline_mse"], rel=1e-5)


def test_dynamic_task_with_a_temporal_model(cli: Cli, tiny: Path, tmp_path: Path) -> None:
    run = _train(cli, tiny, tmp_path, "--model", "crnn", "--task", "dynamic", "--epochs", "2", "--opt", "hidden=8")
    config, metrics = _json(run / "config.json"), _json(run / "metrics.json")
    assert config["model"]["temporal"] is True and config["store"]["frames_per_window"] == FRAMES
    test = metrics["test"]
    assert test["n_frames"] <= test["n_windows"] * FRAMES and metrics["unit"] == "frames"
    for dim in ("arousal", "valence"):
        assert set(test[dim]) == {"per_song", "baseline_per_song", "pooled"}
        assert test[dim]["per_song"]["rmse"]["n"] == test["n_songs"]
    held = _train(cli, tiny, tmp_path, "--model", "cnn_small", "--task", "dynamic", "--epochs", "1")
    assert _json(held / "metrics.json")["test"]["n_frames"] == test["n_frames"]  # same frames, value held
    assert _json(held / "config.json")["model"]["temporal"] is False


@pytest.mark.parametrize("name", ["crnn", "mel_transformer"])
def test_temporal_models_give_one_value_per_frame(name: str) -> None:
    model = get_model(name, n_mels=16).eval()
    x = torch.randn(3, 1, 16, 41)
    assert model(x).shape == (3, 2)
    assert model(x, n_frames=FRAMES).shape == (3, FRAMES, 2)


def test_frame_loss_ignores_unlabelled_frames() -> None:
    target = torch.tensor([[[0.5, 0.5], [float("nan"), float("nan")]]])
    pred = torch.tensor([[[0.0, 1.0], [100.0, 100.0]]], requires_grad=True)
    loss = task_loss(pred, target)
    assert float(loss.detach()) == pytest.approx(0.25)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and float(pred.grad[0, 1].abs().sum()) == 0.0
    assert float(task_loss(torch.tensor([[0.5, 0.0]]), target)) == pytest.approx(0.125)  # (B, 2) held


@pytest.mark.parametrize(
    ("model", "task", "message"),
    [
        ("t_claims_temporal", "dynamic",
         "model 't_claims_temporal' outputs (2, 2) for a batch of windows (2, 1, 16, 41), "
         "but task 'dynamic' needs (2, 10, 2) (one value per 0.5-s frame (10 per window))"),
        ("t_three_outputs", "window",
         "model 't_three_outputs' has 3 outputs, but task 'window' needs 2 (arousal, valence)"),
    ],
)  # fmt: skip
def test_a_model_that_cannot_serve_the_task_is_refused_before_training(
    cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, task: str, message: str
) -> None:
    out = tmp_path / "runs"
    assert cli(["train", "--model", model, "--task", task, "--features", tiny, "--out", out]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"mer-zoo: error: {message}"
    assert not out.exists() or not any(out.iterdir())


def test_dynamic_task_on_a_static_only_corpus_is_refused(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = write_tiny_store(tmp_path / "static.h5", n_songs=6, static_only=True, dataset="pmemo")
    assert (
        cli(["train", "--model", "cnn_small", "--task", "dynamic", "--features", store, "--out", tmp_path / "r"]) == 1
    )
    assert "task 'dynamic' needs 2 Hz labels, but store" in capsys.readouterr().err
    assert cli(["train", "--model", "cnn_small", "--task", "banana", "--features", store]) == 2


def test_file_split_trains_on_exactly_those_songs(
    cli: Cli, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = {"train": list(range(1, 11)), "val": [11, 12, 99], "test": [13, 14, 15, 16]}
    path = tmp_path / "split.json"
    path.write_text(json.dumps(wanted))
    run = _train(cli, tiny, tmp_path / "runs", "--model", "mean", "--split", f"file:{path}")
    err = capsys.readouterr().err
    assert f"mer-zoo: warning: split file, val part: 1 song ids not in {tiny}, left out: 99" in err
    split = _json(run / "config.json")["split"]
    assert split["train"] == wanted["train"] and split["val"] == [11, 12] and split["test"] == wanted["test"]
    assert split["kind"] == "file" and split["params"]["missing"] == {"val": [99]}
    assert _json(run / "metrics.json")["test"]["n_songs"] == 4


@pytest.mark.parametrize("task", ["window", "static"])
def test_a_classical_model_is_fitted_once_on_window_vectors(cli: Cli, tiny: Path, tmp_path: Path, task: str) -> None:
    _Ridge.calls.clear()
    run = _train(cli, tiny, tmp_path, "--model", "t_ridge", "--task", task, "--seed", "2")
    ((x, y, groups),) = _Ridge.calls
    config, metrics = _json(run / "config.json"), _json(run / "metrics.json")
    train_songs = config["split"]["train"]
    assert x.shape == (WINDOWS * len(train_songs), 2 * 16) and y.shape == (len(x), 2)  # per-bin mean and std
    assert sorted(set(groups.tolist())) == train_songs and np.abs(x.mean(axis=0)).max() < 1e-4  # normalised
    assert np.abs(y).max() <= 1.0  # targets on the model's scale, [-1, 1]
    assert config["model"]["trainable"] is False and metrics["epochs_run"] == 0
    assert len(pd.read_csv(run / "history.csv")) == 0
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["state_dict"]["coef"].abs().sum() > 0
    assert metrics["test"]["mse"] < metrics["test"]["baseline_mse"]  # the tiny store is linear in its vectors
    out = tmp_path / "again.json"
    assert cli(["evaluate", run, "--json", out]) == 0
    assert _json(out)["test"]["mse"] == pytest.approx(metrics["test"]["mse"], rel=1e-6)


def test_a_dynamic_run_resumes_to_the_same_figures(cli: Cli, tiny: Path, tmp_path: Path) -> None:
    args = ("--model", "crnn", "--task", "dynamic", "--opt", "hidden=8", "--seed", "4")
    whole = _train(cli, tiny, tmp_path / "whole", *args, "--epochs", "2")
    short = _train(cli, tiny, tmp_path / "short", *args, "--epochs", "1")
    assert cli(["train", "--resume", short, "--epochs", "2"]) == 0
    history = ["train_loss", "val_loss"]
    assert pd.read_csv(short / "history.csv")[history].equals(pd.read_csv(whole / "history.csv")[history])
    assert _json(short / "metrics.json")["test"] == _json(whole / "metrics.json")["test"]


def test_songs_without_static_labels_are_left_out_by_name(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import h5py

    store = write_tiny_store(tmp_path / "nan.h5", n_songs=10)
    with h5py.File(store, "r+") as f:
        f["songs/valence_mean"][3] = np.nan  # song 4
    run = _train(cli, store, tmp_path / "runs", "--model", "mean", "--task", "static")
    assert f"mer-zoo: warning: 1 songs of {store} have no static labels and are left out: 4" in capsys.readouterr().err
    split = _json(run / "config.json")["split"]
    assert 4 not in split["train"] + split["val"] + split["test"]
    assert len(split["train"] + split["val"] + split["test"]) == 9
