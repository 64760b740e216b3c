"""The `mer-zoo` command line: each command parses, calls one function, prints.

Heavy libraries are imported inside the commands so that `--help` answers at once; the app
itself is imported by ``main`` (or on first access to ``app``), so that a process that only
imports this package, as Dask's spawned workers re-import the ``mer-zoo`` script, pays nothing.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    """``app``: the Typer app with every command registered, imported on first use."""
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app() -> Any:
    from mer_zoo.cli import data_commands, model_commands  # noqa: F401  (they register the commands)
    from mer_zoo.cli.typer_app import app

    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning usage and input errors into one-line messages."""
    import typer

    from mer_zoo.errors import MerZooError

    app = _app()

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
