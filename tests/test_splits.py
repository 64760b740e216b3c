"""Song-level splits: no song in two parts, reproducible, ratios and protocols respected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.splits import PARTS, SongSplit, check_disjoint, make_split, parse_split

SONGS = list(range(2, 200, 3)) + list(range(1001, 1040)) + list(range(2001, 2059))  # DEAM-like ids


def _parts(split: SongSplit) -> list[set[int]]:
    return [set(split.part(name)) for name in PARTS]


def _assert_partition(split: SongSplit, songs: set[int]) -> None:
    train, val, test = _parts(split)
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == songs
    assert set(split.part("all")) == songs


@pytest.mark.parametrize("seed", range(20))
def test_random_split_partitions_the_songs_for_every_seed(seed: int) -> None:
    _assert_partition(make_split("random", SONGS, seed=seed), set(SONGS))


@pytest.mark.parametrize("k", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_kfold_splits_are_disjoint_and_each_song_is_tested_exactly_once(k: int, seed: int) -> None:
    tested: list[int] = []
    for fold in range(1, k + 1):
        split = make_split("kfold", SONGS, seed=seed, fold=fold, k=k)
        _assert_partition(split, set(SONGS))
        tested += split.test
    assert sorted(tested) == sorted(SONGS)


def test_kfold_fold_sizes_differ_by_at_most_one_and_val_comes_from_training_folds() -> None:
    splits = [parse_split(f"kfold:{i}/4", SONGS) for i in range(1, 5)]
    sizes = [len(s.test) for s in splits]
    assert max(sizes) - min(sizes) <= 1
    for s in splits:
        pool = len(s.train) + len(s.val)
        assert pool == len(SONGS) - len(s.test)
        assert len(s.val) == round(0.15 * pool)
        assert s.params == {"fold": s.params["fold"], "k": 4, "seed": 0, "val_ratio": 0.15}


def test_random_split_respects_default_and_custom_ratios() -> None:
    n = len(SONGS)
    split = parse_split("random", SONGS)
    cuts = [round(0.7 * n), round(0.85 * n)]
    assert [len(split.train), len(split.val), len(split.test)] == [cuts[0], cuts[1] - cuts[0], n - cuts[1]]
    split = parse_split("random:0.8,0.1,0.1", SONGS, seed=3)
    assert abs(len(split.train) - 0.8 * n) <= 1 and abs(len(split.val) - 0.1 * n) <= 1
    assert split.params == {"seed": 3, "ratios": [0.8, 0.1, 0.1]}


def test_splits_are_deterministic_and_depend_on_the_seed() -> None:
    assert parse_split("random", SONGS, seed=5) == parse_split("random", list(reversed(SONGS)), seed=5)
    assert parse_split("random", SONGS, seed=5).train != parse_split("random", SONGS, seed=6).train
    assert parse_split("kfold:2/5", SONGS, seed=1) == parse_split("kfold:2/5", SONGS, seed=1)


def test_mediaeval2015_tests_on_2001_to_2058_and_trains_up_to_2000() -> None:
    songs = [1, 2000, 2001, 2030, 2058, 2059, 1500, 10, 11, 12, 13, 14, 15]
    split = parse_split("mediaeval2015", songs)
    assert split.test == (2001, 2030, 2058)
    assert set(split.train) | set(split.val) == {1, 10, 11, 12, 13, 14, 15, 1500, 2000}
    assert 2059 not in split.part("all")
    assert len(split.val) == round(0.15 * 9)


def test_empty_part_is_a_one_line_error() -> None:
    with pytest.raises(MerZooError, match="test part is empty") as err:
        parse_split("mediaeval2015", range(1, 100))
    assert "\n" not in str(err.value)
    with pytest.raises(MerZooError, match="the test part is empty; train 2, val 1, test 0 songs"):
        parse_split("random", [1, 2, 3])
    with pytest.raises(MerZooError, match="cannot make 5 folds from 3 songs"):
        parse_split("kfold:1/5", [1, 2, 3])
    with pytest.raises(MerZooError, match="no songs"):
        parse_split("random", [])


@pytest.mark.parametrize(
    "spec",
    [
        *("bogus", "kfold", "kfold:0/5", "kfold:6/5", "kfold:2/1", "kfold:a/b", "kfold:1/2/3"),
        *("random:0.5,0.5", "random:0.9,0.2,0.1", "random:x", "mediaeval2015:3"),
    ],
)
def test_bad_specs_are_input_errors(spec: str) -> None:
    with pytest.raises(InputError):
        parse_split(spec, SONGS)


def test_make_split_rejects_unknown_kinds_and_options() -> None:
    with pytest.raises(InputError, match="unknown split kind"):
        make_split("stratified", SONGS)
    with pytest.raises(InputError, match="bad options"):
        make_split("random", SONGS, fold=2)


def test_round_trip_through_json() -> None:
    for spec in ["random", "kfold:3/5", "mediaeval2015"]:
        split = parse_split(spec, SONGS, seed=2)
        again = SongSplit.from_dict(json.loads(json.dumps(split.to_dict())))
        assert again == split
        assert again.to_dict() == split.to_dict()


def test_overlapping_parts_are_rejected() -> None:
    d = parse_split("random", SONGS).to_dict()
    d["test"].append(d["train"][0])
    with pytest.raises(MerZooError, match="in both train and test"):
        SongSplit.from_dict(d)
    with pytest.raises(MerZooError, match="lacks val"):
        SongSplit.from_dict({"kind": "random", "params": {}, "train": [1], "test": [2]})
    check_disjoint(parse_split("random", SONGS))  # a valid split passes silently


def test_part_names() -> None:
    split = parse_split("random", SONGS)
    assert split.part("train") == split.train == tuple(sorted(split.train))
    with pytest.raises(InputError, match="unknown split part"):
        split.part("dev")


def test_file_split_from_json_reproduces_the_lists(tmp_path: Path) -> None:
    wanted = {"train": [2, 5, 8, 11, 14], "val": [17, 20], "test": [1001, 1004, 2001]}
    path = tmp_path / "split.json"
    path.write_text(json.dumps(wanted))
    split = parse_split(f"file:{path}", SONGS)
    assert {p: list(split.part(p)) for p in PARTS} == wanted
    assert split.kind == "file" and split.params == {"files": [str(path.resolve())], "missing": {}}
    assert SongSplit.from_dict(json.loads(json.dumps(split.to_dict()))) == split


def test_file_split_from_three_text_files_reports_unknown_ids(tmp_path: Path) -> None:
    lines = {
        "train": "# Music2Emo style\n2\n5.mp3\naudio/8.mp3\n\n9999\n",
        "val": "17\n20\n",
        "test": "2001\n2002\n8888\n",
    }
    for part, text in lines.items():
        (tmp_path / f"{part}.txt").write_text(text)
    spec = "file:" + ",".join(str(tmp_path / f"{p}.txt") for p in PARTS)
    split = parse_split(spec, SONGS)
    assert split.train == (2, 5, 8) and split.val == (17, 20) and split.test == (2001, 2002)
    assert split.params["missing"] == {"train": [9999], "test": [8888]}


def test_bad_split_files_name_the_file_and_line(tmp_path: Path) -> None:
    files = [tmp_path / f"{part}.txt" for part in PARTS]
    spec = "file:" + ",".join(map(str, files))
    with pytest.raises(InputError, match="train.txt: no such split file"):
        parse_split(spec, SONGS)
    for path, text in zip(files, ("2\nabc\n", "5\n", "8\n")):
        path.write_text(text)
    with pytest.raises(InputError, match="train.txt:2: 'abc' is not a song id"):
        parse_split(spec, SONGS)


def test_bad_json_split_and_overlapping_parts(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": [2], "test": [5]}))
    with pytest.raises(InputError, match='lists "train", "val" and "test"'):
        parse_split(f"file:{path}", SONGS)
    path.write_text(json.dumps({"train": [2, 5], "val": [8], "test": [5]}))
    with pytest.raises(MerZooError, match="songs 5 are in both train and test"):
        parse_split(f"file:{path}", SONGS)
    with pytest.raises(InputError, match="one JSON file or three text files"):
        parse_split(f"file:{path},{path}", SONGS)
