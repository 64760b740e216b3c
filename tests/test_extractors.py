"""Built-in feature sets: each window's values are those of the reference library called on that window."""

from __future__ import annotations

import json

import librosa
import numpy as np
import opensmile
import pytest

from mer_zoo.audio.decode import load_audio
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.synthetic import AUDIO
from mer_zoo.errors import InputError
from mer_zoo.features import get_extractor, get_extractor_info
from mer_zoo.features.librosa_sets import SPECTRAL_ROWS
from mer_zoo.features.opensmile_sets import fit_frames, lld_frames
from mer_zoo.store.layout import SetSpec

WINDOWS = FeatureConfig()
SR = WINDOWS.sample_rate
N = WINDOWS.clip_samples
LIBROSA_SETS = ("mfcc", "chroma", "spectral", "tempogram")
OPENSMILE_SETS = {
    "egemaps": ("eGeMAPSv02", "lld"),
    "compare": ("ComParE_2016", "lld"),
    "egemaps_functionals": ("eGeMAPSv02", "func"),
    "compare_functionals": ("ComParE_2016", "func"),
}


@pytest.fixture(scope="module")
def span(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """12.5 s of the first demo song from 15 s, decoded as the build does."""
    from mer_zoo.datasets.synthetic import write_synthetic_deam

    root = tmp_path_factory.mktemp("deam4")
    write_synthetic_deam(root, n_songs=4, seed=0)
    songs = sorted((root / AUDIO).glob("*.mp3"))
    y, _ = load_audio(songs[0], SR, offset_s=15.0, duration_s=12.5)
    return y


# 4 overlapping windows: one batch of 3 and a remainder of 1
OFFSETS = [0, int(2.5 * SR), 5 * SR, int(7.5 * SR)]


def librosa_reference(name: str, clip: np.ndarray) -> np.ndarray:
    """What librosa itself computes for one window, with its defaults (n_fft 2048, hop 512)."""
    f = librosa.feature
    if name == "mfcc":
        m = f.mfcc(y=clip, sr=SR, n_mfcc=20)
        return np.concatenate([m, f.delta(m), f.delta(m, order=2)])
    if name == "chroma":
        return f.chroma_stft(y=clip, sr=SR)
    if name == "tempogram":
        return f.tempogram(y=clip, sr=SR)
    rows = [
        f.spectral_centroid(y=clip, sr=SR), f.spectral_bandwidth(y=clip, sr=SR), f.spectral_contrast(y=clip, sr=SR),
        f.spectral_rolloff(y=clip, sr=SR), f.spectral_flatness(y=clip), f.zero_crossing_rate(clip), f.rms(y=clip),
    ]  # fmt: skip
    return np.concatenate(rows)


@pytest.mark.parametrize("name", LIBROSA_SETS)
def test_librosa_sets_equal_librosa_called_on_each_window(name: str, span: np.ndarray) -> None:
    extractor = get_extractor(name)
    out = extractor.compute(span, OFFSETS, WINDOWS)
    assert out.dtype == np.float32 and out.shape == (len(OFFSETS), *extractor.shape(WINDOWS))
    for i, offset in enumerate(OFFSETS):
        reference = librosa_reference(name, span[offset : offset + N])
        # float32 storage of float64 values; spectral flatness goes down to 1e-8. MFCC deltas are
        # differences of MFCCs of a few hundred, so they carry float32 rounding of that size
        atol = 1e-7 * float(np.abs(reference).max()) if name == "mfcc" else 1e-6
        np.testing.assert_allclose(out[i], reference, rtol=1e-4, atol=atol, err_msg=f"{name} window {i}")


def test_librosa_sets_have_the_documented_shapes_and_line_up_with_mel() -> None:
    mel = get_extractor("mel", **WINDOWS.mel_settings())
    frames = mel.shape(WINDOWS)[-1]
    rows = {"mfcc": 60, "chroma": 12, "spectral": len(SPECTRAL_ROWS), "tempogram": 384}
    kinds = {"mfcc": "sequence", "chroma": "image", "spectral": "sequence", "tempogram": "image"}
    assert len(SPECTRAL_ROWS) == 13
    for name in LIBROSA_SETS:
        extractor = get_extractor(name)
        assert extractor.shape(WINDOWS) == (rows[name], frames), name
        assert extractor.frame_rate_hz(WINDOWS) == mel.frame_rate_hz(WINDOWS), name
        assert extractor.kind == kinds[name] == get_extractor_info(name).kind
    assert get_extractor("mfcc", n_mfcc=13).shape(WINDOWS) == (39, frames)
    assert get_extractor("spectral", n_bands=4).shape(WINDOWS) == (11, frames)


@pytest.mark.parametrize("name", ["egemaps", "compare"])
def test_opensmile_llds_are_process_signal_frames_padded_to_a_fixed_count(name: str, span: np.ndarray) -> None:
    feature_set, level = OPENSMILE_SETS[name]
    extractor = get_extractor(name)
    out = extractor.compute(span, OFFSETS[:2], WINDOWS)
    assert out.shape == (2, *extractor.shape(WINDOWS)) == (2, {"egemaps": 25, "compare": 65}[name], 500)
    assert extractor.frame_rate_hz(WINDOWS) == 100.0
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=level)
    for i, offset in enumerate(OFFSETS[:2]):
        frames = smile.process_signal(span[offset : offset + N], SR).to_numpy(dtype=np.float32).T
        assert 490 <= frames.shape[1] < 500  # openSMILE's own count for 5 s
        np.testing.assert_array_equal(out[i, :, : frames.shape[1]], frames)
        np.testing.assert_array_equal(
            out[i, :, frames.shape[1] :], np.repeat(frames[:, -1:], 500 - frames.shape[1], axis=1)
        )


@pytest.mark.parametrize("name", ["egemaps_functionals", "compare_functionals"])
def test_opensmile_functionals_equal_process_signal(name: str, span: np.ndarray) -> None:
    feature_set, level = OPENSMILE_SETS[name]
    extractor = get_extractor(name)
    out = extractor.compute(span, OFFSETS[:2], WINDOWS)
    assert out.shape == (2, {"egemaps_functionals": 88, "compare_functionals": 6373}[name])
    assert extractor.kind == "vector" and extractor.frame_rate_hz(WINDOWS) is None
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=level)
    for i, offset in enumerate(OFFSETS[:2]):
        np.testing.assert_array_equal(
            out[i], smile.process_signal(span[offset : offset + N], SR).to_numpy(np.float32)[0]
        )


def test_lld_frames_are_cut_or_padded_with_the_last_frame() -> None:
    values = np.arange(12, dtype=np.float32).reshape(4, 3)  # 4 frames of 3 descriptors
    np.testing.assert_array_equal(
        fit_frames(values, 6), np.array([[0, 3, 6, 9, 9, 9], [1, 4, 7, 10, 10, 10], [2, 5, 8, 11, 11, 11]])
    )
    np.testing.assert_array_equal(fit_frames(values, 2), values[:2].T)
    assert lld_frames(5.0) == 500 and lld_frames(2.5) == 250
    assert get_extractor("egemaps").shape(FeatureConfig(clip_s=3.0, hop_s=3.0)) == (25, 300)


@pytest.mark.parametrize("name", [*LIBROSA_SETS, *OPENSMILE_SETS])
def test_recorded_settings_rebuild_the_same_extractor(name: str) -> None:
    extractor = get_extractor(name)
    spec = SetSpec.of(extractor, WINDOWS)
    assert spec.extractor == name and spec.extractor_version == "1"
    assert spec.backend.startswith("opensmile " if name in OPENSMILE_SETS else "librosa")
    config = json.loads(json.dumps(spec.config))  # what the store keeps, read back
    assert SetSpec.of(get_extractor(name, **config), WINDOWS) == spec


def test_bad_settings_are_one_line_input_errors() -> None:
    with pytest.raises(InputError, match="feature_set must be one of eGeMAPSv02"):
        get_extractor("egemaps", feature_set="IS09_emotion")
    with pytest.raises(InputError, match="'mfcc'.*n_bins"):
        get_extractor("mfcc", n_bins=3)
