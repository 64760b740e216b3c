"""The mel extractor: its backends, what the store records of them, and --device."""

from __future__ import annotations

import numpy as np
import pytest

from mer_zoo.audio.melspec import fft_engine, log_mel
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError
from mer_zoo.features import get_extractor


def test_the_mel_set_equals_log_mel_of_each_window_and_records_no_backend_in_its_settings() -> None:
    config = FeatureConfig()
    span = np.random.default_rng(0).normal(size=3 * config.clip_samples + 1000).astype(np.float32)
    offsets = [0, config.clip_samples + 500, 2 * config.clip_samples + 1000]
    extractor = get_extractor("mel")
    got = extractor.compute(span, offsets, config)
    expected = log_mel(np.stack([span[o : o + config.clip_samples] for o in offsets]), config)
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert extractor.backend == f"numpy/{fft_engine()}" and "device" not in extractor.params()
    assert extractor.params() == config.mel_settings() and extractor.shape(config) == (128, 431)


def test_cuda_without_a_gpu_is_a_one_line_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="--device cuda") as err:
        get_extractor("mel", device="cuda")
    assert "\n" not in str(err.value)
    assert get_extractor("mel", device="auto").backend == f"numpy/{fft_engine()}"
