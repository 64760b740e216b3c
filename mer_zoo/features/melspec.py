"""Log-mel spectrograms with librosa's numbers, on the CPU (numpy) or with torch (CPU or CUDA).

Every function computes what ``librosa.feature.melspectrogram`` followed by
``librosa.power_to_db(ref=np.max, top_db=...)`` computes for each window on its own: a
centred STFT whose frames at the window's edges see zeros (not the neighbouring audio), a
periodic Hann window, the Slaney mel filter bank, the reference maximum and the ``top_db``
floor taken per window. Without importing librosa (0.7 s per process).

The numpy backend cuts each window's frames straight out of the decoded span (only the few
frames at its edges are zero-padded copies), transforms them 64 at a time so a chunk and its
spectrum stay in cache, skips the FFT bins above ``fmax`` and applies the filter bank as the
sparse matrix it is (each bin feeds at most two filters). Windows whose frames fall on the same
hop grid and overlap share those frames: one FFT each. With DEAM's settings (5-s windows at
44.1 kHz, hop 512) there is nothing to share: the windows do not overlap, and a 5-s step is
not a multiple of 512 samples. It runs on one thread whatever the thread settings.

The torch backend batches whole windows through ``torch.stft`` (several songs' at once with
``log_mel_batch``); on CUDA the filter bank is applied in float64, so a TF32 matmul setting
cannot move the result. It uses ``torch.get_num_threads()`` threads on the CPU: limiting
them is the caller's business (``torch.set_num_threads(1)`` per worker). Torch is imported
only when that backend runs.

The work is float32 when the floor is at most 80 dB below the maximum (librosa's default):
float32 rounding stays far below 0.01 dB there. Deeper floors, or none, use float64.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["MEL_BACKENDS", "log_mel", "log_mel_batch", "log_mel_windows", "mel_filter_bank", "resolve_mel_backend"]

MEL_BACKENDS = ("numpy", "torch")
_Float = np.dtype[np.floating[Any]]
_AMIN = 1e-10  # librosa's power floor before the log
_CHUNK = 64  # frames per FFT call: 512 KB of float32 frames and their spectrum stay in L2
_TORCH_CLIPS = 64  # windows per torch.stft call on a GPU: ~0.7 GB of temporaries at DEAM's settings


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    hz = np.asanyarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    mel = hz / f_sp
    log_part = hz >= min_log_hz
    mel[log_part] = min_log_hz / f_sp + np.log(hz[log_part] / min_log_hz) / logstep
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    hz = f_sp * mel
    log_part = mel >= min_log_mel
    hz[log_part] = min_log_hz * np.exp(logstep * (mel[log_part] - min_log_mel))
    return hz


@lru_cache(maxsize=8)
def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """The ``(n_mels, 1 + n_fft // 2)`` Slaney-normalised filter bank of ``librosa.filters.mel``."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = np.array([fmin, fmax], dtype=np.float64)
    low, high = _hz_to_mel(edges)
    mel_freqs = _mel_to_hz(np.linspace(low, high, n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = np.subtract.outer(mel_freqs, fft_freqs)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def _work_dtype(config: FeatureConfig) -> _Float:
    """float32 holds values within 80 dB of the maximum to 1e-4 dB; deeper floors need float64."""
    return np.dtype(np.float32 if config.top_db is not None and config.top_db <= 80 else np.float64)


@lru_cache(maxsize=8)
def _mel_plan(config: FeatureConfig, dtype: _Float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Periodic Hann window, the filter bank's non-zero columns and their FFT-bin range."""
    n_fft = config.n_fft
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(dtype)
    basis = mel_filter_bank(config.sample_rate, n_fft, config.n_mels, config.fmin, config.fmax)
    used = np.flatnonzero(basis.any(axis=0))  # bins above fmax carry no weight: skip them
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
    basis = np.ascontiguousarray(basis[:, lo:hi], dtype=dtype)
    for array in (window, basis):
        array.setflags(write=False)
    return window, basis, lo, hi


@lru_cache(maxsize=8)
def _sparse_basis(config: FeatureConfig, dtype: _Float) -> Any:
    """The used part of the filter bank as a CSR matrix: ~2 non-zeros per bin instead of ``n_mels``."""
    import scipy.sparse

    return scipy.sparse.csr_array(_mel_plan(config, dtype)[1])


def _frame_count(n: int, config: FeatureConfig) -> int:
    """Frames of a centred STFT of ``n`` samples (``config.frames`` for a whole window)."""
    return 1 + (n + 2 * (config.n_fft // 2) - config.n_fft) // config.hop_length


def _interior(n: int, config: FeatureConfig) -> tuple[int, int]:
    """Frames ``[t0, t1)`` that lie wholly inside a centred window of ``n`` samples; the others see its padding."""
    n_fft, hop, half = config.n_fft, config.hop_length, config.n_fft // 2
    frames = _frame_count(n, config)
    t0 = min(-(-half // hop), frames)
    t1 = max(t0, min(frames, (n + half - n_fft) // hop + 1))
    return t0, t1


def _mel_power(frames: np.ndarray, config: FeatureConfig, dtype: _Float, out: np.ndarray) -> None:
    """Mel power of each row of ``frames`` ``(k, n_fft)`` (a view is fine) into ``out`` ``(n_mels, k)``."""
    import scipy.fft

    window, _, lo, hi = _mel_plan(config, dtype)
    basis = _sparse_basis(config, dtype)
    buffer = np.empty((min(_CHUNK, len(frames)), config.n_fft), dtype=dtype)
    for start in range(0, len(frames), _CHUNK):
        chunk = buffer[: min(_CHUNK, len(frames) - start)]
        np.multiply(frames[start : start + len(chunk)], window, out=chunk)
        spectrum = scipy.fft.rfft(chunk, axis=-1, overwrite_x=True)[:, lo:hi]
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
    dtype = _work_dtype(config)
    n_fft, hop = config.n_fft, config.hop_length
    frames = _frame_count(n, config)
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
    """``librosa.power_to_db(ref=np.max)`` of each window of ``(b, n_mels, frames)``, in place; float32 out."""
    ref = np.maximum(mel.max(axis=(1, 2), keepdims=True), _AMIN)
    np.maximum(mel, _AMIN, out=mel)
    np.log10(mel, out=mel)
    mel *= 10.0
    mel -= 10.0 * np.log10(ref)
    if top_db is not None:
        np.maximum(mel, mel.max(axis=(1, 2), keepdims=True) - top_db, out=mel)
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
        return np.empty((0, config.n_mels, _frame_count(n, config)), dtype=np.float32)
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
        return np.empty((0, config.n_mels, _frame_count(n, config)), dtype=np.float32)
    mel = _log_mel_numpy(batch.reshape(-1), range(0, b * n, n), n, config)
    return mel[0] if y.ndim == 1 else mel


def log_mel_batch(clips: np.ndarray | torch.Tensor, config: FeatureConfig, device: str = "cpu") -> np.ndarray:
    """Log-mel spectrograms of a batch ``(b, n)`` of equal clips with torch on ``device`` (e.g. several songs' windows).

    Same values as ``log_mel``; the clips may already be a tensor on ``device``. Memory stays
    bounded: ``torch.stft`` sees at most 64 clips at a time on a GPU (one on a CPU).

    Returns:
        float32 ``(b, n_mels, frames)`` on the CPU.
    """
    import torch

    dtype = torch.float32 if _work_dtype(config) == np.float32 else torch.float64
    x = torch.as_tensor(clips).to(device=device, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"log_mel_batch: expected a (clips, samples) batch, got shape {tuple(x.shape)}")
    window, basis = _torch_plan(config, dtype, str(x.device))
    _, _, lo, hi = _mel_plan(config, _work_dtype(config))
    out = np.empty((len(x), config.n_mels, _frame_count(x.shape[1], config)), dtype=np.float32)
    step = 1 if x.device.type == "cpu" else _TORCH_CLIPS  # on a CPU, bigger calls only spill the cache
    with torch.no_grad():
        for start in range(0, len(x), step):
            spectrum = torch.stft(
                x[start : start + step],
                config.n_fft,
                config.hop_length,
                window=window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )[:, lo:hi]
            power = torch.view_as_real(spectrum).square().sum(-1)
            mel = torch.matmul(basis, power.to(basis.dtype))
            ref = mel.amax(dim=(1, 2), keepdim=True).clamp_min(_AMIN)
            db = 10.0 * torch.log10(mel.clamp_min(_AMIN)) - 10.0 * torch.log10(ref)
            if config.top_db is not None:
                db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - config.top_db)
            out[start : start + len(db)] = db.to("cpu", torch.float32).numpy()
    return out


@lru_cache(maxsize=8)
def _torch_plan(config: FeatureConfig, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The window and filter bank as tensors on ``device``; the bank in float64 on CUDA (TF32-proof)."""
    import torch

    window, basis, _, _ = _mel_plan(config, _work_dtype(config))
    on_cuda = torch.device(device).type == "cuda"
    return (
        torch.tensor(window, dtype=dtype, device=device),
        torch.tensor(basis, dtype=torch.float64 if on_cuda else dtype, device=device),
    )


def resolve_mel_backend(device: str) -> tuple[str, str]:
    """``(backend, device)`` for ``--device cpu|cuda|auto`` (or ``cuda:N``): auto takes CUDA when torch sees a GPU.

    ``cpu`` gives the numpy backend (the fastest on a CPU) without importing torch; the others import it.

    Raises:
        InputError: CUDA asked for and not available, or an unknown device.
    """
    if device == "cpu":
        return "numpy", "cpu"
    if device != "auto" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise InputError(f"--device {device}: expected cpu, cuda or auto")
    import torch

    if torch.cuda.is_available():
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise InputError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return "torch", "cuda" if device == "auto" else device
    if device == "auto":
        return "numpy", "cpu"
    why = "torch was built without CUDA" if torch.version.cuda is None else "no GPU is visible"
    raise InputError(f"--device {device}: CUDA is not available ({why}); use --device cpu or auto")
