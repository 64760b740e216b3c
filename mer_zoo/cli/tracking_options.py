"""The tracking options of train, cv, bench and tune, and the tracker they ask for (off by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["MLFLOW", "TENSORBOARD", "spec", "tracker"]

TENSORBOARD = typer.Option(
    None,
    "--tensorboard",
    help="Also log to TensorBoard event files under this folder: losses, lr and data seconds per epoch, "
    "final val/test figures, the config (view: tensorboard --logdir DIR).",
)
MLFLOW = typer.Option(
    None,
    "--mlflow",
    help="Also log to MLflow at this tracking URI: params, metrics per epoch and final, metrics.json, curves.png, "
    "best.pt. A folder (./mlruns) is a local file store; or sqlite:///mlflow.db, http://HOST:5000.",
)


def spec(tensorboard: Path | None, mlflow: str | None) -> Any:
    """The options as a ``TrackingSpec`` (plain values: it travels to Dask workers)."""
    from mer_zoo.tracking import TrackingSpec

    return TrackingSpec(tensorboard=None if tensorboard is None else str(tensorboard), mlflow=mlflow)


def tracker(tensorboard: Path | None, mlflow: str | None) -> Any:
    """The root tracker the options ask for (nothing tracked without them); checked before any work."""
    from mer_zoo.tracking import open_tracker

    return open_tracker(spec(tensorboard, mlflow))
