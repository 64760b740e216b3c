"""Models that are fitted, not trained: the mean baseline and classical regressors.

A model with ``fitted = True`` (ridge, SVR, boosted trees) gets every training window once,
as normalised vectors ``x (N, D)`` with one target ``y (N, 2)`` per window on the model's
scale ([-1, 1], see :data:`mer_zoo.tasks.MODEL_SCALE`), the task's target mapped onto it:
window means, the song's static label, or the mean of the window's 2 Hz frames, the best
value to hold over them); and each window's song id ``groups (N,)`` for inner
cross-validation by song, through ``model.fit_arrays(x, y, groups)``. A model with
``trainable = False`` (the mean baseline) gets the training-target mean through
``fit_targets``. Either way the fitted state is the model's ``state_dict``, saved as
``best.pt`` and ``last.pt`` like a trained network's, and everything after is shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from mer_zoo.errors import MerZooError
from mer_zoo.runs import Run, save_checkpoint
from mer_zoo.tasks import fit_targets, to_model
from mer_zoo.training.loop import HISTORY_COLUMNS
from mer_zoo.training.setup import RunData

__all__ = ["fit_model", "is_fitted", "read_vectors"]

_READ_BATCH = 256


def is_fitted(model: torch.nn.Module) -> bool:
    """Whether the model is fitted in one call (classical or mean) rather than trained over epochs."""
    return bool(getattr(model, "fitted", False)) or not getattr(model, "trainable", True)


def read_vectors(dataset: Any) -> np.ndarray:
    """Every window of ``dataset``, normalised, as one ``(N, D)`` float32 array."""
    chunks = [
        dataset.read(range(i, min(i + _READ_BATCH, len(dataset))))[0].numpy()
        for i in range(0, len(dataset), _READ_BATCH)
    ]
    x = np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)
    if x.ndim != 2:
        raise MerZooError(
            f"a fitted model needs one vector per window, but set {dataset.feature_set!r} serves windows {x.shape[1:]}"
        )
    return x


def fit_model(model: Any, run: Run, data: RunData, device: torch.device) -> pd.DataFrame:
    """Fit ``model`` on the training part, save ``best.pt`` and ``last.pt``; returns the (empty) history."""
    if getattr(model, "fitted", False):
        x = read_vectors(data.train.dataset)
        y = fit_targets(data.train.model_targets)
        labelled = np.isfinite(y).all(axis=1)
        model.fit_arrays(x[labelled], y[labelled], np.asarray(data.train.dataset.song_ids)[labelled])
    else:
        mean = to_model(data.train_mean.reshape(1, -1), data.scale)
        model.fit_targets(torch.as_tensor(mean, dtype=torch.float32).to(device))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_checkpoint(run.path / "best.pt", {"model": run.model_name, "epoch": 0, "state_dict": state})
    save_checkpoint(run.path / "last.pt", {"model": run.model_name, "epoch": 0, "state_dict": state, "finished": True})
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    history.to_csv(run.path / "history.csv", index=False)
    return history
