"""The torch log-mel backend: whole windows through ``torch.stft``, on the CPU or in batches on CUDA.

Same numbers as :mod:`mer_zoo.audio.melspec`'s numpy backend (librosa's, per window). On
CUDA the filter bank is applied in float64, so a TF32 matmul setting cannot move the result.
It uses ``torch.get_num_threads()`` threads on the CPU: limiting them is the caller's
business (``torch.set_num_threads(1)`` per worker). Torch is imported only when it runs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from mer_zoo.audio.mel_basis import AMIN, frame_count, mel_plan, silent_db, work_dtype
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["log_mel_batch", "resolve_mel_backend"]

_TORCH_CLIPS = 64  # windows per torch.stft call on a GPU: ~0.7 GB of temporaries at DEAM's settings


def log_mel_batch(clips: np.ndarray | torch.Tensor, config: FeatureConfig, device: str = "cpu") -> np.ndarray:
    """Log-mel spectrograms of a batch ``(b, n)`` of equal clips with torch on ``device`` (e.g. several songs' windows).

    Same values as ``log_mel``; the clips may already be a tensor on ``device``. Memory stays
    bounded: ``torch.stft`` sees at most 64 clips at a time on a GPU (one on a CPU).

    Returns:
        float32 ``(b, n_mels, frames)`` on the CPU.
    """
    import torch

    dtype = torch.float32 if work_dtype(config) == np.float32 else torch.float64
    x = torch.as_tensor(clips).to(device=device, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"log_mel_batch: expected a (clips, samples) batch, got shape {tuple(x.shape)}")
    window, basis = _torch_plan(config, dtype, str(x.device))
    _, _, lo, hi = mel_plan(config, work_dtype(config))
    out = np.empty((len(x), config.n_mels, frame_count(x.shape[1], config)), dtype=np.float32)
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
            peak = mel.amax(dim=(1, 2), keepdim=True)
            ref = peak.clamp_min(AMIN)
            db = 10.0 * torch.log10(mel.clamp_min(AMIN)) - 10.0 * torch.log10(ref)
            if config.top_db is not None:
                db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - config.top_db)
            db = torch.where(peak <= AMIN, torch.full_like(db, silent_db(config.top_db)), db)  # silence: the floor
            out[start : start + len(db)] = db.to("cpu", torch.float32).numpy()
    return out


@lru_cache(maxsize=8)
def _torch_plan(config: FeatureConfig, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The window and filter bank as tensors on ``device``; the bank in float64 on CUDA (TF32-proof)."""
    import torch

    window, basis, _, _ = mel_plan(config, work_dtype(config))
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
