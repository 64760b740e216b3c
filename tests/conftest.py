"""Session fixtures: one small synthetic DEAM folder and one feature store, built once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dask_cluster import local_dask_cluster

DEMO_SONGS = 12

# librosa's numba kernels cache into this session's own folder (set before numba is imported),
# not into site-packages where concurrent test sessions and workers could tear each other's files.
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="mer-zoo-test-numba-"))


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
    from mer_zoo.pipeline.build import build_features

    out = tmp_path_factory.mktemp("store") / "features.h5"
    build_features(demo_root, out, workers=2, progress=False)
    return out


# --- training fixtures (H5) -----------------------------------------------------------------


def run_cli(args: list[Any]) -> int:
    """Run ``mer-zoo ARGS`` in this process and return its exit code."""
    from mer_zoo.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@pytest.fixture(scope="session")
def cli() -> Callable[[list[Any]], int]:
    """``cli(["train", ...])`` runs the mer-zoo command line in-process and returns the exit code."""
    return run_cli


@pytest.fixture(scope="session")
def cnn_run(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch cnn_small run on ``demo_store``, trained through `mer-zoo train` (seed 3)."""
    out = tmp_path_factory.mktemp("runs")
    args = ["train", "--model", "cnn_small", "--features", demo_store, "--out", out]
    assert run_cli([*args, "--epochs", "2", "--batch-size", "16", "--seed", "3", "--device", "cpu"]) == 0
    (run,) = out.iterdir()
    return run


# --- a real Dask cluster -----------------------------------------------------------------------


@pytest.fixture()
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real `dask scheduler` and one `dask worker` process (1 thread) on 127.0.0.1."""
    with local_dask_cluster(tmp_path, workers=1) as address:
        yield address


@pytest.fixture()
def two_workers(tmp_path: Path) -> Iterator[str]:
    """A real `dask scheduler` and two single-threaded `dask worker` processes on 127.0.0.1."""
    with local_dask_cluster(tmp_path, workers=2) as address:
        yield address
