"""The PMEmo reader: the synthetic release (made once by `mer-zoo demo-data --layout pmemo`) and hand-made folders."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from mer_zoo.datasets import read_corpus
from mer_zoo.datasets.pmemo import read_pmemo
from mer_zoo.datasets.synthetic.pmemo import HEADERS
from mer_zoo.errors import InputError

SONGS = 8
DYNAMIC = """musicId,frameTime,Arousal(mean),Valence(mean)
1,15.5,0.5,0.25
1,16.0,0.6,0.3
1,16.5,0.7,
3,15.5,0.1,0.9
"""
STATIC = """musicId,Arousal(mean),Valence(mean)
1,0.6,0.3
2,0.4,0.8
3,0.1,0.9
"""
STATIC_STD = """musicId,Arousal(std),Valence(std)
1,0.1,0.2
2,0.15,0.25
"""


@pytest.fixture(scope="module")
def release(cli: Callable[[list[Any]], int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding ``PMEmo2019/``, written by the command line."""
    out = tmp_path_factory.mktemp("pmemo")
    assert cli(["demo-data", out, "--layout", "pmemo", "--songs", SONGS, "--seed", "0"]) == 0
    return out


def make_release(
    root: Path,
    *,
    dynamic: str | None = DYNAMIC,
    static: str | None = STATIC,
    std: str | None = STATIC_STD,
    metadata: bool = True,
    clips: tuple[str, ...] = ("1.mp3", "2.mp3", "4.mp3"),
) -> Path:
    """A tiny PMEmo2019 folder: annotation CSVs as given and stand-in clips (never decoded)."""
    (root / "annotations").mkdir(parents=True)
    (root / "chorus").mkdir()
    for name, text in (
        ("dynamic_annotations", dynamic),
        ("static_annotations", static),
        ("static_annotations_std", std),
    ):
        if text is not None:
            (root / "annotations" / f"{name}.csv").write_text(text)
    (root / "annotations" / "dynamic_annotations_std.csv").write_text(HEADERS["dynamic_annotations_std.csv"] + "\n")
    if metadata:
        (root / "metadata.csv").write_text(HEADERS["metadata.csv"] + "\n")
    for clip in clips:
        (root / "chorus" / clip).write_bytes(b"not decoded by the reader")
    return root


# --- the synthetic release -----------------------------------------------------------------


def test_reads_the_release_folder_or_its_parent(release: Path) -> None:
    parent, inside = read_corpus(release, "pmemo"), read_pmemo(release / "PMEmo2019")
    assert [s.song_id for s in parent.songs] == [s.song_id for s in inside.songs]
    assert len(parent.songs) == SONGS and parent.name == "pmemo"
    assert parent.dynamic_scale == parent.static_scale == "0..1"
    assert parent.has_dynamic and parent.start_s == 15.5


def test_demo_songs_have_what_pmemo_has(release: Path) -> None:
    corpus = read_pmemo(release)
    with_rows = [s for s in corpus.songs if len(s.times_s)]
    static_only = [s for s in corpus.songs if not len(s.times_s)]
    assert len(static_only) == 1 and corpus.notes == [
        f"1 song(s) have static labels but no dynamic rows (e.g. {static_only[0].song_id})"
    ]
    for song in corpus.songs:
        assert song.audio_path.is_file()
        assert all(0 <= song.static[k] <= 1 for k in ("arousal_mean", "valence_mean", "arousal_std", "valence_std"))
    for song in with_rows:
        assert song.times_s[0] == 15.5 and np.allclose(np.diff(song.times_s), 0.5)
        assert (
            song.arousal.min() >= 0 and song.arousal.max() <= 1 and song.valence.min() >= 0 and song.valence.max() <= 1
        )
        assert song.times_s[-1] <= sf.info(str(song.audio_path)).duration + 0.1
    durations = sorted(sf.info(str(s.audio_path)).duration for s in corpus.songs)
    assert (
        durations[0] < 20.5 < durations[1] and durations[1] >= 24.9 and durations[-1] <= 40.1
    )  # one clip has no full window


def test_demo_files_have_the_release_headers(release: Path) -> None:
    base = release / "PMEmo2019"
    for name, header in HEADERS.items():
        path = base / name if name == "metadata.csv" else base / "annotations" / name
        assert path.read_text().splitlines()[0] == header


def test_same_seed_same_clip(release: Path, tmp_path: Path) -> None:
    from mer_zoo.datasets.synthetic.pmemo import _make_clip, _plan

    clip = min(_plan(SONGS, seed=0), key=lambda c: c.duration_s)
    _make_clip(clip, 0, tmp_path / "again.mp3")
    assert (tmp_path / "again.mp3").read_bytes() == (release / "PMEmo2019/chorus" / f"{clip.music_id}.mp3").read_bytes()


def test_ridge_on_log_mel_statistics_beats_the_mean_on_unseen_songs(release: Path) -> None:
    import librosa
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import LeaveOneGroupOut
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels, groups = [], [], []
    for song in read_pmemo(release).songs:  # each 2 Hz label against the 4 s of audio before it
        audio, sr = sf.read(song.audio_path, dtype="float32", always_2d=True)
        mel = librosa.feature.melspectrogram(y=audio.mean(1), sr=sr, n_fft=2048, hop_length=512, n_mels=128, fmax=8000)
        bands, fps = librosa.power_to_db(mel, ref=np.max).reshape(32, 4, -1).mean(1), sr / 512
        for t, a, v in zip(song.times_s, song.arousal, song.valence):
            b = bands[:, int((t - 4) * fps) : int(t * fps)]
            features.append(np.concatenate([b.mean(1), b.std(1), np.abs(np.diff(b, axis=1)).mean(1)]))
            labels.append([a, v])
            groups.append(song.song_id)
    x, y = np.array(features), np.array(labels)
    predicted, baseline = np.zeros_like(y), np.zeros_like(y)
    for train, test in LeaveOneGroupOut().split(x, y, groups):
        predicted[test] = make_pipeline(StandardScaler(), Ridge(alpha=30.0)).fit(x[train], y[train]).predict(x[test])
        baseline[test] = y[train].mean(0)
    r2 = 1 - ((predicted - y) ** 2).mean(0) / ((baseline - y) ** 2).mean(0)
    assert r2[0] > 0.4, f"arousal R2 {r2[0]:.2f} on held-out songs"
    assert r2[1] > 0.4, f"valence R2 {r2[1]:.2f} on held-out songs"


def test_demo_data_refuses_a_bad_layout(
    cli: Callable[[list[Any]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["demo-data", tmp_path, "--layout", "emomusic"]) == 2
    assert "unknown --layout 'emomusic'; use one of: deam, pmemo, csv" in capsys.readouterr().err


# --- hand-made folders ---------------------------------------------------------------------


def test_songs_are_the_union_of_clips_and_labels(tmp_path: Path) -> None:
    corpus = read_pmemo(make_release(tmp_path))
    songs = {s.song_id: s for s in corpus.songs}
    assert list(songs) == [1, 2, 3, 4]
    assert songs[1].times_s.tolist() == [15.5, 16.0] and songs[1].arousal.dtype == np.float32  # empty valence: dropped
    assert songs[1].static == {"valence_mean": 0.3, "valence_std": 0.2, "arousal_mean": 0.6, "arousal_std": 0.1}
    assert len(songs[2].times_s) == 0 and songs[2].static["valence_mean"] == 0.8  # static labels only
    assert songs[3].audio_path == tmp_path / "chorus" / "3.mp3" and not songs[3].audio_path.exists()
    assert math.isnan(songs[3].static["arousal_std"])
    assert len(songs[4].times_s) == 0 and math.isnan(songs[4].static["arousal_mean"])  # a clip without labels
    assert any("skipped 1 rows with an empty arousal or valence" in n for n in corpus.notes)


def test_headers_are_read_liberally(tmp_path: Path) -> None:
    reordered = "\ufeff Valence(Mean) , frametime,MUSICID, arousal (mean)\n0.25,15.5,1,0.5\n0.3,16.0,1,0.6\n"
    songs = read_pmemo(make_release(tmp_path, dynamic=reordered)).songs
    assert songs[0].times_s.tolist() == [15.5, 16.0] and songs[0].valence.tolist() == pytest.approx([0.25, 0.3])


def test_missing_optional_files_are_notes(tmp_path: Path) -> None:
    corpus = read_pmemo(make_release(tmp_path, std=None, metadata=False))
    assert any("static_annotations_std.csv: missing" in n for n in corpus.notes)
    assert any("metadata.csv: missing" in n for n in corpus.notes)
    assert all(math.isnan(s.static["valence_std"]) for s in corpus.songs)


def test_wav_copies_are_found_and_an_mp3_wins(tmp_path: Path) -> None:
    corpus = read_pmemo(make_release(tmp_path, clips=("1.mp3", "1.wav", "2.wav")))
    paths = {s.song_id: s.audio_path.name for s in corpus.songs}
    assert paths[1] == "1.mp3" and paths[2] == "2.wav"
    assert any("ignored 1 second audio files" in n for n in corpus.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dynamic": None}, r"dynamic_annotations\.csv: missing$"),
        ({"static": None}, r"static_annotations\.csv: missing$"),
        (
            {"dynamic": "musicId,Arousal(mean),Valence(mean)\n1,0.5,0.5\n"},
            r"dynamic_annotations\.csv: missing column\(s\) frameTime",
        ),
        ({"static": ""}, r"static_annotations\.csv: empty file"),
        ({"std": "musicId,Arousal(std)\n1,0.1\n"}, r"static_annotations_std\.csv: missing column\(s\) Valence\(std\)"),
    ],
)
def test_missing_or_malformed_annotations_name_the_file(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_pmemo(make_release(tmp_path, **kwargs))


def test_an_unreadable_annotation_file_is_named(tmp_path: Path) -> None:
    root = make_release(tmp_path)
    (root / "annotations" / "static_annotations.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match=r"static_annotations\.csv: unreadable CSV \(not UTF-8 text\)"):
        read_pmemo(root)


def test_bad_rows_are_listed_with_their_lines_in_one_error(tmp_path: Path) -> None:
    rows = ["1,15.5,0.5,0.5", "x,16.0,0.5,0.5", "1,16.5,1.5,0.5", "1,15.5,0.4,0.4", "1,17.0,high,0.5"]
    rows += [f"2,{15.5 + i / 2},0.5,-{i}" for i in range(1, 4)]
    with pytest.raises(InputError) as err:
        read_pmemo(make_release(tmp_path, dynamic="\n".join([HEADERS["dynamic_annotations.csv"], *rows]) + "\n"))
    message = str(err.value)
    assert "\n" not in message and message.startswith(
        f"{tmp_path / 'annotations' / 'dynamic_annotations.csv'}: 7 bad row(s): "
    )
    assert "line 3: musicId 'x' is not an integer id" in message
    assert "line 4: Arousal(mean) 1.5 is off the scale 0..1" in message
    assert "line 5: song 1 at 15.5 s again (first on line 2)" in message
    assert "line 6: Arousal(mean) 'high' is not a number" in message
    assert message.endswith("and 2 more")


def test_duplicate_static_rows_are_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"static_annotations\.csv: 1 bad row\(s\): line 3: song 1 again \(first on line 2\)"
    ):
        read_pmemo(make_release(tmp_path, static=STATIC.replace("2,0.4", "1,0.4")))


def test_a_folder_without_the_release_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no PMEmo2019 release found"):
        read_pmemo(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        read_pmemo(tmp_path / "nowhere")
