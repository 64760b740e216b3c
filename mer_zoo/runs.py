"""A run directory on disk: its file names, checkpoints, and rebuilding its model.

Layout (written by :func:`mer_zoo.training.train`)::

    RUN/config.json    every setting (task included), the store's path, feature settings and
                       label scales, the split's song ids, the normaliser, the training-target mean
    RUN/history.csv    epoch, train_loss, val_loss, lr, seconds, data_seconds
    RUN/best.pt        the weights with the lowest validation loss
    RUN/last.pt        the latest epoch plus optimiser, scheduler and RNG state (resume)
    RUN/metrics.json   validation and test figures of best.pt against the mean baseline, in
                       the task's figures and on its scale
    RUN/curves.png     the loss curves

Checkpoints hold only tensors and plain Python values, so they load with
``torch.load(weights_only=True)``: opening one never runs code from the file. Each records a
SHA-256 of its weights, checked on load, so an edited or damaged tensor is caught too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError, MerZooError

if TYPE_CHECKING:  # torch is imported where weights are read or written: a Run itself is plain JSON
    import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "Run",
    "load_checkpoint",
    "open_run",
    "require_same_features",
    "save_checkpoint",
    "state_checksum",
    "store_record",
    "write_json",
]

CHECKPOINT_FORMAT = "mer-zoo-checkpoint"
CHECKPOINT_VERSION = 1


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (a crash never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def state_checksum(state_dict: dict[str, Any]) -> str:
    """SHA-256 over a state dict's names, dtypes, shapes and bytes (detects edited weights)."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        value = state_dict[name]
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (tensors and plain values) with the format tag and a weights checksum, atomically."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    state = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        **payload,
        "checksum": state_checksum(payload["state_dict"]),
    }
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a damaged or foreign file -> MerZooError."""
    import torch

    if not path.is_file():
        raise MerZooError(f"{path}: no such checkpoint")
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # truncated zip, foreign pickle, tampered records: all the same to the user
        cause = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MerZooError(f"{path}: checkpoint is corrupt or not a mer-zoo checkpoint ({cause[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise MerZooError(
            f"{path}: checkpoint is corrupt or not a mer-zoo checkpoint (no format={CHECKPOINT_FORMAT!r})"
        )
    if data.get("format_version") != CHECKPOINT_VERSION:
        raise MerZooError(
            f"{path}: checkpoint format version {data.get('format_version')}, "
            f"this mer-zoo reads version {CHECKPOINT_VERSION}"
        )
    if not isinstance(data.get("state_dict"), dict):
        raise MerZooError(f"{path}: checkpoint is corrupt or not a mer-zoo checkpoint (no state_dict)")
    if data.get("checksum") != state_checksum(data["state_dict"]):
        raise MerZooError(f"{path}: checkpoint is corrupt or not a mer-zoo checkpoint (weights checksum mismatch)")
    return data


@dataclass(frozen=True)
class Run:
    """A finished (or interrupted) training run, read from its ``config.json``."""

    path: Path
    config: dict[str, Any]

    @property
    def model_name(self) -> str:
        """The registry name of the trained model."""
        return str(self.config["model"]["name"])

    @property
    def model_options(self) -> dict[str, Any]:
        """The keyword options the model was built with."""
        return dict(self.config["model"]["options"])

    @property
    def feature_config(self) -> FeatureConfig:
        """The feature settings of the store the run was trained on."""
        return FeatureConfig(**self.config["store"]["feature_config"])

    @property
    def feature_set(self) -> str:
        """The feature set the run was trained on (``mel`` for runs that predate sets)."""
        return str(self.config["store"].get("set", {}).get("name", "mel"))

    @property
    def n_features(self) -> int:
        """The features per frame (or per vector) the model was built for."""
        shape = self.config["store"].get("set", {}).get("shape")
        return int(shape[0]) * (2 if self.as_vector else 1) if shape else self.feature_config.n_mels

    @property
    def as_vector(self) -> bool:
        """Whether a frame-level set is served to the model as per-feature mean and std vectors."""
        return bool(self.config["store"].get("as_vector", False))

    @property
    def task(self) -> str:
        """The task the run was trained for (``window`` for runs that predate tasks)."""
        return str(self.config["train"].get("task", "window"))

    @property
    def skip_silent(self) -> bool:
        """Whether the run left silent windows out (``--skip-silent``; runs that predate the flag kept them)."""
        return bool(self.config["train"].get("skip_silent", False))

    @property
    def scale(self) -> str:
        """The scale of the run's targets and predictions, e.g. ``[-1, 1]``."""
        return str(self.config.get("scale", "[-1, 1]"))

    @property
    def frames_per_window(self) -> int:
        """The 2 Hz label frames in each of the store's windows (the dynamic task's F)."""
        recorded = self.config["store"].get("frames_per_window")
        return int(recorded) if recorded else max(1, round(self.feature_config.clip_s * 2))

    @property
    def store_path(self) -> Path:
        """The store the run was trained on."""
        return Path(self.config["store"]["path"])

    @property
    def train_mean(self) -> list[float]:
        """``[arousal, valence]`` mean of the training targets (the mean baseline)."""
        return [float(v) for v in self.config["train_mean"]]

    def extractor(self) -> Any:
        """The extractor of the run's feature set, with its recorded settings (to featurise new audio)."""
        from mer_zoo.features import get_extractor

        recorded = self.config["store"].get("set")
        if recorded is None:  # a run that predates feature sets: mel with the store's settings
            return get_extractor("mel", **self.feature_config.mel_settings())
        return get_extractor(recorded["extractor"], **recorded["config"])

    def split(self) -> Any:
        """The run's song-level split (a :class:`mer_zoo.splits.SongSplit`)."""
        from mer_zoo.splits import SongSplit

        return SongSplit.from_dict(self.config["split"])

    def normalizer(self) -> Any:
        """The run's per-mel-bin normaliser (a :class:`mer_zoo.normalize.Normalizer`)."""
        from mer_zoo.normalize import Normalizer

        return Normalizer.from_dict(self.config["normalizer"])

    def build_model(self, checkpoint: str = "best.pt", device: str | torch.device = "cpu") -> torch.nn.Module:
        """Rebuild the model from the registry and load ``checkpoint``'s weights (eval mode)."""
        from mer_zoo.models import get_model

        path = self.path / checkpoint
        data = load_checkpoint(path, device)
        model = get_model(self.model_name, n_mels=self.n_features, **self.model_options)
        try:
            model.load_state_dict(data["state_dict"])
        except (RuntimeError, KeyError, TypeError) as err:
            cause = str(err).strip().splitlines()[0]
            raise MerZooError(f"{path}: checkpoint is corrupt or not a mer-zoo checkpoint ({cause[:200]})") from None
        return model.to(device).eval()


def store_record(path: Path, feature_set: str = "mel") -> dict[str, Any]:
    """What a run records of its store: path, dataset, windows, the set it reads, label scales.

    Raises:
        InputError: the store is missing or lacks ``feature_set``; MerZooError if unreadable.
    """
    import dataclasses

    from mer_zoo.store import FeatureStore

    with FeatureStore(path) as store:
        spec = store.set_spec(feature_set)
        return {
            "path": str(Path(path).resolve()),
            "dataset": store.dataset,
            "feature_config": dataclasses.asdict(store.config),
            "set": {"name": spec.name, "kind": spec.kind, "shape": list(spec.shape), **spec.settings()},
            "scales": {labels: str(store.scale(labels)) for labels in ("dynamic", "static")},
            "window_labels": store.window_labels,
            "frames_per_window": int(store.describe()["labels"]["frames_per_window"]),
            "label_rate_hz": float(store.attrs.get("label_rate_hz", 2.0)),
            "song_ids": sorted(int(s) for s in store.songs["song_id"]),
        }


def require_same_features(store: Path, run: Run) -> dict[str, Any]:
    """The store's record; MerZooError naming both sides when its windows or set differ from the run's.

    What shapes the model's input must match (sample rate, window length, the set's settings);
    where the windows sit (``start_s``, ``hop_s``) may differ, as between corpora.
    """
    found = store_record(store, run.feature_set)
    ours = run.config["store"]
    diffs = [
        f"{k} {v} vs {found['feature_config'][k]}"
        for k, v in ours["feature_config"].items()
        if k in ("sample_rate", "clip_s") or (run.feature_set == "mel" and k not in ("start_s", "hop_s"))
        if found["feature_config"].get(k) != v
    ]
    if "set" in ours and {k: ours["set"][k] for k in ("extractor", "version", "config")} != {
        k: found["set"][k] for k in ("extractor", "version", "config")
    }:
        diffs.append(f"set {run.feature_set} {ours['set']['config']} vs {found['set']['config']}")
    if diffs:
        raise MerZooError(
            f"{store}: feature settings differ from run {run.path} (trained on {run.store_path}): {', '.join(diffs)}"
        )
    return found


def open_run(path: str | os.PathLike[str]) -> Run:
    """Open a run directory; a missing folder or ``config.json`` -> InputError."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such run directory")
    cfg = path / "config.json"
    if not cfg.is_file():
        raise InputError(f"{path}: not a mer-zoo run directory (no config.json)")
    try:
        config = json.loads(cfg.read_text())
        _ = config["model"]["name"], config["store"]["feature_config"], config["split"], config["normalizer"]
    except (ValueError, KeyError, TypeError) as err:
        raise MerZooError(f"{cfg}: unreadable run configuration ({err})") from None
    return Run(path=path, config=config)
