"""Helpers for tests that compare whole feature stores."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, read whole."""
    found: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def assert_same_store(a: Path, b: Path, *, attrs: bool = False) -> None:
    """The two stores hold the same datasets with equal contents (and root attributes, if asked)."""
    left, right = datasets(a), datasets(b)
    assert sorted(left) == sorted(right)
    for name in left:
        nan = left[name].dtype.kind == "f"  # NaN padding (frames of static corpora) equals itself here
        assert np.array_equal(left[name], right[name], equal_nan=nan), name
    if attrs:
        with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
            assert dict(fa.attrs) == dict(fb.attrs)
