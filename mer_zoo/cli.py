"""The `mer-zoo` command line: each command parses, calls one function, prints.

Heavy libraries are imported inside the commands so that `--help` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Music emotion recognition: features, training, evaluation and prediction."""


# --- data commands -------------------------------------------------------------------------


@app.command("demo-data")
def demo_data(
    out: Path = typer.Argument(..., help="Folder to write the synthetic dataset into (DEAM layout)."),
    songs: int = typer.Option(60, "--songs", min=4, help="Number of songs."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same files."),
) -> None:
    """Write a small synthetic dataset in DEAM's exact layout, with learnable emotion."""
    from mer_zoo.datasets.synthetic import write_synthetic_deam

    summary = write_synthetic_deam(out, n_songs=songs, seed=seed)
    typer.echo(summary)


# --- feature commands ----------------------------------------------------------------------


@app.command("build-features")
def build_features_command(
    root: Path = typer.Option(..., "--root", help="The dataset folder (DEAM: either the Kaggle or the official layout)."),
    dataset: str = typer.Option("deam", "--dataset", help="Dataset reader for --root."),
    out: Path = typer.Option(Path("features.h5"), "--out", help="The HDF5 store to write."),
    workers: int = typer.Option(2, "--workers", help="Local worker processes (one thread each)."),
    scheduler: Optional[str] = typer.Option(
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
    start: float = typer.Option(15.0, "--start", help="First window start (s)."),
    clip: float = typer.Option(5.0, "--clip", help="Window length (s)."),
    hop: float = typer.Option(5.0, "--hop", help="Window hop (s)."),
    compression: str = typer.Option("none", "--compression", help="none (memory-mappable), gzip or lzf."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Extract log-mel windows and their labels from every song into one HDF5 store."""
    from rich.console import Console

    from mer_zoo.config import FeatureConfig
    from mer_zoo.errors import InputError
    from mer_zoo.features.build import build_features, render_summary

    try:
        config = FeatureConfig(
            sample_rate=sample_rate, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, fmin=fmin, fmax=fmax,
            top_db=top_db if top_db > 0 else None, start_s=start, clip_s=clip, hop_s=hop,
        )
    except ValueError as err:
        raise InputError(f"bad feature settings: {err}") from None
    summary = build_features(
        root, out, dataset=dataset, workers=workers, scheduler=scheduler, overwrite=overwrite, config=config,
        compression=None if compression.lower() == "none" else compression.lower(), progress=progress,
    )
    Console().print(render_summary(summary))
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
            {"song_id": int(i), "path": p, "reason": r}
            for i, p, r in zip(failures["song_id"], failures["path"], failures["reason"])
        ]
        typer.echo(json.dumps(description, indent=2))
        return
    settings = ", ".join(f"{k}={v}" for k, v in description["feature_config"].items())
    lines = [
        f"store:       {description['path']} ({description['size_bytes'] / 2**20:.1f} MiB)",
        f"dataset:     {description['dataset']} from {description['source_root']}",
        f"songs:       {description['songs']} built, {description['failures']} failed",
        f"segments:    {description['segments']} x {' x '.join(map(str, description['mel_shape'][1:]))} "
        f"(compression: {description['compression'] or 'none'})",
        f"settings:    {settings}",
        "versions:    " + ", ".join(f"{k}={v}" for k, v in description["versions"].items()),
    ]
    lines += [f"failed:      {i}: {r}" for i, r in zip(failures["song_id"], failures["reason"])]
    typer.echo("\n".join(lines))


# --- model commands ------------------------------------------------------------------------


@app.command("models")
def models(
    pattern: str = typer.Argument("*", help="Shell-style pattern on model names, e.g. 'cnn*'."),
) -> None:
    """List the registered models: built-ins and plugins, with size, input and description."""
    import warnings

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from mer_zoo.models.summary import model_rows

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = model_rows(pattern)
    for warning in caught:
        typer.echo(f"mer-zoo: warning: {warning.message}", err=True)
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


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app, turning usage and input errors into one-line messages."""
    from mer_zoo.errors import MerZooError

    # typer >= 0.23 vendors click; typer.BadParameter's base is the UsageError it raises.
    usage_error = typer.BadParameter.__mro__[1]

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
