"""The tasks mer-zoo trains and scores, as data: labels, target shape, pooling, metrics and scale.

- ``window`` (the default, the original notebook's protocol): each window's label is the
  mean of the 2 Hz values inside it; a model predicts one ``[arousal, valence]`` per window,
  scored per window on the store's window-label scale.
- ``static``: one ``[arousal, valence]`` per song on the store's static scale (DEAM 1..9).
  Each window is trained toward its song's static label; a song's prediction is the mean of
  its windows' outputs, and the figures are computed on songs.
- ``dynamic``: a value every 0.5 s (each of a window's ``F`` label frames) on the dynamic
  scale (DEAM -1..1). A temporal model predicts every frame; a window model's one output is
  held over its frames. Training minimises the MSE over the frames that have labels (NaN
  frames are ignored); the figures are MediaEval 2015's per-song RMSE and Pearson's r,
  averaged over songs, next to the same figures pooled over every frame.

Models work on one scale, ``MODEL_SCALE`` ([-1, 1]): targets are mapped linearly onto it
from the task's scale for training (:func:`to_model`) and outputs mapped back before any
figure (:func:`from_model`), so a network never has to learn DEAM's 1..9 offset. Where the
two scales agree (DEAM's window and dynamic tasks) the values pass untouched.

Everything here is pure (arrays in, arrays or dicts out) except :func:`read_labels`, which
reads a part's labels from the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.metrics import metrics_block, per_song_block
from mer_zoo.scales import Scale, parse_scale

__all__ = [
    "MODEL_SCALE",
    "TASKS",
    "TASK_NAMES",
    "Task",
    "TaskLabels",
    "check_task",
    "fit_targets",
    "frame_rows",
    "from_model",
    "get_task",
    "hold",
    "lookup",
    "pool_songs",
    "ratio",
    "read_labels",
    "scale_label",
    "score",
    "target_mean",
    "task_scale",
    "to_model",
    "unlabelled_songs",
]

MODEL_SCALE = Scale((-1.0, 1.0))


@dataclass(frozen=True)
class Task:
    """One task: what it reads, how window outputs pool, what a figure counts, how runs rank.

    Attributes:
        name: ``window``, ``static`` or ``dynamic``.
        labels: ``window`` (window means), ``song`` (static labels) or ``frames`` (2 Hz values).
        target: the training target of each window (``(2,)`` or ``(F, 2)``, NaN where unlabelled).
        pooling: ``none``, ``song_mean`` (a song's windows averaged) or ``hold`` (a window's
            value held over its frames; temporal models predict the frames themselves).
        unit: what the figures are computed on (``windows``, ``songs``, ``frames``).
        description: one line for tables and README.
        rank_by: the metrics-block path that ranks runs (lower is better) and its baseline's.
        columns: leaderboard columns, each ``(name, path in a metrics block)``; the first ranks.
    """

    name: str
    labels: str
    target: str
    pooling: str
    unit: str
    description: str
    rank_by: tuple[str, str]
    columns: tuple[tuple[str, str], ...]


_ROW_DIMS = ("r2", "pearson", "ccc")
TASKS: dict[str, Task] = {
    "window": Task(
        "window", "window", "(2,) window mean", "none", "windows", "mean of the 2 Hz labels in each window, scored per window",
        ("mse", "baseline_mse"),
        (("test_mse", "mse"), ("baseline_mse", "baseline_mse"),
         *((f"{d}_{m}", f"{d}.{m}") for d in ("arousal", "valence") for m in ("r2", "ccc"))),
    ),
    "static": Task(
        "static", "song", "(2,) the song's static label", "song_mean", "songs", "one value per song (mean of its windows), scored on songs",
        ("mse", "baseline_mse"),
        (("test_mse", "mse"), ("baseline_mse", "baseline_mse"),
         *((f"{d}_{m}", f"{d}.{m}") for d in ("arousal", "valence") for m in ("rmse", *_ROW_DIMS))),
    ),
    "dynamic": Task(
        "dynamic", "frames", "(F, 2) the window's 2 Hz values", "hold", "frames", "a value every 0.5 s, RMSE and r per song averaged over songs",
        ("rmse_per_song", "baseline_rmse_per_song"),
        (("rmse_per_song", "rmse_per_song"), ("baseline_rmse_per_song", "baseline_rmse_per_song"),
         *(pair for d in ("arousal", "valence") for pair in (
             (f"{d}_rmse_song", f"{d}.per_song.rmse.mean"),
             (f"{d}_rmse_song_std", f"{d}.per_song.rmse.std"),
             (f"{d}_baseline_rmse_song", f"{d}.baseline_per_song.rmse.mean"),
             (f"{d}_r_song", f"{d}.per_song.pearson.mean"),
             (f"{d}_r_song_std", f"{d}.per_song.pearson.std"),
             (f"{d}_r_pooled", f"{d}.pooled.pearson"),
         ))),
    ),
}  # fmt: skip
TASK_NAMES = tuple(TASKS)


def get_task(name: str) -> Task:
    """The task called ``name``; InputError listing the tasks when there is none."""
    key = str(name).strip().lower()
    if key not in TASKS:
        raise InputError(f"unknown task {name!r}: use {', '.join(TASK_NAMES)}")
    return TASKS[key]


def lookup(block: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``arousal.per_song.rmse.mean``) of a metrics block; None when absent."""
    value: Any = block
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def ratio(task: Task, block: Mapping[str, Any]) -> float | None:
    """The ranking figure over the mean baseline's on the same part (``vs_baseline``); None when undefined."""
    value, baseline = (lookup(block, path) for path in task.rank_by)
    return None if value is None or not baseline else float(value) / float(baseline)


def scale_label(scale: Scale) -> str:
    """A scale as written next to figures, e.g. ``[-1, 1]`` (``parse_scale`` reads it back)."""
    return f"[{scale.low:g}, {scale.high:g}]"


def task_scale(task: Task, scales: Mapping[str, Any], window_labels: str = "dynamic") -> Scale:
    """The scale the task's targets are on, from a store's ``{"dynamic", "static"}`` scales.

    Window labels of a corpus labelled only per song are its static labels, on the static scale.
    """
    key = {"frames": "dynamic", "song": "static"}.get(task.labels)
    if key is None:
        key = "static" if window_labels == "static" else "dynamic"
    value = scales[key]
    return value if isinstance(value, Scale) else parse_scale(str(value))


def to_model(values: np.ndarray, scale: Scale) -> np.ndarray:
    """Targets on the task's ``scale`` mapped onto ``MODEL_SCALE`` (float32; unchanged when they agree)."""
    v = np.asarray(values, dtype=np.float32)
    if tuple(scale) == tuple(MODEL_SCALE):
        return v
    return scale.map_to(v, MODEL_SCALE).astype(np.float32)


def from_model(values: np.ndarray, scale: Scale) -> np.ndarray:
    """A model's outputs on ``MODEL_SCALE`` mapped back onto the task's ``scale`` (unchanged when they agree)."""
    v = np.asarray(values)
    if tuple(scale) == tuple(MODEL_SCALE):
        return v
    return MODEL_SCALE.map_to(v, scale)


def check_task(task: Task, model: str, n_outputs: int, store: Mapping[str, Any]) -> None:
    """MerZooError naming both sides when the model or the store cannot serve the task.

    Args:
        task: the task.
        model: the model's registry name.
        n_outputs: the outputs its spec declares.
        store: a run's store record (``dataset``, ``path``, ``window_labels``).
    """
    if n_outputs != 2:
        raise MerZooError(f"model {model!r} has {n_outputs} outputs, but task {task.name!r} needs 2 (arousal, valence)")
    if task.labels == "frames" and store.get("window_labels") == "static":
        raise MerZooError(
            f"task 'dynamic' needs 2 Hz labels, but store {store.get('path')} ({store.get('dataset')}) "
            "has static labels only; use --task window or --task static"
        )


@dataclass(frozen=True)
class TaskLabels:
    """A part's labels under a task, one entry per window in the dataset's order.

    ``targets`` are ``(n, 2)`` (window, static) or ``(n, F, 2)`` NaN-padded (dynamic);
    ``frame_times`` ``(n, F)`` for dynamic, else None.
    """

    targets: np.ndarray
    song_ids: np.ndarray
    frame_times: np.ndarray | None = None


def read_labels(task: Task, store_path: str | os.PathLike[str], rows: np.ndarray) -> TaskLabels:
    """The task's labels of the store's windows ``rows``."""
    from mer_zoo.store import FeatureStore

    rows = np.asarray(rows, dtype=np.int64)
    with FeatureStore(store_path) as store:
        segments = store.segments
        song_ids = segments["song_id"].to_numpy()[rows]
        if task.labels == "window":
            targets = segments[["arousal", "valence"]].to_numpy(dtype=np.float32)[rows]
            return TaskLabels(targets, song_ids)
        if task.labels == "song":
            songs = store.songs.set_index("song_id")[["arousal_mean", "valence_mean"]]
            targets = songs.reindex(song_ids).to_numpy(dtype=np.float32)
            return TaskLabels(targets, song_ids)
        frames = store.frames()
    targets = np.stack([frames["arousal_frames"][rows], frames["valence_frames"][rows]], axis=-1).astype(np.float32)
    return TaskLabels(targets, song_ids, frames["frame_times"][rows])


def unlabelled_songs(task: Task, store_path: str | os.PathLike[str]) -> list[int]:
    """Songs the task has no label for (static: a NaN static label), to leave out before splitting."""
    if task.labels != "song":
        return []
    from mer_zoo.store import FeatureStore

    with FeatureStore(store_path) as store:
        songs = store.songs
    missing = songs[["arousal_mean", "valence_mean"]].isna().any(axis=1)
    return sorted(int(s) for s in songs.loc[missing, "song_id"])


def target_mean(targets: np.ndarray) -> np.ndarray:
    """``[arousal, valence]`` mean of training targets over every labelled window or frame (the mean baseline)."""
    t = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    return np.nanmean(t, axis=0)


def fit_targets(targets: np.ndarray) -> np.ndarray:
    """One ``(n, 2)`` target per window for models fitted on windows: frames averaged (the best held value)."""
    t = np.asarray(targets, dtype=np.float64)
    if t.ndim == 3:
        t = np.nanmean(t, axis=1)
    return t.astype(np.float32)


def hold(predictions: np.ndarray, n_frames: int) -> np.ndarray:
    """``(n, 2)`` window predictions held over ``n_frames`` frames -> ``(n, F, 2)``; frame predictions pass."""
    p = np.asarray(predictions)
    return np.repeat(p[:, None, :], n_frames, axis=1) if p.ndim == 2 else p


def pool_songs(values: np.ndarray, song_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean of each song's window ``values`` ``(n, 2)``: ``(songs (S,), pooled (S, 2))``, songs sorted."""
    songs, inverse = np.unique(np.asarray(song_ids), return_inverse=True)
    v = np.asarray(values, dtype=np.float64).reshape(len(inverse), -1)
    sums = np.zeros((len(songs), v.shape[1]))
    np.add.at(sums, inverse, v)
    return songs, sums / np.bincount(inverse, minlength=len(songs))[:, None]


def frame_rows(
    song_ids: np.ndarray, frame_times: np.ndarray, targets: np.ndarray, predictions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every labelled frame once: ``(song_ids (m,), targets (m, 2), predictions (m, 2))``.

    Frames without a label are dropped; a frame that overlapping windows share is predicted
    by the mean of their predictions.
    """
    n, f = frame_times.shape
    songs = np.repeat(np.asarray(song_ids), f)
    times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    t = np.asarray(targets, dtype=np.float64).reshape(n * f, 2)
    p = np.asarray(predictions, dtype=np.float64).reshape(n * f, 2)
    keep = np.isfinite(t).all(axis=1) & np.isfinite(times)
    songs, times, t, p = songs[keep], times[keep], t[keep], p[keep]
    keys = np.stack([songs.astype(np.float64), np.round(times * 1000.0)], axis=1)
    unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(unique), 2))
    np.add.at(sums, inverse, p)
    return songs[first], t[first], sums / np.bincount(inverse, minlength=len(unique))[:, None]


def score(
    task: Task, labels: TaskLabels, predictions: np.ndarray, train_mean: Sequence[float] | np.ndarray
) -> dict[str, Any]:
    """The metrics block of one part: predictions per window (or per frame) pooled and scored as the task says."""
    preds = np.asarray(predictions, dtype=np.float64)
    if task.pooling == "none":
        return metrics_block(labels.targets, preds, labels.song_ids, train_mean)
    if task.pooling == "song_mean":
        songs, pooled = pool_songs(preds, labels.song_ids)
        _, truth = pool_songs(labels.targets, labels.song_ids)
        block = metrics_block(truth, pooled, songs, train_mean)
        return {
            "n_songs": block.pop("n_songs"),
            "n_windows": int(len(preds)),
            **{k: v for k, v in block.items() if k != "n_windows"},
        }
    if labels.frame_times is None:
        raise MerZooError(f"task {task.name!r}: the labels have no frame times")
    songs, truth, frames = frame_rows(
        labels.song_ids, labels.frame_times, labels.targets, hold(preds, labels.targets.shape[1])
    )
    if not len(songs):
        raise MerZooError(f"task {task.name!r}: no labelled frames to score")
    block = per_song_block(truth, frames, songs, train_mean)
    block = {"n_songs": block.pop("n_songs"), "n_windows": int(len(preds)), **block}
    for key, path in (("rmse_per_song", "per_song"), ("baseline_rmse_per_song", "baseline_per_song")):
        values = [block[d][path]["rmse"]["mean"] for d in ("arousal", "valence")]
        block[key] = None if None in values else float(np.mean(values))
    return block
