"""A CRNN: a convolutional front end, then a bidirectional GRU over time."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mer_zoo.models.layers import conv_bn_relu
from mer_zoo.models.registry import register_model

__all__ = ["Crnn", "crnn"]


class Crnn(nn.Module):
    """Conv blocks shrink frequency and time (8x in time), frequency is averaged out, a BiGRU reads the frames."""

    def __init__(self, channels: int = 64, hidden: int = 64, dropout: float = 0.3, n_outputs: int = 2) -> None:
        super().__init__()
        self.frontend = nn.Sequential(
            conv_bn_relu(1, 16, stride=2),
            conv_bn_relu(16, 32), nn.MaxPool2d(2, ceil_mode=True),
            conv_bn_relu(32, channels), nn.MaxPool2d((4, 2), ceil_mode=True),
        )  # fmt: skip
        self.gru = nn.GRU(channels, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, n_outputs))

    def forward(self, x: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        """``(B, n_outputs)``; with ``n_frames`` the GRU's frames average-pooled to ``(B, n_frames, n_outputs)``."""
        frames = self.frontend(x).mean(dim=2).transpose(1, 2)  # (B, T/8, channels)
        out, _ = self.gru(frames)
        if n_frames is not None:
            return self.head(F.adaptive_avg_pool1d(out.transpose(1, 2), n_frames).transpose(1, 2))
        return self.head(out.mean(dim=1))


@register_model(temporal=True)
def crnn(*, n_mels: int = 128, n_outputs: int = 2, hidden: int = 64, dropout: float = 0.3) -> Crnn:
    """CRNN: conv front end, then a bidirectional GRU over time.

    Three conv/BN/ReLU blocks (16-64) shrink time 8x and average out frequency; the GRU's
    outputs are averaged over frames (temporal: over each label frame's share of time).
    """
    return Crnn(hidden=hidden, dropout=dropout, n_outputs=n_outputs)
