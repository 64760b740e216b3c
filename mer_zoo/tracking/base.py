"""A tracked run and its hooks; where runs are tracked; opening the backends.

A :class:`Tracker` is one tracked run, or the root before any run is open. The training loop
never knows which backend listens: ``train`` opens a child run (``with tracker.run(name,
params) as tracked``), calls ``tracked.epoch(row)`` after each epoch and ``tracked.final(...)``
once ``metrics.json`` is written; ``cv`` and ``bench`` open a parent run and train each fold
or job as its child. A backend that fails mid-run (a tracking server gone) is dropped with one
warning, and training goes on: tracking never costs a run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_zoo.errors import Stopped, describe

__all__ = ["DEFAULT_EXPERIMENT", "NO_TRACKING", "Tracker", "TrackingSpec", "open_tracker"]

DEFAULT_EXPERIMENT = "mer-zoo"


@dataclass(frozen=True)
class TrackingSpec:
    """Where runs are tracked: a TensorBoard log folder and/or an MLflow tracking URI (None: not tracked).

    Plain values only, so a spec travels to Dask workers; ``experiment`` is the MLflow experiment
    (``MLFLOW_EXPERIMENT_NAME`` when set, else ``mer-zoo``).
    """

    tensorboard: str | None = None
    mlflow: str | None = None
    experiment: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether any backend is asked for."""
        return bool(self.tensorboard or self.mlflow)

    def absolute(self) -> TrackingSpec:
        """The same places with absolute paths (for processes started in other folders)."""
        from mer_zoo.tracking.mlflow_tracker import tracking_uri

        return TrackingSpec(
            tensorboard=str(Path(self.tensorboard).resolve()) if self.tensorboard else None,
            mlflow=tracking_uri(self.mlflow) if self.mlflow else None,
            experiment=self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME"),
        )


class Tracker:
    """One tracked run (or the root); this base class tracks nothing, the backends override its hooks."""

    label = "tracking"

    def child(self, name: str, params: Mapping[str, str]) -> Tracker:
        """Start a run named ``name`` with ``params``, nested under this one when this is a run."""
        return self

    def epoch(self, row: Mapping[str, float]) -> None:
        """One epoch's ``history.csv`` row (epoch, train_loss, val_loss, lr, seconds, data_seconds)."""

    def final(self, figures: Mapping[str, float], step: int, files: Sequence[Path] = ()) -> None:
        """The run's final figures (at ``step``, its last epoch) and the files to keep with it."""

    def close(self, status: str) -> None:
        """End the run: ``FINISHED``, ``FAILED`` or ``KILLED`` (interrupted or stopped on purpose)."""

    @contextmanager
    def run(self, name: str, params: Mapping[str, str]) -> Iterator[Tracker]:
        """A child run for the ``with`` block, closed with the block's outcome."""
        tracked = self.child(name, params)
        status = "FAILED"
        try:
            yield tracked
            status = "FINISHED"
        except (KeyboardInterrupt, Stopped):
            status = "KILLED"
            raise
        finally:
            tracked.close(status)


NO_TRACKING = Tracker()


class Trackers(Tracker):
    """Several backends as one; a backend whose call fails is dropped with one warning, and the run goes on."""

    def __init__(self, members: Sequence[Tracker]) -> None:
        self.members = list(members)

    def _each(self, call: str, *args: Any) -> list[Any]:
        results, kept = [], []
        for member in self.members:
            try:
                results.append(getattr(member, call)(*args))
                kept.append(member)
            except Exception as err:  # a tracking server gone, a full disk: the training itself goes on
                sys.stderr.write(
                    f"mer-zoo: warning: {member.label} tracking failed ({describe(err)[:300]}); "
                    "the run goes on without it\n"
                )
        self.members = kept
        return results

    def child(self, name: str, params: Mapping[str, str]) -> Tracker:
        return Trackers(self._each("child", name, params))

    def epoch(self, row: Mapping[str, float]) -> None:
        self._each("epoch", row)

    def final(self, figures: Mapping[str, float], step: int, files: Sequence[Path] = ()) -> None:
        self._each("final", figures, step, files)

    def close(self, status: str) -> None:
        self._each("close", status)


def open_tracker(spec: TrackingSpec | None) -> Tracker:
    """The root tracker of ``spec``'s backends (``NO_TRACKING`` when none is asked for).

    Imports each backend's package only here; a missing one, an unwritable folder or a tracking
    URI that does not answer is an InputError before any training starts.
    """
    if spec is None or not spec.enabled:
        return NO_TRACKING
    members: list[Tracker] = []
    if spec.tensorboard:
        from mer_zoo.tracking.tensorboard_tracker import TensorBoardTracker

        members.append(TensorBoardTracker.open(Path(spec.tensorboard)))
    if spec.mlflow:
        from mer_zoo.tracking.mlflow_tracker import MlflowTracker

        experiment = spec.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        members.append(MlflowTracker.open(spec.mlflow, experiment))
    return Trackers(members)
