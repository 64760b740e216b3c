"""build-features on PMEmo and on CSV-labelled folders: stores, per-song failures, scales, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from mer_zoo.pipeline.build import build_features
from mer_zoo.store.reader import FeatureStore


@pytest.fixture(scope="module")
def pmemo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mer_zoo.datasets.synthetic import write_synthetic_pmemo

    root = tmp_path_factory.mktemp("pmemo")
    write_synthetic_pmemo(root, n_songs=10, seed=0)
    out = root / "pmemo.h5"
    summary = build_features(root, out, dataset="pmemo", workers=2, progress=False)
    assert summary.exit_code == 1  # the demo has a too-short clip and a song with static labels only
    return out


@pytest.fixture(scope="module")
def csv_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mer_zoo.datasets.synthetic import write_synthetic_csv

    root = tmp_path_factory.mktemp("csv")
    write_synthetic_csv(root, n_songs=6, seed=0, dynamic=True)
    return root


def test_pmemo_builds_from_15_5_s_on_its_own_scale_and_reports_bad_songs_per_song(pmemo_store: Path) -> None:
    with FeatureStore(pmemo_store) as store:
        segments, failures, songs = store.segments, store.failures, store.songs
        assert (
            store.dataset == "pmemo" and str(store.scale("dynamic")) == "0..1" and str(store.scale("static")) == "0..1"
        )
        frames = store.frames()
    assert segments.start_s.min() == 15.5 and ((segments.start_s - 15.5) % 5 == 0).all()
    assert (
        segments[["arousal", "valence"]].to_numpy().min() >= 0
        and segments[["arousal", "valence"]].to_numpy().max() <= 1
    )
    assert np.isfinite(frames["arousal_frames"]).all()  # every kept window is fully annotated at 2 Hz
    reasons = " | ".join(failures.reason)
    assert len(failures) == 2 and "no dynamic annotations" in reasons and "from 15.5 s is fully annotated" in reasons
    assert set(failures.song_id).isdisjoint(songs.song_id) and len(songs) == 8
    # metadata.csv's text columns go with the songs, for --split group:artist
    meta = pd.read_csv(pmemo_store.parent / "PMEmo2019" / "metadata.csv").set_index("musicId")
    assert {"artist", "album"} <= set(songs.columns)
    assert list(songs.artist) == list(meta.loc[songs.song_id, "artist"])


def test_a_static_csv_gives_whole_file_windows_with_the_song_labels(csv_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "static.h5"
    summary = build_features(
        csv_root, out, dataset="csv", dataset_options={"labels": csv_root / "labels.csv", "scale": "1..9"},
        workers=1, progress=False,
    )  # fmt: skip
    assert summary.exit_code == 0 and summary.songs_ok == 6
    with FeatureStore(out) as store:
        assert store.window_labels == "static" and str(store.scale("dynamic")) == "1..9"
        segments, songs = store.segments, store.songs.set_index("song_id")
        assert np.isnan(store.frames()["arousal_frames"]).all()
    assert segments.start_s.min() == 0.0
    labels = pd.read_csv(csv_root / "labels.csv", keep_default_na=False).set_index("song_id")
    assert list(songs.artist) == list(labels.loc[songs.index, "artist"])  # the manifest's extra column, "" kept
    for row in segments.itertuples():
        assert row.arousal == pytest.approx(songs.loc[row.song_id, "arousal_mean"])
        assert row.valence == pytest.approx(songs.loc[row.song_id, "valence_mean"])


def test_a_dynamic_csv_builds_through_the_cli_and_trains(csv_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "dynamic.h5"
    args = ["--dataset", "csv", "--root", csv_root, "--labels", csv_root / "labels_dynamic.csv", "--scale=-1..1"]
    assert run_cli(["build-features", *args, "--out", out, "--no-progress", "--workers", "1"]) == 0
    with FeatureStore(out) as store:
        assert store.window_labels == "dynamic" and len(store) > 0
    runs = tmp_path / "runs"
    assert (
        run_cli(["train", "--model", "cnn_small", "--features", out, "--out", runs, "--epochs", "1", "--device", "cpu"])
        == 0
    )
    assert (next(runs.iterdir()) / "metrics.json").is_file()


def test_pmemo_store_trains(pmemo_store: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert run_cli(["train", "--model", "mean", "--features", pmemo_store, "--out", runs]) == 0
    assert (next(runs.iterdir()) / "metrics.json").is_file()


def test_a_deam_run_evaluates_on_the_pmemo_demo_through_the_cli(
    cnn_run: Path, pmemo_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pmemo.json"
    assert run_cli(["evaluate", cnn_run, "--features", pmemo_store, "--json", out, "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "trained on deam (scale [-1, 1]), scored on pmemo (scale [0, 1]): predictions mapped linearly" in printed
    result = json.loads(out.read_text())
    assert result["source"]["dataset"] == "deam" and result["target"]["dataset"] == "pmemo"
    with FeatureStore(pmemo_store) as store:
        assert result["all"]["n_windows"] == len(store) and result["all"]["n_songs"] == len(store.songs)
