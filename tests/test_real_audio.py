"""Real-world audio: m4a/AAC and wma through FFmpeg, silence named, causes said plainly, decoder chatter kept off stderr."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_files import noise, tones, write

from mer_zoo.audio import AudioReader, capture_decoder_notes, load_audio, log_mel, plain_cause
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import MerZooError
from mer_zoo.store import FeatureStore

Cli = Callable[[list[Any]], int]


def _quiet_then_noise(seconds: float = 11.0) -> np.ndarray:
    data = noise(seconds, seed=3)
    data[: 5 * 44100] = 0.0  # the first 5-s window is digital silence
    return data


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV corpus: FLAC, m4a (AAC), wma and a WAV that opens with 5 s of silence, labelled per file."""
    root = tmp_path_factory.mktemp("library")
    write(root / "a.flac", noise(11, seed=0))
    write(root / "b.m4a", tones(11, seed=1))
    write(root / "c.wma", tones(11, seed=2))
    write(root / "quiet.wav", _quiet_then_noise())
    names = ["a.flac", "b.m4a", "c.wma", "quiet.wav"]
    (root / "labels.csv").write_text(
        "path,arousal,valence\n" + "".join(f"{n},{3 + i},{6 - i}\n" for i, n in enumerate(names))
    )
    return root


@pytest.fixture(scope="module")
def library_store(library: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The library built through the CLI; and what its summary printed."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("library_store") / "features.h5"
    args = ["build-features", "--root", library, "--dataset", "csv", "--labels", "labels.csv", "--scale", "1..9"]
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert run_cli([*args, "--out", out, "--workers", "1", "--no-progress"]) == 0
    return out, printed.getvalue()


def test_m4a_and_wma_decode_through_ffmpeg_as_libsndfile_would(library: Path) -> None:
    for name, seed in (("b.m4a", 1), ("c.wma", 2)):
        with AudioReader(library / name, 44100) as audio:
            whole, duration = audio.read()
            assert audio.backend == "pyav" and duration == pytest.approx(11.0, abs=0.1)
            original = tones(11, seed=seed).mean(axis=1)[44100:88200]
            # m4a in place to the sample; FFmpeg's own WMA encoder and decoder lose its first 2048-sample frame
            lag = max(range(-4096, 4097, 1024), key=lambda k: float(np.dot(whole[44100 + k : 88200 + k], original)))
            assert lag == (0 if name == "b.m4a" else -2048)
            assert np.corrcoef(whole[44100 + lag : 88200 + lag], original)[0, 1] > 0.99
            for offset in (3.0, 7.5, 1.0):  # spans, forward and back, equal the whole decode
                y, _ = audio.read(offset, 2.0)
                start = int(round(offset * 44100))
                np.testing.assert_allclose(y, whole[start : start + len(y)], atol=1e-5)
        y22, _ = load_audio(library / name, 22050, offset_s=2.0, duration_s=3.0)
        assert y22.shape == (3 * 22050,)  # resampled as any file
    with AudioReader(library / "a.flac", 44100) as audio:
        assert audio.backend == "soundfile"  # FFmpeg only where libsndfile refuses


def test_the_store_records_each_songs_decoder_and_flags_and_counts_silent_windows(
    library_store: tuple[Path, str],
) -> None:
    out, printed = library_store
    with FeatureStore(out) as store:
        songs = store.songs.set_index("path")
        segments = store.segments
        assert songs.loc["b.m4a", "backend"] == "pyav" and songs.loc["c.wma", "backend"] == "pyav"
        assert songs.loc["a.flac", "backend"] == "soundfile" and songs.loc["quiet.wav", "backend"] == "soundfile"
        quiet = segments[segments.song_id == songs.loc["quiet.wav", "song_id"]]
        assert quiet.silent.tolist() == [True, False] and segments.silent.sum() == 1
        first = int(songs.loc["quiet.wav", "first_segment"])
        assert np.all(store.mel[first] == -80.0)  # silence is the floor, not a 0-dB image
        assert np.isfinite(store.mel[:]).all()
        assert store.attrs["silence_dbfs"] == -60.0
        described = store.describe()  # what `mer-zoo info` prints
        assert described["silent_windows"] == 1 and described["decoders"] == {"pyav": 2, "soundfile": 2}
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in printed.splitlines() if line.count("│") == 3
    }
    assert lines["windows silent (left out of training unless --keep-silent)"] == "1"
    assert lines["songs decoded by FFmpeg (PyAV): libsndfile cannot read them"] == "2"


def test_training_leaves_silent_windows_out_unless_kept(library_store: tuple[Path, str]) -> None:
    from mer_zoo.data import FeatureDataset
    from mer_zoo.training import TrainConfig

    out, _ = library_store
    kept, skipped = FeatureDataset(out, "all"), FeatureDataset(out, "all", skip_silent=True)
    assert len(kept) == 8 and len(skipped) == 7
    assert TrainConfig(model="mean").skip_silent and not TrainConfig.from_dict({"model": "mean"}).skip_silent


def test_the_mel_of_an_all_zero_window_is_the_floor() -> None:
    config = FeatureConfig()
    mel = log_mel(np.zeros(config.clip_samples, dtype=np.float32), config)
    assert np.all(mel == -80.0)
    deep = log_mel(np.zeros(config.clip_samples, dtype=np.float32), FeatureConfig(top_db=None))
    assert np.all(deep == -100.0)


def test_predict_on_a_folder_takes_every_decodable_file_names_the_others_and_flags_silence(
    cli: Cli, cnn_run: Path, library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    for name in ("b.m4a", "c.wma", "quiet.wav"):
        (folder / name).write_bytes((library / name).read_bytes())
    (folder / "song.weird").write_bytes((library / "b.m4a").read_bytes())  # audio under an unknown suffix
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (folder / ".DS_Store").write_bytes(bytes(100))
    (folder / "list.m3u").write_text("#EXTM3U\nb.m4a\n")
    out = tmp_path / "predictions.csv"
    assert cli(["predict", cnn_run, folder, "--out", out, "--no-progress", "--device", "cpu", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    skipped = sorted(line for line in captured.err.splitlines() if "skipped" in line)
    assert (
        len(skipped) == 3 and ".DS_Store: hidden file" in skipped[0] and "cover.jpg: no decoder opens it" in skipped[1]
    )
    assert "list.m3u: a playlist or cue sheet, not audio" in skipped[2]
    assert "3 skipped (not audio)" in captured.out
    table = pd.read_csv(out)
    assert sorted(Path(f).name for f in table.file.unique()) == ["b.m4a", "c.wma", "quiet.wav", "song.weird"]
    quiet = table[table.file.str.endswith("quiet.wav")]
    assert quiet.silent.tolist() == [True, False]
    assert not table[~table.file.str.endswith("quiet.wav")].silent.any()


@pytest.mark.parametrize(
    ("make", "plain"),
    [
        (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
        (lambda p: p.write_bytes(p.with_suffix(".ok").read_bytes()[:552]), "truncated or damaged FLAC (Internal psf_fseek() failed)"),
        (lambda p: p.write_bytes(p.with_suffix(".ok").read_bytes()[:30_000]), "truncated or damaged FLAC (flac decoder lost sync)"),
        (lambda p: p.write_bytes(b"not audio at all " * 40), "not audio, or damaged beyond reading (FFmpeg: *; libsndfile: Format not recognised)"),
    ],
    ids=["empty", "552-byte-head", "truncated", "text"],
)  # fmt: skip
def test_decoder_failures_are_said_plainly_with_the_original_in_parentheses(
    tmp_path: Path, make: Callable[[Path], Any], plain: str
) -> None:
    sf.write(tmp_path / "song.ok", noise(4), 44100, format="FLAC")
    path = tmp_path / "song.flac"
    make(path)
    with pytest.raises(MerZooError) as err:
        load_audio(path, 44100)
    prefix, _, rest = f"{path}: cannot decode audio ({plain})".partition("*")  # *: FFmpeg's words, whatever they are
    assert str(err.value).startswith(prefix) and str(err.value).endswith(rest) and "\n" not in str(err.value)


def test_internal_phrases_map_to_plain_causes() -> None:
    assert (
        plain_cause("Error : Unspecified internal error.", "x.flac")
        == "damaged or unsupported FLAC data (Unspecified internal error)"
    )
    assert plain_cause("Internal psf_fseek() failed.", "x.wav").startswith("truncated or damaged WAV (")
    assert plain_cause("File is unseekable", "x.mp3") == "too short or damaged to read as MP3 (File is unseekable)"
    assert (
        plain_cause("[Errno 541478725] End of file: 'avcodec_send_packet()'", "x.m4a")
        == "truncated or damaged AAC/ALAC (m4a) (End of file)"
    )
    assert plain_cause("something new", "x.ogg") == "something new"  # unknown phrases pass as they are


def test_decoder_chatter_goes_to_the_log_with_the_file_name(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    whole = tmp_path / "whole.mp3"
    sf.write(whole, noise(12), 44100, format="MP3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])  # its Xing header now overstates the size
    capture_decoder_notes(True)
    try:
        with caplog.at_level(logging.DEBUG, logger="mer_zoo.audio"):
            y, _ = load_audio(cut, 44100)
    finally:
        capture_decoder_notes(False)
    assert 0 < len(y) < 12 * 44100
    assert capfd.readouterr().err == ""
    notes = [r.getMessage() for r in caplog.records if r.name == "mer_zoo.audio"]
    assert notes and all(note.startswith(f"{cut}: ") for note in notes)


def test_the_torch_mel_of_an_all_zero_window_is_the_floor_too() -> None:
    from mer_zoo.audio import log_mel_batch

    config = FeatureConfig()
    clips = np.zeros((2, config.clip_samples), dtype=np.float32)
    clips[1] = noise(5, channels=1)[:, 0]
    mel = log_mel_batch(clips, config)
    assert np.all(mel[0] == -80.0) and mel[1].max() == 0.0


def test_a_failure_reason_is_one_whole_line_in_a_pipe(tmp_path: Path) -> None:
    from test_build_update import _build

    root = tmp_path / "a folder with a rather long name to make the reason longer than eighty columns"
    root.mkdir()
    write(root / "good.flac", noise(11))
    (root / "bad.flac").write_bytes(b"not audio at all " * 40)
    (root / "labels.csv").write_text("path,arousal,valence\ngood.flac,3,4\nbad.flac,4,5\n")
    code, stdout, _ = _build(root, tmp_path / "features.h5")
    assert code == 1
    (line,) = [line for line in stdout.splitlines() if "bad.flac" in line]
    assert f"{root / 'bad.flac'}: cannot decode audio (not audio, or damaged beyond reading (FFmpeg: " in line
    assert line.rstrip(" │").endswith("libsndfile: Format not recognised))")


def test_without_pyav_a_file_libsndfile_refuses_names_the_package(
    library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mer_zoo.audio.ffmpeg

    monkeypatch.setattr(mer_zoo.audio.ffmpeg, "pyav_available", lambda: False)
    expected = r"b\.m4a: cannot decode audio \(libsndfile: Format not recognised; PyAV, which reads m4a, wma and more, is not installed: pip install av\)$"
    with pytest.raises(MerZooError, match=expected):
        load_audio(library / "b.m4a", 44100)
    assert load_audio(library / "a.flac", 44100)[0].size  # libsndfile's files need no PyAV
