"""Starting a run: every check before any work, the split, the normaliser, ``config.json``; its data.

:func:`start_run` refuses a model that cannot take the feature set or serve the task with
one line naming both, before any run directory exists. :func:`open_data` gives a run's
train/val/test windows with the task's labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.runs import Run, open_run, store_record, write_json
from mer_zoo.scales import Scale, parse_scale
from mer_zoo.tasks import (
    TaskLabels,
    check_task,
    get_task,
    read_labels,
    scale_label,
    target_mean,
    task_scale,
    to_model,
    unlabelled_songs,
)
from mer_zoo.training.config import TrainConfig
from mer_zoo.training.console import warn
from mer_zoo.version import __version__

__all__ = ["CheckedRun", "Part", "RunData", "check_run", "new_run_dir", "open_data", "probe_output", "start_run"]


@dataclass
class Part:
    """One part of a run's split: its windows (a FeatureDataset), their labels under the task
    (on the task's scale, for figures) and the same targets on the model's scale (for training)."""

    dataset: Any
    labels: TaskLabels
    model_targets: np.ndarray


@dataclass
class RunData:
    """A run's parts, mean baseline and scale (the task's), and the frames a temporal model predicts (None: one)."""

    train: Part
    val: Part
    test: Part
    train_mean: np.ndarray
    scale: Scale
    n_frames: int | None


def new_run_dir(out: Path, name: str) -> Path:
    """A new ``{name}-{timestamp}`` folder under ``out`` (``-2``, ``-3``... when taken)."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        path = out / (f"{name}-{stamp}" if i == 1 else f"{name}-{stamp}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise MerZooError(f"{out}: could not create a new run directory")


def model_frames(run: Run) -> int | None:
    """The frames per window the run's model predicts: F for a temporal model on the dynamic task, else None."""
    from mer_zoo.models import get_model_info

    if get_task(run.task).labels != "frames" or not get_model_info(run.model_name).spec.temporal:
        return None
    return run.frames_per_window


def open_data(run: Run, store: Path, augment: bool) -> RunData:
    """The run's train/val/test windows of ``store``, normalised, with the task's labels."""
    from mer_zoo.data import FeatureDataset

    task = get_task(run.task)
    split, normalizer = run.split(), run.normalizer()
    read = {"songs": split, "feature_set": run.feature_set, "as_vector": run.as_vector, "normalizer": normalizer,
            "skip_silent": run.skip_silent}  # fmt: skip
    aug = None
    if augment:
        from mer_zoo.augment import Augment

        # SpecAugment-style masks up to a tenth of the window's time and an eighth of its bins.
        bins, frames = FeatureDataset(store, "val", **read).item_shape
        aug = Augment(time_mask=frames // 10, freq_mask=bins // 8)
    scale = parse_scale(run.scale)
    parts = {}
    for name in ("train", "val", "test"):
        ds = FeatureDataset(store, name, augment=aug if name == "train" else None, **read)
        labels = read_labels(task, store, ds.rows)
        parts[name] = Part(ds, labels, to_model(labels.targets, scale))
    return RunData(
        **parts, train_mean=np.asarray(run.train_mean, dtype=np.float64), scale=scale, n_frames=model_frames(run)
    )


def probe_output(
    model: torch.nn.Module, name: str, item_shape: tuple[int, ...], task: str, n_frames: int | None
) -> None:
    """Run two blank windows through ``model``; MerZooError naming both sides unless it gives the task's shape."""
    from mer_zoo.training.batches import forward

    shape = (2, 1, *item_shape) if len(item_shape) == 2 else (2, *item_shape)
    expected = (2, 2) if n_frames is None else (2, n_frames, 2)
    what = "one value per window" if n_frames is None else f"one value per 0.5-s frame ({n_frames} per window)"
    model.eval()
    try:
        with torch.no_grad():
            got = tuple(forward(model, torch.zeros(shape), n_frames).shape)
    except Exception as err:  # a plugin's model: any failure here would have failed mid-epoch
        cause = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MerZooError(
            f"model {name!r} failed on a batch of windows {shape} for task {task!r} ({what}): {cause[:200]}"
        ) from None
    if got != expected:
        raise MerZooError(
            f"model {name!r} outputs {got} for a batch of windows {shape}, but task {task!r} needs {expected} ({what})"
        )


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids))


def _warn_split(split: Any, unlabelled: list[int], store: Path) -> None:
    missing = split.params.get("missing", {}) if split.kind == "file" else {}
    for part, ids in missing.items():
        absent = [i for i in ids if i not in unlabelled]
        dropped = [i for i in ids if i in unlabelled]
        if absent:
            warn(f"split file, {part} part: {len(absent)} song ids not in {store}, left out: {_ids(absent)}")
        if dropped:
            warn(f"split file, {part} part: {len(dropped)} songs without the task's labels, left out: {_ids(dropped)}")


@dataclass
class CheckedRun:
    """What the checks before a run found: the model and its registry entry, the task, the store's
    record, whether the model is fitted rather than trained, and the song ids that take part."""

    info: Any
    task: Any
    features: Path
    store: dict[str, Any]
    model: torch.nn.Module
    fitted: bool
    song_ids: list[int]
    unlabelled: list[int]

    def split(self, config: TrainConfig) -> Any:
        """``config.split`` of the run's songs under ``config.seed`` (a group split reads the store's metadata)."""
        from mer_zoo.splits import parse_split
        from mer_zoo.store import FeatureStore

        with FeatureStore(self.features) as opened:
            metadata = opened.metadata()
        return parse_split(config.split, self.song_ids, seed=config.seed, metadata=metadata)


def check_run(config: TrainConfig) -> CheckedRun:
    """Every check before any work: model, store, set, task, model options, the model's output; the songs.

    The songs are the store's songs with the task's labels, within ``config.songs`` when given
    (an id there that the store lacks, or that has no labels, is an InputError).
    """
    from mer_zoo.models import check_compatible, get_model, get_model_info

    info = get_model_info(config.model)
    task = get_task(config.task)
    features = config.features.resolve()
    store = store_record(features, config.feature_set)
    kind, n_features = store["set"]["kind"], store["set"]["shape"][0]
    check_compatible(info.name, kind, n_features, config.feature_set)
    check_task(task, info.name, info.spec.n_outputs, store)
    as_vector = kind != "vector" and not set(info.spec.inputs) & {"image", "sequence"}
    store["as_vector"] = as_vector
    # Build once up front so a bad model option fails before any data is touched.
    try:
        model = get_model(info.name, n_mels=n_features * (2 if as_vector else 1), **config.model_options)
    except (TypeError, ValueError) as err:
        raise InputError(f"model {info.name!r} rejected its options {config.model_options}: {err}") from None
    fitted = bool(getattr(model, "fitted", False)) or not getattr(model, "trainable", True)
    n_frames = store["frames_per_window"] if task.labels == "frames" and info.spec.temporal else None
    if not fitted:
        item = tuple(store["set"]["shape"])
        probe_output(model, info.name, (2 * item[0],) if as_vector else item, task.name, n_frames)
    unlabelled = unlabelled_songs(task, features)
    song_ids = sorted(set(store.pop("song_ids")) - set(unlabelled))
    if config.songs is not None:
        absent = sorted(set(config.songs) - set(song_ids))
        if absent:
            raise InputError(f"{len(absent)} of the run's songs are not in {features} with {task.name} labels: "
                             f"{_ids(absent[:20])}{' ...' if len(absent) > 20 else ''}")  # fmt: skip
        song_ids, unlabelled = list(config.songs), []
    return CheckedRun(info, task, features, store, model, fitted, song_ids, unlabelled)


def start_run(config: TrainConfig) -> Run:
    """Check everything, split, fit the normaliser, and write the new run's config.json."""
    from mer_zoo.data import FeatureDataset, Normalizer

    checked = check_run(config)
    info, task, features, store, model = checked.info, checked.task, checked.features, checked.store, checked.model
    as_vector, fitted, unlabelled = store["as_vector"], checked.fitted, checked.unlabelled
    if unlabelled:
        warn(f"{len(unlabelled)} songs of {features} have no {task.name} labels and are left out: {_ids(unlabelled)}")
    split = checked.split(config)
    _warn_split(split, unlabelled, features)
    train_songs = FeatureDataset(features, "train", songs=split, feature_set=config.feature_set, as_vector=as_vector,
                                 skip_silent=config.skip_silent)  # fmt: skip
    normalizer = Normalizer.fit(train_songs)
    train_targets = read_labels(task, features, train_songs.rows).targets
    scale = task_scale(task, store["scales"], store["window_labels"])
    run_dir = new_run_dir(config.out, info.name)
    record = {
        "train": config.to_dict(),
        "task": {"name": task.name, "labels": task.labels, "unit": task.unit, "description": task.description,
                 "scale": scale_label(scale)},
        "model": {
            "name": info.name,
            "source": info.source,
            "options": dict(config.model_options),
            "trainable": not fitted,
            "temporal": info.spec.temporal,
            "params": sum(p.numel() for p in model.parameters()),
        },
        "store": store,
        "split": split.to_dict(),
        "normalizer": normalizer.to_dict(),
        "train_mean": target_mean(train_targets).tolist(),
        "scale": scale_label(scale),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {"mer_zoo": __version__, "torch": torch.__version__},
    }  # fmt: skip
    write_json(run_dir / "config.json", record)
    return open_run(run_dir)
