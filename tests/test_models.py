"""The built-in models: shapes for any number of frames, gradients, and the two baselines' exact form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mer_zoo.models import get_model, get_model_info, list_models

TRAINED = ["cnn_small", "vgg_bn", "crnn", "short_chunk_resnet", "mel_transformer"]
FITTED = ["ridge", "svr", "hist_gbt"]  # tests/test_classical.py
PROBES = ["mlp_probe", "temporal_probe"]  # tests/test_probes.py


def test_the_builtins_are_these() -> None:
    builtins = {name for name in list_models() if get_model_info(name).source == "built-in"}
    assert builtins == {"mean", *TRAINED, *FITTED, *PROBES}


@pytest.mark.parametrize("n_mels, frames", [(128, 431), (128, 37), (96, 100)])
@pytest.mark.parametrize("name", TRAINED)
def test_forward_and_backward_for_any_length(name: str, n_mels: int, frames: int) -> None:
    torch.manual_seed(0)
    model = get_model(name, n_mels=n_mels)
    assert getattr(model, "trainable", True)
    out = model(torch.randn(3, 1, n_mels, frames))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", TRAINED)
def test_n_outputs_and_eval_mode(name: str) -> None:
    model = get_model(name, n_outputs=3).eval()
    x = torch.randn(2, 1, 128, 64)
    with torch.no_grad():
        assert model(x).shape == (2, 3)
        assert torch.equal(model(x), model(x))  # no dropout at evaluation


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["mean", *TRAINED])
def test_runs_on_cuda(name: str) -> None:
    model = get_model(name).cuda()
    out = model(torch.randn(2, 1, 128, 100, device="cuda"))
    assert out.shape == (2, 2) and out.device.type == "cuda"


def test_the_mean_model_predicts_the_fitted_mean_and_saves_it() -> None:
    model = get_model("mean")
    assert model.trainable is False and not list(model.parameters())
    model.fit_targets(torch.tensor([[0.1, -0.2], [0.3, 0.4]]))
    out = model(torch.randn(4, 1, 128, 31))
    assert torch.allclose(out, torch.tensor([[0.2, 0.1]] * 4))
    restored = get_model("mean")
    restored.load_state_dict(model.state_dict())
    assert torch.allclose(restored(torch.randn(1, 1, 64, 9)), torch.tensor([[0.2, 0.1]]))


def test_cnn_small_is_exactly_the_original() -> None:
    layers = list(get_model("cnn_small"))
    block = [nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    assert [type(layer) for layer in layers] == [*block, *block, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear]
    conv1, conv2, linear = layers[0], layers[3], layers[8]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.padding) == (1, 16, (3, 3), (0, 0))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size, conv2.padding) == (16, 32, (3, 3), (0, 0))
    assert layers[2].kernel_size == layers[5].kernel_size == 2 and layers[6].output_size == 1
    assert (linear.in_features, linear.out_features) == (32, 2)
    assert sum(p.numel() for p in get_model("cnn_small").parameters()) == 4866
