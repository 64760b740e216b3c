"""A small transformer encoder over patches of mel frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mer_zoo.models.layers import sinusoidal_positions
from mer_zoo.models.registry import register_model

__all__ = ["MelTransformer", "mel_transformer"]


class MelTransformer(nn.Module):
    """Each ``patch`` frames (all mel bins) become a token; sinusoidal positions fit any length."""

    def __init__(
        self, n_mels: int = 128, d_model: int = 64, depth: int = 2, heads: int = 4,
        patch: int = 4, dropout: float = 0.1, n_outputs: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        self.patch = patch
        self.embed = nn.Conv1d(n_mels, d_model, kernel_size=patch, stride=patch)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, n_outputs))

    def forward(self, x: torch.Tensor, n_frames: int | None = None) -> torch.Tensor:
        """``(B, n_outputs)``; with ``n_frames`` the tokens average-pooled to ``(B, n_frames, n_outputs)``."""
        x = x.squeeze(1)  # (B, n_mels, T)
        x = F.pad(x, (0, -x.shape[-1] % self.patch))
        tokens = self.embed(x).transpose(1, 2)  # (B, T/patch, d_model)
        tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], tokens.device).to(tokens.dtype)
        encoded = self.encoder(tokens)
        if n_frames is not None:
            return self.head(F.adaptive_avg_pool1d(encoded.transpose(1, 2), n_frames).transpose(1, 2))
        return self.head(encoded.mean(dim=1))


@register_model(temporal=True)
def mel_transformer(*, n_mels: int = 128, n_outputs: int = 2, depth: int = 2, dropout: float = 0.1) -> MelTransformer:
    """Small transformer encoder over 4-frame mel patches.

    Two pre-norm layers (d=64, 4 heads), sinusoidal positions for any length, mean pooling
    (temporal: over each label frame's share of the tokens).
    """
    return MelTransformer(n_mels, depth=depth, dropout=dropout, n_outputs=n_outputs)
