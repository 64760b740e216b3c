"""The original notebook's small CNN, layer for layer."""

from __future__ import annotations

from torch import nn

from mer_zoo.models.registry import register_model

__all__ = ["cnn_small"]


@register_model
def cnn_small(*, n_mels: int = 128, n_outputs: int = 2) -> nn.Sequential:
    """The original CNN: two 3x3 conv/ReLU/max-pool blocks (16, 32), global average pool, linear."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, n_outputs),
    )  # fmt: skip
