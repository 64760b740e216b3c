"""The shipped pretrained model: VibeNet's ONNX weights (inside its PyPI package) as a HEAR module and a `hear` set.

The log-mel is checked against the per-context reference, the cut graph against VibeNet's own
seven outputs (its trunk and heads applied to our pooled features give the full graph's
logits), and the set against the store's contract. Skipped where ``mer-zoo[embeddings]`` is
not installed (the log-mel test needs only scipy and librosa).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mer_zoo.features import vibenet_hear
from mer_zoo.features.vibenet_hear import context_mels, log_mel, timestamps_s


def test_context_mels_are_vibenets_log_mel_of_each_2_s_context() -> None:
    clip = np.random.default_rng(0).standard_normal(5 * 16000).astype(np.float32) * 0.1
    padded = np.pad(clip, (16000, 16000))  # silence beyond the edges
    expected = np.stack([log_mel(padded[int(t * 16000) : int(t * 16000) + 32000]) for t in timestamps_s(len(clip))])
    assert timestamps_s(len(clip)).tolist() == [0.25 + 0.5 * k for k in range(10)]
    np.testing.assert_allclose(context_mels(clip), expected, atol=1e-4)


@pytest.fixture(scope="module")
def shipped() -> object:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    try:
        return vibenet_hear.shipped_model_file()
    except ImportError:
        pytest.skip('VibeNet is not installed (pip install "mer-zoo[embeddings]")')


def test_the_cut_graph_gives_the_features_vibenets_heads_read(shipped: object) -> None:
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import numpy_helper

    model = vibenet_hear.load_model()
    mels = context_mels(np.random.default_rng(1).standard_normal(3 * 16000).astype(np.float32) * 0.1)[:1]
    pooled = model(mels)[0].astype(np.float64)
    weights = {w.name: numpy_helper.to_array(w).astype(np.float64) for w in onnx.load(str(shipped)).graph.initializer}
    x = (pooled - pooled.mean()) / np.sqrt(pooled.var() + 1e-5) * weights["trunk.0.weight"] + weights["trunk.0.bias"]
    hidden = torch.nn.functional.gelu(torch.from_numpy(weights["trunk.1.weight"] @ x + weights["trunk.1.bias"]))
    labels = ("acousticness", "danceability", "energy", "instrumentalness", "liveness", "speechiness", "valence")
    logits = [(weights[f"heads.{n}.weight"] @ hidden.numpy() + weights[f"heads.{n}.bias"]).item() for n in labels]
    full = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(full.run(None, {"x": mels})[0][0], logits, atol=1e-3)


def test_vibenet_is_a_hear_set_with_its_weights_fingerprinted(shipped: object) -> None:
    from mer_zoo.config import FeatureConfig
    from mer_zoo.features import get_extractor

    windows = FeatureConfig()
    extractor = get_extractor("hear", module="mer_zoo.features.vibenet_hear")
    assert (extractor.kind, extractor.shape(windows), extractor.frame_rate_hz(windows)) == ("sequence", (1280, 10), 2.0)
    about = extractor.about()
    assert about["weights_sha256"] == hashlib.sha256(b"efficientnet_model.onnx\0" + shipped.read_bytes()).hexdigest()
    y = np.random.default_rng(2).standard_normal(2 * windows.clip_samples).astype(np.float32) * 0.1
    out = extractor.compute(y, [0, windows.clip_samples], windows)
    assert out.shape == (2, 1280, 10) and np.isfinite(out).all()
    assert not np.allclose(out[0], out[1])
