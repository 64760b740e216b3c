"""Sharing a trained model: `mer-zoo export`."""

from __future__ import annotations

from pathlib import Path

import typer

from mer_zoo.cli.typer_app import app


@app.command("export")
def export(
    run_dir: Path = typer.Argument(..., help="A run directory written by `mer-zoo train`."),
    fmt: str = typer.Option("onnx", "--format", help="onnx (runs with onnxruntime, no torch) or torchscript."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="The model file (*.onnx or *.pt; default: the run's name in this folder); "
        "its sidecar is the same name + .json.",
    ),
    features: Path | None = typer.Option(
        None, "--features", help="A copy of the run's store, for the parity check, when the run's own has moved."
    ),
) -> None:
    """Export a run's best.pt to ONNX or TorchScript with a JSON sidecar, checked against the torch model."""
    from mer_zoo.export import FORMATS, export_run

    suffix = FORMATS.get(fmt, f".{fmt}")
    result = export_run(run_dir, out if out is not None else Path(f"{run_dir.resolve().name}{suffix}"),
                        fmt=fmt, features=features)  # fmt: skip
    typer.echo("\n".join(result.summary_lines()))
