"""End to end through the CLI: evaluate, compare, damaged checkpoints, a store with other settings, the script's exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from mer_zoo.config import FeatureConfig

Cli = Callable[[list[Any]], int]


@pytest.fixture(scope="module")
def mean_run(cli: Cli, demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mean baseline on the same split as ``cnn_run`` (same seed)."""
    out = tmp_path_factory.mktemp("mean_runs")
    assert cli(["train", "--model", "mean", "--features", demo_store, "--out", out, "--seed", "3"]) == 0
    (run,) = out.iterdir()
    return run


@pytest.fixture(scope="module")
def store_64_mels(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three of the demo songs, built with 64 mel bands instead of 128."""
    from mer_zoo.pipeline.build import build_features

    root = tmp_path_factory.mktemp("deam_copy") / "deam"
    shutil.copytree(demo_root, root)
    mp3s = sorted(root.rglob("*.mp3"))
    for extra in mp3s[3:]:
        extra.unlink()
    out = root.parent / "features64.h5"
    build_features(root, out, workers=1, config=FeatureConfig(n_mels=64), progress=False)
    return out


def test_evaluate_reproduces_the_run_metrics(
    cli: Cli, cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    assert cli(["evaluate", cnn_run, "--json", out]) == 0
    printed = capsys.readouterr().out
    assert "cnn_small vs the mean baseline" in printed and "test" in printed
    again, saved = json.loads(out.read_text()), json.loads((cnn_run / "metrics.json").read_text())
    for part in ("val", "test"):
        assert again[part]["mse"] == pytest.approx(saved[part]["mse"], rel=1e-6)
        assert again[part]["baseline_mse"] == pytest.approx(saved[part]["baseline_mse"], rel=1e-9)
        assert again[part]["valence"]["ccc"] == pytest.approx(saved[part]["valence"]["ccc"], rel=1e-5)


def test_evaluate_on_all_songs_of_another_store(cli: Cli, cnn_run: Path, demo_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    assert cli(["evaluate", cnn_run, "--features", demo_store, "--json", out]) == 0
    result = json.loads(out.read_text())
    assert "test" not in result and result["all"]["n_songs"] == 12
    assert result["scale"] == "[-1, 1]"


def test_compare_leaderboard(
    cli: Cli, cnn_run: Path, mean_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md, csv = tmp_path / "board.md", tmp_path / "board.csv"
    assert cli(["compare", mean_run, cnn_run, "--markdown", md, "--csv", csv]) == 0
    captured = capsys.readouterr()
    assert "group 1: task window (scale [-1, 1])" in captured.out and "warning" not in captured.err
    board = pd.read_csv(csv)
    assert set(board["model"]) == {"cnn_small", "mean"} and set(board["group"]) == {1}
    assert board["test_mse"].is_monotonic_increasing
    mean_row = board[board["model"] == "mean"].iloc[0]
    assert mean_row["vs_baseline"] == pytest.approx(1.0, rel=1e-5)  # the mean run is the baseline
    lines = md.read_text().splitlines()
    assert lines[0].startswith(
        "**Group 1**: task window (scale [-1, 1]) on store features.h5 (deam), test part of split"
    )
    assert lines[2].startswith("| run | model | split | test_songs | test_mse |") and len(lines) == 6


def test_compare_needs_finished_runs(cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["compare", tmp_path / "nope"]) == 2
    assert "no such run directory" in capsys.readouterr().err


def _damaged_copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    return copy


@pytest.mark.parametrize("damage", ["truncated", "edited weights", "foreign pickle", "not a checkpoint"])
def test_bad_checkpoint_is_one_line_error(
    cli: Cli, cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    run = _damaged_copy(cnn_run, tmp_path)
    best = run / "best.pt"
    if damage == "truncated":
        best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    elif damage == "edited weights":
        data = torch.load(best, weights_only=True)
        name = next(iter(data["state_dict"]))
        data["state_dict"][name] = data["state_dict"][name] + 0.5
        torch.save(data, best)
    elif damage == "foreign pickle":
        torch.save({"format": "mer-zoo-checkpoint", "hook": shutil.rmtree}, best)  # code, refused by weights_only
    else:
        torch.save({"weights": torch.zeros(3)}, best)
    assert cli(["evaluate", run]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{best}: checkpoint is corrupt or not a mer-zoo checkpoint (" in err


def test_store_with_other_settings_is_refused(
    cli: Cli, cnn_run: Path, store_64_mels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["evaluate", cnn_run, "--features", store_64_mels]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(store_64_mels) in err and str(cnn_run) in err and "n_mels 128 vs 64" in err


def test_evaluate_bad_paths(cli: Cli, cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["evaluate", tmp_path]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert cli(["evaluate", cnn_run, "--features", tmp_path / "none.h5"]) == 2
    assert "none.h5: no such feature store" in capsys.readouterr().err


# --- tasks across the commands, and another corpus ---------------------------------------------


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny songs twice: a DEAM-like store (-1..1, 1..9) and a PMEmo-like one with every label on 0..1."""
    from task_stores import write_tiny_store

    from mer_zoo.store.writer import StoreLabels

    root = tmp_path_factory.mktemp("corpora")
    deam = write_tiny_store(root / "deam.h5", n_songs=12, seed=5)
    pmemo = write_tiny_store(root / "pmemo.h5", n_songs=12, seed=5, dataset="pmemo",
                             labels=StoreLabels(dynamic_scale="0..1", static_scale="0..1"))  # fmt: skip
    return deam, pmemo


def _tiny_run(cli: Cli, store: Path, out: Path, *extra: Any) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    assert (
        cli(
            [
                "train",
                "--features",
                store,
                "--out",
                out,
                "--batch-size",
                "8",
                "--device",
                "cpu",
                "--epochs",
                "1",
                *extra,
            ]
        )
        == 0
    )
    (run,) = set(out.iterdir()) - before
    return run


@pytest.mark.parametrize(("task", "factor"), [("window", 0.25), ("static", 1 / 64), ("dynamic", 0.25)])
def test_cross_corpus_evaluation_maps_predictions_onto_the_other_scale(
    cli: Cli, tiny_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str, factor: float
) -> None:
    deam, pmemo = tiny_pair
    run = _tiny_run(cli, deam, tmp_path / "runs", "--model", "cnn_small", "--task", task)
    own, other = tmp_path / "own.json", tmp_path / "other.json"
    assert cli(["evaluate", run, "--features", deam, "--json", own]) == 0
    capsys.readouterr()
    assert cli(["evaluate", run, "--features", pmemo, "--json", other]) == 0
    printed = capsys.readouterr().out
    scale = "[1, 9]" if task == "static" else "[-1, 1]"
    assert f"trained on deam (scale {scale}), scored on pmemo (scale [0, 1]): predictions mapped linearly" in printed
    a, b = json.loads(own.read_text()), json.loads(other.read_text())
    assert b["source"] == {"dataset": "deam", "scale": scale, "store": str(deam.resolve())}
    assert b["target"]["dataset"] == "pmemo" and b["target"]["scale"] == b["scale"] == "[0, 1]"
    assert a["mapping"] is None and "[0, 1] (pmemo)" in b["mapping"]
    # the same songs on a linearly mapped scale: squared errors shrink by the squared factor, correlations stay
    assert b["all"]["mse"] == pytest.approx(a["all"]["mse"] * factor, rel=1e-4)
    assert b["all"]["baseline_mse"] == pytest.approx(a["all"]["baseline_mse"] * factor, rel=1e-4)
    for key in ("arousal", "valence"):
        assert json.dumps(b["all"][key]).count("null") == json.dumps(a["all"][key]).count("null")
    if task != "dynamic":
        assert b["all"]["arousal"]["r2"] == pytest.approx(a["all"]["arousal"]["r2"], abs=1e-4)
    else:
        assert b["all"]["arousal"]["per_song"]["pearson"]["mean"] == pytest.approx(
            a["all"]["arousal"]["per_song"]["pearson"]["mean"], abs=1e-4
        )


def test_compare_never_ranks_different_tasks_together(
    cli: Cli, tiny_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deam, _ = tiny_pair
    out = tmp_path / "runs"
    runs = {
        task: _tiny_run(cli, deam, out, "--model", "mean", "--task", task) for task in ("window", "static", "dynamic")
    }
    other_seed = _tiny_run(cli, deam, out, "--model", "mean", "--seed", "9")
    csv = tmp_path / "board.csv"
    capsys.readouterr()
    assert cli(["compare", *runs.values(), other_seed, "--csv", csv]) == 0
    captured = capsys.readouterr()
    assert "the runs fall into 4 groups (different tasks, stores or test songs)" in captured.err
    board = pd.read_csv(csv)
    assert board.groupby("group")["task"].nunique().max() == 1 and board["group"].nunique() == 4
    assert {"test_mse", "rmse_per_song", "arousal_r_song"} <= set(board.columns)
    dynamic = board[board["task"] == "dynamic"].iloc[0]
    assert pd.isna(dynamic["test_mse"]) and dynamic["vs_baseline"] == pytest.approx(1.0, rel=1e-5)
    for task in ("window", "static", "dynamic"):
        assert f"task {task} (scale" in captured.out


def test_the_script_exits_with_mains_status_after_every_exit_handler_and_skips_the_teardown() -> None:
    code = """
import atexit, sys
import mer_zoo.cli as cli

class Teardown:
    def __del__(self):
        print("teardown ran")

kept = Teardown()  # freed only by the interpreter's teardown

def main():
    atexit.register(print, "exit handler ran")
    print("work done", end=" ")  # left in stdout's buffer
    sys.exit(3)

cli.main = main
cli.run()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "work done exit handler ran\n")


@pytest.mark.parametrize(
    ("args", "forking"),
    [
        (["build-features", "--root", "x"], True),
        (["predict", "run", "a.mp3"], True),
        (["build-features", "--scheduler", "tcp://host:8786"], False),
        (["build-features", "--help"], False),
        (["train", "--model", "cnn_small"], False),
    ],
)
def test_the_script_starts_the_workers_fork_server_before_the_app_for_commands_with_local_workers(
    args: list[str], forking: bool
) -> None:
    code = """
import sys
from multiprocessing import forkserver
import mer_zoo.cli as cli

def main():
    print(getattr(forkserver._forkserver, "_forkserver_pid", None) is not None)

cli.main = main
sys.argv = ["mer-zoo", *sys.argv[1:]]
cli.run()
"""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert done.stdout == f"{forking}\n"
