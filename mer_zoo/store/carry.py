"""Carrying songs from a finished store into a new one, with new labels (``build-features --update``).

A song whose audio did not change keeps its computed windows: every set's rows, the silence
flags and the decoder that read it are copied as they are; only the labels are the ones given
(its current annotations). Failures are carried the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mer_zoo.store.reader import FeatureStore
from mer_zoo.store.writer import SongFeatures, StoreWriter

__all__ = ["carry_failures", "carry_songs"]

_BATCH = 32  # songs committed together


def carry_songs(
    store: FeatureStore, writer: StoreWriter, songs: Sequence[tuple[int, Any, Mapping[str, float]]]
) -> None:
    """Copy ``(song_id, plan, static)`` songs of ``store`` into ``writer``, labelled by ``plan`` (a ``WindowPlan``
    of the song's stored windows) and ``static``, committed a few songs at a time."""
    table = store.songs
    at = {int(song_id): i for i, song_id in enumerate(table["song_id"])}
    silent = store.silent()
    for start in range(0, len(songs), _BATCH):
        batch = []
        for song_id, plan, static in songs[start : start + _BATCH]:
            row = table.iloc[at[song_id]]
            rows = slice(int(row["first_segment"]), int(row["first_segment"]) + int(row["n_segments"]))
            batch.append(
                SongFeatures(
                    song_id=song_id,
                    path=str(row["path"]),
                    duration_s=float(row["duration_s"]),
                    features={name: store.data(name)[rows] for name in writer.sets},
                    start_s=plan.start_s,
                    end_s=plan.end_s,
                    arousal=plan.arousal,
                    valence=plan.valence,
                    static=dict(static),
                    frame_times=plan.frame_times,
                    arousal_frames=plan.arousal_frames,
                    valence_frames=plan.valence_frames,
                    silent=np.asarray(silent[rows], dtype=bool),
                    backend=str(row["backend"]),
                )
            )
        writer.append_songs(batch)


def carry_failures(store: FeatureStore, writer: StoreWriter, song_ids: set[int]) -> None:
    """Copy the failure rows of ``song_ids`` from ``store`` into ``writer``."""
    failures = store.columns("failures")
    for song_id, path, reason, set_name in zip(failures["song_id"], failures["path"], failures["reason"],
                                               failures["set"]):  # fmt: skip
        if int(song_id) in song_ids:
            writer.append_failure(int(song_id), str(path), str(reason), str(set_name))
