"""Tracking: observers of the training loop that mirror runs into TensorBoard and MLflow.

- :mod:`~mer_zoo.tracking.base`: ``TrackingSpec`` (where to track), ``Tracker`` (one tracked run,
  its hooks and nested runs) and ``open_tracker``;
- :mod:`~mer_zoo.tracking.figures`: what is logged, as pure functions of ``config.json``,
  ``history.csv`` rows and ``metrics.json``;
- :mod:`~mer_zoo.tracking.tensorboard_tracker`, :mod:`~mer_zoo.tracking.mlflow_tracker`: the two
  backends, each importing its package only when asked for.
"""

from __future__ import annotations

from mer_zoo.tracking.base import NO_TRACKING, Tracker, TrackingSpec, open_tracker
from mer_zoo.tracking.figures import ARTIFACTS, cv_figures, epoch_metrics, final_figures, flat_params

__all__ = [
    "ARTIFACTS",
    "NO_TRACKING",
    "Tracker",
    "TrackingSpec",
    "cv_figures",
    "epoch_metrics",
    "final_figures",
    "flat_params",
    "open_tracker",
]
