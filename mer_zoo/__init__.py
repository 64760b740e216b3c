"""mer-zoo: music emotion recognition from audio to honest figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mer_zoo.version import __version__

__all__ = ["FeatureConfig", "FeatureDataset", "FeatureStore", "Predictor", "__version__"]

# Heavy modules (torch, h5py, librosa) load on first use, so `mer-zoo --help` stays instant.
_LAZY = {
    "FeatureConfig": "mer_zoo.config",
    "FeatureDataset": "mer_zoo.data",
    "FeatureStore": "mer_zoo.store.reader",
    "Predictor": "mer_zoo.predict",
}

if TYPE_CHECKING:
    from mer_zoo.config import FeatureConfig
    from mer_zoo.data import FeatureDataset
    from mer_zoo.predict import Predictor
    from mer_zoo.store import FeatureStore


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mer_zoo' has no attribute {name!r}")
