"""Log-mel spectrograms with librosa's numbers, on the CPU (numpy) or with torch (CPU or CUDA).

Every function computes what ``librosa.feature.melspectrogram`` followed by
``librosa.power_to_db(ref=np.max, top_db=...)`` computes for each window on its own: a
centred STFT whose frames at the window's edges see zeros (not the neighbouring audio), a
periodic Hann window, the Slaney mel filter bank, the reference maximum and the ``top_db``
floor taken per window. Without importing librosa (0.7 s per process).

The numpy backend cuts each window's frames straight out of the decoded span (only the few
frames at its edges are zero-padded copies), transforms them 64 at a time so a chunk and its
spectrum stay in cache, skips the FFT bins above ``fmax`` and applies the filter bank as the
sparse matrix it is (each bin feeds at most two filters). Its FFT is Intel MKL's (the optional
``mkl_fft`` package, ``pip install mer-zoo[mkl]``) where installed, about 1.4x faster than
scipy's pocketfft on these machines, else scipy's; ``MER_ZOO_FFT=scipy|mkl_fft`` forces one.
With scipy's FFT it runs on one thread whatever the thread settings; MKL follows
``MKL_NUM_THREADS`` (1 in build workers). Windows whose frames fall on the same hop grid and
overlap share those frames: one FFT each. With DEAM's settings (5-s windows at 44.1 kHz, hop
512) there is nothing to share: the windows do not overlap, and a 5-s step is not a multiple
of 512 samples.

The torch backend (:mod:`mer_zoo.audio.melspec_torch`, re-exported here) batches whole
windows through ``torch.stft``, several songs' at once with ``log_mel_batch``; both share the
filter bank and working precision of :mod:`mer_zoo.audio.mel_basis` (float32 when the
floor is at most 80 dB below the maximum, librosa's default: rounding stays far below 0.01 dB).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from mer_zoo.audio.mel_basis import AMIN, Float, frame_count, mel_filter_bank, mel_plan, silent_db, work_dtype
from mer_zoo.audio.melspec_torch import log_mel_batch, resolve_mel_backend
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError

__all__ = [
    "FFT_ENGINES",
    "MEL_BACKENDS",
    "fft_engine",
    "log_mel",
    "log_mel_batch",
    "log_mel_windows",
    "mel_filter_bank",
    "resolve_mel_backend",
]

MEL_BACKENDS = ("numpy", "torch")
FFT_ENGINES = ("mkl_fft", "scipy")  # the numpy backend's real FFT, in order of preference
_CHUNK = 64  # frames per FFT call: 512 KB of float32 frames and their spectrum stay in L2


@lru_cache(maxsize=1)
def fft_engine() -> str:
    """The real FFT the numpy backend runs: ``$MER_ZOO_FFT`` when set, else ``mkl_fft`` when installed, else ``scipy``.

    Raises:
        InputError: ``MER_ZOO_FFT`` names an unknown engine, or ``mkl_fft`` when it is not installed.
    """
    wanted = os.environ.get("MER_ZOO_FFT", "").strip().lower()
    if wanted not in ("", *FFT_ENGINES):
        raise InputError(f"MER_ZOO_FFT={wanted}: expected one of {', '.join(FFT_ENGINES)}")
    if wanted != "scipy":
        try:
            import mkl_fft  # noqa: F401
        except ImportError:
            if wanted == "mkl_fft":
                raise InputError("MER_ZOO_FFT=mkl_fft: mkl_fft is not installed (pip install mkl_fft)") from None
        else:
            return "mkl_fft"
    return "scipy"


def _rfft() -> Callable[[np.ndarray], np.ndarray]:
    """``rfft(chunk)`` over the last axis with :func:`fft_engine`'s library; the chunk may be overwritten."""
    if fft_engine() == "mkl_fft":
        import mkl_fft

        return lambda chunk: mkl_fft.rfft(chunk, axis=-1)
    import scipy.fft

    return lambda chunk: scipy.fft.rfft(chunk, axis=-1, overwrite_x=True)


@lru_cache(maxsize=8)
def _sparse_basis(config: FeatureConfig, dtype: Float) -> Any:
    """The used part of the filter bank as a CSR matrix: ~2 non-zeros per bin instead of ``n_mels``."""
    import scipy.sparse

    return scipy.sparse.csr_array(mel_plan(config, dtype)[1])


def _interior(n: int, config: FeatureConfig) -> tuple[int, int]:
    """Frames ``[t0, t1)`` that lie wholly inside a centred window of ``n`` samples; the others see its padding."""
    n_fft, hop, half = config.n_fft, config.hop_length, config.n_fft // 2
    frames = frame_count(n, config)
    t0 = min(-(-half // hop), frames)
    t1 = max(t0, min(frames, (n + half - n_fft) // hop + 1))
    return t0, t1


def _mel_power(frames: np.ndarray, config: FeatureConfig, dtype: Float, out: np.ndarray) -> None:
    """Mel power of each row of ``frames`` ``(k, n_fft)`` (a view is fine) into ``out`` ``(n_mels, k)``."""
    rfft = _rfft()
    window, _, lo, hi = mel_plan(config, dtype)
    basis = _sparse_basis(config, dtype)
    buffer = np.empty((min(_CHUNK, len(frames)), config.n_fft), dtype=dtype)
    for start in range(0, len(frames), _CHUNK):
        chunk = buffer[: min(_CHUNK, len(frames) - start)]
        np.multiply(frames[start : start + len(chunk)], window, out=chunk)
        spectrum = rfft(chunk)[:, lo:hi]
        power = np.square(spectrum.real)
        power += np.square(spectrum.imag)
        out[:, start : start + len(chunk)] = basis @ power.T


def _edge_frames(clip: np.ndarray, t_start: int, t_stop: int, config: FeatureConfig) -> np.ndarray:
    """Centred frames ``[t_start, t_stop)`` of ``clip``, the zero padding beyond its ends included."""
    n_fft, hop = config.n_fft, config.hop_length
    first = t_start * hop - n_fft // 2  # clip coordinate of the first frame's first sample
    snippet = np.zeros((t_stop - t_start - 1) * hop + n_fft, dtype=clip.dtype)
    a, b = max(first, 0), min(first + len(snippet), len(clip))
    snippet[a - first : b - first] = clip[a:b]
    return np.lib.stride_tricks.sliding_window_view(snippet, n_fft)[::hop]


def _shared_runs(offsets: Sequence[int], t0: int, t1: int, config: FeatureConfig) -> list[tuple[int, int, list[int]]]:
    """Group windows whose interior frames overlap on one hop grid: ``(first sample, frames, windows)`` per run.

    A frame of window ``i`` starts at span sample ``offsets[i] - n_fft // 2 + t * hop``; windows
    on the same grid whose interior frame ranges overlap or touch form one run of frames.
    """
    hop, half = config.hop_length, config.n_fft // 2
    runs: list[tuple[int, int, list[int]]] = []
    by_grid = sorted(range(len(offsets)), key=lambda i: ((offsets[i] - half) % hop, offsets[i]))
    for i in by_grid:
        first = offsets[i] - half + t0 * hop
        if runs:
            run_first, run_frames, members = runs[-1]
            gap = first - run_first
            if gap % hop == 0 and gap <= run_frames * hop:
                runs[-1] = (run_first, max(run_frames, gap // hop + t1 - t0), [*members, i])
                continue
        runs.append((first, t1 - t0, [i]))
    return runs


def _log_mel_numpy(span: np.ndarray, offsets: Sequence[int], n: int, config: FeatureConfig) -> np.ndarray:
    """The numpy backend of ``log_mel_windows`` for windows of ``n`` samples."""
    dtype = work_dtype(config)
    n_fft, hop = config.n_fft, config.hop_length
    frames = frame_count(n, config)
    t0, t1 = _interior(n, config)
    mel = np.empty((len(offsets), config.n_mels, frames), dtype=dtype)
    if t1 > t0:
        for first, count, members in _shared_runs(offsets, t0, t1, config):
            view = np.lib.stride_tricks.sliding_window_view(span[first : first + (count - 1) * hop + n_fft], n_fft)[
                ::hop
            ]
            run = np.empty((config.n_mels, count), dtype=dtype)
            _mel_power(view, config, dtype, run)
            for i in members:
                k = (offsets[i] - n_fft // 2 + t0 * hop - first) // hop
                mel[i, :, t0:t1] = run[:, k : k + t1 - t0]
    edges = [(0, t0), (t1, frames)] if t1 > t0 else [(0, frames)]
    edges = [(a, b) for a, b in edges if b > a]
    if edges:
        stacked = np.concatenate([_edge_frames(span[o : o + n], a, b, config) for o in offsets for a, b in edges])
        edge_mel = np.empty((config.n_mels, len(stacked)), dtype=dtype)
        _mel_power(stacked, config, dtype, edge_mel)
        width = sum(b - a for a, b in edges)
        for i in range(len(offsets)):
            column = i * width
            for a, b in edges:
                mel[i, :, a:b] = edge_mel[:, column : column + b - a]
                column += b - a
    return _power_to_db(mel, config.top_db)


def _power_to_db(mel: np.ndarray, top_db: float | None) -> np.ndarray:
    """``librosa.power_to_db(ref=np.max)`` of each window of ``(b, n_mels, frames)``, in place; float32 out.

    A window with no power (digital silence) is the floor everywhere (``silent_db``), not 0 dB.
    """
    peak = mel.max(axis=(1, 2), keepdims=True)
    silent = (peak <= AMIN).reshape(-1)
    ref = np.maximum(peak, AMIN)
    np.maximum(mel, AMIN, out=mel)
    np.log10(mel, out=mel)
    mel *= 10.0
    mel -= 10.0 * np.log10(ref)
    if top_db is not None:
        np.maximum(mel, mel.max(axis=(1, 2), keepdims=True) - top_db, out=mel)
    if silent.any():
        mel[silent] = silent_db(top_db)
    return mel.astype(np.float32, copy=False)


def log_mel_windows(
    span: np.ndarray,
    offsets: Sequence[int],
    config: FeatureConfig,
    *,
    backend: str = "numpy",
    device: str = "cpu",
) -> np.ndarray:
    """Log-mel spectrograms of the ``config.clip_samples``-long windows of ``span`` that start at ``offsets``.

    The same values as ``log_mel(np.stack([span[o : o + config.clip_samples] for o in offsets]), config)``
    (each window on its own, as librosa computes it), without stacking copies of the windows.

    Args:
        span: decoded mono audio holding every window.
        offsets: each window's first sample in ``span``.
        config: the extraction settings.
        backend: ``"numpy"`` (CPU only) or ``"torch"``; ``resolve_mel_backend`` picks one from ``--device``.
        device: ``"cpu"``, or a torch device such as ``"cuda"`` for the torch backend.

    Returns:
        float32 ``(len(offsets), n_mels, frames)``.

    Raises:
        ValueError: an unknown backend, the numpy backend off the CPU, or a window outside ``span``.
    """
    span = np.asarray(span)
    n = config.clip_samples
    starts = [int(o) for o in offsets]
    outside = [o for o in starts if o < 0 or o + n > len(span)]
    if span.ndim != 1 or outside:
        where = f"a window at sample {outside[0]}" if outside else f"a {span.ndim}-d span"
        raise ValueError(
            f"log_mel_windows: {where} does not fit a 1-d span of {len(span)} samples ({n}-sample windows)"
        )
    if backend == "torch":
        import torch

        x = torch.as_tensor(span).to(device)
        clips = torch.stack([x[o : o + n] for o in starts]) if starts else x[:0].reshape(0, n)
        return log_mel_batch(clips, config, device)
    if backend != "numpy":
        raise ValueError(f"unknown mel backend {backend!r}: expected one of {', '.join(MEL_BACKENDS)}")
    if device != "cpu":
        raise ValueError(f"the numpy mel backend runs on the CPU, not on {device!r}: use backend='torch'")
    if not starts:
        return np.empty((0, config.n_mels, frame_count(n, config)), dtype=np.float32)
    return _log_mel_numpy(span, starts, n, config)


def log_mel(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram (numpy backend) of one window ``(n,)`` or a batch ``(b, n)`` of equal windows.

    Same values as ``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=...,
    n_fft=..., hop_length=..., n_mels=..., fmin=..., fmax=...), ref=np.max, top_db=...)``,
    with the reference maximum taken per window.

    Returns:
        float32 ``(n_mels, frames)``, or ``(b, n_mels, frames)`` for a batch.
    """
    y = np.asarray(y)
    batch = np.ascontiguousarray(y[None] if y.ndim == 1 else y)
    b, n = batch.shape
    if b == 0:
        return np.empty((0, config.n_mels, frame_count(n, config)), dtype=np.float32)
    mel = _log_mel_numpy(batch.reshape(-1), range(0, b * n, n), n, config)
    return mel[0] if y.ndim == 1 else mel
