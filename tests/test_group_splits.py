"""Group splits: folds of whole artists (or any metadata column) for train, cv and bench; no group in two parts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import pytest
from task_stores import write_tiny_store

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.folds import fold_family, fold_split, inner_family
from mer_zoo.splits import PARTS, SongSplit, group_split, parse_split
from mer_zoo.store import FeatureStore

Cli = Callable[[list[Any]], int]
SONGS = list(range(100, 160))
# 13 artists of 1 to 8 songs, spelled with varying case and spacing; songs 100-103 have no artist.
ARTISTS = {s: f"Artist {(s * 7) % 13}" for s in SONGS[4:]} | {100: "", 101: " ", 102: "n/a"}
ARTISTS.update({110: "the  band", 111: "The Band", 112: "THE BAND "})


def _group(value: str) -> str:
    return " ".join(value.split()).casefold()


def _groups_by_part(split: SongSplit, artists: Mapping[int, str]) -> list[set[str]]:
    return [{_group(artists.get(s, "")) for s in split.part(part)} - {""} for part in PARTS]


def _assert_no_group_in_two_parts(split: SongSplit, artists: Mapping[int, str]) -> None:
    train, val, test = _groups_by_part(split, artists)
    assert not (train & val) and not (train & test) and not (val & test), split.label()


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_no_group_is_in_two_parts_and_every_song_is_tested_once(k: int, seed: int) -> None:
    artists = {s: v for s, v in ARTISTS.items() if v != "n/a"}  # a placeholder is for readers to drop
    tested: list[int] = []
    for fold in range(1, k + 1):
        split = parse_split(f"group:artist:{fold}/{k}", SONGS, seed=seed, metadata={"artist": artists})
        _assert_no_group_in_two_parts(split, artists)
        assert set(split.part("all")) == set(SONGS) and split.kind == "group"
        tested += split.test
    assert sorted(tested) == SONGS


def test_folds_are_balanced_by_songs_and_validation_is_near_its_share() -> None:
    artists = {s: _group(v) for s, v in ARTISTS.items()}
    largest = max(sum(v == a for v in artists.values()) for a in set(artists.values()) - {""})
    splits = [group_split(SONGS, artists, fold, 4, seed=3, column="artist") for fold in range(1, 5)]
    sizes = [len(s.test) for s in splits]
    assert max(sizes) - min(sizes) <= largest
    for s in splits:
        pool = len(s.train) + len(s.val)
        assert abs(len(s.val) - 0.15 * pool) <= largest and s.val
        assert s.params == {
            "column": "artist",
            "fold": s.params["fold"],
            "k": 4,
            "seed": 3,
            "val_ratio": 0.15,
            "groups": 18,
            "songs_without_value": 3,
        }  # fmt: skip  (13 + the band + n/a + 3 alone)
        assert SongSplit.from_dict(s.to_dict()) == s


def test_songs_without_a_value_are_each_their_own_group() -> None:
    alone = dict.fromkeys(SONGS, "")  # no song has a value: group k-fold is song k-fold
    split = group_split(SONGS, alone, 1, 5)
    assert len(split.test) == 12 and split.params["groups"] == 60 and split.params["songs_without_value"] == 60


def test_the_same_seed_gives_the_same_folds_and_another_seed_others() -> None:
    one = parse_split("group:artist:2/5", SONGS, seed=4, metadata={"artist": ARTISTS})
    assert one == parse_split("group:Artist:2/5", list(reversed(SONGS)), seed=4, metadata={"artist": ARTISTS})
    assert one.test != parse_split("group:artist:2/5", SONGS, seed=5, metadata={"artist": ARTISTS}).test


def test_spec_forms_and_their_errors() -> None:
    meta = {"artist": ARTISTS, "album": {}}
    assert parse_split("group:artist", SONGS, metadata=meta).params["k"] == 5  # fold 1 of 5
    assert (
        parse_split("group:artist:3", SONGS, metadata=meta).params
        == parse_split("group:artist:1/3", SONGS, metadata=meta).params
    )
    with pytest.raises(InputError, match=r"^--split group:label: the store has no metadata column 'label'; "
                                         r"its columns: artist, album$"):  # fmt: skip
        parse_split("group:label:1/3", SONGS, metadata=meta)
    with pytest.raises(InputError, match="no metadata column 'artist'; its columns: none"):
        parse_split("group:artist", SONGS, metadata={})
    with pytest.raises(MerZooError, match="cannot make 20 folds from 18 groups of column 'artist'"):
        parse_split("group:artist:1/20", SONGS, metadata=meta)
    for bad in ("group", "group:artist:x", "group:artist:0/3", "group:artist:4/3"):
        with pytest.raises(InputError):
            parse_split(bad, SONGS, metadata=meta)


def test_fold_families_of_cv_and_bench() -> None:
    assert fold_family("kfold") == ("kfold", 5) and fold_family("kfold", 3) == ("kfold", 3)
    assert fold_family("group:artist") == ("group:artist", 5) and fold_family("group:artist:4") == ("group:artist", 4)
    assert fold_family("group:artist:4", 4) == ("group:artist", 4)
    assert fold_split("group:artist", 2, 4) == "group:artist:2/4"
    with pytest.raises(InputError, match="makes 4 folds but --folds is 3"):
        fold_family("group:artist:4", 3)
    with pytest.raises(InputError, match="give a family"):
        fold_family("kfold:1/5")


# --- on a store built from the demo corpus (its DEAM metadata names about three songs per artist) ----


def _store_artists(store: Path) -> dict[int, str]:
    with FeatureStore(store) as opened:
        assert "artist" in opened.metadata_columns
        return opened.metadata()["artist"]


def test_the_demo_store_holds_artists_and_group_folds_keep_them_apart(demo_store: Path) -> None:
    artists = _store_artists(demo_store)
    assert len(set(artists.values()) - {""}) >= 3 and max(list(artists.values()).count(a) for a in artists.values()) > 1
    tested: list[int] = []
    for fold in range(1, 4):
        split = parse_split(f"group:artist:{fold}/3", list(artists), metadata={"artist": artists})
        _assert_no_group_in_two_parts(split, artists)
        tested += split.test
    assert sorted(tested) == sorted(artists)


def test_info_names_the_metadata_columns(demo_store: Path, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["info", demo_store]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("metadata:"))
    assert "artist (" in line and "title (" in line and "genre (" in line
    assert cli(["info", demo_store, "--json"]) == 0
    assert "artist" in json.loads(capsys.readouterr().out)["metadata"]


def test_train_by_artist_and_an_unknown_column_refused_before_any_run(
    demo_store: Path, cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["train", "--model", "ridge", "--features", demo_store, "--out", tmp_path, "--device", "cpu"]
    capsys.readouterr()
    assert cli([*base, "--split", "group:label"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no metadata column 'label'; its columns: artist, title, genre, album" in err
    assert not any(tmp_path.iterdir())
    assert cli([*base, "--split", "group:artist:2/3"]) == 0
    (run,) = tmp_path.iterdir()
    split = SongSplit.from_dict(json.loads((run / "config.json").read_text())["split"])
    assert split.kind == "group" and split.params["column"] == "artist" and split.params["fold"] == 2
    _assert_no_group_in_two_parts(split, _store_artists(demo_store))


def test_cv_by_artist_tests_each_song_once_with_no_artist_in_two_parts(
    demo_store: Path, cli: Cli, tmp_path: Path
) -> None:
    args = ["cv", "--model", "ridge", "--features", demo_store, "--out", tmp_path, "--split", "group:artist:3"]
    assert cli([*args, "--device", "cpu"]) == 0
    (parent,) = tmp_path.iterdir()
    summary = json.loads((parent / "cv.json").read_text())
    assert summary["folds"] == 3 and summary["split"]["kind"] == "group"
    assert summary["split"]["params"]["column"] == "artist"
    artists, tested = _store_artists(demo_store), []
    for name in summary["runs"]:
        split = SongSplit.from_dict(json.loads((parent / name / "config.json").read_text())["split"])
        _assert_no_group_in_two_parts(split, artists)
        tested += split.test
    assert sorted(tested) == sorted(artists)


def test_a_store_without_metadata_still_trains_and_refuses_group_splits_naming_none(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_tiny_store(tmp_path / "old.h5", n_songs=8)
    with h5py.File(old, "r+") as f:
        del f.attrs["metadata_columns"]  # as written before metadata columns existed
    with FeatureStore(old) as store:
        assert store.metadata_columns == [] and store.metadata() == {} and "song_id" in store.songs
    base = ["train", "--model", "mean", "--features", old, "--out", tmp_path / "runs", "--device", "cpu"]
    capsys.readouterr()
    assert cli([*base, "--split", "group:artist"]) == 2
    assert "no metadata column 'artist'; its columns: none" in capsys.readouterr().err
    assert cli([*base, "--split", "kfold:1/4"]) == 0


@pytest.mark.slow  # 6 fitted runs and their page
def test_bench_with_a_group_split_runs_every_fold_by_artist(demo_store: Path, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["bench", "--features", demo_store, "--models", "ridge", "--tasks", "window", "--split", "group:artist"]
    assert cli([*args, "--folds", "3", "--device", "cpu", "--out", out]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert [g["split"] for g in board["groups"]] == ["group:artist"] and not board["missing"]
    assert set(board["groups"][0]["models"]) == {"mean", "ridge"}
    artists = _store_artists(demo_store)
    runs = sorted((out / "runs").glob("*/*/config.json"))
    assert len(runs) == 6
    for config in runs:
        split = SongSplit.from_dict(json.loads(config.read_text())["split"])
        assert split.kind == "group" and split.params["k"] == 3
        _assert_no_group_in_two_parts(split, artists)
    assert (out / "leaderboard.html").is_file()
    shutil.rmtree(out)


def test_a_study_on_a_group_split_cross_validates_by_the_same_column() -> None:
    """mer-zoo tune's inner folds over the training songs keep the outer split's groups apart."""
    assert inner_family("group:artist:2/5") == "group:artist"
    assert inner_family("group:album:3") == "group:album"
    assert inner_family("group:artist") == "group:artist"
    assert inner_family("random") == "kfold"
    assert inner_family("mediaeval2015") == "kfold"
