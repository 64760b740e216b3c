"""Arousal and valence per window for any audio file, with a trained run's settings.

Windows start at 0 s and advance by the run's ``hop_s``, each ``clip_s`` long, over the
whole file at any sample rate or channel count; the spectrograms are made with the run's
recorded feature settings and normalised with the run's normaliser.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.runs import open_run

__all__ = ["PREDICTION_COLUMNS", "Predictions", "predict"]

PREDICTION_COLUMNS = ["file", "window", "start_s", "end_s", "arousal", "valence"]


@dataclass
class Predictions:
    """Per-window predictions, and the files that could not be read (path, one-line reason)."""

    table: pd.DataFrame
    failures: list[tuple[str, str]] = field(default_factory=list)

    def paths(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each file's ``(valence, arousal)`` path over its windows, for :func:`mer_zoo.plots.plot_va`."""
        return {
            Path(name).name: (g["valence"].to_numpy(), g["arousal"].to_numpy())
            for name, g in self.table.groupby("file", sort=False)
        }


def predict(
    run_dir: str | os.PathLike[str],
    audio_paths: Sequence[str | os.PathLike[str]],
    *,
    device: str = "auto",
    batch_size: int = 64,
) -> Predictions:
    """Predict every window of every file with the run's ``best.pt``.

    A missing file is an InputError before any work; a file that fails to decode (or is
    shorter than one window) is recorded in ``failures`` and the others are still predicted.
    """
    import torch

    from mer_zoo.data import pool_frames
    from mer_zoo.features.extract import extract_file
    from mer_zoo.train import resolve_device, use_all_cores

    paths = [Path(p) for p in audio_paths]
    if not paths:
        raise InputError("predict needs at least one audio file")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"{missing[0]}: no such audio file" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    run = open_run(run_dir)
    config = run.feature_config
    dev = resolve_device(device)
    use_all_cores()
    model = run.build_model("best.pt", dev)
    normalizer = run.normalizer()
    extractor = run.extractor()
    frames: list[pd.DataFrame] = []
    failures: list[tuple[str, str]] = []
    for path in paths:
        try:
            features, starts = extract_file(path, config, [extractor])
        except MerZooError as err:
            failures.append((str(path), str(err)))
            continue
        values = features[extractor.name]
        values = pool_frames(values) if run.as_vector else values
        x = torch.from_numpy(np.ascontiguousarray(normalizer(values), dtype=np.float32))
        x = x.unsqueeze(1) if x.ndim == 3 else x
        with torch.no_grad():
            out = torch.cat([model(x[i : i + batch_size].to(dev)).float().cpu() for i in range(0, len(x), batch_size)])
        starts = np.asarray(starts, dtype=np.float64)
        frames.append(pd.DataFrame({
            "file": str(path),
            "window": np.arange(len(starts)),
            "start_s": starts,
            "end_s": starts + config.clip_s,
            "arousal": out[:, 0].numpy(),
            "valence": out[:, 1].numpy(),
        }))  # fmt: skip
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PREDICTION_COLUMNS)
    return Predictions(table=table[PREDICTION_COLUMNS], failures=failures)
