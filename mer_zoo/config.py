"""Extraction settings: the one source of defaults, recorded in every feature store."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["MEL_FIELDS", "WINDOW_FIELDS", "FeatureConfig"]

# Which settings shape the windows (recorded once per store) and which the mel set (recorded with it).
WINDOW_FIELDS = ("sample_rate", "start_s", "clip_s", "hop_s")
MEL_FIELDS = ("n_mels", "n_fft", "hop_length", "fmin", "fmax", "top_db")


@dataclass(frozen=True)
class FeatureConfig:
    """How audio becomes log-mel windows; defaults are the original notebook's.

    Windows of ``clip_s`` seconds start at ``start_s`` and advance by ``hop_s``; each is
    turned into a ``(n_mels, frames)`` log-mel spectrogram with ``power_to_db(ref=np.max)``.
    """

    sample_rate: int = 44100
    n_mels: int = 128
    n_fft: int = 2048
    hop_length: int = 512
    fmin: float = 0.0
    fmax: float = 8000.0
    top_db: float | None = 80.0
    start_s: float = 15.0
    clip_s: float = 5.0
    hop_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_mels", "n_fft", "hop_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.clip_s <= 0 or self.hop_s <= 0 or self.start_s < 0:
            raise ValueError("clip_s and hop_s must be positive and start_s non-negative")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got {self.fmin}, {self.fmax}")

    @property
    def clip_samples(self) -> int:
        """Samples in one window at ``sample_rate``."""
        return int(round(self.clip_s * self.sample_rate))

    @property
    def frames(self) -> int:
        """STFT frames per window (centred frames, as librosa computes them)."""
        return 1 + self.clip_samples // self.hop_length

    def window_settings(self) -> dict[str, Any]:
        """The settings every feature set shares: rate and window placement (a store's ``windows``)."""
        return {name: getattr(self, name) for name in WINDOW_FIELDS}

    def mel_settings(self) -> dict[str, Any]:
        """The mel set's own settings (its ``config`` in a store)."""
        return {name: getattr(self, name) for name in MEL_FIELDS}

    def to_json(self) -> str:
        """Serialise to the JSON recorded in a store's ``feature_config`` attribute."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        """Rebuild from ``to_json`` output; unknown keys are an error, missing keys take defaults."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown feature settings: {', '.join(unknown)}")
        return cls(**data)
