"""The `mer-zoo` command line: each command parses, calls one function, prints.

Heavy libraries are imported inside the commands so that `--help` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mer_zoo import __version__

app = typer.Typer(
    name="mer-zoo",
    help="Music emotion recognition: features, training, evaluation and prediction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mer-zoo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Music emotion recognition: features, training, evaluation and prediction."""


# --- data commands -------------------------------------------------------------------------


@app.command("demo-data")
def demo_data(
    out: Path = typer.Argument(..., help="Folder to write the synthetic dataset into."),
    layout: str = typer.Option(
        "deam", "--layout", help="deam (Kaggle layout), pmemo (PMEmo2019 release) or csv (audio folder + labels CSVs)."
    ),
    songs: int = typer.Option(60, "--songs", min=4, help="Number of songs."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
) -> None:
    """Write a small synthetic dataset laid out like a real corpus, with learnable emotion."""
    from mer_zoo.datasets import synthetic
    from mer_zoo.errors import InputError

    writers = {
        "deam": synthetic.write_synthetic_deam,
        "pmemo": synthetic.write_synthetic_pmemo,
        "csv": synthetic.write_synthetic_csv,
    }
    writer = writers.get(layout.strip().lower())
    if writer is None:
        raise InputError(f"unknown --layout {layout!r}; use one of: {', '.join(writers)}")
    summary = writer(out, n_songs=songs, seed=seed)
    typer.echo(summary)


# --- feature commands ----------------------------------------------------------------------


@app.command("build-features")
def build_features_command(
    root: Path = typer.Option(
        ..., "--root", help="The dataset folder (DEAM: either the Kaggle or the official layout)."
    ),
    dataset: str = typer.Option("deam", "--dataset", help="Dataset reader for --root: deam, pmemo, csv, ..."),
    labels: Path | None = typer.Option(
        None, "--labels", help="--dataset csv: the CSV of labels (paths relative to --root)."
    ),
    scale: str | None = typer.Option(
        None, "--scale", help="--dataset csv: the labels' scale, LOW..HIGH (e.g. -1..1, 0..1, 1..9)."
    ),
    feature_sets: list[str] = typer.Option(
        ["mel"],
        "--set",
        help="Feature set to compute (repeatable; NAME or NAME:key=value,...; see `mer-zoo features`).",
    ),
    out: Path = typer.Option(Path("features.h5"), "--out", help="The HDF5 store to write."),
    workers: int = typer.Option(2, "--workers", help="Local worker processes (one thread each)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Use a running Dask cluster (tcp://HOST:PORT) instead of local workers."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Rebuild a store made with different settings."),
    sample_rate: int = typer.Option(44100, "--sample-rate", help="Resample every file to this rate (Hz)."),
    n_mels: int = typer.Option(128, "--n-mels", help="Mel bands."),
    n_fft: int = typer.Option(2048, "--n-fft", help="FFT size (samples)."),
    hop_length: int = typer.Option(512, "--hop-length", help="STFT hop (samples)."),
    fmin: float = typer.Option(0.0, "--fmin", help="Lowest mel frequency (Hz)."),
    fmax: float = typer.Option(8000.0, "--fmax", help="Highest mel frequency (Hz)."),
    top_db: float = typer.Option(80.0, "--top-db", help="Floor below each window's maximum (dB); 0 keeps everything."),
    start: float | None = typer.Option(
        None,
        "--start",
        help="First window start (s) [default: the corpus's first annotation time, DEAM 15, PMEmo 15.5].",
    ),
    clip: float = typer.Option(5.0, "--clip", help="Window length (s)."),
    hop: float = typer.Option(5.0, "--hop", help="Window hop (s)."),
    compression: str = typer.Option("none", "--compression", help="none (memory-mappable), gzip or lzf."),
    device: str = typer.Option(
        "cpu", "--device", help="Where mels are computed: cpu (numpy), cuda (torch, batched) or auto."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Extract feature sets (log-mel by default) and the labels of every song into one HDF5 store."""
    from rich.console import Console

    from mer_zoo.config import FeatureConfig
    from mer_zoo.errors import InputError
    from mer_zoo.features.build import build_features
    from mer_zoo.features.report import render_summary

    try:
        config = FeatureConfig(
            sample_rate=sample_rate,
            n_mels=n_mels,
            n_fft=n_fft,
            hop_length=hop_length,
            fmin=fmin,
            fmax=fmax,
            top_db=top_db if top_db > 0 else None,
            start_s=15.0 if start is None else start,
            clip_s=clip,
            hop_s=hop,
        )
    except ValueError as err:
        raise InputError(f"bad feature settings: {err}") from None
    sets = dict(_named_options(spec, "--set") for spec in feature_sets)
    if "mel" in sets:
        sets["mel"].setdefault("device", device)
    summary = build_features(
        root,
        out,
        dataset=dataset,
        dataset_options={"labels": labels, "scale": scale},
        sets=list(sets),
        set_options=sets,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        config=config,
        start_s=start,
        compression=None if compression.lower() == "none" else compression.lower(),
        progress=progress,
    )
    Console().print(render_summary(summary))
    raise typer.Exit(summary.exit_code)


@app.command("add-features")
def add_features_command(
    store: Path = typer.Argument(..., help="A complete feature store written by build-features."),
    feature_sets: list[str] = typer.Option(
        ..., "--set", help="Feature set to add (repeatable; NAME or NAME:key=value,...; see `mer-zoo features`)."
    ),
    workers: int = typer.Option(2, "--workers", help="Local worker processes (one thread each)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Use a running Dask cluster (tcp://HOST:PORT) instead of local workers."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute a set the store already has."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Add feature sets to an existing store for the same windows, without recomputing the others."""
    from rich.console import Console

    from mer_zoo.features.add import add_features, render_add_summary

    sets = dict(_named_options(spec, "--set") for spec in feature_sets)
    summary = add_features(
        store,
        list(sets),
        set_options=sets,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=progress,
    )
    Console().print(render_add_summary(summary))
    raise typer.Exit(summary.exit_code)


@app.command("info")
def info(
    store: Path = typer.Argument(..., help="A feature store written by build-features."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Describe a feature store: songs, segments, settings, failures and size."""
    import json

    from mer_zoo.features.store import FeatureStore

    with FeatureStore(store) as features:
        description = features.describe()
        failures = features.failures
    if as_json:
        description["failed"] = [
            {"song_id": int(i), "path": p, "reason": r, "set": s}
            for i, p, r, s in zip(failures["song_id"], failures["path"], failures["reason"], failures["set"])
        ]
        typer.echo(json.dumps(description, indent=2))
        return
    windows = ", ".join(f"{k}={v}" for k, v in description["windows"].items())
    labels = description["labels"]
    lines = [
        f"store:       {description['path']} ({description['size_bytes'] / 2**20:.1f} MiB)",
        f"dataset:     {description['dataset']} from {description['source_root']}",
        f"songs:       {description['songs']} built, {description['failures']} failed",
        f"windows:     {description['segments']} ({windows})",
        f"labels:      window/frame {labels['dynamic_scale']} ({labels['window_labels']}, "
        f"{labels['frames_per_window']} frames of {labels['label_rate_hz']:g} Hz per window), song {labels['static_scale']}",
    ]
    for name, info in description["sets"].items():
        settings = ", ".join(f"{k}={v}" for k, v in info["config"].items())
        lines.append(
            f"set {name + ':':<8} {info['kind']} {' x '.join(map(str, info['shape']))} by {info['extractor']} "
            f"v{info['version']} ({info['backend']}; compression {info['compression'] or 'none'}) {settings}"
        )
    lines.append("versions:    " + ", ".join(f"{k}={v}" for k, v in description["versions"].items()))
    lines += [f"failed:      {i}: {r}" for i, r in zip(failures["song_id"], failures["reason"])]
    typer.echo("\n".join(lines))


def _reporting_plugin_warnings(listing: Any, *args: Any) -> Any:
    """Call ``listing(*args)``; a broken plugin's warning becomes one line on stderr each."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = listing(*args)
    for warning in caught:
        typer.echo(f"mer-zoo: warning: {warning.message}", err=True)
    return result


@app.command("datasets")
def datasets_command() -> None:
    """List the dataset readers build-features --dataset accepts: built-ins and plugins."""
    from mer_zoo.datasets import REGISTRY, list_readers

    for name in _reporting_plugin_warnings(list_readers):
        info = REGISTRY.lookup(name)[1]
        typer.echo(f"{name:<10} {info.source:<18} {info.description}")


@app.command("features")
def features_command(
    pattern: str = typer.Argument("*", help="Shell-style pattern on feature-set names."),
) -> None:
    """List the feature sets build-features can compute: built-ins and plugins."""
    from mer_zoo.features.extractors import get_extractor_info, list_extractors

    for name in _reporting_plugin_warnings(list_extractors, pattern):
        info = get_extractor_info(name)
        typer.echo(f"{name:<22} {info.kind or '?':<9} {info.source:<18} {info.description}")


# --- model commands ------------------------------------------------------------------------


@app.command("models")
def models(
    pattern: str = typer.Argument("*", help="Shell-style pattern on model names, e.g. 'cnn*'."),
) -> None:
    """List the registered models: built-ins and plugins, with size, input and description."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from mer_zoo.models.summary import model_rows

    rows = _reporting_plugin_warnings(model_rows, pattern)
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


def _option_value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _named_options(spec: str, flag: str) -> tuple[str, dict[str, object]]:
    """``NAME`` or ``NAME:key=value,key=value`` -> (name, options)."""
    name, _, rest = spec.partition(":")
    return name.strip().lower(), _model_options([p for p in rest.split(",") if p.strip()], flag)


def _model_options(pairs: list[str], flag: str = "--opt") -> dict[str, object]:
    from mer_zoo.errors import InputError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. --opt dropout=0.2 or --set mfcc:n_mfcc=13")
        options[key.strip().replace("-", "_")] = _option_value(value.strip())
    return options


def _writable(path: Path | None, flag: str) -> None:
    from mer_zoo.errors import InputError

    if path is not None and not path.parent.resolve().is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist")


_SPLIT_HELP = "random | random:0.8,0.1,0.1 | kfold:I/K | mediaeval2015 | file:SPLIT.json | file:TRAIN.txt,VAL.txt,TEST.txt (by song)."
_TASK_HELP = "window (5-s window means, default) | static (one value per song) | dynamic (a value every 0.5 s)."


def _train_config(model: str, epochs: int | None, opt: list[str], **settings: Any) -> Any:
    from mer_zoo.training import TrainConfig

    return TrainConfig(
        model=model, epochs=30 if epochs is None else epochs, model_options=_model_options(opt), **settings
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
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue an interrupted run directory from its last.pt."
    ),
) -> None:
    """Train a model on a feature store into a run directory, and score it against the mean baseline."""
    from mer_zoo.errors import InputError

    if resume is not None:
        from mer_zoo.runs import open_run
        from mer_zoo.training import resume as resume_run

        run = open_run(resume)
        if model is not None and model.lower() != run.model_name:
            raise InputError(f"--resume {resume}: the run trains {run.model_name!r}, not {model!r}")
        path = resume_run(run.path, epochs=epochs)
    else:
        if model is None:
            raise InputError("--model is required (or --resume RUN_DIR); list models with `mer-zoo models`")
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: not a folder")
        from mer_zoo.training import train as train_run

        config = _train_config(
            model, epochs, opt, features=features, out=out, task=task, batch_size=batch_size, lr=lr,
            weight_decay=weight_decay, seed=seed, device=device, split=split, patience=patience, schedule=schedule,
            num_workers=workers, augment=augment, feature_set=feature_set,
        )  # fmt: skip
        path = train_run(config)
    typer.echo(f"run: {path}")


@app.command("cv")
def cv(
    model: str = typer.Option(..., "--model", "-m", help="Registered model name (see `mer-zoo models`)."),
    folds: int = typer.Option(5, "--folds", help="Number of folds (by song; every song is tested once)."),
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
) -> None:
    """Cross-validate a model by song: one run per fold, and cv.json with mean ± std over folds."""
    from mer_zoo.errors import InputError
    from mer_zoo.training import cross_validate

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: not a folder")
    config = _train_config(
        model, epochs, opt, features=features, out=out, task=task, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, seed=seed, device=device, patience=patience, schedule=schedule,
        num_workers=workers, augment=augment, feature_set=feature_set,
    )  # fmt: skip
    path = cross_validate(config, folds)
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
    run_dir: Path = typer.Argument(..., help="A run directory written by `mer-zoo train`."),
    inputs: list[str] = typer.Argument(
        ..., help="Audio files, folders (searched recursively), globs ('music/*.mp3') or @list.txt (a path a line)."
    ),
    out: Path = typer.Option(
        Path("predictions.csv"),
        "--out",
        help="CSV: a row per window (window run), per file (static), per 0.5 s (dynamic).",
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Draw each song's path on the valence-arousal plane."),
    device: str = typer.Option("auto", "--device", help="Where the model runs: auto, cpu or cuda."),
    workers: int = typer.Option(2, "--workers", help="Local worker processes that decode and featurise the files."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Use a running Dask cluster (tcp://HOST:PORT)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start --out afresh instead of continuing it."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Predict arousal and valence for every audio file, in the rows of the run's task; streams into --out."""
    import pandas as pd

    from mer_zoo.errors import InputError
    from mer_zoo.predict import Predictions, stream

    _writable(out, "--out")
    _writable(plot, "--plot")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if overwrite:
        out.unlink(missing_ok=True)
    summary = stream(run_dir, inputs, out, device=device, workers=workers, scheduler=scheduler, progress=progress)
    for path, reason in summary.failures:
        typer.echo(f"mer-zoo predict: error: {reason if path in reason else f'{path}: {reason}'}", err=True)
    if summary.already:
        typer.echo(f"{out}: {summary.already} files were already predicted (skipped; --overwrite starts afresh)")
    if out.is_file() and out.stat().st_size:
        from mer_zoo.runs import open_run

        run = open_run(run_dir)
        result = Predictions(pd.read_csv(out), task=run.task, scale=run.scale)
        typer.echo("\n".join(result.summary_lines()))
        typer.echo(f"wrote {out} ({summary.written} files now, {len(summary.failures)} failed)")
        if plot is not None:
            from mer_zoo.plots import plot_va
            from mer_zoo.scales import parse_scale

            plot_va(result.paths(), plot, scale=parse_scale(result.scale))
            typer.echo(f"wrote {plot}")
    if summary.failures:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning usage and input errors into one-line messages."""
    from mer_zoo.errors import MerZooError

    # typer >= 0.23 vendors click; typer.BadParameter's base is the UsageError it raises.
    usage_error: Any = typer.BadParameter.__mro__[1]

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="mer-zoo", standalone_mode=False)
    except usage_error as err:
        ctx_cmd = f" {err.ctx.info_name}" if err.ctx and err.ctx.parent else ""
        typer.echo(f"mer-zoo{ctx_cmd}: error: {err.format_message()}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("mer-zoo: aborted", err=True)
        sys.exit(130)
    except MerZooError as err:
        typer.echo(f"mer-zoo: error: {err}", err=True)
        sys.exit(err.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
