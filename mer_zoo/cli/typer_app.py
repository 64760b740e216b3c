"""The `mer-zoo` Typer app, its root options, and what the commands share."""

from __future__ import annotations

from typing import Any

import typer

from mer_zoo.version import __version__

__all__ = ["app", "reporting_plugin_warnings"]

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


def reporting_plugin_warnings(listing: Any, *args: Any) -> Any:
    """Call ``listing(*args)``; a broken plugin's warning becomes one line on stderr each."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = listing(*args)
    for warning in caught:
        typer.echo(f"mer-zoo: warning: {warning.message}", err=True)
    return result
