"""``mer-zoo tune``: an Optuna study over a search space, by song folds of the training and validation songs."""

from __future__ import annotations

from pathlib import Path

import typer

from mer_zoo.cli import tracking_options
from mer_zoo.cli.options import model_options
from mer_zoo.cli.typer_app import app


@app.command("tune")
def tune(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name (see `mer-zoo models`)."),
    space: Path = typer.Option(
        ...,
        "--space",
        help="Search space, YAML or JSON: train options and opt.NAME model options with types and ranges.",
    ),
    trials: int = typer.Option(
        ..., "--trials", help="Complete (or pruned) trials the study should have; more continues it."
    ),
    folds: int = typer.Option(
        3, "--folds", help="Song folds per trial, over the split's training and validation songs."
    ),
    storage: str | None = typer.Option(
        None, "--storage", help="Optuna storage URL, e.g. sqlite:///study.db [default: sqlite:///OUT/optuna.db]."
    ),
    study: str | None = typer.Option(
        None, "--study", help="Study name [default: MODEL-TASK-SET-HASH of everything that defines the objective]."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Run trials on this Dask cluster (tcp://HOST:PORT), one per worker at a time."
    ),
    prune: bool = typer.Option(
        True, "--prune/--no-prune", help="Stop poor trials fold by fold (Optuna's MedianPruner)."
    ),
    features: Path = typer.Option(Path("features.h5"), "--features", help="Feature store from build-features."),
    out: Path = typer.Option(
        Path("tune"), "--out", help="Folder of the study (OUT/STUDY/) and of the best configuration's run."
    ),
    task: str = typer.Option("window", "--task", help="window | static | dynamic."),
    split: str = typer.Option(
        "random", "--split", help="The split whose test songs are set aside before the study (as `train --split`)."
    ),
    epochs: int = typer.Option(30, "--epochs", help="Maximum epochs per run."),
    batch_size: int = typer.Option(32, "--batch-size", help="Windows per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the folds, initialisation and the sampler."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    patience: int | None = typer.Option(
        None, "--patience", help="Early-stopping patience [default: half of --epochs, at least 10]."
    ),
    schedule: str = typer.Option("none", "--schedule", help="Learning rate: none, plateau or cosine."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    augment: bool = typer.Option(False, "--augment", help="Augment training spectrograms."),
    feature_set: str = typer.Option("mel", "--set", help="The store's feature set to train on."),
    opt: list[str] = typer.Option(
        [], "--opt", help="Fixed model option KEY=VALUE (repeatable); tuned ones go in --space."
    ),
    tensorboard: Path | None = tracking_options.TENSORBOARD,
    mlflow: str | None = tracking_options.MLFLOW,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the best run's progress bar."),
) -> None:
    """Tune a model's train and model options with Optuna; the split's test songs are scored once, at the end."""
    from mer_zoo.training import TrainConfig
    from mer_zoo.tune import tune as tune_study

    config = TrainConfig(
        model=model, features=features, out=out, task=task, split=split, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, seed=seed, device=device, patience=patience, schedule=schedule,
        num_workers=workers, augment=augment, feature_set=feature_set, model_options=model_options(opt),
    )  # fmt: skip
    result = tune_study(
        config, space, trials=trials, folds=folds, storage=storage, study=study, scheduler=scheduler, prune=prune,
        tracking=tracking_options.spec(tensorboard, mlflow), progress=progress,
    )  # fmt: skip
    typer.echo(f"study: {result.study} ({result.storage}); trials: {result.folder / 'trials.csv'}")
    typer.echo(f"run: {result.run}")
