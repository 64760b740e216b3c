"""`mer-zoo predict`: per-window arousal/valence for any audio file, with the run's settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from mer_zoo.predict import predict

Cli = Callable[[list[Any]], int]
PNG = b"\x89PNG\r\n\x1a\n"


def _an_mp3(demo_root: Path) -> Path:
    return sorted(demo_root.rglob("*.mp3"))[0]


def test_predict_mp3_to_csv_and_plot(cli: Cli, cnn_run: Path, demo_root: Path, tmp_path: Path) -> None:
    mp3 = _an_mp3(demo_root)
    csv, png = tmp_path / "pred.csv", tmp_path / "va.png"
    assert cli(["predict", cnn_run, mp3, "--out", csv, "--plot", png, "--device", "cpu"]) == 0
    table = pd.read_csv(csv)
    assert list(table.columns) == ["file", "window", "start_s", "end_s", "arousal", "valence", "silent", "n_windows"]
    assert not table["silent"].any() and (table["n_windows"] == len(table)).all()
    assert (table["file"] == str(mp3)).all()
    # windows from 0 s every 5 s over the whole song (the synthetic excerpts last about 45 s)
    assert table["start_s"].tolist() == [5.0 * i for i in range(len(table))]
    assert (table["end_s"] - table["start_s"] == 5.0).all() and len(table) >= 8
    assert table[["arousal", "valence"]].abs().lt(5).all().all()
    assert png.read_bytes()[:8] == PNG


def test_any_rate_and_channel_count(cnn_run: Path, tmp_path: Path) -> None:
    t = np.arange(int(12.5 * 22050)) / 22050
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "stereo22k.wav", np.column_stack([tone, tone[::-1]]), 22050)
    sf.write(tmp_path / "mono8k.flac", tone[::3][: 8000 * 11], 8000)
    result = predict(cnn_run, [tmp_path / "stereo22k.wav", tmp_path / "mono8k.flac"], device="cpu")
    assert not result.failures
    counts = result.table.groupby("file").size()
    assert counts[str(tmp_path / "stereo22k.wav")] == 2 and counts[str(tmp_path / "mono8k.flac")] == 2
    assert np.isfinite(result.table[["arousal", "valence"]].to_numpy()).all()


def test_predictions_match_the_store_windows(cnn_run: Path, demo_root: Path, demo_store: Path) -> None:
    """The same audio through predict and through the store gives the same numbers (same settings)."""
    from mer_zoo.data import FeatureDataset
    from mer_zoo.runs import open_run
    from mer_zoo.store.reader import FeatureStore

    with FeatureStore(demo_store) as store:
        songs, segments = store.songs, store.segments
    row = songs.iloc[0]
    result = predict(cnn_run, [demo_root / row["path"]], device="cpu").table
    run = open_run(cnn_run)
    ds = FeatureDataset(demo_store, "all", normalizer=run.normalizer())
    idx = np.flatnonzero(ds.song_ids == row["song_id"])
    x, _ = ds.read(idx)
    expected = run.build_model().forward(x).detach().numpy()
    starts = segments["start_s"].to_numpy()[ds.rows[idx]]
    got = result.set_index("start_s").loc[starts, ["arousal", "valence"]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=0.02)


def test_undecodable_file_is_skipped_with_one_line(
    cli: Cli, cnn_run: Path, demo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"this is not audio" * 100)
    csv = tmp_path / "pred.csv"
    assert cli(["predict", cnn_run, bad, _an_mp3(demo_root), "--out", csv]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mer-zoo")]
    assert len(err) == 1 and "broken.mp3" in err[0]
    assert set(pd.read_csv(csv)["file"]) == {str(_an_mp3(demo_root))}


def test_missing_file_stops_before_work(
    cli: Cli, cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["predict", cnn_run, tmp_path / "nope.mp3", "--out", tmp_path / "p.csv"]) == 2
    assert "nope.mp3: no such audio file" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


# --- task-shaped predictions ------------------------------------------------------------------


@pytest.fixture(scope="module")
def task_runs(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-epoch runs on a tiny 8-kHz, 16-band store: static, dynamic (window model, held), dynamic (temporal)."""
    from task_stores import write_tiny_store

    root = tmp_path_factory.mktemp("task_runs")
    store = write_tiny_store(root / "tiny.h5", n_songs=8)
    runs = {}
    for name, model, task in (
        ("static", "cnn_small", "static"),
        ("held", "cnn_small", "dynamic"),
        ("temporal", "crnn", "dynamic"),
    ):
        out = root / name
        args = ["train", "--model", model, "--task", task, "--features", store, "--out", out, "--epochs", "1"]
        assert cli([*args, "--batch-size", "8", "--device", "cpu"]) == 0
        (runs[name],) = out.iterdir()
    return runs


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12.5 s at 8 kHz: two whole 5-s windows."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    t = np.arange(int(12.5 * 8000)) / 8000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + t / 12.5), 8000)
    return path


def test_static_run_gives_one_row_per_file(cli: Cli, task_runs: dict[str, Path], tone: Path, tmp_path: Path) -> None:
    csv, png = tmp_path / "static.csv", tmp_path / "static.png"
    other = tmp_path / "other.wav"
    shutil.copy(tone, other)
    assert cli(["predict", task_runs["static"], tone, other, tone, "--out", csv, "--plot", png, "--device", "cpu"]) == 0
    table = pd.read_csv(csv)
    assert list(table.columns) == ["file", "n_windows", "arousal", "valence", "silent"]
    assert (
        len(table) == 2 and (table["n_windows"] == 2).all() and np.isfinite(table[["arousal", "valence"]]).all().all()
    )
    assert png.read_bytes()[:8] == PNG


@pytest.mark.parametrize("run", ["held", "temporal"])
def test_dynamic_run_gives_a_value_every_half_second(task_runs: dict[str, Path], tone: Path, run: str) -> None:
    result = predict(task_runs[run], [tone], device="cpu")
    table = result.table
    assert result.task == "dynamic" and result.scale == "[-1, 1]"
    assert list(table.columns) == ["file", "time_s", "arousal", "valence", "silent", "n_windows"]
    assert not table["silent"].any() and (table["n_windows"] == 2).all()
    assert table["time_s"].tolist() == pytest.approx([0.5 * i for i in range(20)])
    per_window = table["arousal"].to_numpy().reshape(2, 10)
    held = np.ptp(per_window, axis=1).max() == 0
    assert held == (run == "held")  # a window model's value is held over its frames; a temporal model's varies
    assert "20 values from 0 to 9.5 s" in result.summary_lines()[0]
