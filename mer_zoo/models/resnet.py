"""A short-chunk ResNet after Won et al. 2020, "Evaluation of CNN-based automatic music tagging models"."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mer_zoo.models.registry import register_model

__all__ = ["ResBlock", "ShortChunkResNet", "short_chunk_resnet"]


class ResBlock(nn.Module):
    """Two 3x3 conv/BN layers (the first strided) plus a projected shortcut, then ReLU (Won's Res_2d)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        )  # fmt: skip
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ShortChunkResNet(nn.Module):
    """Input batch norm, seven stride-2 residual blocks, global max pooling, a dense head with dropout."""

    def __init__(
        self, widths: Sequence[int] = (16, 16, 32, 32, 32, 32, 64), dropout: float = 0.5, n_outputs: int = 2
    ) -> None:
        super().__init__()
        self.spec_bn = nn.BatchNorm2d(1)
        self.blocks = nn.Sequential(*(ResBlock(cin, cout) for cin, cout in zip((1, *widths), widths)))
        self.head = nn.Sequential(
            nn.Linear(widths[-1], widths[-1]), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(widths[-1], n_outputs),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.spec_bn(x)).amax(dim=(2, 3)))


@register_model
def short_chunk_resnet(*, n_mels: int = 128, n_outputs: int = 2, dropout: float = 0.5) -> ShortChunkResNet:
    """Short-chunk ResNet after Won et al. 2020.

    Input batch norm, seven stride-2 residual blocks (16-64), global max pool, dense head.
    """
    return ShortChunkResNet(dropout=dropout, n_outputs=n_outputs)
