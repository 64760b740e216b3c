"""A VGG-style CNN: stacked 3x3 conv/batch-norm/ReLU blocks with max pooling and dropout."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mer_zoo.models.layers import conv_bn_relu
from mer_zoo.models.registry import register_model

__all__ = ["VggBn", "vgg_bn"]


class VggBn(nn.Module):
    """A strided stem, then one conv block and a 2x2 max pool per width, global pooling, an MLP head."""

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 64, 128), dropout: float = 0.3, n_outputs: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(1, widths[0], stride=2)]
        for cin, cout in zip(widths, widths[1:]):
            layers += [conv_bn_relu(cin, cout), nn.MaxPool2d(2, ceil_mode=True), nn.Dropout2d(dropout / 3)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * widths[-1], 64), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(64, n_outputs),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(2)
        return self.head(torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1))


@register_model
def vgg_bn(*, n_mels: int = 128, n_outputs: int = 2, dropout: float = 0.3) -> VggBn:
    """VGG-style CNN with batch norm and dropout.

    Five conv/BN/ReLU blocks (16-128) with max pools, avg+max pooling, a dropout MLP head.
    """
    return VggBn(dropout=dropout, n_outputs=n_outputs)
