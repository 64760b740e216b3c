"""The epoch loop: Adam on the task's loss, a learning-rate schedule, early stopping, checkpoints, resume.

Losses are on the model's scale (:data:`mer_zoo.tasks.MODEL_SCALE`, [-1, 1]); on DEAM's window
and dynamic tasks that is the labels' own scale.

Early stopping watches the validation loss (the task's loss on the validation windows):
``best.pt`` keeps the weights with the lowest, ``last.pt`` the latest epoch with the
optimiser, scheduler, grad scaler and RNG state, so ``resume`` continues exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from mer_zoo.runs import Run, load_checkpoint, save_checkpoint
from mer_zoo.training.batches import evaluate_model, forward, make_loader, task_loss
from mer_zoo.training.config import TrainConfig
from mer_zoo.training.runtime import autocast, rng_state, set_rng_state
from mer_zoo.training.setup import Part, RunData

__all__ = ["HISTORY_COLUMNS", "part_loader", "train_epochs"]

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "lr", "seconds", "data_seconds"]


def part_loader(
    part: Part, config: TrainConfig, device: torch.device, *, shuffle: bool, generator: torch.Generator | None = None
) -> DataLoader:
    """Batches of one part's windows with the task's targets (training batches shuffled, evaluation batches large)."""
    batch = config.batch_size if shuffle else max(config.batch_size, 128)
    return make_loader(
        part.dataset, batch, shuffle=shuffle, generator=generator, num_workers=config.num_workers,
        pin_memory=device.type == "cuda", targets=part.model_targets,
    )  # fmt: skip


def train_epochs(
    model: torch.nn.Module,
    run: Run,
    config: TrainConfig,
    data: RunData,
    device: torch.device,
    generator: torch.Generator,
    resume_from: Path | None,
    progress: bool,
    console: Any,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> pd.DataFrame:
    """Train ``model`` for the run's epochs (or until early stopping); returns the history.

    ``on_epoch`` observes each epoch's history row once it is written (the trackers' hook).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(optimizer, config)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    n_frames = data.n_frames
    rows: list[dict[str, float]] = []
    epoch, best_val, bad_epochs = 0, float("inf"), 0
    if resume_from is not None:
        state = load_checkpoint(resume_from, device)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], generator)
        epoch, best_val, bad_epochs = int(state["epoch"]), float(state["best_val"]), int(state["bad_epochs"])
        path = run.path / "history.csv"
        if path.exists():
            rows = [r for r in pd.read_csv(path).to_dict("records") if r["epoch"] <= epoch]
        console.print(f"resuming {run.path} after epoch {epoch} (best val loss {best_val:.4f})")
    train_loader = part_loader(data.train, config, device, shuffle=True, generator=generator)
    val_loader = part_loader(data.val, config, device, shuffle=False)
    val_targets = torch.as_tensor(np.asarray(data.val.model_targets), dtype=torch.float32)

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=not progress, transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task("training", total=max(config.epochs - epoch, 0) * len(train_loader))
        patience = int(config.patience or 1)
        while epoch < config.epochs and bad_epochs < patience:
            epoch += 1
            model.train()
            t0 = time.perf_counter()
            data_s, total, seen = 0.0, 0.0, 0
            tick = time.perf_counter()
            for x, y in train_loader:
                data_s += time.perf_counter() - tick
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with autocast(device):
                    loss = task_loss(forward(model, x, n_frames).float(), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total += float(loss.detach()) * len(x)
                seen += len(x)
                bar.update(task, advance=1, description=f"epoch {epoch}/{config.epochs} loss {total / seen:.4f}")
                tick = time.perf_counter()
            train_loss = total / max(seen, 1)
            val_loss = float(
                task_loss(torch.as_tensor(evaluate_model(model, val_loader, device, n_frames)), val_targets)
            )
            lr = optimizer.param_groups[0]["lr"]
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
            else:
                scheduler.step()
            improved = val_loss < best_val
            if improved:
                best_val, bad_epochs = val_loss, 0
                save_checkpoint(run.path / "best.pt", {"model": run.model_name, "epoch": epoch, "val_loss": val_loss,
                                                       "state_dict": model.state_dict()})  # fmt: skip
            else:
                bad_epochs += 1
            seconds = time.perf_counter() - t0
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": lr,
                "seconds": seconds,
                "data_seconds": data_s,
            }
            rows.append(row)
            pd.DataFrame(rows, columns=HISTORY_COLUMNS).to_csv(run.path / "history.csv", index=False)
            save_checkpoint(run.path / "last.pt", {
                "model": run.model_name, "epoch": epoch, "state_dict": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "rng": rng_state(generator), "best_val": best_val, "bad_epochs": bad_epochs,
            })  # fmt: skip
            if on_epoch is not None:
                on_epoch(row)
            console.print(
                f"epoch {epoch:3d}/{config.epochs}  train {train_loss:.4f}  val {val_loss:.4f}  lr {lr:.2g}  "
                f"{seconds:.1f}s{'  *best' if improved else ''}",
                highlight=False,
            )
        if bad_epochs >= patience:
            console.print(f"early stop: no validation improvement in {patience} epochs")
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """The learning rate: constant (``none``, the default), halved on a validation plateau, or cosine to 0."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, int(config.patience or 2) // 2)
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
