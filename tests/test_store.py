"""The feature store contract, read with plain h5py, the FeatureStore API and `mer-zoo info`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from mer_zoo.audio.decode import load_audio
from mer_zoo.audio.melspec import log_mel
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets import read_corpus
from mer_zoo.datasets.base import STATIC_COLUMNS
from mer_zoo.errors import MerZooError
from mer_zoo.store.reader import FeatureStore
from mer_zoo.store.writer import SongFeatures, StoreWriter

SEGMENT_COLUMNS = ("song_id", "start_s", "end_s", "arousal", "valence")


@pytest.fixture(scope="module")
def corpus(demo_root: Path):
    return {song.song_id: song for song in read_corpus(demo_root).songs}


def test_layout_readable_with_plain_h5py(demo_store: Path) -> None:
    with h5py.File(demo_store, "r") as f:
        data = f["features/mel/data"]
        n = data.shape[0]
        assert data.shape == (n, 128, 431) and data.dtype == np.float32
        assert data.chunks == (1, 128, 431) and data.compression is None
        assert f.get("mel", getlink=True).path == "/features/mel/data"  # format-1 readers still find /mel
        assert f["mel"].shape == data.shape
        set_attrs = dict(data.attrs)
        for name in SEGMENT_COLUMNS:
            assert f[f"segments/{name}"].shape == (n,)
        for name in ("frame_times", "arousal_frames", "valence_frames"):
            assert f[f"segments/{name}"].shape == (n, 10)
        for name in ("song_id", "path", "duration_s", "first_segment", "n_segments", *STATIC_COLUMNS):
            assert f[f"songs/{name}"].ndim == 1
        for name in ("song_id", "path", "reason", "set"):
            assert f[f"failures/{name}"].ndim == 1
        attrs = dict(f.attrs)
    assert attrs["format"] == "mer-zoo-features" and attrs["format_version"] == 2 and attrs["complete"]
    assert json.loads(attrs["windows"]) == FeatureConfig().window_settings()
    assert json.loads(attrs["sets"]) == ["mel"]
    assert json.loads(set_attrs["config"]) == FeatureConfig().mel_settings()
    assert set_attrs["kind"] == "image" and set_attrs["extractor"] == "mel" and set_attrs["backend"]
    assert set_attrs["frame_rate_hz"] == pytest.approx(44100 / 512)
    assert attrs["dataset"] == "deam" and attrs["dynamic_scale"] == "-1..1" and attrs["static_scale"] == "1..9"
    assert attrs["window_labels"] == "dynamic" and attrs["label_rate_hz"] == 2.0
    assert {"mer_zoo_version", "h5py_version", "hdf5_version", "librosa_version"} <= set(attrs)


def test_frames_are_the_dynamic_values_inside_each_window(demo_store: Path, corpus) -> None:
    with FeatureStore(demo_store) as store:
        segments, frames = store.segments, store.frames()
    for i, row in enumerate(segments.itertuples()):
        song = corpus[row.song_id]
        inside = (song.times_s >= row.start_s) & (song.times_s < row.end_s)
        np.testing.assert_array_equal(frames["frame_times"][i], song.times_s[inside])
        np.testing.assert_array_equal(frames["arousal_frames"][i], song.arousal[inside])
        np.testing.assert_array_equal(frames["valence_frames"][i], song.valence[inside])
        assert row.arousal == pytest.approx(frames["arousal_frames"][i].mean(), abs=1e-6)


def test_a_format_1_store_names_the_rebuild_command(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as f:
        f.attrs.update(format="mer-zoo-features", format_version=1, complete=True)
        f["mel"] = np.zeros((1, 2, 3), dtype=np.float32)
    with pytest.raises(
        MerZooError, match="format version 1.*mer-zoo build-features --root DATASET --out .*old.h5 --overwrite"
    ) as err:
        FeatureStore(old)
    assert "\n" not in str(err.value)


def test_row_i_of_segments_describes_mel_i(demo_store: Path, demo_root: Path) -> None:
    config = FeatureConfig()
    with FeatureStore(demo_store) as store:
        segments, songs = store.segments, store.songs.set_index("song_id")
        for i in (0, len(segments) // 2, len(segments) - 1):
            row = segments.iloc[i]
            path = demo_root / songs.loc[row.song_id, "path"]
            y, _ = load_audio(path, config.sample_rate, offset_s=row.start_s, duration_s=config.clip_s)
            np.testing.assert_allclose(store.mel[i], log_mel(y, config), atol=1e-4)
            assert row.end_s == row.start_s + config.clip_s


def test_labels_are_the_means_of_the_dynamic_values_in_each_window(demo_store: Path, corpus) -> None:
    with FeatureStore(demo_store) as store:
        segments = store.segments
    for row in segments.itertuples():
        song = corpus[row.song_id]
        inside = (song.times_s >= row.start_s) & (song.times_s < row.end_s)
        assert inside.sum() == 10
        assert row.arousal == pytest.approx(song.arousal[inside].mean(), abs=1e-6)
        assert row.valence == pytest.approx(song.valence[inside].mean(), abs=1e-6)


def test_window_counts_per_song(demo_store: Path, demo_root: Path, corpus) -> None:
    with FeatureStore(demo_store) as store:
        songs, segments = store.songs, store.segments
    assert sorted(songs.song_id) == sorted(corpus)  # the demo data has no bad song
    for song in songs.itertuples():
        rows = segments.iloc[song.first_segment : song.first_segment + song.n_segments]
        assert (rows.song_id == song.song_id).all()
        audio_s = sf.info(demo_root / song.path).duration
        assert song.duration_s == pytest.approx(audio_s, abs=1e-3)
        if song.song_id > 2000:  # full songs: windows over the whole annotated span
            assert song.n_segments > 6
            assert rows.end_s.max() > corpus[song.song_id].times_s[-1] - 5
        elif audio_s < 45.0:  # the short excerpt: its last window is past the end of the audio
            assert song.n_segments == 5 and rows.end_s.max() == 40.0
        else:
            assert song.n_segments == 6 and list(rows.start_s) == [15, 20, 25, 30, 35, 40]
        for column in STATIC_COLUMNS:
            assert getattr(song, column) == pytest.approx(corpus[song.song_id].static[column], nan_ok=True)
    assert songs.n_segments.sum() == len(segments)
    assert any(s.song_id > 2000 for s in songs.itertuples()) and (songs.n_segments == 5).sum() >= 1


def test_memory_mapped_reads_equal_h5py_reads(demo_store: Path) -> None:
    with FeatureStore(demo_store) as store:
        offsets = store.mel_offsets()
        expected = store.mel[[0, 7, len(store) - 1]]
    assert offsets is not None
    for row, index in zip(expected, (0, 7, len(offsets) - 1)):
        mapped = np.memmap(demo_store, dtype=np.float32, mode="r", offset=int(offsets[index]), shape=(128, 431))
        np.testing.assert_array_equal(mapped, row)


def _features(song_id: int, n: int) -> SongFeatures:
    rng = np.random.default_rng(song_id)
    config = FeatureConfig(n_mels=8, n_fft=256, hop_length=2205, sample_rate=44100)
    return SongFeatures(
        song_id=song_id,
        path=f"{song_id}.mp3",
        duration_s=45.0,
        features={"mel": rng.normal(size=(n, 8, config.frames)).astype(np.float32)},
        start_s=15.0 + 5 * np.arange(n),
        end_s=20.0 + 5 * np.arange(n),
        arousal=rng.uniform(-1, 1, n).astype(np.float32),
        valence=rng.uniform(-1, 1, n).astype(np.float32),
        static=dict.fromkeys(STATIC_COLUMNS, 5.0),
    )


def test_resume_keeps_the_committed_songs_but_redoes_the_last_of_each_table(tmp_path: Path) -> None:
    config = FeatureConfig(n_mels=8, n_fft=256, hop_length=2205)
    path = tmp_path / "f.h5.partial"
    writer = StoreWriter.create(path, config, dataset="deam", source_root=str(tmp_path))
    for song_id in (1, 2, 3):
        writer.append_song(_features(song_id, 3))
    writer.append_failure(4, "4.mp3", "bad")
    writer.append_failure(5, "5.mp3", "worse")
    f = writer._file  # a kill in the middle of song 6's commit: segments written, songs row half
    f["features/mel/data"].resize(12, axis=0)
    f["songs/song_id"].resize(4, axis=0)
    f["songs/song_id"][3] = 6
    f.flush()
    writer.close()

    resumed = StoreWriter.resume(path)
    assert resumed.done_song_ids() == {1, 2, 4}
    resumed.append_song(_features(3, 3))
    resumed.append_failure(5, "5.mp3", "worse")
    resumed.close(complete=True)
    with FeatureStore(path) as store:
        assert len(store) == 9 and list(store.songs.song_id) == [1, 2, 3]
        assert list(store.failures.reason) == ["bad", "worse"]
        np.testing.assert_array_equal(store.mel[6:9], _features(3, 3).features["mel"])
        assert list(store.songs.first_segment) == [0, 3, 6]


def test_songs_committed_together_are_all_written_and_resume_keeps_only_those_with_all_their_windows(
    tmp_path: Path,
) -> None:
    config = FeatureConfig(n_mels=8, n_fft=256, hop_length=2205)
    path = tmp_path / "f.h5.partial"
    writer = StoreWriter.create(path, config, dataset="deam", source_root=str(tmp_path))
    writer.append_songs([_features(1, 3), _features(2, 2)])
    writer.append_songs([_features(3, 3), _features(4, 3), _features(5, 3)])
    with h5py.File(path, "r", swmr=True) as f:
        assert list(f["songs/first_segment"][:]) == [0, 3, 5, 8, 11]
        assert list(f["segments/song_id"][:]) == [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
        np.testing.assert_array_equal(f["features/mel/data"][8:11], _features(4, 3).features["mel"])
    f = writer._file  # a kill during the second commit: every songs row written, song 4's windows cut short
    for name in ("features/mel/data", *(f"segments/{c}" for c in f["segments"])):
        f[name].resize(10, axis=0)
    f.flush()
    writer.close()

    resumed = StoreWriter.resume(path)
    assert resumed.done_song_ids() == {1, 2, 3}
    resumed.close()


def test_metadata_columns_are_written_with_their_songs_and_survive_a_resume(tmp_path: Path) -> None:
    config = FeatureConfig(n_mels=8, n_fft=256, hop_length=2205)
    path = tmp_path / "f.h5.partial"
    writer = StoreWriter.create(
        path, config, dataset="pmemo", source_root=str(tmp_path), metadata_columns=["artist", "album"]
    )
    for song_id, artist in ((1, "A"), (2, ""), (3, "B")):
        writer.append_song(dataclasses.replace(_features(song_id, 2), metadata={"artist": artist} if artist else {}))
    f = writer._file  # a kill during the commit of song 3, before its artist
    f["songs/artist"].resize(2, axis=0)
    f.flush()
    writer.close()
    resumed = StoreWriter.resume(path)
    assert resumed.done_song_ids() == {1}  # the shortest column decides; its last row is redone too
    resumed.append_songs([dataclasses.replace(_features(i, 2), metadata={"artist": a}) for i, a in ((2, ""), (3, "B"))])
    resumed.close(complete=True)
    with FeatureStore(path) as store:
        assert store.metadata_columns == ["artist", "album"]
        assert store.metadata() == {"artist": {1: "A", 2: "", 3: "B"}, "album": {1: "", 2: "", 3: ""}}
        assert list(store.songs.artist) == ["A", "", "B"]
    with pytest.raises(ValueError, match="replace columns of the songs table"):
        StoreWriter.create(tmp_path / "g.h5", config, dataset="csv", source_root=".", metadata_columns=["path"])


def test_an_unfinished_store_or_another_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    StoreWriter.create(path, FeatureConfig(), dataset="deam", source_root=".").close()
    with pytest.raises(MerZooError, match="still being built"):
        FeatureStore(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(MerZooError, match="not a mer-zoo feature store"):
        FeatureStore(other)
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(MerZooError, match="not a readable HDF5 file"):
        FeatureStore(tmp_path / "text.h5")


def test_info_command(demo_store: Path) -> None:
    mer_zoo = Path(sys.executable).with_name("mer-zoo")
    text = subprocess.run([mer_zoo, "info", demo_store], capture_output=True, text=True, check=True).stdout
    with FeatureStore(demo_store) as store:
        n_songs, n_segments = len(store.songs), len(store)
    assert f"songs:       {n_songs} built, 0 failed" in text
    assert f"windows:     {n_segments} (" in text and "MiB" in text
    assert "set mel:     image 128 x 431 by mel v1" in text and "n_mels=128" in text
    assert "labels:      window/frame -1..1 (dynamic, 10 frames of 2 Hz per window), song 1..9" in text
    described = json.loads(
        subprocess.run([mer_zoo, "info", demo_store, "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert described["segments"] == n_segments and described["sets"]["mel"]["config"]["fmax"] == 8000.0
    assert described["failed"] == []
