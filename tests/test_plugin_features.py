"""A feature set from a plugin: the example plugin's entry point adds one that is listed and built like a built-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mer_zoo.audio.decode import load_audio
from mer_zoo.features import get_extractor_info
from mer_zoo.store.reader import FeatureStore

PLUGIN_SET = "example_band_energy"


def test_the_plugin_set_is_listed_with_its_distribution(
    cli: Callable[[list[Any]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(["features", "example*"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split()[:3] == [PLUGIN_SET, "sequence", "mer-zoo-example"]
    assert get_extractor_info(PLUGIN_SET).source == "mer-zoo-example"


def test_build_features_computes_the_plugin_set_next_to_mel(
    demo_root: Path, tmp_path: Path, cli: Callable[[list[Any]], int]
) -> None:
    from mer_zoo_example.features import band_energy_db

    out = tmp_path / "features.h5"
    args = ["build-features", "--root", demo_root, "--out", out, "--set", "mel", "--set", f"{PLUGIN_SET}:n_bands=6"]
    assert cli([*args, "--workers", "2", "--no-progress"]) == 0
    with FeatureStore(out) as store:
        assert store.sets == ["mel", PLUGIN_SET]
        spec = store.set_spec(PLUGIN_SET)
        assert (spec.kind, spec.shape, spec.config["n_bands"]) == ("sequence", (6, 431), 6)
        assert spec.frame_rate_hz == store.set_spec("mel").frame_rate_hz
        song = store.songs.iloc[0]
        start = float(store.segments.start_s[song.first_segment])
        stored = store.data(PLUGIN_SET)[song.first_segment]
        config = store.config
    clip, _ = load_audio(demo_root / song.path, config.sample_rate, offset_s=start, duration_s=config.clip_s)
    expected = band_energy_db(clip[: config.clip_samples], config.sample_rate, **spec.config)
    np.testing.assert_allclose(stored, expected, atol=1e-3)
