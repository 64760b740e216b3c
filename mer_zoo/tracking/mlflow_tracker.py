"""The MLflow backend: params, metrics per epoch and final, artifacts; a cv's folds as nested runs.

Speaks to any tracking URI through ``MlflowClient`` (no global active run, so trials running
side by side never share state). A plain folder (``./mlruns``) is a local file store: MLflow
keeps that backend in maintenance mode from 3.13 on and asks for ``MLFLOW_ALLOW_FILE_STORE``,
which is set for this process when the user names one; ``sqlite:///mlflow.db`` is MLflow's
recommended local store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError, describe
from mer_zoo.tracking.base import Tracker
from mer_zoo.tracking.figures import epoch_metrics

__all__ = ["MlflowTracker", "tracking_uri"]

_BATCH = 100  # MlflowClient.log_batch takes at most 100 params (and 1000 metrics) per call


def tracking_uri(text: str) -> str:
    """``text`` as a tracking URI: a plain path as a ``file:`` URI, a relative ``file:`` or ``sqlite:///``
    path made absolute, any other URI (``sqlite:////abs``, ``http:``...) as given."""
    text = text.strip()
    for prefix in ("sqlite:///", "file:"):
        rest = text[len(prefix) :]
        if text.startswith(prefix) and rest and not rest.startswith("/") and rest != ":memory:":
            path = Path(rest).expanduser().resolve()
            return path.as_uri() if prefix == "file:" else f"{prefix}{path}"
    if ":" in text and not Path(text).drive:
        return text
    return Path(text).expanduser().resolve().as_uri()


class MlflowTracker(Tracker):
    """The root (an experiment of a tracking server) or one MLflow run under it."""

    label = "MLflow"

    def __init__(self, client: Any, experiment_id: str, run_id: str | None = None) -> None:
        self.client, self.experiment_id, self.run_id = client, experiment_id, run_id

    @classmethod
    def open(cls, uri: str, experiment: str) -> MlflowTracker:
        """The experiment ``experiment`` at ``uri`` (created when new); InputError when it cannot be reached."""
        uri = tracking_uri(uri)
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise InputError('--mlflow needs MLflow: pip install "mer-zoo[tracking]"') from None
        try:
            client = MlflowClient(tracking_uri=uri)
            return cls(client, _experiment_id(client, experiment))
        except Exception as err:  # MlflowException, an unreachable server, a bad URI: all one line
            raise InputError(f"--mlflow {uri}: {describe(err)[:300]}") from None

    def child(self, name: str, params: Mapping[str, str]) -> Tracker:
        from mlflow.entities import Param

        tags = {"mlflow.parentRunId": self.run_id} if self.run_id else {}
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(run_id, params=items[i : i + _BATCH])
        return MlflowTracker(self.client, self.experiment_id, run_id)

    def epoch(self, row: Mapping[str, float]) -> None:
        self._log(epoch_metrics(row), int(row["epoch"]))

    def final(self, figures: Mapping[str, float], step: int, files: Sequence[Path] = ()) -> None:
        self._log(figures, step)
        for path in files:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status)

    def _log(self, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(k, float(v), stamp, step) for k, v in values.items()]
        for i in range(0, len(metrics), _BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + _BATCH])


def _experiment_id(client: Any, name: str) -> str:
    """The id of experiment ``name``, created (or restored from the bin) when needed; safe when two processes race."""
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return str(client.create_experiment(name))
        except Exception:  # another process created it first
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        client.restore_experiment(found.experiment_id)
    return str(found.experiment_id)
