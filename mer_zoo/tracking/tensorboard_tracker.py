"""The TensorBoard backend: one event folder per run, nested the way cv folds are nested.

Per epoch: ``loss/train``, ``loss/val``, ``lr``, ``time/epoch_seconds``, ``time/data_seconds``;
at the end: ``val/*`` and ``test/*`` figures (``test/mse``, ``test/arousal.ccc``...) and
``run/best_epoch``, ``run/train_seconds`` at the last epoch; the run's parameters as a text
table (``config``). Writes through torch's SummaryWriter,
which needs the ``tensorboard`` package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError
from mer_zoo.tracking.base import Tracker
from mer_zoo.tracking.figures import EPOCH_METRICS

__all__ = ["TensorBoardTracker", "params_markdown", "tag"]


def tag(name: str) -> str:
    """A final figure's TensorBoard tag: its part is the group (``test.arousal.ccc`` -> ``test/arousal.ccc``),
    figures of the whole run go in ``run/`` (``run/best_epoch``)."""
    return name.replace(".", "/", 1) if name.split(".", 1)[0] in ("val", "test", "std") else f"run/{name}"


def params_markdown(params: Mapping[str, str]) -> str:
    """A run's parameters as a Markdown table (TensorBoard's text tab renders it)."""
    rows = [f"| {key} | {str(value).replace('|', '/')} |" for key, value in sorted(params.items())]
    return "\n".join(["| parameter | value |", "|---|---|", *rows])


class TensorBoardTracker(Tracker):
    """The root (a log folder) or one run's event folder inside it."""

    label = "TensorBoard"

    def __init__(self, log_dir: Path, writer: Any = None) -> None:
        self.log_dir, self.writer = log_dir, writer

    @classmethod
    def open(cls, folder: Path) -> TensorBoardTracker:
        """A root at ``folder`` (created); InputError when TensorBoard is missing or the folder is a file."""
        try:
            import torch.utils.tensorboard  # noqa: F401  (raises ImportError without the tensorboard package)
        except ImportError:
            raise InputError('--tensorboard needs TensorBoard: pip install "mer-zoo[tracking]"') from None
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--tensorboard {folder}: not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder)

    def child(self, name: str, params: Mapping[str, str]) -> Tracker:
        from torch.utils.tensorboard import SummaryWriter

        path = self.log_dir / name
        writer = SummaryWriter(log_dir=str(path))
        writer.add_text("config", params_markdown(params), 0)
        return TensorBoardTracker(path, writer)

    def epoch(self, row: Mapping[str, float]) -> None:
        step = int(row["epoch"])
        for column, (_, name) in EPOCH_METRICS.items():
            if column in row:
                self.writer.add_scalar(name, float(row[column]), step)
        self.writer.flush()  # a run is watched while it trains

    def final(self, figures: Mapping[str, float], step: int, files: Sequence[Path] = ()) -> None:
        for name, value in figures.items():
            self.writer.add_scalar(tag(name), float(value), step)
        self.writer.flush()

    def close(self, status: str) -> None:
        if self.writer is not None:
            if status != "FINISHED":
                self.writer.add_text("status", status, 0)
            self.writer.close()
