"""The CSV manifest reader (``--dataset csv``): the synthetic folder (made once, through
`mer-zoo demo-data --layout csv`) and tiny hand-made CSVs whose audio is never decoded."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from mer_zoo.datasets import read_corpus
from mer_zoo.datasets.manifest import read_manifest
from mer_zoo.errors import InputError

SONGS = 6


@pytest.fixture(scope="module")
def folder(cli: Callable[[list[Any]], int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Audio under ``audio/`` with ``labels.csv`` (1..9) and ``labels_dynamic.csv`` (-1..1)."""
    out = tmp_path_factory.mktemp("csv")
    assert cli(["demo-data", out, "--layout", "csv", "--songs", SONGS, "--seed", "0"]) == 0
    return out


def write(root: Path, text: str, name: str = "labels.csv") -> Path:
    """Write the CSV ``text`` under ``root`` and return its path."""
    (root / name).write_text(text)
    return root / name


def error_of(root: Path, text: str, scale: str = "1..9") -> str:
    """The one-line InputError that reading ``text`` as the labels raises."""
    with pytest.raises(InputError) as err:
        read_manifest(root, labels=write(root, text), scale=scale)
    message = str(err.value)
    assert "\n" not in message
    return message


# --- the synthetic folder ------------------------------------------------------------------


def test_static_labels_make_a_static_only_corpus(folder: Path) -> None:
    corpus = read_corpus(folder, "csv", labels=folder / "labels.csv", scale="1..9")
    assert corpus.name == "csv" and not corpus.has_dynamic and corpus.start_s == 0.0
    assert corpus.dynamic_scale == corpus.static_scale == "1..9"
    assert len(corpus.songs) == SONGS and [s.song_id for s in corpus.songs] == sorted(s.song_id for s in corpus.songs)
    assert min(s.song_id for s in corpus.songs) >= 100  # the CSV's own song_id column
    assert {s.audio_path.suffix for s in corpus.songs} == {".wav", ".flac", ".mp3"}
    for song in corpus.songs:
        assert song.audio_path.is_file() and song.audio_path.relative_to(folder).parts[0] == "audio"
        assert len(song.times_s) == 0 and all(1 <= song.static[k] <= 9 for k in ("arousal_mean", "valence_mean"))
        assert math.isnan(song.static["arousal_std"])


def test_long_labels_make_a_dynamic_corpus(folder: Path) -> None:
    corpus = read_manifest(folder, labels=Path("labels_dynamic.csv"), scale="-1..1")  # relative to the root
    static = read_manifest(folder, labels=Path("labels.csv"), scale="1..9")
    assert corpus.has_dynamic and corpus.start_s == 5.0 and corpus.dynamic_scale == "-1..1"
    assert [s.song_id for s in corpus.songs] == list(range(1, SONGS + 1))  # numbered in order of appearance
    assert {s.audio_path for s in corpus.songs} == {s.audio_path for s in static.songs}
    assert corpus.notes == [
        f"{folder / 'labels_dynamic.csv'}: the static labels are the per-song means of the dynamic labels"
    ]
    for song in corpus.songs:
        assert song.times_s[0] == 5.0 and np.allclose(np.diff(song.times_s), 0.5)
        assert song.times_s[-1] < sf.info(str(song.audio_path)).duration
        assert np.abs(song.arousal).max() <= 1 and np.ptp(song.valence) > 0.05
        assert song.static["arousal_mean"] == pytest.approx(song.arousal.mean(), abs=1e-6)


def test_audio_is_a_mix_of_formats_rates_and_channels(folder: Path) -> None:
    infos = [sf.info(str(p)) for p in sorted((folder / "audio").rglob("*.*"))]
    assert len(infos) == SONGS and {i.format for i in infos} == {"WAV", "FLAC", "MP3"}
    assert {i.channels for i in infos} == {1, 2} and all(20 <= i.duration <= 35.2 for i in infos)


def test_same_seed_same_track(folder: Path, tmp_path: Path) -> None:
    from mer_zoo.datasets.synthetic.manifest import _make_track, _plan

    track = min((t for t in _plan(SONGS, seed=0) if t.relative.suffix == ".flac"), key=lambda t: t.duration_s)
    _make_track(track, 0, tmp_path / "again.flac")
    assert (tmp_path / "again.flac").read_bytes() == (folder / track.relative).read_bytes()


def test_options_are_checked_against_the_reader(folder: Path) -> None:
    with pytest.raises(InputError, match="--dataset csv needs --labels, --scale"):
        read_corpus(folder, "csv")
    with pytest.raises(InputError, match="--dataset csv needs --scale"):
        read_corpus(folder, "csv", labels=folder / "labels.csv", scale=None)
    with pytest.raises(InputError, match="--dataset deam does not take --labels"):
        read_corpus(folder, "deam", labels=folder / "labels.csv")


# --- hand-made CSVs: the static format -----------------------------------------------------


def test_rows_without_ids_are_numbered_and_absolute_paths_kept(tmp_path: Path) -> None:
    elsewhere = tmp_path.parent / "elsewhere.ogg"
    text = f"\ufeffValence , PATH,Arousal\n7,a/one.wav,2\n3.5,{elsewhere},8.5\n"
    songs = read_manifest(tmp_path, labels=write(tmp_path, text), scale="1..9").songs
    assert [(s.song_id, s.audio_path) for s in songs] == [(1, tmp_path / "a/one.wav"), (2, elsewhere)]
    assert songs[1].static["valence_mean"] == 3.5 and songs[1].static["arousal_mean"] == 8.5


def test_bad_static_rows_are_listed_with_their_lines(tmp_path: Path) -> None:
    rows = [
        "1,a.wav,5,5",
        "2,b.wav,five,5",
        "3,c.wav,5,10",
        "1,d.wav,5,5",
        "4,a.wav,5,5",
        "5,,5,5",
        "x,e.wav,5,5",
        "6,f.wav,5",
    ]
    message = error_of(tmp_path, "\n".join(["song_id,path,arousal,valence", *rows]) + "\n")
    assert message.startswith(f"{tmp_path / 'labels.csv'}: 7 bad row(s): line 3: arousal 'five' is not a number; ")
    assert "line 4: valence 10 is off the scale 1..9" in message
    assert "line 5: song_id 1 again (first on line 2)" in message
    assert "line 6: path a.wav again (first on line 2; time-varying labels need a time_s column)" in message
    assert "line 7: path is empty" in message
    assert message.endswith("; and 2 more")  # line 8: song_id 'x'; line 9: valence is empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,arousal\na.wav,5\n", r"labels\.csv: missing column\(s\) valence; the header has: path, arousal"),
        ("", r"labels\.csv: empty file"),
        ("time_s,arousal,valence\n15,0,0\n", r"labels\.csv: missing column\(s\) path or song_id"),
    ],
)
def test_missing_columns_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    assert re.search(message, error_of(tmp_path, text))


def test_a_bad_scale_or_labels_file_is_an_input_error(tmp_path: Path) -> None:
    write(tmp_path, "path,arousal,valence\na.wav,1,1\n")
    with pytest.raises(InputError, match=r"bad label scale '9\.\.1'"):
        read_manifest(tmp_path, labels=tmp_path / "labels.csv", scale="9..1")
    with pytest.raises(InputError, match=r"nope\.csv: missing"):
        read_manifest(tmp_path, labels=tmp_path / "nope.csv", scale="1..9")
    with pytest.raises(InputError, match="not a directory"):
        read_manifest(tmp_path / "nowhere", labels=tmp_path / "labels.csv", scale="1..9")


# --- hand-made CSVs: the long format -------------------------------------------------------


def test_long_rows_by_id_find_their_audio_by_name(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "7.flac").write_bytes(b"")
    text = "song_id,time_s,arousal,valence\n7,1.0,0.5,0.5\n7,0.5,0.1,0.3\n9,2.0,-1,1\n"
    corpus = read_manifest(tmp_path, labels=write(tmp_path, text), scale="-1..1")
    songs = {s.song_id: s for s in corpus.songs}
    assert songs[7].audio_path == tmp_path / "deep/er/7.flac" and songs[9].audio_path == tmp_path / "9.*"
    assert songs[7].times_s.tolist() == [0.5, 1.0] and songs[7].arousal.tolist() == pytest.approx([0.1, 0.5])
    assert songs[7].static["valence_mean"] == pytest.approx(0.4) and corpus.start_s == 0.5


def test_a_song_id_matching_two_files_is_an_input_error(tmp_path: Path) -> None:
    for name in ("a/7.wav", "b/7.mp3"):
        (tmp_path / name).parent.mkdir()
        (tmp_path / name).write_bytes(b"")
    message = error_of(tmp_path, "song_id,time_s,arousal,valence\n7,0,0,0\n", scale="-1..1")
    labels = tmp_path / "labels.csv"
    assert (
        message == f"{tmp_path}: song 7 matches several audio files (a/7.wav, b/7.mp3); add a path column to {labels}"
    )


def test_bad_long_rows_are_listed_with_their_lines(tmp_path: Path) -> None:
    rows = [
        "1,a.wav,0,0.1,0.1",
        "1,a.wav,0,0.2,0.2",
        "2,a.wav,0.5,0,0",
        "1,b.wav,1,0,0",
        "3,c.wav,-1,0,0",
        "3,c.wav,1,0,2",
    ]
    message = error_of(tmp_path, "\n".join(["song_id,path,time_s,arousal,valence", *rows]) + "\n", scale="-1..1")
    assert "line 3: song_id 1 at time_s 0 again (first on line 2)" in message
    assert "line 4: path a.wav has song_id 2 here but 1 on line 2" in message
    assert "line 5: song_id 1 has path b.wav here but a.wav on line 2" in message
    assert "line 6: time_s -1 is negative" in message
    assert "line 7: valence 2 is off the scale -1..1" in message
    assert message.startswith(f"{tmp_path / 'labels.csv'}: 5 bad row(s)")


def test_long_rows_by_path_repeat_a_time_only_once(tmp_path: Path) -> None:
    message = error_of(tmp_path, "path,time_s,arousal,valence\nx.wav,3,0,0\nx.wav,3.0,0,0\n", scale="-1..1")
    assert message.endswith("1 bad row(s): line 3: path x.wav at time_s 3 again (first on line 2)")
