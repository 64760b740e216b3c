"""``mer-zoo bench``: the whole zoo on one store, compared with paired tests, as one page."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from mer_zoo.cli import tracking_options
from mer_zoo.cli.typer_app import app


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@app.command("bench")
def bench(
    features: Path = typer.Option(Path("features.h5"), "--features", help="Feature store from build-features."),
    models: str = typer.Option(
        "*", "--models", help="Comma-separated fnmatch patterns over the registry (mean always in)."
    ),
    tasks: str = typer.Option("window,static", "--tasks", help="Comma-separated tasks: window, static, dynamic."),
    sets: str = typer.Option("mel", "--sets", help="Comma-separated feature sets of the store."),
    folds: int | None = typer.Option(
        None, "--folds", help="Song folds; every model runs the same ones [default: 5, or K of group:COLUMN:K]."
    ),
    split: str = typer.Option(
        "kfold",
        "--split",
        help="Split family: fold I of K trains with `--split FAMILY:I/K`: kfold, or group:COLUMN[:K] (whole artists, ...).",
    ),
    seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds (each gives its own folds)."),
    epochs: int = typer.Option(30, "--epochs", help="Maximum epochs per run."),
    batch_size: int = typer.Option(32, "--batch-size", help="Windows per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Launch no new run after this many minutes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh instead of resuming the bench in --out."),
    out: Path = typer.Option(Path("bench"), "--out", help="Folder of the bench (runs/, leaderboard.*)."),
    tensorboard: Path | None = tracking_options.TENSORBOARD,
    mlflow: str | None = tracking_options.MLFLOW,
) -> None:
    """Every model x task x set that fit, on the same song folds: leaderboard.json, .md and .html."""
    from rich.progress import Progress

    from mer_zoo.bench import bench as run
    from mer_zoo.errors import InputError
    from mer_zoo.training import TrainConfig

    try:
        seed_list = [int(s) for s in _names(seeds)]
    except ValueError as err:
        raise InputError(f"--seeds {seeds!r}: not a comma-separated list of integers") from err
    base = TrainConfig(model="mean", features=features, out=out, epochs=epochs, batch_size=batch_size, lr=lr,
                       device=device)  # fmt: skip
    command = "mer-zoo " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    tracker = tracking_options.tracker(tensorboard, mlflow)
    bar = Progress(transient=False)  # shown from the first run on: a refusal before any is one line
    task = bar.add_task("bench", total=None)

    def show(done: int, total: int, current: str) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total, description=f"bench: {current}")

    try:
        page, plan, missing = run(base, models=_names(models), tasks=_names(tasks), sets=_names(sets), folds=folds,
                                  split=split, seeds=seed_list, command=command, max_minutes=max_minutes, overwrite=overwrite,
                                  on_progress=show, tracker=tracker)  # fmt: skip
    finally:
        if bar.live.is_started:
            bar.stop()
    for model, task_name, set_name, reason in plan.skipped:
        typer.echo(f"skipped {model} x {task_name} x {set_name}: {reason}")
    if missing:
        typer.echo(f"missing {len(missing)} of {len(plan.jobs)} runs (--max-minutes); run the same command again")
    typer.echo(f"bench: {page} ({page.with_suffix('.md')}, {page.with_suffix('.json')})")
