"""The mean predictor: the baseline every result is compared with."""

from __future__ import annotations

import torch
from torch import nn

from mer_zoo.models.registry import register_model

__all__ = ["MeanPredictor", "mean"]


class MeanPredictor(nn.Module):
    """Predicts the training targets' mean for every input; fitted, not trained."""

    trainable = False
    mean: torch.Tensor

    def __init__(self, n_outputs: int = 2) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_outputs))

    def fit_targets(self, targets: torch.Tensor) -> None:
        """Set the prediction to the column means of ``targets`` (N, n_outputs)."""
        self.mean.copy_(torch.as_tensor(targets, dtype=self.mean.dtype).reshape(-1, self.mean.numel()).mean(dim=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean.to(x.dtype).expand(x.shape[0], -1)


@register_model
def mean(*, n_mels: int = 128, n_outputs: int = 2) -> MeanPredictor:
    """Predicts the training mean: the baseline every result is compared with.

    Fitted with ``fit_targets``, never trained; ``n_mels`` is accepted for a uniform signature.
    """
    return MeanPredictor(n_outputs)
