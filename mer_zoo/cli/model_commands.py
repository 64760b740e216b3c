"""Commands on models and runs: models, train, cv, evaluate, compare, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mer_zoo.cli import tracking_options
from mer_zoo.cli.options import model_options
from mer_zoo.cli.typer_app import app, reporting_plugin_warnings


@app.command("models")
def models(
    pattern: str = typer.Argument("*", help="Shell-style pattern on model names, e.g. 'cnn*'."),
) -> None:
    """List the registered models: built-ins and plugins, with size, input and description."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from mer_zoo.models.summary import model_rows

    rows = reporting_plugin_warnings(model_rows, pattern)
    table = Table("name", "source", "parameters", "input", "description", box=box.SIMPLE_HEAD, show_edge=False)
    for column in table.columns[:4]:
        column.no_wrap = True
    table.columns[2].justify = "right"
    for row in rows:
        params = "?" if row.parameters is None else f"{row.parameters:,}"
        table.add_row(row.name, row.source, params, row.expected_input, row.description)
    console = Console()
    (console if console.is_terminal else Console(width=200)).print(table)  # pipes get whole lines


# --- training commands ---------------------------------------------------------------------


def _writable(path: Path | None, flag: str) -> None:
    from mer_zoo.errors import InputError

    if path is not None and not path.parent.resolve().is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist")


_SPLIT_HELP = (
    "random | random:0.8,0.1,0.1 | kfold:I/K | mediaeval2015 | file:SPLIT.json | file:TRAIN.txt,VAL.txt,TEST.txt "
    "(by song) | group:COLUMN[:K] or group:COLUMN:I/K (whole artists, ...: see `mer-zoo info STORE`)."
)
_TASK_HELP = "window (5-s window means, default) | static (one value per song) | dynamic (a value every 0.5 s)."


def _train_config(model: str, epochs: int | None, opt: list[str], **settings: Any) -> Any:
    from mer_zoo.training import TrainConfig

    return TrainConfig(
        model=model, epochs=30 if epochs is None else epochs, model_options=model_options(opt), **settings
    )


@app.command("train")
def train(
    model: str | None = typer.Option(None, "--model", "-m", help="Registered model name (see `mer-zoo models`)."),
    features: Path = typer.Option(Path("features.h5"), "--features", help="Feature store from build-features."),
    out: Path = typer.Option(Path("runs"), "--out", help="Folder for run directories ({model}-{timestamp})."),
    task: str = typer.Option("window", "--task", help=_TASK_HELP),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs [default: 30; with --resume: the run's]."),
    batch_size: int = typer.Option(32, "--batch-size", help="Windows per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, initialisation and shuffling."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (mixed precision on CUDA)."),
    split: str = typer.Option("random", "--split", help=_SPLIT_HELP),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help="Stop after this many epochs without validation improvement [default: half of --epochs, at least 10].",
    ),
    schedule: str = typer.Option(
        "none", "--schedule", help="Learning rate: none (constant), plateau (halve when validation stalls) or cosine."
    ),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (0: load in the training process)."),
    augment: bool = typer.Option(False, "--augment", help="Augment training spectrograms."),
    feature_set: str = typer.Option(
        "mel", "--set", help="The store's feature set to train on (see `mer-zoo info STORE`)."
    ),
    opt: list[str] = typer.Option([], "--opt", help="Model option KEY=VALUE (repeatable), passed to the builder."),
    skip_silent: bool = typer.Option(
        True,
        "--skip-silent/--keep-silent",
        help="Leave out the windows the store flags silent (default), or keep them.",
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue an interrupted run directory from its last.pt."
    ),
    tensorboard: Path | None = tracking_options.TENSORBOARD,
    mlflow: str | None = tracking_options.MLFLOW,
) -> None:
    """Train a model on a feature store into a run directory, and score it against the mean baseline."""
    from mer_zoo.errors import InputError

    tracker = tracking_options.tracker(tensorboard, mlflow)
    if resume is not None:
        from mer_zoo.runs import open_run
        from mer_zoo.training import resume as resume_run

        run = open_run(resume)
        if model is not None and model.lower() != run.model_name:
            raise InputError(f"--resume {resume}: the run trains {run.model_name!r}, not {model!r}")
        path = resume_run(run.path, epochs=epochs, tracker=tracker)
    else:
        if model is None:
            raise InputError("--model is required (or --resume RUN_DIR); list models with `mer-zoo models`")
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: not a folder")
        from mer_zoo.training import train as train_run

        config = _train_config(
            model, epochs, opt, features=features, out=out, task=task, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, seed=seed, device=device, split=split, patience=patience, schedule=schedule,
            num_workers=workers, augment=augment, feature_set=feature_set, skip_silent=skip_silent,
        )  # fmt: skip
        path = train_run(config, tracker=tracker)
    typer.echo(f"run: {path}")


@app.command("cv")
def cv(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name (see `mer-zoo models`)."),
    folds: int | None = typer.Option(
        None, "--folds", help="Number of folds (every song is tested once) [default: 5, or K of group:COLUMN:K]."
    ),
    split: str = typer.Option(
        "kfold", "--split", help="Fold family: kfold (by song) or group:COLUMN[:K] (whole artists, ...)."
    ),
    features: Path = typer.Option(Path("features.h5"), "--features", help="Feature store from build-features."),
    out: Path = typer.Option(Path("runs"), "--out", help="Folder for the cv folder (cv-{model}-{task}-{timestamp})."),
    task: str = typer.Option("window", "--task", help=_TASK_HELP),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs per fold [default: 30]."),
    batch_size: int = typer.Option(32, "--batch-size", help="Windows per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    seed: int = typer.Option(0, "--seed", help="Seed of the folds, initialisation and shuffling."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (mixed precision on CUDA)."),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help="Stop after this many epochs without validation improvement [default: half of --epochs, at least 10].",
    ),
    schedule: str = typer.Option(
        "none", "--schedule", help="Learning rate: none (constant), plateau (halve when validation stalls) or cosine."
    ),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (0: load in the training process)."),
    augment: bool = typer.Option(False, "--augment", help="Augment training spectrograms."),
    feature_set: str = typer.Option(
        "mel", "--set", help="The store's feature set to train on (see `mer-zoo info STORE`)."
    ),
    opt: list[str] = typer.Option([], "--opt", help="Model option KEY=VALUE (repeatable), passed to the builder."),
    tensorboard: Path | None = tracking_options.TENSORBOARD,
    mlflow: str | None = tracking_options.MLFLOW,
    skip_silent: bool = typer.Option(
        True,
        "--skip-silent/--keep-silent",
        help="Leave out the windows the store flags silent (default), or keep them.",
    ),
) -> None:
    """Cross-validate a model by song: one run per fold, and cv.json with mean ± std over folds."""
    from mer_zoo.errors import InputError
    from mer_zoo.training import cross_validate

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a folder")
    config = _train_config(
        model, epochs, opt, features=features, out=out, task=task, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, seed=seed, device=device, patience=patience, schedule=schedule,
        num_workers=workers, augment=augment, feature_set=feature_set, skip_silent=skip_silent,
    )  # fmt: skip
    path = cross_validate(config, folds, split=split, tracker=tracking_options.tracker(tensorboard, mlflow))
    typer.echo(f"cv: {path} ({path / 'cv.json'})")


@app.command("evaluate")
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `mer-zoo train`."),
    features: Path | None = typer.Option(
        None,
        "--features",
        help="Score on every song of this store instead (another corpus: predictions mapped onto its scale).",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
) -> None:
    """Score a run's best checkpoint on its validation and test songs (or on another store)."""
    from mer_zoo.errors import InputError
    from mer_zoo.evaluate import evaluate as evaluate_run
    from mer_zoo.runs import write_json
    from mer_zoo.training import make_console, summary_table

    if features is not None and not features.is_file():
        raise InputError(f"--features {features}: no such feature store")
    _writable(json_out, "--json")
    result = evaluate_run(run_dir, features, device=device)
    if features is not None:
        source, target = result["source"], result["target"]
        typer.echo(f"trained on {source['dataset']} (scale {source['scale']}), scored on {target['dataset']} "
                   f"(scale {target['scale']}): {result['mapping'] or 'same scale, no mapping'}")  # fmt: skip
    make_console().print(summary_table(result))
    if json_out is not None:
        write_json(json_out, result)
        typer.echo(f"wrote {json_out}")


@app.command("compare")
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories and cv folders to rank."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Also write the tables as Markdown."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the rows as CSV (with their group)."),
) -> None:
    """Rank runs next to the mean baseline, one table per task, store and test-song set."""
    from mer_zoo.compare import compare as compare_runs
    from mer_zoo.compare import leaderboard_markdown, leaderboard_tables
    from mer_zoo.training import make_console

    _writable(markdown, "--markdown")
    _writable(csv, "--csv")
    board = compare_runs(run_dirs)
    console = make_console()
    for table in leaderboard_tables(board):
        console.print(table)
    groups = board["group"].nunique()
    if groups > 1:
        typer.echo(f"mer-zoo: warning: the runs fall into {groups} groups (different tasks, stores or test songs); "
                   "each is ranked on its own, never against another", err=True)  # fmt: skip
    if markdown is not None:
        markdown.write_text(leaderboard_markdown(board))
        typer.echo(f"wrote {markdown}")
    if csv is not None:
        board.to_csv(csv, index=False)
        typer.echo(f"wrote {csv}")


@app.command("predict")
def predict(
    model: Path = typer.Argument(
        ..., help="A run directory written by `mer-zoo train`, or a model file written by `mer-zoo export`."
    ),
    inputs: list[str] = typer.Argument(
        ..., help="Audio files, folders (searched recursively), globs ('music/*.mp3') or @list.txt (a path a line)."
    ),
    out: Path = typer.Option(
        Path("predictions.csv"),
        "--out",
        help="CSV: a row per window (window run), per file (static), per 0.5 s (dynamic).",
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Draw each song's path on the valence-arousal plane."),
    device: str = typer.Option("auto", "--device", help="Where the model runs: auto, cpu or cuda (.onnx: cpu)."),
    workers: int = typer.Option(2, "--workers", help="Local worker processes that decode and featurise the files."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Use a running Dask cluster (tcp://HOST:PORT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start --out afresh instead of continuing it."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Predict arousal and valence for every audio file, in the rows of the run's task; streams into --out.

    MODEL is a run folder (torch) or an exported .onnx (onnxruntime, torch never imported) or .pt (TorchScript).
    """
    import pandas as pd

    from mer_zoo.errors import InputError
    from mer_zoo.predict import Predictions, stream

    _writable(out, "--out")
    _writable(plot, "--plot")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if overwrite:
        out.unlink(missing_ok=True)
    summary = stream(model, inputs, out, device=device, workers=workers, scheduler=scheduler, progress=progress)
    for path, reason in summary.skipped:
        typer.echo(f"mer-zoo predict: skipped {path}: {reason}", err=True)
    for path, reason in summary.failures:
        typer.echo(f"mer-zoo predict: error: {reason if path in reason else f'{path}: {reason}'}", err=True)
    for note in summary.notes:
        typer.echo(note)
    if summary.already:
        typer.echo(f"{out}: {summary.already} files were already predicted (skipped; --overwrite starts afresh)")
    if out.is_file() and out.stat().st_size:
        from mer_zoo.export import load_spec

        spec = load_spec(model)
        result = Predictions(pd.read_csv(out), task=spec.task, scale=spec.scale)
        typer.echo("\n".join(result.summary_lines()))
        skipped = f", {len(summary.skipped)} skipped (not audio)" if summary.skipped else ""
        typer.echo(f"wrote {out} ({summary.written} files now, {len(summary.failures)} failed{skipped})")
        if plot is not None:
            from mer_zoo.plots import plot_va
            from mer_zoo.scales import parse_scale

            plot_va(result.paths(), plot, scale=parse_scale(result.scale))
            typer.echo(f"wrote {plot}")
    if summary.failures:
        raise typer.Exit(1)
