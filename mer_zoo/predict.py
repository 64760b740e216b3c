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

The model comes from a run folder or from an export of one (``mer-zoo export``): both carry
the same prediction settings (:class:`mer_zoo.export.PredictSpec`), and only the model call
differs (torch, or onnxruntime for an ``.onnx`` file, without importing torch).
:class:`Predictor` loads one once (the Python API); :func:`predict_file` is the per-file core.
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
from mer_zoo.scales import parse_scale
from mer_zoo.tasks import from_model, hold

__all__ = [
    "PREDICTION_COLUMNS",
    "Predictions",
    "Predictor",
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


class Predictor:
    """A trained model ready to predict: a run folder (torch) or an exported ``.onnx`` or TorchScript ``.pt`` file.

    Example::

        p = Predictor("runs/crnn-20250101-120000")   # or Predictor("crnn.onnx")
        p.predict("song.mp3")                       # a DataFrame of the task's rows
        p.predict(samples, sr=22050)                # a mono or multichannel array
        p.task, p.scale                             # e.g. "window", "[-1, 1]"

    An ``.onnx`` file runs with onnxruntime: torch is not imported.
    """

    def __init__(self, source: str | os.PathLike[str], *, device: str = "auto", batch_size: int = 64) -> None:
        from mer_zoo.export import open_model

        self.source = Path(source)
        self.spec, self.model = open_model(source, device=device, batch_size=batch_size)
        self.extractor = self.spec.extractor()

    @property
    def task(self) -> str:
        """The task the model was trained for: what one row of its predictions is."""
        return self.spec.task

    @property
    def scale(self) -> str:
        """The scale of the predicted values, e.g. ``[-1, 1]`` (DEAM's dynamic labels) or ``[1, 9]`` (static)."""
        return self.spec.scale

    def predict(
        self, audio: str | os.PathLike[str] | np.ndarray, sr: int | None = None, *, name: str = "array"
    ) -> pd.DataFrame:
        """The task's rows for an audio file, or for samples at ``sr`` Hz (``(n,)``, or ``(n, channels)`` / ``(channels, n)``).

        Raises:
            MerZooError: the file cannot be decoded, or the audio is shorter than one window.
            InputError: samples without ``sr``.
        """
        if not isinstance(audio, np.ndarray):
            return predict_file(self, audio)
        if sr is None:
            raise InputError("Predictor.predict: samples need their sample rate, e.g. predict(y, sr=22050)")
        from mer_zoo.audio import to_mono
        from mer_zoo.pipeline import extract_samples

        y = to_mono(audio, sr, self.spec.windows.sample_rate)
        block = extract_samples(y, self.spec.windows, [self.extractor], name)
        return rows_of(self, name, block.features, block.starts, block.silent)


def _window_outputs(predictor: Predictor, features: np.ndarray) -> np.ndarray:
    """One file's model outputs on the run's scale: ``(n, 2)``, or ``(n, F, 2)`` (temporal model, dynamic task)."""
    spec = predictor.spec
    return from_model(predictor.model(spec.model_input(features)), parse_scale(spec.scale))


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
    spec = predictor.spec
    starts = spec.windows.hop_s * np.arange(n_windows, dtype=np.float64)
    return len(np.unique(_frame_times(starts, spec.windows.clip_s, spec.frames_per_window)))


def predict_file(predictor: Predictor, path: str | os.PathLike[str]) -> pd.DataFrame:
    """One file's predictions in the run's task's rows; MerZooError when it cannot be decoded or is too short.

    The file is decoded a block of windows at a time and the model runs on each block.
    """
    from mer_zoo.pipeline import file_blocks

    outputs, starts, silent = [], [], []
    for block in file_blocks(Path(path), predictor.spec.windows, [predictor.extractor]):
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
    spec = predictor.spec
    clip_s = spec.windows.clip_s
    starts = np.asarray(starts, dtype=np.float64)
    silent = np.zeros(len(starts), dtype=bool) if silent is None else np.asarray(silent, dtype=bool)
    n = len(starts)
    if spec.task == "dynamic":
        return _frames_table(name, starts, outputs, silent, clip_s, spec.frames_per_window)
    if spec.task == "static":
        heard = ~silent if spec.skip_silent and not silent.all() else np.ones(n, dtype=bool)
        mean = outputs.reshape(n, 2)[heard].mean(axis=0)
        return pd.DataFrame({"file": [name], "n_windows": [n], "arousal": [mean[0]], "valence": [mean[1]],
                             "silent": [bool(silent.all())]})  # fmt: skip
    return pd.DataFrame({
        "file": name, "window": np.arange(n), "start_s": starts, "end_s": starts + clip_s,
        "arousal": outputs[:, 0], "valence": outputs[:, 1], "silent": silent, "n_windows": n,
    })  # fmt: skip


def stream(
    source: str | os.PathLike[str],
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
    predictor = Predictor(source, device=device)
    spec = predictor.spec
    job = ExtractJob(spec.windows, (predictor.extractor,), spec.frames_per_window)
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
    source: str | os.PathLike[str],
    audio_paths: Sequence[str | os.PathLike[str]],
    *,
    device: str = "auto",
    batch_size: int = 64,
) -> Predictions:
    """Predict every file with a run's ``best.pt`` or an exported model, in the rows the run's task gives.

    A missing file is an InputError before any work; a file that fails to decode (or is
    shorter than one window) is recorded in ``failures`` and the others are still predicted.
    """
    paths = [Path(p) for p in audio_paths]
    if not paths:
        raise InputError("predict needs at least one audio file")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"{missing[0]}: no such audio file" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    predictor = Predictor(source, device=device, batch_size=batch_size)
    predictor.model.use_all_cores()
    frames: list[pd.DataFrame] = []
    failures: list[tuple[str, str]] = []
    for path in paths:
        try:
            frames.append(predict_file(predictor, path))
        except MerZooError as err:
            failures.append((str(path), str(err)))
    columns = PREDICTION_COLUMNS[predictor.task]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return Predictions(table=table[columns], failures=failures, task=predictor.task, scale=predictor.scale)
