"""The feature store, format 2: its layout, the crash-safe writer, the reader, and merging sets in.

- :mod:`~mer_zoo.store.layout`: paths, columns and set descriptions of format 2;
- :mod:`~mer_zoo.store.writer`: the crash-safe writer (SWMR, one commit per batch of songs);
- :mod:`~mer_zoo.store.reader`: ``FeatureStore``: sets, tables, frames, scales, byte offsets;
- :mod:`~mer_zoo.store.merge`: copy a side file's new sets into a store;
- :mod:`~mer_zoo.store.carry`: carry songs of a finished store into a new one, with new labels.

Nothing here knows how the features were computed (see :mod:`mer_zoo.pipeline`).
"""

from __future__ import annotations

from mer_zoo.store.carry import carry_failures, carry_songs
from mer_zoo.store.layout import FORMAT, FORMAT_VERSION, SetSpec, set_path
from mer_zoo.store.merge import merge_sets
from mer_zoo.store.reader import FeatureStore, read_settings, rebuild_hint
from mer_zoo.store.writer import SongFeatures, StoreLabels, StoreWriter

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FeatureStore",
    "SetSpec",
    "SongFeatures",
    "StoreLabels",
    "StoreWriter",
    "carry_failures",
    "carry_songs",
    "merge_sets",
    "read_settings",
    "rebuild_hint",
    "set_path",
]
