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
