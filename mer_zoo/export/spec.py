"""What prediction needs of a trained model, read from a run folder or an export's sidecar.

A :class:`PredictSpec` is a run's prediction half: the window settings, the feature set and
its settings, the normaliser, whether frames are pooled into vectors, the task (what a row
means), the scale of its values, and the frames a temporal model predicts. ``predict`` and
:class:`mer_zoo.predict.Predictor` read only this, so a run folder and an exported model
differ only in how the model is called. Plain JSON and numpy: no torch here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError
from mer_zoo.normalize import Normalizer, pool_frames

__all__ = ["PredictSpec"]


@dataclass(frozen=True)
class PredictSpec:
    """A trained model's prediction settings (see the module docstring).

    Attributes:
        windows: the window and mel settings of the store the model was trained on.
        feature_set: the set's record (``name``, ``extractor``, ``version``, ``config``, ``kind``,
            ``shape``); None for runs that predate feature sets (mel with ``windows``' settings).
        normalizer: the normaliser's statistics (``Normalizer.to_dict``).
        as_vector: frame-level windows pooled into per-feature mean and std vectors.
        task: ``window``, ``static`` or ``dynamic``.
        scale: the scale of the task's values, e.g. ``[-1, 1]`` or ``[1, 9]``.
        frames_per_window: the 2 Hz label frames in a window (the dynamic task's rows per window).
        n_frames: the frames a temporal model predicts per window (dynamic task), else None.
        model: the model's registry ``name`` and ``options``.
        skip_silent: the model was trained without silent windows (a static file's mean leaves them out).
    """

    windows: FeatureConfig
    feature_set: dict[str, Any] | None
    normalizer: dict[str, Any]
    as_vector: bool
    task: str
    scale: str
    frames_per_window: int
    n_frames: int | None
    model: dict[str, Any]
    skip_silent: bool = False

    @classmethod
    def from_run(cls, run: Any) -> PredictSpec:
        """The spec of a :class:`mer_zoo.runs.Run`."""
        from mer_zoo.tasks import get_task

        temporal = run.config["model"].get("temporal")
        if temporal is None:  # a run that predates the record: the model registry knows (and imports torch)
            from mer_zoo.models import get_model_info

            temporal = get_model_info(run.model_name).spec.temporal
        temporal = get_task(run.task).labels == "frames" and bool(temporal)
        return cls(
            windows=run.feature_config,
            feature_set=run.config["store"].get("set"),
            normalizer=dict(run.config["normalizer"]),
            as_vector=run.as_vector,
            task=run.task,
            scale=run.scale,
            frames_per_window=run.frames_per_window,
            n_frames=run.frames_per_window if temporal else None,
            model={"name": run.model_name, "options": run.model_options},
            skip_silent=run.skip_silent,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (``from_dict`` reads them back)."""
        return {**dataclasses.asdict(self), "windows": dataclasses.asdict(self.windows)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> PredictSpec:
        """Rebuild from ``to_dict`` output; InputError naming ``source`` when a field is missing or malformed."""
        try:
            fields = {f.name: data[f.name] for f in dataclasses.fields(cls)
                      if f.name in data or f.default is dataclasses.MISSING}  # fmt: skip
            fields["windows"] = FeatureConfig(**fields["windows"])
            Normalizer.from_dict(fields["normalizer"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{source}: malformed prediction settings ({type(err).__name__}: {err})") from None
        return cls(**fields)

    @property
    def input_shape(self) -> list[int | str]:
        """The model's input per batch: ``[batch, 1, D, frames]`` for frame-level windows, ``[batch, D]`` for vectors."""
        d = len(self.normalizer["mean"])
        frame_level = (self.feature_set or {}).get("kind", "image") != "vector" and not self.as_vector
        return ["batch", 1, d, "frames"] if frame_level else ["batch", d]

    @property
    def output_shape(self) -> list[int | str]:
        """The model's output per batch: ``[batch, 2]``, or ``[batch, F, 2]`` for a temporal model."""
        return ["batch", 2] if self.n_frames is None else ["batch", self.n_frames, 2]

    def extractor(self) -> Any:
        """The feature set's extractor with its recorded settings; InputError when this mer-zoo computes another version."""
        from mer_zoo.features import get_extractor

        if self.feature_set is None:  # a run that predates feature sets: mel with the store's settings
            return get_extractor("mel", **self.windows.mel_settings())
        recorded = self.feature_set
        extractor = get_extractor(recorded["extractor"], **recorded["config"])
        if str(extractor.version) != str(recorded.get("version", extractor.version)):
            raise InputError(
                f"feature set {recorded['name']!r} was computed by {recorded['extractor']} version "
                f"{recorded['version']}, this mer-zoo computes version {extractor.version}: its numbers would differ"
            )
        return extractor

    def model_input(self, features: np.ndarray) -> np.ndarray:
        """Windows ``(n, D, frames)`` (or vectors ``(n, D)``) as the model takes them: pooled, normalised, float32."""
        values = pool_frames(features) if self.as_vector else features
        x = np.ascontiguousarray(Normalizer.from_dict(self.normalizer)(values), dtype=np.float32)
        return x[:, None] if x.ndim == 3 else x
