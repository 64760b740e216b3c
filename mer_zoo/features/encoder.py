"""What every pretrained-encoder set shares (``hf``, ``hear``): one batch per song, frames binned to the set's rate.

A song's windows are resampled to the model's rate with the decoder's resampler (each
window on its own, so a window's values depend on its audio alone), go through the model
in one batch, and the model's frames are averaged into bins of ``1 / rate`` seconds: frame
``k``, centred at ``t_k`` seconds from the window's start, falls in bin ``floor(t_k * rate)``
(clipped to the window); a bin no frame falls in takes the frame nearest its centre. The
default rate, 2 Hz, is the dynamic labels' rate, so each stored frame lines up with one
label; ``rate=native`` keeps the model's own frames.

The model itself is loaded once per process (:func:`loaded`, keyed by the set's settings and
device) and never travels with the extractor: Dask pickles the extractor to its workers, and
each worker loads the model on its first use (its set-up, :meth:`EncoderSet.warm_up`).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.audio import resample
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError
from mer_zoo.features import Extractor

__all__ = ["NATIVE", "EncoderSet", "bin_frames", "file_digest", "loaded", "n_bins", "parse_rate"]

NATIVE = "native"

_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def loaded(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    """The object ``load()`` made for ``key`` in this process, made on first use (one model per worker process)."""
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def parse_rate(rate: Any) -> float | str:
    """``rate`` as frames per second (positive), or ``"native"``; InputError otherwise."""
    if isinstance(rate, str) and rate.strip().lower() == NATIVE:
        return NATIVE
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise InputError(f"rate={rate!r}: expected frames per second (e.g. 2) or native") from None
    if not value > 0:
        raise InputError(f"rate={rate!r}: must be positive")
    return value


def n_bins(clip_s: float, rate: float) -> int:
    """Frames per window at ``rate``: ``round(clip_s * rate)``, at least one."""
    return max(1, int(round(clip_s * rate)))


def bin_frames(frames: np.ndarray, times_s: np.ndarray, rate: float, bins: int) -> np.ndarray:
    """Average each window's frames into ``bins`` bins of ``1 / rate`` seconds.

    Args:
        frames: ``(n, T, D)``, the model's frames of ``n`` windows.
        times_s: ``(T,)`` or ``(n, T)``, each frame's centre in seconds from its window's start.
        rate: bins per second.
        bins: bins per window.

    Returns:
        float32 ``(n, D, bins)``: bin ``b`` is the mean of the frames with ``floor(t * rate) == b``
        (clipped to ``[0, bins)``), or the frame nearest its centre when none falls in it.
    """
    n, t, d = frames.shape
    times = np.broadcast_to(np.asarray(times_s, dtype=np.float64), (n, t))
    index = np.clip(np.floor(times * rate + 1e-9).astype(np.int64), 0, bins - 1)
    out = np.zeros((n, bins, d), dtype=np.float64)
    centres = (np.arange(bins) + 0.5) / rate
    for i in range(n):
        np.add.at(out[i], index[i], frames[i])
        counts = np.bincount(index[i], minlength=bins)
        out[i] /= np.maximum(counts, 1)[:, None]
        for b in np.flatnonzero(counts == 0):
            out[i, b] = frames[i, int(np.argmin(np.abs(times[i] - centres[b])))]
    return np.ascontiguousarray(out.transpose(0, 2, 1), dtype=np.float32)


def file_digest(paths: Sequence[Path]) -> str:
    """SHA-256 over ``paths`` in order: each file's name, then its bytes (the weights' fingerprint)."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


class EncoderSet(Extractor):
    """A pretrained encoder as a ``sequence`` set ``(D, frames)``; subclasses load the model and embed a batch.

    Subclasses set ``settings`` (recorded as the set's config), ``details`` (its ``about``),
    ``sample_rate`` (the model's), ``dim`` (D), ``device``, and implement :meth:`load` and
    :meth:`embed`.
    """

    kind = "sequence"
    version = "1"
    backend = "torch"

    settings: dict[str, Any]
    details: dict[str, Any]
    sample_rate: int
    dim: int
    device: str = "cpu"
    #: the settings the loaded model depends on (the cache key, with the device)
    load_settings: tuple[str, ...] = ()

    def bind(self, what: str, digest: str | None, recorded: str | None, device: str) -> None:
        """Refuse weights other than the ``recorded`` ones (``what`` names them), then take the device to run on."""
        from mer_zoo.audio import resolve_mel_backend

        if recorded is not None and recorded != digest:
            raise InputError(
                f"{what} are not the ones this set was made with "
                f"(sha256 {str(digest)[:16]}..., recorded {str(recorded)[:16]}...)"
            )
        self.device = resolve_mel_backend(device)[1]
        self.backend = f"torch-{self.device}"

    def params(self) -> dict[str, Any]:
        """The settings that decide the values (recorded as the set's config)."""
        return dict(self.settings)

    def about(self) -> dict[str, Any]:
        """The model's class, sizes, rates and library versions (recorded beside the config)."""
        return dict(self.details)

    @property
    def rate(self) -> float | str:
        """Frames per second of the set, or ``"native"``."""
        return parse_rate(self.settings["rate"])

    def frame_rate_hz(self, windows: FeatureConfig) -> float | None:
        """The set's rate; at the native rate, the model's frames per second of window."""
        rate = self.rate
        if rate == NATIVE:
            return self.native_frames(windows) / windows.clip_s
        return float(rate)

    def shape(self, windows: FeatureConfig) -> tuple[int, ...]:
        """``(D, frames)``: ``round(clip_s * rate)`` frames, or the model's own per window."""
        rate = self.rate
        frames = self.native_frames(windows) if rate == NATIVE else n_bins(windows.clip_s, float(rate))
        return (self.dim, frames)

    def native_frames(self, windows: FeatureConfig) -> int:
        """The model's frames in one window (from a window of silence, once per window length)."""
        cache: dict[int, int] = self.__dict__.setdefault("_native_frames", {})
        n = windows.clip_samples
        if n not in cache:
            frames, _ = self.embed(self.model_rate(np.zeros((1, n), dtype=np.float32), windows.sample_rate))
            cache[n] = int(frames.shape[1])
        return cache[n]

    def model_rate(self, clips: np.ndarray, sample_rate: int) -> np.ndarray:
        """``(n, samples)`` windows at ``sample_rate`` -> at the model's rate (soxr HQ, each window on its own)."""
        return np.ascontiguousarray(resample(clips.T, sample_rate, self.sample_rate).T)

    def compute(self, span: np.ndarray, offsets: Sequence[int], windows: FeatureConfig) -> np.ndarray:
        """Every window of the song through the model in one batch, then binned to the set's rate."""
        n = windows.clip_samples
        clips = np.stack([span[o : o + n] for o in offsets]).astype(np.float32, copy=False)
        frames, times = self.embed(self.model_rate(clips, windows.sample_rate))
        rate = self.rate
        if rate == NATIVE:
            return np.ascontiguousarray(frames.transpose(0, 2, 1), dtype=np.float32)
        return bin_frames(frames, times, float(rate), n_bins(windows.clip_s, float(rate)))

    def warm_up(self, windows: FeatureConfig) -> None:
        """In a worker: one torch thread, the model loaded (once per process), one window of silence through it."""
        import torch

        torch.set_num_threads(1)
        self.model()
        super().warm_up(windows)

    def model(self) -> Any:
        """This process's copy of the model (loaded on first use)."""
        key = tuple(self.settings[name] for name in self.load_settings)
        return loaded((type(self).__name__, *key, self.device), self.load)

    @abstractmethod
    def load(self) -> Any:
        """Load the model from its files (called once per process); InputError naming the files on failure."""

    @abstractmethod
    def embed(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n, samples)`` windows at the model's rate -> frames ``(n, T, D)`` and their centres in seconds ``(T,)`` or ``(n, T)``."""
