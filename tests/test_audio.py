"""Audio decoding and windows: span decoding equals whole-file decoding; files become log-mel windows."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from mer_zoo.audio.decode import load_audio, window_starts
from mer_zoo.audio.melspec import log_mel
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import MerZooError
from mer_zoo.features import get_extractor
from mer_zoo.pipeline.extract import extract_file


def _audio(root: Path) -> list[Path]:
    return sorted((root / "DEAM_audio" / "MEMD_audio").glob("*.mp3"), key=lambda p: int(p.stem))


def _whole_mono(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.mean(axis=1, dtype=np.float32), rate


@pytest.fixture(scope="module")
def stereo_44k(demo_root: Path) -> Path:
    return next(p for p in _audio(demo_root) if sf.info(p).samplerate == 44100 and sf.info(p).channels == 2)


def test_span_decoding_is_bit_identical_to_whole_file_decoding(stereo_44k: Path) -> None:
    whole, rate = _whole_mono(stereo_44k)
    for offset in (0.0, 15.0, 17.3):
        y, duration = load_audio(stereo_44k, 44100, offset_s=offset, duration_s=10.0)
        start = int(round(offset * rate))
        assert y.dtype == np.float32 and y.shape == (10 * rate,)
        np.testing.assert_allclose(y, whole[start : start + len(y)], rtol=0, atol=1e-7)
    assert duration == pytest.approx(len(whole) / rate)


def test_span_past_the_end_is_cut_short(stereo_44k: Path) -> None:
    y, duration = load_audio(stereo_44k, 44100, offset_s=40.0, duration_s=30.0)
    assert len(y) == pytest.approx((duration - 40.0) * 44100, abs=1)


def test_other_rates_are_resampled_and_mono_files_read(demo_root: Path) -> None:
    infos = {p: sf.info(p) for p in _audio(demo_root)}
    at_48k = next(p for p, i in infos.items() if i.samplerate == 48000)
    mono = next(p for p, i in infos.items() if i.channels == 1)
    y, duration = load_audio(at_48k, 44100, offset_s=15.0, duration_s=5.0)
    assert y.shape == (5 * 44100,)
    reference, _ = librosa.load(at_48k, sr=44100, offset=15.0, duration=5.0)
    np.testing.assert_allclose(y[2000:-2000], reference[2000:-2000], atol=1e-4)
    assert duration == pytest.approx(infos[at_48k].duration, abs=1e-3)
    y, _ = load_audio(mono, 44100, offset_s=15.0, duration_s=5.0)
    assert y.ndim == 1 and y.shape == (5 * 44100,)


def test_every_channel_count_is_averaged_to_mono(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for channels in (1, 2, 3, 6):
        data = rng.uniform(-0.5, 0.5, (3 * 44100, channels)).astype(np.float32)
        path = tmp_path / f"{channels}.wav"
        sf.write(path, data, 44100, subtype="FLOAT")
        y, _ = load_audio(path, 44100)
        np.testing.assert_allclose(y, data.mean(axis=1), rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (None, "audio file not found"),
        (b"", "cannot decode audio"),
        (np.random.default_rng(0).bytes(50_000), "cannot decode audio"),
    ],
    ids=["missing", "empty", "random-bytes"],
)
def test_unreadable_files_raise_one_line_errors_naming_the_file(
    tmp_path: Path, content: bytes | None, cause: str
) -> None:
    path = tmp_path / "7.mp3"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MerZooError) as err:
        load_audio(path, 44100)
    message = str(err.value)
    assert str(path) in message and cause in message and "\n" not in message


def test_window_starts() -> None:
    config = FeatureConfig()
    np.testing.assert_array_equal(window_starts(45.0, config), [15, 20, 25, 30, 35, 40])
    np.testing.assert_array_equal(window_starts(44.9, config), [15, 20, 25, 30, 35])
    np.testing.assert_array_equal(window_starts(12.0, config, start_s=0.0), [0.0, 5.0])
    assert len(window_starts(19.9, config)) == 0


def test_extract_file_covers_the_whole_file(stereo_44k: Path, tmp_path: Path) -> None:
    config = FeatureConfig()
    features, starts = extract_file(stereo_44k, config, [get_extractor("mel")])
    mel = features["mel"]
    duration = sf.info(stereo_44k).duration
    assert mel.shape == (int(duration // 5), 128, 431)
    np.testing.assert_array_equal(starts, 5.0 * np.arange(len(starts)))
    whole, _ = _whole_mono(stereo_44k)
    np.testing.assert_allclose(mel[3], log_mel(whole[15 * 44100 : 20 * 44100], config), atol=1e-4)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(44100 * 3, dtype=np.float32), 44100)
    with pytest.raises(MerZooError, match="shorter than one 5-s window"):
        extract_file(short, config, [get_extractor("mel")])
