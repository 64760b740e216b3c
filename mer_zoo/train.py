"""The training loop: one model on one store's song-level split, into a run directory.

``train(TrainConfig(model="cnn_small"))`` fits the normaliser on the training songs, trains
with Adam on MSE (early stopping on validation loss, a learning-rate schedule, mixed
precision on CUDA), keeps ``best.pt`` and ``last.pt``, then scores ``best.pt`` on the
validation and test songs against the mean baseline (``metrics.json``). ``resume(RUN)``
continues an interrupted run from ``last.pt``. The layout is in :mod:`mer_zoo.runs`.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from mer_zoo import __version__
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.metrics import SCALE, metrics_block
from mer_zoo.runs import Run, load_checkpoint, open_run, require_same_features, save_checkpoint, store_record, write_json

__all__ = [
    "SCHEDULES",
    "TrainConfig",
    "evaluate_model",
    "make_loader",
    "make_console",
    "resolve_device",
    "resume",
    "summary_table",
    "train",
    "use_all_cores",
]

SCHEDULES = ("plateau", "cosine")
HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "lr", "seconds", "data_seconds"]


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
    patience: int = 5
    schedule: str = "plateau"
    num_workers: int = 0
    augment: bool = False
    feature_set: str = "mel"
    model_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = Path(self.features)
        self.out = Path(self.out)
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
        """Rebuild from :meth:`to_dict` output."""
        return cls(**d)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU -> InputError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    return torch.device(name)


def use_all_cores() -> int:
    """Let torch use every core this process may run on; returns the thread count."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


@contextmanager
def _determinism(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on CPU (restored afterwards); CUDA keeps its fast kernels."""
    if device.type != "cpu":
        yield
        return
    before, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Batches(torch.utils.data.Dataset):
    """Serves whole batches: ``FeatureDataset.read`` fills one array per batch.

    The default per-item collate copies every window a second time with ``torch.stack``, a
    parallel region that stalls when the cores are busy; reading straight into the batch
    array skips both. Augmentation, when on, is applied per window as before.
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.dataset.read(indices)
        augment = self.dataset.augment
        if augment is not None:
            x = torch.stack([augment(window) for window in x])
        return x, y


def make_loader(
    dataset: Any,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches of ``(mel (B, 1, n_mels, T), target (B, 2))`` from a FeatureDataset, read batch-wise.

    Shuffling draws from ``generator``, exactly as ``DataLoader(shuffle=True)`` would.
    """
    sampler: torch.utils.data.Sampler[int]
    if shuffle:
        sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
    else:
        sampler = torch.utils.data.SequentialSampler(dataset)
    # BatchNorm cannot train on a final batch of one window.
    drop_last = shuffle and len(dataset) % batch_size == 1
    return DataLoader(
        _Batches(dataset),
        sampler=torch.utils.data.BatchSampler(sampler, batch_size, drop_last),
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=generator,
        pin_memory=pin_memory,
    )


def _loader(dataset: Any, config: TrainConfig, device: torch.device, *, shuffle: bool, generator: torch.Generator | None = None) -> DataLoader:
    batch = config.batch_size if shuffle else max(config.batch_size, 128)
    return make_loader(
        dataset, batch, shuffle=shuffle, generator=generator, num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )  # fmt: skip


def _autocast(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext()


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> np.ndarray:
    """Predictions ``(n, 2)`` of ``model`` over ``loader`` (in the loader's order)."""
    model.eval()
    out = []
    for x, _ in loader:
        with _autocast(device):
            out.append(model(x.to(device, non_blocking=True)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 2), dtype=np.float32)


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "loader": generator.get_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _new_run_dir(out: Path, model: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        path = out / (f"{model}-{stamp}" if i == 1 else f"{model}-{stamp}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise MerZooError(f"{out}: could not create a new run directory")


@dataclass
class _Data:
    train: Any
    val: Any
    test: Any
    train_mean: np.ndarray


def _datasets(run: Run, store: Path, augment: bool) -> _Data:
    from mer_zoo.data import FeatureDataset

    split, normalizer = run.split(), run.normalizer()
    read = {"songs": split, "feature_set": run.feature_set, "as_vector": run.as_vector, "normalizer": normalizer}
    aug = None
    if augment:
        from mer_zoo.augment import Augment

        # SpecAugment-style masks up to a tenth of the window's time and an eighth of its bins.
        bins, frames = FeatureDataset(store, "val", **read).item_shape
        aug = Augment(time_mask=frames // 10, freq_mask=bins // 8)
    train_ds = FeatureDataset(store, "train", augment=aug, **read)
    val_ds = FeatureDataset(store, "val", **read)
    test_ds = FeatureDataset(store, "test", **read)
    return _Data(train_ds, val_ds, test_ds, np.asarray(train_ds.targets, dtype=np.float64).mean(axis=0))


def _start(config: TrainConfig) -> Run:
    """Check everything, split, fit the normaliser, and write the new run's config.json."""
    from mer_zoo.data import FeatureDataset, Normalizer
    from mer_zoo.models import check_compatible, get_model, get_model_info
    from mer_zoo.splits import parse_split

    info = get_model_info(config.model)
    features = config.features.resolve()
    store = store_record(features, config.feature_set)
    kind, n_features = store["set"]["kind"], store["set"]["shape"][0]
    check_compatible(info.name, kind, n_features, config.feature_set)
    as_vector = kind != "vector" and not set(info.spec.inputs) & {"image", "sequence"}
    store["as_vector"] = as_vector
    # Build once up front so a bad model option fails before any data is touched.
    try:
        model = get_model(info.name, n_mels=n_features * (2 if as_vector else 1), **config.model_options)
    except (TypeError, ValueError) as err:
        raise InputError(f"model {info.name!r} rejected its options {config.model_options}: {err}") from None
    split = parse_split(config.split, store.pop("song_ids"), seed=config.seed)
    train_songs = FeatureDataset(features, "train", songs=split, feature_set=config.feature_set, as_vector=as_vector)
    normalizer = Normalizer.fit(train_songs)
    train_targets = train_songs.targets
    run_dir = _new_run_dir(config.out, info.name)
    record = {
        "train": config.to_dict(),
        "model": {
            "name": info.name,
            "source": info.source,
            "options": dict(config.model_options),
            "trainable": bool(getattr(model, "trainable", True)),
            "params": sum(p.numel() for p in model.parameters()),
        },
        "store": store,
        "split": split.to_dict(),
        "normalizer": normalizer.to_dict(),
        "train_mean": np.asarray(train_targets, dtype=np.float64).mean(axis=0).tolist(),
        "scale": SCALE,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {"mer_zoo": __version__, "torch": torch.__version__},
    }
    write_json(run_dir / "config.json", record)
    return open_run(run_dir)


def train(config: TrainConfig, *, progress: bool = True, console: Any = None) -> Path:
    """Train ``config.model`` into a new run directory under ``config.out`` and return it."""
    run = _start(config)
    return _fit(run, config, resume_from=None, progress=progress, console=console)


def resume(run_dir: str | os.PathLike[str], *, epochs: int | None = None, progress: bool = True, console: Any = None) -> Path:
    """Continue an interrupted run from its ``last.pt`` up to its (or the given) epoch count."""
    run = open_run(run_dir)
    config = TrainConfig.from_dict(run.config["train"])
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
        record = dict(run.config, train=config.to_dict())
        write_json(run.path / "config.json", record)
        run = open_run(run.path)
    last = run.path / "last.pt"
    return _fit(run, config, resume_from=last if last.exists() else None, progress=progress, console=console)


def _fit(run: Run, config: TrainConfig, *, resume_from: Path | None, progress: bool, console: Any) -> Path:
    console = console or make_console()
    use_all_cores()
    device = resolve_device(config.device)
    store = run.store_path
    require_same_features(store, run)
    data = _datasets(run, store, config.augment)
    _seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    from mer_zoo.models import get_model

    model = get_model(run.model_name, n_mels=run.n_features, **run.model_options).to(device)
    history = pd.DataFrame(columns=HISTORY_COLUMNS)
    start = time.perf_counter()
    with _determinism(device):
        if getattr(model, "trainable", True):
            try:
                history = _train_epochs(model, run, config, data, device, generator, resume_from, progress, console)
            except KeyboardInterrupt:
                console.print(f"interrupted: continue with `mer-zoo train --resume {run.path}`")
                raise
        else:
            model.fit_targets(torch.as_tensor(np.asarray(data.train.targets), dtype=torch.float32).to(device))
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            save_checkpoint(run.path / "best.pt", {"model": run.model_name, "epoch": 0, "state_dict": state})
            save_checkpoint(run.path / "last.pt", {"model": run.model_name, "epoch": 0, "state_dict": state, "finished": True})
            history.to_csv(run.path / "history.csv", index=False)
        fit_seconds = time.perf_counter() - start
        metrics = _score(run, config, data, device, history, fit_seconds)
    write_json(run.path / "metrics.json", metrics)
    from mer_zoo.plots import plot_curves

    plot_curves(history, run.path / "curves.png", title=f"{run.model_name}: {run.path.name}")
    console.print(summary_table(metrics))
    return run.path


def _train_epochs(
    model: torch.nn.Module,
    run: Run,
    config: TrainConfig,
    data: _Data,
    device: torch.device,
    generator: torch.Generator,
    resume_from: Path | None,
    progress: bool,
    console: Any,
) -> pd.DataFrame:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "cosine":
        scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    else:
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, config.patience // 2))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    loss_fn = torch.nn.MSELoss()
    rows: list[dict[str, float]] = []
    epoch, best_val, bad_epochs = 0, float("inf"), 0
    if resume_from is not None:
        state = load_checkpoint(resume_from, device)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], generator)
        epoch, best_val, bad_epochs = int(state["epoch"]), float(state["best_val"]), int(state["bad_epochs"])
        path = run.path / "history.csv"
        if path.exists():
            rows = [r for r in pd.read_csv(path).to_dict("records") if r["epoch"] <= epoch]
        console.print(f"resuming {run.path} after epoch {epoch} (best val loss {best_val:.4f})")
    train_loader = _loader(data.train, config, device, shuffle=True, generator=generator)
    val_loader = _loader(data.val, config, device, shuffle=False)
    val_targets = torch.as_tensor(np.asarray(data.val.targets), dtype=torch.float32)

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=not progress, transient=True,
    )
    with bar:
        task = bar.add_task("training", total=max(config.epochs - epoch, 0) * len(train_loader))
        while epoch < config.epochs and bad_epochs < config.patience:
            epoch += 1
            model.train()
            t0 = time.perf_counter()
            data_s, total, seen = 0.0, 0.0, 0
            tick = time.perf_counter()
            for x, y in train_loader:
                data_s += time.perf_counter() - tick
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with _autocast(device):
                    loss = loss_fn(model(x).float(), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                total += float(loss.detach()) * len(x)
                seen += len(x)
                bar.update(task, advance=1, description=f"epoch {epoch}/{config.epochs} loss {total / seen:.4f}")
                tick = time.perf_counter()
            train_loss = total / max(seen, 1)
            val_loss = float(loss_fn(torch.as_tensor(evaluate_model(model, val_loader, device)), val_targets))
            lr = optimizer.param_groups[0]["lr"]
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_loss)
            else:
                scheduler.step()
            improved = val_loss < best_val
            if improved:
                best_val, bad_epochs = val_loss, 0
                save_checkpoint(run.path / "best.pt", {"model": run.model_name, "epoch": epoch, "val_loss": val_loss,
                                                       "state_dict": model.state_dict()})
            else:
                bad_epochs += 1
            seconds = time.perf_counter() - t0
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr, "seconds": seconds, "data_seconds": data_s}
            rows.append(row)
            pd.DataFrame(rows, columns=HISTORY_COLUMNS).to_csv(run.path / "history.csv", index=False)
            save_checkpoint(run.path / "last.pt", {
                "model": run.model_name, "epoch": epoch, "state_dict": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "rng": _rng_state(generator), "best_val": best_val, "bad_epochs": bad_epochs,
            })
            console.print(
                f"epoch {epoch:3d}/{config.epochs}  train {train_loss:.4f}  val {val_loss:.4f}  lr {lr:.2g}  "
                f"{seconds:.1f}s{'  *best' if improved else ''}",
                highlight=False,
            )
        if bad_epochs >= config.patience:
            console.print(f"early stop: no validation improvement in {config.patience} epochs")
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def _score(run: Run, config: TrainConfig, data: _Data, device: torch.device, history: pd.DataFrame, fit_seconds: float) -> dict[str, Any]:
    model = run.build_model("best.pt", device)
    best = load_checkpoint(run.path / "best.pt")
    split = run.split()
    metrics: dict[str, Any] = {
        "model": run.model_name,
        "model_options": run.model_options,
        "params": int(run.config["model"]["params"]),
        "scale": SCALE,
        "split": {"kind": split.kind, "params": split.params,
                  "songs": {part: len(split.part(part)) for part in ("train", "val", "test")}},
        "features": str(run.store_path),
        "checkpoint": "best.pt",
        "best_epoch": int(best["epoch"]),
        "epochs_run": int(len(history)),
        "train_seconds": round(float(history["seconds"].sum()) if len(history) else fit_seconds, 3),
        "device": str(device),
    }
    for part, ds in (("val", data.val), ("test", data.test)):
        preds = evaluate_model(model, _loader(ds, config, device, shuffle=False), device)
        metrics[part] = metrics_block(np.asarray(ds.targets), preds, np.asarray(ds.song_ids), data.train_mean)
    return metrics


def make_console() -> Any:
    """A rich console; pipes and logs get whole table rows (width 160) instead of 80 columns."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def summary_table(metrics: dict[str, Any]) -> Any:
    """A rich table: the model against the mean baseline on each scored part."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"{metrics['model']} vs the mean baseline (scale {metrics['scale']}, split {metrics['split']['kind']})",
        box=box.SIMPLE_HEAD,
    )
    table.caption = "ratio = MSE / mean-baseline MSE on the same windows; A = arousal, V = valence"
    for col in ("part", "songs", "windows", "MSE", "mean MSE", "ratio", "A R²", "A CCC", "V R²", "V CCC"):
        table.add_column(col, justify="left" if col == "part" else "right")
    for part in ("val", "test", "all"):
        if part not in metrics:
            continue
        b = metrics[part]
        ratio = b["mse"] / b["baseline_mse"] if b["baseline_mse"] else None
        table.add_row(
            part, str(b["n_songs"]), str(b["n_windows"]), _fmt(b["mse"]), _fmt(b["baseline_mse"]), _fmt(ratio, ".2f"),
            _fmt(b["arousal"]["r2"], ".3f"), _fmt(b["arousal"]["ccc"], ".3f"), _fmt(b["valence"]["r2"], ".3f"), _fmt(b["valence"]["ccc"], ".3f"),
        )
    return table
