"""Every setting of a training run, recorded in the run's ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError
from mer_zoo.tasks import get_task

__all__ = ["MIN_PATIENCE", "SCHEDULES", "TrainConfig", "default_patience"]

SCHEDULES = ("none", "plateau", "cosine")
MIN_PATIENCE = 10


def default_patience(epochs: int) -> int:
    """Early-stopping patience when none is given: half of ``epochs``, at least 10.

    The validation loss of a few dozen songs jumps by 20% from epoch to epoch, so a short
    patience stops on noise (``benchmarks/bench_defaults.py`` measured what that costs).
    """
    return max(MIN_PATIENCE, epochs // 2)


@dataclass
class TrainConfig:
    """Every setting of a training run (recorded in the run's ``config.json``)."""

    model: str
    features: Path = Path("features.h5")
    out: Path = Path("runs")
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    split: str = "random"
    patience: int | None = None  # None: default_patience(epochs), resolved and recorded at construction
    schedule: str = "none"
    num_workers: int = 0
    augment: bool = False
    feature_set: str = "mel"
    task: str = "window"
    skip_silent: bool = True  # leave out windows flagged silent in the store
    model_options: dict[str, Any] = field(default_factory=dict)
    songs: list[int] | None = None  # only these songs of the store take part (a tuning study's); None: all

    def __post_init__(self) -> None:
        self.features = Path(self.features)
        self.out = Path(self.out)
        if self.songs is not None:
            self.songs = sorted({int(s) for s in self.songs})
        self.task = get_task(self.task).name
        if self.patience is None:
            self.patience = default_patience(self.epochs)
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.num_workers < 0:
            raise InputError("need --lr > 0, --weight-decay >= 0 and --workers >= 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        d = dataclasses.asdict(self)
        d["features"], d["out"] = str(self.features), str(self.out)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (runs that predate tasks are ``window`` runs; those that
        predate silence flags kept every window)."""
        return cls(**{"skip_silent": False, **d})
