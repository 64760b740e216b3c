"""Tiny learnable feature stores for the task tests: written in milliseconds, trained in seconds.

Each song has slow arousal and valence trajectories (2 Hz labels on -1..1 from 15 s) and a
static label on 1..9 (4 + 4 x its mean, plus a little noise). Its 16 x 41 "mel" windows
draw them: bins 0-7 carry arousal at each time column, bins 8-15 valence, plus noise, so a
window model can learn window means, a temporal model the 0.5-s frames, and a vector model
(per-bin mean and std) the window means.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.store.writer import SongFeatures, StoreLabels, StoreWriter

TINY = FeatureConfig(
    sample_rate=8000, n_mels=16, n_fft=256, hop_length=1000, fmax=4000.0, start_s=15.0, clip_s=5.0, hop_s=5.0
)
WINDOWS = 4
FRAMES = 10  # 2 Hz labels in a 5-s window


def _trajectory(rng: np.random.Generator, n: int) -> np.ndarray:
    steps = np.cumsum(rng.normal(0, 0.12, n))
    return np.clip(rng.uniform(-0.6, 0.6) + steps - steps.mean(), -0.95, 0.95)


def write_tiny_store(
    path: Path,
    n_songs: int = 16,
    seed: int = 0,
    *,
    dataset: str = "deam",
    labels: StoreLabels = StoreLabels(),
    first_id: int = 1,
    nan_frames: bool = True,
    static_only: bool = False,
) -> Path:
    """A store of ``n_songs`` songs, 4 windows each; labels mapped linearly onto ``labels``' scales.

    With ``nan_frames`` the last two frames of song ``first_id``'s last window are unlabelled;
    ``static_only`` writes a corpus labelled per song only (no frames, windows hold the static label).
    """
    if static_only:
        labels = StoreLabels(
            dynamic_scale=labels.dynamic_scale, static_scale=labels.static_scale, window_labels="static"
        )
    from mer_zoo.scales import parse_scale

    rng = np.random.default_rng(seed)
    dynamic, static = parse_scale(labels.dynamic_scale), parse_scale(labels.static_scale)
    unit, nine = parse_scale("-1..1"), parse_scale("1..9")
    cols = TINY.frames
    frame_of_column = np.minimum(np.arange(cols) * FRAMES // cols, FRAMES - 1)
    with StoreWriter.create(path, TINY, dataset=dataset, source_root=str(path.parent), labels=labels) as writer:
        for k in range(n_songs):
            song = first_id + k
            a, v = _trajectory(rng, WINDOWS * FRAMES), _trajectory(rng, WINDOWS * FRAMES)
            a_frames, v_frames = a.reshape(WINDOWS, FRAMES), v.reshape(WINDOWS, FRAMES)
            mel = rng.normal(0, 0.3, (WINDOWS, TINY.n_mels, cols))
            mel[:, :8, :] += 2.0 * a_frames[:, None, frame_of_column]
            mel[:, 8:, :] += 2.0 * v_frames[:, None, frame_of_column]
            starts = TINY.start_s + TINY.clip_s * np.arange(WINDOWS)
            times = starts[:, None] + 0.5 * np.arange(FRAMES)[None, :]
            af, vf = a_frames.astype(np.float32).copy(), v_frames.astype(np.float32).copy()
            if nan_frames and k == 0:
                af[-1, -2:] = vf[-1, -2:] = np.nan
            static_a = 4.0 * float(np.mean(a)) + 5.0 + rng.normal(0, 0.1)
            static_v = 4.0 * float(np.mean(v)) + 5.0 + rng.normal(0, 0.1)
            static_labels = {"arousal_mean": float(nine.map_to(np.asarray(static_a), static)),
                             "valence_mean": float(nine.map_to(np.asarray(static_v), static)),
                             "arousal_std": 0.5, "valence_std": 0.5}  # fmt: skip
            if static_only:
                held = {
                    d: np.full(WINDOWS, static_labels[f"{d}_mean"], dtype=np.float32) for d in ("arousal", "valence")
                }
                writer.append_song(SongFeatures(
                    song_id=song, path=f"{song}.mp3", duration_s=45.0, features={"mel": mel.astype(np.float32)},
                    start_s=starts, end_s=starts + TINY.clip_s, static=static_labels, **held,
                ))  # fmt: skip
                continue
            writer.append_song(SongFeatures(
                song_id=song, path=f"{song}.mp3", duration_s=45.0, features={"mel": mel.astype(np.float32)},
                start_s=starts, end_s=starts + TINY.clip_s,
                arousal=unit.map_to(np.nanmean(af, axis=1), dynamic).astype(np.float32),
                valence=unit.map_to(np.nanmean(vf, axis=1), dynamic).astype(np.float32),
                static=static_labels,
                frame_times=times, arousal_frames=unit.map_to(af, dynamic).astype(np.float32),
                valence_frames=unit.map_to(vf, dynamic).astype(np.float32),
            ))  # fmt: skip
        writer.close(complete=True)
    return path
