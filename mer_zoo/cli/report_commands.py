"""``mer-zoo report``: one run or cv folder as a page a person reads."""

from __future__ import annotations

from pathlib import Path

import typer

from mer_zoo.cli.typer_app import app


@app.command("report")
def report(
    run_dir: Path = typer.Argument(..., help="A run folder (metrics.json) or a cv folder (cv.json)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write the page [default: RUN_DIR/report.html]."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda, to score the test songs once."),
) -> None:
    """Curves, figures with the mean baseline, the VA plane and the worst songs, in one static HTML page."""
    from mer_zoo.bench import report as write_report

    typer.echo(f"report: {write_report(run_dir, out, device=device)}")
