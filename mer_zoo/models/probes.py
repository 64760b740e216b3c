"""Probes for pretrained embeddings: an MLP on the window vector (MARBLE's protocol) and a temporal head.

``mlp_probe`` reads one vector per window (a frame-level set arrives as each feature's mean
and std over the window, as for every vector model): one hidden layer, ReLU and dropout, as
MARBLE probes each layer of a pretrained encoder; ``hidden=0`` makes it a linear probe.

Both scale their input by ``1 / sqrt(fan-in)`` before the first layer: the same functions,
but Adam's first steps then move the first layer's outputs by about the learning rate
whatever the embedding's width. Without it a probe on a 1280-d embedding's mean and std
(2560 inputs) diverged at mer-zoo's default learning rate (training MSE above 10 on targets
in [-1, 1]; with it, 0.12).
``temporal_probe`` reads a frame-level set ``(D, T)`` (an embedding set at 2 Hz, MFCCs, ...):
a small 1-D convolution over time, then a 1x1 output layer; on the dynamic task each label
frame gets the mean of the outputs over its share of time (one value per 0.5 s; at 2 Hz the
frames are the label frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mer_zoo.models.registry import FRAME_KINDS, register_model

__all__ = ["MlpProbe", "TemporalProbe", "mlp_probe", "temporal_probe"]


class MlpProbe(nn.Module):
    """``Linear(D, hidden) -> ReLU -> Dropout -> Linear(hidden, n_outputs)``; with ``hidden=0``, ``Dropout -> Linear``."""

    def __init__(self, n_features: int, hidden: int = 512, dropout: float = 0.2, n_outputs: int = 2) -> None:
        super().__init__()
        if n_features < 1 or hidden < 0 or not 0 <= dropout < 1:
            raise ValueError(
                f"need n_features >= 1, hidden >= 0, 0 <= dropout < 1; got {n_features}, {hidden}, {dropout}"
            )
        if hidden:
            self.net = nn.Sequential(
                nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs)
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_outputs))
        self.input_scale = n_features**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` -> ``(B, n_outputs)``."""
        return self.net(x * self.input_scale)


class TemporalProbe(nn.Module):
    """``Conv1d(D, hidden, kernel) -> GELU -> Dropout -> Conv1d(hidden, n_outputs, 1)`` over a window's frames."""

    def __init__(
        self, n_features: int, hidden: int = 128, kernel: int = 3, dropout: float = 0.2, n_outputs: int = 2
    ) -> None:
        super().__init__()
        if n_features < 1 or hidden < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"need n_features, hidden >= 1 and an odd kernel; got {n_features}, {hidden}, {kernel}")
        self.body = nn.Sequential(
            nn.Conv1d(n_features, hidden, kernel, padding=kernel // 2), nn.GELU(), nn.Dropout(dropout)
        )
        self.out = nn.Conv1d(hidden, n_outputs, 1)
        self.input_scale = (n_features * kernel) ** -0.5

    def forward(self, x: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        """``(B, 1, D, T)`` -> ``(B, n_outputs)``, or ``(B, n_frames, n_outputs)`` pooled over each frame's share."""
        frames = self.out(self.body(x.squeeze(1) * self.input_scale))  # (B, n_outputs, T)
        if n_frames is not None:
            return F.adaptive_avg_pool1d(frames, n_frames).transpose(1, 2)
        return frames.mean(dim=-1)


@register_model(inputs=("vector",))
def mlp_probe(*, n_mels: int = 128, n_outputs: int = 2, hidden: int = 512, dropout: float = 0.2) -> MlpProbe:
    """MLP probe on the window vector (MARBLE): one hidden layer (512), ReLU, dropout; hidden=0: linear.

    A frame-level set (an embedding at 2 Hz, mel, MFCC) arrives as each feature's mean and std
    over the window; ``n_mels`` is that vector's length.
    """
    return MlpProbe(n_mels, hidden, dropout, n_outputs)


@register_model(temporal=True, inputs=FRAME_KINDS)
def temporal_probe(
    *, n_mels: int = 128, n_outputs: int = 2, hidden: int = 128, kernel: int = 3, dropout: float = 0.2
) -> TemporalProbe:
    """Temporal head over a frame-level set: 1-D conv over frames, one value per 0.5 s on the dynamic task.

    ``Conv1d(D, hidden, kernel)``, GELU, dropout, then a 1x1 output layer; outputs are averaged
    over the window (window task) or over each label frame's share of it (dynamic task).
    """
    return TemporalProbe(n_mels, hidden, kernel, dropout, n_outputs)
