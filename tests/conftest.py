"""Session fixtures: one small synthetic DEAM folder and one feature store, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

DEMO_SONGS = 12


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset in DEAM's layout (a few quirky files included)."""
    from mer_zoo.datasets.synthetic import write_synthetic_deam

    root = tmp_path_factory.mktemp("deam")
    write_synthetic_deam(root, n_songs=DEMO_SONGS, seed=0)
    return root


@pytest.fixture(scope="session")
def demo_store(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The feature store that `build-features` makes from ``demo_root`` (2 local workers)."""
    from mer_zoo.features.build import build_features

    out = tmp_path_factory.mktemp("store") / "features.h5"
    build_features(demo_root, out, workers=2, progress=False)
    return out
