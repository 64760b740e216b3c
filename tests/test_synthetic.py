"""The synthetic DEAM folder: exact layout, deterministic bytes, and emotion a model can learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mer_zoo.datasets import read_corpus
from mer_zoo.datasets.synthetic import write_synthetic_deam
from mer_zoo.errors import InputError

CHECKER = Path(__file__).with_name("deam_layout_check.py")
STATIC = "DEAM_Annotations/annotations/annotations averaged per song/song_level"


def test_passes_the_independent_layout_check(demo_root: Path) -> None:
    result = subprocess.run([sys.executable, str(CHECKER), str(demo_root)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("layout ok: 12 mp3, 12 annotated songs")


def test_reads_back_with_the_deam_reader(demo_root: Path) -> None:
    corpus = read_corpus(demo_root)
    assert len(corpus.songs) == 12 and corpus.notes == []
    excerpts = [s for s in corpus.songs if s.song_id <= 2000]
    full = [s for s in corpus.songs if s.song_id > 2000]
    assert full and all(len(s.times_s) > 60 for s in full)
    assert all(len(s.times_s) in (60, 61) and s.times_s[0] == 15.0 for s in excerpts)
    for song in corpus.songs:
        assert song.audio_path.exists()
        assert np.abs(song.arousal).max() <= 1 and np.abs(song.valence).max() <= 1
        assert np.ptp(song.arousal) > 0.05 and np.ptp(song.valence) > 0.05  # labels drift within a song
        assert all(1 <= song.static[k] <= 9 for k in ("arousal_mean", "valence_mean"))


def test_audio_quirks(demo_root: Path) -> None:
    infos = [sf.info(str(p)) for p in sorted((demo_root / "DEAM_audio/MEMD_audio").glob("*.mp3"))]
    assert sum(i.samplerate == 44100 and i.channels == 2 for i in infos) >= len(infos) - 2
    assert any(i.samplerate == 48000 for i in infos) and any(i.channels == 1 for i in infos)
    excerpts = [i.duration for i in infos if int(Path(i.name).stem) <= 2000]
    assert any(44.5 < d < 45.0 for d in excerpts) and max(excerpts) < 46
    assert any(i.duration > 55 for i in infos if int(Path(i.name).stem) > 2000)


def test_static_headers_are_deams(demo_root: Path) -> None:
    first = (demo_root / STATIC / "static_annotations_averaged_songs_1_2000.csv").read_text().splitlines()[0]
    second = (demo_root / STATIC / "static_annotations_averaged_songs_2000_2058.csv").read_text().splitlines()[0]
    assert first == "song_id, valence_mean, valence_std, arousal_mean, arousal_std"
    assert second.startswith("song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std,")


def test_same_seed_same_bytes(demo_root: Path, tmp_path: Path) -> None:
    # Songs rendered again, alone and in this process, match the pooled run's files byte for byte.
    from mer_zoo.datasets.synthetic.deam import _make_song, _plan

    plan = _plan(12, seed=0)  # demo_root's songs
    again = [plan[0], next(song for song in plan if song.sample_rate == 48000)]
    for song in again:
        _make_song(song, 0, tmp_path / "again.mp3")
        original = demo_root / "DEAM_audio/MEMD_audio" / f"{song.song_id}.mp3"
        assert (tmp_path / "again.mp3").read_bytes() == original.read_bytes(), song
    _make_song(plan[0], 1, tmp_path / "other_seed.mp3")
    assert (tmp_path / "other_seed.mp3").read_bytes() != (
        demo_root / "DEAM_audio/MEMD_audio" / f"{plan[0].song_id}.mp3"
    ).read_bytes()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--songs"):
        write_synthetic_deam(tmp_path, n_songs=3)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a directory"):
        write_synthetic_deam(tmp_path / "file", n_songs=4)


def window_statistics(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 5-s window from 15 s: band means, stds and frame-to-frame change of a log-mel; labels; song ids."""
    import librosa

    features, labels, groups = [], [], []
    for song in read_corpus(root).songs:
        audio, sr = sf.read(song.audio_path, dtype="float32", always_2d=True)
        audio = audio.mean(1)
        for start in np.arange(15.0, song.times_s[-1] - 4.0, 5.0):
            if (start + 5) * sr > len(audio):
                break
            clip = audio[int(start * sr) : int(start * sr) + 5 * sr]
            mel = librosa.feature.melspectrogram(y=clip, sr=sr, n_fft=2048, hop_length=512, n_mels=128, fmax=8000)
            bands = librosa.power_to_db(mel, ref=np.max).reshape(32, 4, -1).mean(1)
            features.append(np.concatenate([bands.mean(1), bands.std(1), np.abs(np.diff(bands, axis=1)).mean(1)]))
            inside = (song.times_s >= start) & (song.times_s < start + 5)
            labels.append([song.arousal[inside].mean(), song.valence[inside].mean()])
            groups.append(song.song_id)
    return np.array(features), np.array(labels), np.array(groups)


def test_ridge_on_log_mel_statistics_beats_the_mean_on_unseen_songs(demo_root: Path) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, songs = window_statistics(demo_root)
    predicted, baseline = np.zeros_like(y), np.zeros_like(y)
    for train, test in GroupKFold(n_splits=4).split(x, y, songs):
        model = make_pipeline(StandardScaler(), Ridge(alpha=30.0)).fit(x[train], y[train])
        predicted[test] = model.predict(x[test])
        baseline[test] = y[train].mean(0)
    r2 = 1 - ((predicted - y) ** 2).mean(0) / ((baseline - y) ** 2).mean(0)
    assert r2[0] > 0.3, f"arousal R2 {r2[0]:.2f} on held-out songs"
    assert r2[1] > 0.3, f"valence R2 {r2[1]:.2f} on held-out songs"
