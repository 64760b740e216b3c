"""Probe models for embeddings: registered with the right specs, shapes as the trainer and the tasks expect."""

from __future__ import annotations

import pytest
import torch

from mer_zoo.models import get_model, get_model_info


def test_the_mlp_probe_takes_window_vectors_and_is_linear_without_a_hidden_layer() -> None:
    spec = get_model_info("mlp_probe").spec
    assert spec.inputs == ("vector",) and not spec.temporal
    mlp, linear = get_model("mlp_probe", n_mels=64), get_model("mlp_probe", n_mels=64, hidden=0)
    x = torch.randn(5, 64)
    assert mlp(x).shape == linear(x).shape == (5, 2)
    assert [type(m).__name__ for m in mlp.net] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert [type(m).__name__ for m in linear.net] == ["Dropout", "Linear"]
    assert sum(p.numel() for p in linear.parameters()) == 64 * 2 + 2


def test_the_temporal_probe_gives_one_value_per_label_frame() -> None:
    spec = get_model_info("temporal_probe").spec
    assert spec.temporal and "sequence" in spec.inputs
    model = get_model("temporal_probe", n_mels=48).eval()
    x = torch.randn(3, 1, 48, 10)  # an embedding set at 2 Hz: 10 frames per 5-s window
    frames = model(x, n_frames=10)
    assert frames.shape == (3, 10, 2)
    torch.testing.assert_close(model(x), frames.mean(dim=1))  # the window value is the frames' mean
    assert model(torch.randn(3, 1, 48, 249), n_frames=10).shape == (3, 10, 2)  # any frame rate


def test_probe_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="odd kernel"):
        get_model("temporal_probe", n_mels=8, kernel=2)
    with pytest.raises(ValueError, match="dropout"):
        get_model("mlp_probe", n_mels=8, dropout=1.5)
