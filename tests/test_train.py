"""`mer-zoo train`: the run directory, song-level split, determinism, resume, the mean model, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from mer_zoo.errors import InputError
from mer_zoo.training import TrainConfig

Cli = Callable[[list[Any]], int]
DIMENSION_KEYS = {"mse", "rmse", "r2", "pearson", "ccc"}
PART_KEYS = {"n_songs", "n_windows", "mse", "baseline_mse", "arousal", "valence"}


def _train(cli: Cli, store: Path, out: Path, *extra: Any) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    code = cli(["train", "--features", store, "--out", out, "--batch-size", "16", "--device", "cpu", *extra])
    assert code == 0
    (run,) = set(out.iterdir()) - before
    return run


def _metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


def test_run_directory_layout(cnn_run: Path) -> None:
    assert cnn_run.name.startswith("cnn_small-")
    for name in ("config.json", "history.csv", "best.pt", "last.pt", "metrics.json", "curves.png"):
        assert (cnn_run / name).is_file(), name
    assert (cnn_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = pd.read_csv(cnn_run / "history.csv")
    assert list(history.columns[:5]) == ["epoch", "train_loss", "val_loss", "lr", "seconds"]
    assert history["epoch"].tolist() == [1, 2]

    config = json.loads((cnn_run / "config.json").read_text())
    assert config["train"]["epochs"] == 2 and config["train"]["seed"] == 3 and config["train"]["model"] == "cnn_small"
    assert config["store"]["feature_config"]["n_mels"] == 128 and Path(config["store"]["path"]).is_file()
    assert len(config["normalizer"]["mean"]) == 128

    metrics = _metrics(cnn_run)
    assert metrics["model"] == "cnn_small" and metrics["scale"] == "[-1, 1]" and metrics["split"]["kind"] == "random"
    for part in ("val", "test"):
        assert set(metrics[part]) == PART_KEYS
        for dim in ("arousal", "valence"):
            assert set(metrics[part][dim]) == DIMENSION_KEYS
    assert metrics["test"]["baseline_mse"] > 0 and metrics["params"] > 0


def test_split_is_by_song(cnn_run: Path) -> None:
    config = json.loads((cnn_run / "config.json").read_text())
    parts = {p: set(config["split"][p]) for p in ("train", "val", "test")}
    assert parts["train"] and parts["val"] and parts["test"]
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"] or parts["val"] & parts["test"])
    metrics = _metrics(cnn_run)
    assert metrics["test"]["n_songs"] == len(parts["test"]) and metrics["val"]["n_songs"] == len(parts["val"])


def test_checkpoints_load_with_weights_only(cnn_run: Path) -> None:
    best = torch.load(cnn_run / "best.pt", weights_only=True)
    last = torch.load(cnn_run / "last.pt", weights_only=True)
    assert best["format"] == "mer-zoo-checkpoint" and best["model"] == "cnn_small"
    assert last["epoch"] == 2 and {"optimizer", "scheduler", "rng"} <= set(last)
    assert best["state_dict"].keys() == last["state_dict"].keys()


def test_same_seed_same_figures_and_resume_matches(cli: Cli, demo_store: Path, cnn_run: Path, tmp_path: Path) -> None:
    again = _train(cli, demo_store, tmp_path, "--model", "cnn_small", "--epochs", "2", "--seed", "3")
    assert _metrics(again)["test"] == _metrics(cnn_run)["test"]

    # An interrupted run (one epoch done) resumed to two epochs ends exactly where the whole run did.
    short = _train(cli, demo_store, tmp_path, "--model", "cnn_small", "--epochs", "1", "--seed", "3")
    assert cli(["train", "--resume", short, "--epochs", "2"]) == 0
    assert pd.read_csv(short / "history.csv")[["train_loss", "val_loss"]].equals(
        pd.read_csv(cnn_run / "history.csv")[["train_loss", "val_loss"]]
    )
    assert _metrics(short)["test"] == _metrics(cnn_run)["test"]


def test_loader_workers_change_nothing(cli: Cli, demo_store: Path, cnn_run: Path, tmp_path: Path) -> None:
    run = _train(cli, demo_store, tmp_path, "--model", "cnn_small", "--epochs", "1", "--seed", "3", "--workers", "1")
    first = pd.read_csv(cnn_run / "history.csv").iloc[0]
    assert (
        pd.read_csv(run / "history.csv").iloc[0][["train_loss", "val_loss"]].equals(first[["train_loss", "val_loss"]])
    )


def test_mean_model_is_fitted_not_trained(cli: Cli, demo_store: Path, tmp_path: Path) -> None:
    run = _train(cli, demo_store, tmp_path, "--model", "mean", "--seed", "3")
    assert len(pd.read_csv(run / "history.csv")) == 0
    metrics = _metrics(run)
    assert metrics["epochs_run"] == 0
    for part in ("val", "test"):
        assert metrics[part]["mse"] == pytest.approx(metrics[part]["baseline_mse"], rel=1e-5)
        assert metrics[part]["arousal"]["pearson"] is None  # a constant prediction has no correlation


def test_model_options_reach_the_builder(cli: Cli, demo_store: Path, tmp_path: Path) -> None:
    run = _train(
        cli,
        demo_store,
        tmp_path,
        "--model",
        "crnn",
        "--epochs",
        "1",
        "--opt",
        "hidden=8",
        "--opt",
        "dropout=0.5",
        "--augment",
    )
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["options"] == {"hidden": 8, "dropout": 0.5} and config["train"]["augment"] is True
    from mer_zoo.models import get_model

    assert config["model"]["params"] == sum(p.numel() for p in get_model("crnn", hidden=8).parameters())
    assert config["model"]["params"] < sum(p.numel() for p in get_model("crnn").parameters())


def test_early_stopping(cli: Cli, demo_store: Path, tmp_path: Path) -> None:
    # With a vanishing learning rate no epoch beats the first, so patience 1 stops after epoch 2.
    args = ["--model", "cnn_small", "--epochs", "5", "--lr", "1e-20", "--patience", "1", "--schedule", "cosine"]
    run = _train(cli, demo_store, tmp_path, *args)
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert history["lr"].iloc[1] < history["lr"].iloc[0]  # cosine decay
    assert _metrics(run)["best_epoch"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "cnn_small", "--features", "missing.h5"], 2, "missing.h5: no such feature store"),
        (["--model", "cnn_smal"], 2, "did you mean cnn_small"),
        (["--model", "cnn_small", "--opt", "novalue"], 2, "expected KEY=VALUE"),
        (["--model", "crnn", "--opt", "hidden=abc"], 2, "rejected its options {'hidden': 'abc'}"),
        (["--model", "cnn_small", "--epochs", "0"], 2, "--epochs must be at least 1"),
        (["--model", "cnn_small", "--split", "kfold:9/3"], 2, "fold 9 of 3"),
        (["--resume", "no/such/run"], 2, "no such run directory"),
        ([], 2, "--model is required"),
    ],
)
def test_bad_arguments_give_one_line(
    cli: Cli,
    demo_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    if "--features" not in args:
        args = [*args, "--features", demo_store]
    assert cli(["train", "--out", tmp_path / "runs", *args]) == code
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_model_that_needs_other_mels_is_refused(
    cli: Cli, demo_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mer_zoo.models import register_model
    from mer_zoo.models.registry import REGISTRY

    if "h5_test_needs_64_mels" not in REGISTRY.names():

        @register_model("h5_test_needs_64_mels", n_mels=64)
        def _builder(*, n_mels: int = 64, n_outputs: int = 2) -> torch.nn.Module:
            return torch.nn.Linear(n_mels, n_outputs)

    assert cli(["train", "--model", "h5_test_needs_64_mels", "--features", demo_store, "--out", tmp_path]) == 1
    err = capsys.readouterr().err
    assert "'h5_test_needs_64_mels' expects n_mels=64, but feature set 'mel' has 128 features" in err
    assert err.count("\n") == 1 and not list(tmp_path.iterdir())  # refused before any run directory


def test_config_round_trip() -> None:
    config = TrainConfig(model="crnn", epochs=3, model_options={"hidden": 32})
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_default_patience_is_half_the_epochs_at_least_10_and_no_schedule() -> None:
    from mer_zoo.training.config import default_patience

    assert [default_patience(e) for e in (5, 20, 30, 60)] == [10, 10, 15, 30]
    config = TrainConfig(model="cnn_small", epochs=40)
    assert config.patience == 20 and config.schedule == "none"
    assert TrainConfig(model="cnn_small", epochs=40, patience=3, schedule="plateau").patience == 3
    assert TrainConfig.from_dict(config.to_dict()) == config  # the resolved patience is what the run records
    with pytest.raises(InputError, match="--schedule must be one of none, plateau, cosine"):
        TrainConfig(model="cnn_small", schedule="step")
