"""An example mer-zoo plugin: an MLP over each mel bin's mean and spread over time.

It needs nothing from mer-zoo: the entry point in ``pyproject.toml`` names ``build``;
mer-zoo registers it as ``example_mlp``, described by the first line of its docstring.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MelStatsMlp", "build"]


class MelStatsMlp(nn.Module):
    """Per-bin mean and standard deviation over time, then a two-layer MLP; any number of frames."""

    def __init__(self, n_mels: int = 128, hidden: int = 64, n_outputs: int = 2) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * n_mels, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.squeeze(1)  # (B, n_mels, T)
        return self.mlp(torch.cat([x.mean(dim=-1), x.std(dim=-1, correction=0)], dim=1))


def build(*, n_mels: int = 128, n_outputs: int = 2, hidden: int = 64) -> MelStatsMlp:
    """Example plugin: an MLP on each mel bin's mean and std over time."""
    return MelStatsMlp(n_mels, hidden, n_outputs)
