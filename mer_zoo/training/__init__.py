"""Training: one model on one store, split and task into a run directory; k-fold cross-validation.

- :mod:`~mer_zoo.training.config`: ``TrainConfig``, every setting of a run;
- :mod:`~mer_zoo.training.setup`: the checks before any work, the split, ``config.json``, the data;
- :mod:`~mer_zoo.training.loop`: the epoch loop (early stopping, schedule, checkpoints, resume);
- :mod:`~mer_zoo.training.fit`: models fitted in one call (mean baseline, classical regressors);
- :mod:`~mer_zoo.training.runner`: ``train``, ``resume`` and scoring into ``metrics.json``;
- :mod:`~mer_zoo.training.cv`: ``cross_validate``, one run per fold and ``cv.json``;
- :mod:`~mer_zoo.training.batches`, :mod:`~mer_zoo.training.runtime`, :mod:`~mer_zoo.training.console`:
  loaders and losses, device and RNG state, what a run prints.
"""

from __future__ import annotations

from mer_zoo.training.batches import evaluate_model, make_loader
from mer_zoo.training.config import SCHEDULES, TrainConfig
from mer_zoo.training.console import make_console, summary_table
from mer_zoo.training.cv import cross_validate
from mer_zoo.training.runner import resume, train
from mer_zoo.training.runtime import resolve_device, use_all_cores
from mer_zoo.training.setup import check_run

__all__ = [
    "SCHEDULES",
    "TrainConfig",
    "check_run",
    "cross_validate",
    "evaluate_model",
    "make_console",
    "make_loader",
    "resolve_device",
    "resume",
    "summary_table",
    "train",
    "use_all_cores",
]
