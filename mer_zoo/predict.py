"""Arousal and valence for any audio file, with a trained run's settings, shaped by the run's task.

Windows start at 0 s and advance by the run's ``hop_s``, each ``clip_s`` long, over the
whole file at any sample rate or channel count; the features are made with the run's
recorded settings and normalised with the run's normaliser. What comes out follows the task:

- ``window``: one row per window (``file, window, start_s, end_s, arousal, valence, silent, n_windows``);
- ``static``: one row per file, the mean of its windows (``file, n_windows, arousal, valence, silent``);
- ``dynamic``: one row every 0.5 s (``file, time_s, arousal, valence, silent, n_windows``); a temporal
  model predicts each frame, a window model's value is held over its window's frames, and frames
  that overlapping windows share get the mean of their predictions.

``silent`` flags values that come from silence (a window peaking below ``SILENCE_DBFS``; a frame
all of whose windows are silent; a file all of whose windows are). A static run trained
without silent windows (``--skip-silent``, the default) averages a file's other windows.
``n_windows`` (the file's windows) lets a resumed CSV tell a whole file from a cut one.

:func:`load_predictor` loads a run once; :func:`predict_file` is the per-file core.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.runs import Run, open_run
from mer_zoo.scales import parse_scale
from mer_zoo.tasks import from_model, hold

__all__ = [
    "PREDICTION_COLUMNS",
    "Predictions",
    "Predictor",
    "load_predictor",
    "predict",
    "predict_file",
    "row_count",
    "rows_from_outputs",
    "rows_of",
    "stream",
]

PREDICTION_COLUMNS = {
    "window": ["file", "window", "start_s", "end_s", "arousal", "valence", "silent", "n_windows"],
    "static": ["file", "n_windows", "arousal", "valence", "silent"],
    "dynamic": ["file", "time_s", "arousal", "valence", "silent", "n_windows"],
}


@dataclass
class Predictor:
    """A run loaded for prediction: its model on a device, normaliser, extractor and task."""

    run: Run
    model: Any
    device: Any
    normalizer: Any
    extractor: Any
    n_frames: int | None
    batch_size: int = 64

    @property
    def task(self) -> str:
        """The run's task: what one row of its predictions is."""
        return self.run.task


def load_predictor(run_dir: str | os.PathLike[str], *, device: str = "auto", batch_size: int = 64) -> Predictor:
    """Open a run and load its ``best.pt`` for prediction."""
    from mer_zoo.training import resolve_device
    from mer_zoo.training.setup import model_frames

    run = open_run(run_dir)
    dev = resolve_device(device)
    return Predictor(
        run, run.build_model("best.pt", dev), dev, run.normalizer(), run.extractor(), model_frames(run), batch_size
    )


def _window_outputs(predictor: Predictor, features: np.ndarray) -> np.ndarray:
    """One file's model outputs on the run's scale: ``(n, 2)``, or ``(n, F, 2)`` (temporal model, dynamic task)."""
    import torch

    from mer_zoo.data import pool_frames
    from mer_zoo.training.batches import forward

    values = pool_frames(features) if predictor.run.as_vector else features
    x = torch.from_numpy(np.ascontiguousarray(predictor.normalizer(values), dtype=np.float32))
    x = x.unsqueeze(1) if x.ndim == 3 else x
    step = predictor.batch_size
    with torch.no_grad():
        out = [
            forward(predictor.model, x[i : i + step].to(predictor.device), predictor.n_frames).float().cpu()
            for i in range(0, len(x), step)
        ]
    return from_model(torch.cat(out).numpy(), parse_scale(predictor.run.scale))


def _frame_times(starts: np.ndarray, clip_s: float, n_frames: int) -> np.ndarray:
    """``(n, F)`` times of each window's frames, rounded to the microsecond (frames of overlapping windows meet)."""
    return np.round(starts[:, None] + (clip_s / n_frames) * np.arange(n_frames)[None, :], 6)


def _frames_table(
    name: str, starts: np.ndarray, outputs: np.ndarray, silent: np.ndarray, clip_s: float, n_frames: int
) -> pd.DataFrame:
    frames = hold(outputs, n_frames)
    times = _frame_times(starts, clip_s, n_frames)
    table = pd.DataFrame({"time_s": times.reshape(-1), "arousal": frames[..., 0].reshape(-1),
                          "valence": frames[..., 1].reshape(-1), "silent": np.repeat(silent, n_frames)})  # fmt: skip
    table = table.groupby("time_s", sort=True, as_index=False).agg(
        {"arousal": "mean", "valence": "mean", "silent": "all"}
    )
    table.insert(0, "file", name)
    table["n_windows"] = len(starts)
    return table


def row_count(predictor: Predictor, n_windows: int) -> int:
    """How many rows a file of ``n_windows`` windows has in the run's task (what a resumed CSV checks)."""
    if predictor.task == "static":
        return 1
    if predictor.task == "window":
        return n_windows
    config = predictor.run.feature_config
    starts = config.hop_s * np.arange(n_windows, dtype=np.float64)
    return len(np.unique(_frame_times(starts, config.clip_s, predictor.run.frames_per_window)))


def predict_file(predictor: Predictor, path: str | os.PathLike[str]) -> pd.DataFrame:
    """One file's predictions in the run's task's rows; MerZooError when it cannot be decoded or is too short.

    The file is decoded a block of windows at a time and the model runs on each block.
    """
    from mer_zoo.pipeline import file_blocks

    outputs, starts, silent = [], [], []
    for block in file_blocks(Path(path), predictor.run.feature_config, [predictor.extractor]):
        if len(block.starts):
            outputs.append(_window_outputs(predictor, block.features[predictor.extractor.name]))
            starts.append(block.starts)
            silent.append(block.silent)
    return rows_from_outputs(predictor, str(path), np.concatenate(outputs), np.concatenate(starts),
                             np.concatenate(silent))  # fmt: skip


def rows_of(
    predictor: Predictor, name: str, features: dict[str, np.ndarray], starts: np.ndarray, silent: Any = None
) -> pd.DataFrame:
    """The rows of one file whose windows (starting at ``starts``) were already featurised."""
    outputs = _window_outputs(predictor, features[predictor.extractor.name])
    return rows_from_outputs(predictor, name, outputs, starts, silent)


def rows_from_outputs(
    predictor: Predictor, name: str, outputs: np.ndarray, starts: np.ndarray, silent: Any = None
) -> pd.DataFrame:
    """The rows of one file from its windows' model outputs, window starts and silence flags (None: none silent)."""
    config = predictor.run.feature_config
    starts = np.asarray(starts, dtype=np.float64)
    silent = np.zeros(len(starts), dtype=bool) if silent is None else np.asarray(silent, dtype=bool)
    n = len(starts)
    if predictor.task == "dynamic":
        return _frames_table(name, starts, outputs, silent, config.clip_s, predictor.run.frames_per_window)
    if predictor.task == "static":
        heard = ~silent if predictor.run.skip_silent and not silent.all() else np.ones(n, dtype=bool)
        mean = outputs.reshape(n, 2)[heard].mean(axis=0)
        return pd.DataFrame({"file": [name], "n_windows": [n], "arousal": [mean[0]], "valence": [mean[1]],
                             "silent": [bool(silent.all())]})  # fmt: skip
    return pd.DataFrame({
        "file": name, "window": np.arange(n), "start_s": starts, "end_s": starts + config.clip_s,
        "arousal": outputs[:, 0], "valence": outputs[:, 1], "silent": silent, "n_windows": n,
    })  # fmt: skip


def stream(
    run_dir: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    out: Path,
    *,
    device: str = "auto",
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
) -> Any:
    """Predict every audio file ``inputs`` name into the CSV ``out``, extracting on Dask workers.

    Files already whole in ``out`` are skipped (a rerun continues a stopped one); files of the
    folders given that no decoder opens are named in its ``skipped``; see
    :mod:`mer_zoo.pipeline.predict_many`. Returns its ``StreamSummary``.
    """
    from mer_zoo.pipeline import ExtractJob, RowMaker, gather_audio, stream_predictions

    files, skipped = gather_audio(inputs)
    predictor = load_predictor(run_dir, device=device)
    run = predictor.run
    job = ExtractJob(run.feature_config, (predictor.extractor,), run.frames_per_window)
    maker = RowMaker(
        columns=PREDICTION_COLUMNS[predictor.task],
        outputs=lambda features: _window_outputs(predictor, features[predictor.extractor.name]),
        rows=lambda name, outputs, starts, silent: rows_from_outputs(predictor, name, outputs, starts, silent),
        expected_rows=lambda n: row_count(predictor, n),
    )
    summary = stream_predictions(files, out, job, maker, workers=workers, scheduler=scheduler, progress=progress)
    summary.skipped = skipped
    return summary


@dataclass
class Predictions:
    """The predictions (rows per the run's task), the files that could not be read, and the task and scale."""

    table: pd.DataFrame
    failures: list[tuple[str, str]] = field(default_factory=list)
    task: str = "window"
    scale: str = "[-1, 1]"

    def paths(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each file's ``(valence, arousal)`` path over time (one point for a static run), for ``plot_va``."""
        return {
            Path(name).name: (g["valence"].to_numpy(), g["arousal"].to_numpy())
            for name, g in self.table.groupby("file", sort=False)
        }

    def summary_lines(self) -> list[str]:
        """One line per file for the terminal, and one naming the task, the rows and the scale."""
        lines = []
        for name, g in self.table.groupby("file", sort=False):
            a, v = g["arousal"].mean(), g["valence"].mean()
            if self.task == "static":
                lines.append(
                    f"{name}: arousal {a:.3f}, valence {v:.3f} (mean of {int(g['n_windows'].iloc[0])} windows)"
                )
            elif self.task == "dynamic":
                lines.append(f"{name}: {len(g)} values from {g['time_s'].min():g} to {g['time_s'].max():g} s, "
                             f"mean arousal {a:+.3f}, valence {v:+.3f}")  # fmt: skip
            else:
                lines.append(f"{name}: {len(g)} windows, mean arousal {a:+.3f}, valence {v:+.3f}")
        rows = {"window": "a row per window", "static": "a row per file", "dynamic": "a row per 0.5 s"}[self.task]
        files = self.table["file"].nunique()
        lines.append(f"task {self.task} ({rows}): {len(self.table)} rows, {files} file(s), scale {self.scale}")
        return lines


def predict(
    run_dir: str | os.PathLike[str],
    audio_paths: Sequence[str | os.PathLike[str]],
    *,
    device: str = "auto",
    batch_size: int = 64,
) -> Predictions:
    """Predict every file with the run's ``best.pt``, in the rows the run's task gives.

    A missing file is an InputError before any work; a file that fails to decode (or is
    shorter than one window) is recorded in ``failures`` and the others are still predicted.
    """
    from mer_zoo.training import use_all_cores

    paths = [Path(p) for p in audio_paths]
    if not paths:
        raise InputError("predict needs at least one audio file")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"{missing[0]}: no such audio file" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    predictor = load_predictor(run_dir, device=device, batch_size=batch_size)
    use_all_cores()
    frames: list[pd.DataFrame] = []
    failures: list[tuple[str, str]] = []
    for path in paths:
        try:
            frames.append(predict_file(predictor, path))
        except MerZooError as err:
            failures.append((str(path), str(err)))
    columns = PREDICTION_COLUMNS[predictor.task]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return Predictions(table=table[columns], failures=failures, task=predictor.task, scale=predictor.run.scale)
