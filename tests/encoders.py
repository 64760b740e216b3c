"""Tiny pretrained encoders written by the tests: a random HuBERT saved with save_pretrained, a HEAR module."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Receptive field 400 samples, hop 320 (wav2vec 2.0 / HuBERT's own front end), 2 layers of width 32.
CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)
FIELD, HOP = 400, 320


def write_tiny_hubert(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer HuBERT of width 32 and its feature extractor (16 kHz), as save_pretrained writes them."""
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(seed)
    config = HubertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(32,) * 7, conv_kernel=CONV_KERNEL, conv_stride=CONV_STRIDE,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    )  # fmt: skip
    HubertModel(config).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(folder)
    return folder


HEAR_MODULE = '''
"""A tiny HEAR 2021 module: 16 band energies of 0.25-s frames every 0.125 s, projected to 8 values."""
import numpy as np
import torch

SR, WIN, HOP = 8000, 2000, 1000


class Model(torch.nn.Module):
    sample_rate = SR
    timestamp_embedding_size = 8

    def __init__(self, w):
        super().__init__()
        self.register_buffer("w", torch.as_tensor(w, dtype=torch.float32))


def load_model(model_file_path=""):
    w = np.load(model_file_path) if model_file_path else np.random.default_rng(0).standard_normal((16, 8))
    return Model(w)


def get_timestamp_embeddings(audio, model):
    n, length = audio.shape
    starts = torch.arange(0, max(1, length - WIN + 1), HOP)
    frames = torch.stack([audio[:, s : s + WIN] for s in starts], 1)
    bands = frames.reshape(n, len(starts), 16, WIN // 16).abs().mean(-1)
    return torch.tanh(bands @ model.w * 10), ((starts + WIN / 2) / SR * 1000).expand(n, -1)
'''


def write_hear_module(folder: Path, name: str = "tiny_hear") -> tuple[str, Path]:
    """The module ``name`` (to import with ``folder`` on the path) and a weights file for its ``load_model``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(HEAR_MODULE)
    weights = folder / "tiny_hear_weights.npy"
    np.save(weights, np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32))
    return name, weights


def bin_means(frames: np.ndarray, times_s: np.ndarray, rate: float, bins: int) -> np.ndarray:
    """The reference binning, written out plainly: ``(T, D)`` frames -> ``(D, bins)`` means by ``floor(t * rate)``."""
    out = np.zeros((frames.shape[1], bins))
    for b in range(bins):
        members = [k for k, t in enumerate(times_s) if min(int(np.floor(t * rate)), bins - 1) == b]
        out[:, b] = frames[members].mean(axis=0)
    return out
