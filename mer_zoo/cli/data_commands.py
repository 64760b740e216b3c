"""Commands on corpora and stores: demo-data, build-features, add-features, info, datasets, features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mer_zoo.cli.options import set_specs
from mer_zoo.cli.typer_app import app, reporting_plugin_warnings

# --- data commands -------------------------------------------------------------------------


def _console() -> Any:
    """A console for summaries: the terminal's width, or, into a pipe or file, lines never wrapped."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=100_000)


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
        help="Feature set to compute (repeatable; [SET=]NAME or [SET=]NAME:key=value,...; see `mer-zoo features`).",
    ),
    out: Path = typer.Option(Path("features.h5"), "--out", help="The HDF5 store to write."),
    workers: int = typer.Option(2, "--workers", help="Local worker processes (one thread each)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Use a running Dask cluster (tcp://HOST:PORT) instead of local workers."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Rebuild a store made with different settings or from another corpus."
    ),
    update: bool = typer.Option(
        False, "--update", help="The corpus changed: extract only new songs, rewrite the labels, drop removed songs."
    ),
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
        "cpu", "--device", help="Where mels and encoders run: cpu, cuda (torch, batched) or auto."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
) -> None:
    """Extract feature sets (log-mel by default) and the labels of every song into one HDF5 store."""

    from mer_zoo.config import FeatureConfig
    from mer_zoo.errors import InputError
    from mer_zoo.pipeline import build_features, render_summary

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
    sets, set_options = set_specs(feature_sets)
    summary = build_features(
        root,
        out,
        dataset=dataset,
        dataset_options={"labels": labels, "scale": scale},
        sets=sets,
        set_options=set_options,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        update=update,
        config=config,
        start_s=start,
        compression=None if compression.lower() == "none" else compression.lower(),
        progress=progress,
        device=device,
    )
    _console().print(render_summary(summary))
    raise typer.Exit(summary.exit_code)


@app.command("add-features")
def add_features_command(
    store: Path = typer.Argument(..., help="A complete feature store written by build-features."),
    feature_sets: list[str] = typer.Option(
        ...,
        "--set",
        help="Feature set to add (repeatable; [SET=]NAME or [SET=]NAME:key=value,...; see `mer-zoo features`).",
    ),
    workers: int = typer.Option(2, "--workers", help="Local worker processes (one thread each)."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Use a running Dask cluster (tcp://HOST:PORT) instead of local workers."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute a set the store already has."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
    device: str = typer.Option("cpu", "--device", help="Where mels and encoders run: cpu, cuda or auto."),
) -> None:
    """Add feature sets to an existing store for the same windows, without recomputing the others."""
    from mer_zoo.pipeline import add_features, render_add_summary

    sets, set_options = set_specs(feature_sets)
    summary = add_features(
        store,
        sets,
        set_options=set_options,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=progress,
        device=device,
    )
    _console().print(render_add_summary(summary))
    raise typer.Exit(summary.exit_code)


@app.command("info")
def info(
    store: Path = typer.Argument(..., help="A feature store written by build-features."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Describe a feature store: songs, segments, settings, failures and size."""
    import json

    from mer_zoo.store import FeatureStore

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
        f"windows:     {description['segments']} ({windows}), {description['silent_windows']} silent",
        f"labels:      window/frame {labels['dynamic_scale']} ({labels['window_labels']}, "
        f"{labels['frames_per_window']} frames of {labels['label_rate_hz']:g} Hz per window), song {labels['static_scale']}",
    ]
    for name, info in description["sets"].items():
        settings = ", ".join(f"{k}={v}" for k, v in info["config"].items())
        lines.append(
            f"set {name + ':':<8} {info['kind']} {' x '.join(map(str, info['shape']))} by {info['extractor']} "
            f"v{info['version']} ({info['backend']}; compression {info['compression'] or 'none'}) {settings}"
        )
        if info.get("about"):
            lines.append("             " + ", ".join(f"{k}={v}" for k, v in info["about"].items()))
    metadata = ", ".join(f"{name} ({m['values']} values, {m['empty']} empty)"
                         for name, m in description["metadata"].items())  # fmt: skip
    lines.append(f"metadata:    {metadata or 'none'} (--split group:COLUMN)")
    if description["decoders"]:
        lines.append("decoded by:  " + ", ".join(f"{k} {v}" for k, v in description["decoders"].items()))
    lines.append("versions:    " + ", ".join(f"{k}={v}" for k, v in description["versions"].items()))
    lines += [f"failed:      {i}: {r}" for i, r in zip(failures["song_id"], failures["reason"])]
    typer.echo("\n".join(lines))


@app.command("datasets")
def datasets_command() -> None:
    """List the dataset readers build-features --dataset accepts: built-ins and plugins."""
    from mer_zoo.datasets import REGISTRY, list_readers

    for name in reporting_plugin_warnings(list_readers):
        info = REGISTRY.lookup(name)[1]
        typer.echo(f"{name:<10} {info.source:<18} {info.description}")


@app.command("features")
def features_command(
    pattern: str = typer.Argument("*", help="Shell-style pattern on feature-set names."),
) -> None:
    """List the feature sets build-features can compute: built-ins and plugins."""
    from mer_zoo.features import get_extractor_info, list_extractors

    for name in reporting_plugin_warnings(list_extractors, pattern):
        info = get_extractor_info(name)
        typer.echo(f"{name:<22} {info.kind or '?':<9} {info.source:<18} {info.description}")


# --- model commands ------------------------------------------------------------------------
