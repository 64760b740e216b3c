"""Frame-level librosa sets: ``mfcc``, ``chroma``, ``spectral`` and ``tempogram``, librosa's own numbers.

Every set uses the STFT framing of ``mel`` (``n_fft`` 2048, hop 512, centred frames), so a
window has ``1 + clip_samples // hop_length`` frames in every set and they line up. The
expensive step (the STFT or mel spectrogram) runs on a few windows at once; whatever
librosa computes relative to a whole array (``power_to_db``'s 80-dB floor, chroma's
tuning estimate, the contrast's dB floor) is computed per window, so each window's values are those of librosa's
function called on that window alone (the tests hold them to it).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.features import Extractor, register_extractor

__all__ = ["SPECTRAL_ROWS", "LibrosaSet", "chroma", "mfcc", "spectral", "spectral_rows", "tempogram"]

_BATCH = 3  # windows per transform: tens of MB of STFT temporaries at most


def spectral_rows(n_bands: int) -> list[str]:
    """The rows of the ``spectral`` set, in order (contrast has ``n_bands + 1`` bands)."""
    contrast = [f"contrast_{i}" for i in range(n_bands + 1)]
    return ["centroid", "bandwidth", *contrast, "rolloff", "flatness", "zero_crossing_rate", "rms"]


SPECTRAL_ROWS = spectral_rows(6)


class LibrosaSet(Extractor):
    """A frame-level librosa set: ``(rows, frames)`` per window from a batch function."""

    kind = "sequence"
    version = "1"
    backend = "librosa"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def params(self) -> dict[str, Any]:
        """The settings passed to librosa (recorded as the set's config)."""
        return dict(self.settings)

    @abstractmethod
    def rows(self) -> int:
        """Features per frame."""

    def shape(self, windows: FeatureConfig) -> tuple[int, ...]:
        """``(rows, 1 + clip_samples // hop_length)``."""
        return (self.rows(), 1 + windows.clip_samples // self.settings["hop_length"])

    def frame_rate_hz(self, windows: FeatureConfig) -> float | None:
        """STFT frames per second."""
        return windows.sample_rate / self.settings["hop_length"]

    @abstractmethod
    def batch(self, clips: np.ndarray, sr: int) -> np.ndarray:
        """``(b, rows, frames)`` for ``(b, samples)`` windows."""

    def compute(self, span: np.ndarray, offsets: Sequence[int], windows: FeatureConfig) -> np.ndarray:
        """The set for each window, a few windows per transform."""
        n = windows.clip_samples
        out = np.empty((len(offsets), *self.shape(windows)), dtype=np.float32)
        for i in range(0, len(offsets), _BATCH):
            clips = np.stack([span[o : o + n] for o in offsets[i : i + _BATCH]])
            out[i : i + len(clips)] = self.batch(clips, windows.sample_rate)
        return out


def _log_mel(
    clips: np.ndarray, sr: int, settings: dict[str, Any], n_mels: int, fmin: float, fmax: float | None
) -> np.ndarray:
    """``power_to_db(melspectrogram(...))`` (ref 1, 80-dB floor) of each window, the floor per window."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=clips, sr=sr, n_fft=settings["n_fft"], hop_length=settings["hop_length"], n_mels=n_mels,
        fmin=fmin, fmax=fmax,
    )  # fmt: skip
    return np.stack([librosa.power_to_db(window) for window in power])


class Mfcc(LibrosaSet):
    """``mfcc`` with its deltas and delta-deltas stacked: ``(3 * n_mfcc, frames)``."""

    def rows(self) -> int:
        """``3 * n_mfcc``."""
        return 3 * self.settings["n_mfcc"]

    def batch(self, clips: np.ndarray, sr: int) -> np.ndarray:
        """MFCCs from each window's log-mel, then ``delta`` of order 1 and 2 along time."""
        import librosa

        s = self.settings
        coefficients = librosa.feature.mfcc(
            S=_log_mel(clips, sr, s, s["n_mels"], s["fmin"], s["fmax"]), n_mfcc=s["n_mfcc"]
        )
        deltas = [librosa.feature.delta(coefficients, width=s["delta_width"], order=k) for k in (1, 2)]
        return np.concatenate([coefficients, *deltas], axis=-2)


class Chroma(LibrosaSet):
    """``chroma_stft`` of each window: ``(n_chroma, frames)``."""

    kind = "image"

    def rows(self) -> int:
        """``n_chroma``."""
        return self.settings["n_chroma"]

    def batch(self, clips: np.ndarray, sr: int) -> np.ndarray:
        """Power STFT of the batch, then chroma per window (its own tuning estimate unless ``tuning`` is set)."""
        import librosa

        s = self.settings
        power = np.abs(librosa.stft(clips, n_fft=s["n_fft"], hop_length=s["hop_length"])) ** 2
        options = {"sr": sr, "tuning": s["tuning"], "n_chroma": s["n_chroma"]}
        if s["tuning"] is not None:
            return librosa.feature.chroma_stft(S=power, **options)
        with warnings.catch_warnings():  # a silent window: librosa warns, then takes tuning 0
            warnings.filterwarnings("ignore", "Trying to estimate tuning from empty frequency set")
            return np.stack([librosa.feature.chroma_stft(S=window, **options) for window in power])


class Spectral(LibrosaSet):
    """Spectral shape per frame, stacked in the order of ``spectral_rows(n_bands)``."""

    def rows(self) -> int:
        """``7 + n_bands``."""
        return len(spectral_rows(self.settings["n_bands"]))

    def batch(self, clips: np.ndarray, sr: int) -> np.ndarray:
        """Centroid, bandwidth, contrast, rolloff and flatness from one magnitude STFT; ZCR and RMS from the samples."""
        import librosa.feature as lf
        from librosa import stft

        s = self.settings
        n_fft, hop = s["n_fft"], s["hop_length"]
        magnitude = np.abs(stft(clips, n_fft=n_fft, hop_length=hop))
        rows = [
            lf.spectral_centroid(S=magnitude, sr=sr),
            lf.spectral_bandwidth(S=magnitude, sr=sr),
            # per window: contrast is a difference of power_to_db values, floored 80 dB below the array's maximum
            np.stack(
                [lf.spectral_contrast(S=m, sr=sr, fmin=s["contrast_fmin"], n_bands=s["n_bands"]) for m in magnitude]
            ),
            lf.spectral_rolloff(S=magnitude, sr=sr, roll_percent=s["roll_percent"]),
            lf.spectral_flatness(S=magnitude),
            lf.zero_crossing_rate(clips, frame_length=n_fft, hop_length=hop),
            lf.rms(y=clips, frame_length=n_fft, hop_length=hop),
        ]
        return np.concatenate(rows, axis=-2)


class Tempogram(LibrosaSet):
    """The autocorrelation ``tempogram`` of each window's onset strength: ``(win_length, frames)``."""

    kind = "image"

    def rows(self) -> int:
        """``win_length`` lags."""
        return self.settings["win_length"]

    def batch(self, clips: np.ndarray, sr: int) -> np.ndarray:
        """Onset strength from each window's log-mel (librosa's recipe), then the tempogram of the batch."""
        import librosa

        s = self.settings
        log_mel = _log_mel(clips, sr, s, 128, 0.0, None)  # onset_strength's own mel settings
        onsets = librosa.onset.onset_strength(S=log_mel, sr=sr, n_fft=s["n_fft"], hop_length=s["hop_length"])
        return librosa.feature.tempogram(
            onset_envelope=onsets, sr=sr, hop_length=s["hop_length"], win_length=s["win_length"]
        )


@register_extractor(kind="sequence")
def mfcc(
    *,
    n_mfcc: int = 20,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    fmin: float = 0.0,
    fmax: float | None = None,
    delta_width: int = 9,
) -> Mfcc:
    """MFCCs with deltas and delta-deltas (librosa mfcc + delta), 3*n_mfcc x frames."""
    return Mfcc(
        {"n_mfcc": n_mfcc, "n_mels": n_mels, "n_fft": n_fft, "hop_length": hop_length, "fmin": fmin, "fmax": fmax,
         "delta_width": delta_width}
    )  # fmt: skip


@register_extractor(kind="image")
def chroma(*, n_chroma: int = 12, n_fft: int = 2048, hop_length: int = 512, tuning: float | None = None) -> Chroma:
    """Chromagram (librosa chroma_stft, tuning estimated per window), 12 x frames."""
    return Chroma({"n_chroma": n_chroma, "n_fft": n_fft, "hop_length": hop_length, "tuning": tuning})


@register_extractor(kind="sequence")
def spectral(
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_bands: int = 6,
    contrast_fmin: float = 200.0,
    roll_percent: float = 0.85,
) -> Spectral:
    """Centroid, bandwidth, contrast, rolloff, flatness, ZCR, RMS per frame (librosa), 13 x frames."""
    return Spectral(
        {"n_fft": n_fft, "hop_length": hop_length, "n_bands": n_bands, "contrast_fmin": contrast_fmin,
         "roll_percent": roll_percent}
    )  # fmt: skip


@register_extractor(kind="image")
def tempogram(*, n_fft: int = 2048, hop_length: int = 512, win_length: int = 384) -> Tempogram:
    """Autocorrelation tempogram of the onset strength (librosa tempogram), 384 lags x frames."""
    return Tempogram({"n_fft": n_fft, "hop_length": hop_length, "win_length": win_length})
