"""The original notebook's small CNN, layer for layer."""

from __future__ import annotations

from torch import nn

from mer_zoo.models.registry import register_model

__all__ = ["cnn_small"]


@register_model
def cnn_small(*, n_mels: int = 128, n_outputs: int = 2) -> nn.Sequential:
    """The original CNN: two conv blocks (16, 32), global pooling, linear.

    Conv 1->16 3x3, ReLU, max-pool 2; conv 16->32 3x3, ReLU, max-pool 2; adaptive average pool
    to 1x1; flatten; linear 32->n_outputs. ``n_mels`` is accepted for a uniform signature.
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, n_outputs),
    )  # fmt: skip
