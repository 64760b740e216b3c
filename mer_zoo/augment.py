"""Training-time augmentation of log-mel windows: random crop and SpecAugment-style masks.

Random draws come from torch's global generator, so ``torch.manual_seed`` makes them
reproducible and each DataLoader worker (seeded by torch) draws its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mer_zoo.batch import empty_batch
from mer_zoo.errors import InputError

__all__ = ["Augment"]


def _randint(high: int) -> int:
    """A uniform integer in ``[0, high]``."""
    return int(torch.randint(high + 1, ()).item())


@dataclass(frozen=True)
class Augment:
    """Random crop to ``crop_frames``, then one time mask and one frequency mask.

    Args:
        time_mask: the widest time mask in frames (its width is uniform in 0..time_mask).
        freq_mask: the widest frequency mask in mel bins.
        crop_frames: crop each window to this many frames at a random start; None keeps all.

    Masked cells take the window's mean value (0 after normalisation).
    """

    time_mask: int = 0
    freq_mask: int = 0
    crop_frames: int | None = None

    def __post_init__(self) -> None:
        if self.time_mask < 0 or self.freq_mask < 0:
            raise InputError(f"mask widths must be >= 0, got time {self.time_mask}, freq {self.freq_mask}")
        if self.crop_frames is not None and self.crop_frames < 1:
            raise InputError(f"crop_frames must be >= 1, got {self.crop_frames}")

    def check(self, n_mels: int, frames: int) -> None:
        """Raise InputError when these settings do not fit ``(n_mels, frames)`` windows."""
        kept = frames if self.crop_frames is None else self.crop_frames
        if kept > frames:
            raise InputError(f"crop_frames {self.crop_frames} exceeds the store's {frames} frames per window")
        if self.time_mask > kept or self.freq_mask > n_mels:
            raise InputError(
                f"mask widths (time {self.time_mask}, freq {self.freq_mask}) exceed the window ({n_mels} x {kept})"
            )

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        """Augment one ``(..., n_mels, frames)`` window; the input is never modified."""
        if self.crop_frames is not None:
            start = _randint(mel.shape[-1] - self.crop_frames)
            mel = mel[..., start : start + self.crop_frames]
        if self.time_mask or self.freq_mask:
            mel = self._mask_(mel.clone())
        return mel

    def apply_(self, batch: torch.Tensor) -> torch.Tensor:
        """Augment a ``(B, ..., n_mels, frames)`` batch window by window, drawing what ``__call__`` draws for each.

        Masks are written in place; with ``crop_frames`` the kept frames are copied once into
        a new, narrower float32 batch (page-locked when ``batch`` is), which is returned.
        """
        if self.crop_frames is None and not (self.time_mask or self.freq_mask):
            return batch
        out = batch
        if self.crop_frames is not None:
            shape = (*batch.shape[:-1], self.crop_frames)
            out = empty_batch(shape, pin=batch.is_pinned())
        for j in range(batch.shape[0]):
            window = out[j]
            if self.crop_frames is not None:
                start = _randint(batch.shape[-1] - self.crop_frames)
                window.copy_(batch[j, ..., start : start + self.crop_frames])
            if self.time_mask or self.freq_mask:
                self._mask_(window)
        return out

    def _mask_(self, mel: torch.Tensor) -> torch.Tensor:
        """One time mask and one frequency mask on a contiguous window, in place, filled with its mean."""
        fill = mel.mean()
        width = _randint(self.time_mask)
        start = _randint(mel.shape[-1] - width)
        mel[..., start : start + width] = fill
        width = _randint(self.freq_mask)
        start = _randint(mel.shape[-2] - width)
        mel[..., start : start + width, :] = fill
        return mel
