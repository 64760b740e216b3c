"""The `mer-zoo` command line: each command parses, calls one function, prints.

Heavy libraries are imported inside the commands so that `--help` answers at once; the app
itself is imported by ``main`` (or on first access to ``app``), so that a process that only
imports this package, as Dask's spawned workers re-import the ``mer-zoo`` script, pays nothing.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main", "run"]


def __getattr__(name: str) -> Any:
    """``app``: the Typer app with every command registered, imported on first use."""
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _app() -> Any:
    from mer_zoo.cli import (  # noqa: F401  (they register the commands)
        bench_commands,
        data_commands,
        export_commands,
        model_commands,
        report_commands,
        tune_commands,
    )
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


# Commands that run local Dask workers: the server they fork from starts before the app is
# even imported, so that its 0.45 s of imports overlap the CLI's own (a build's first song
# came back 0.07 s sooner).
_LOCAL_WORKERS = ("build-features", "add-features", "predict")


def run() -> None:
    """The `mer-zoo` script: ``main`` (after starting the workers' fork server for commands that
    run local workers), then an exit that skips the interpreter's teardown.

    A build's process ends holding some 900 modules; collecting and freeing their objects one
    by one took 0.15 s after the work was done, for memory the system frees at once. The exit
    still joins threads and runs every exit handler (registered after this one, they run
    before it), then flushes the standard streams and leaves with ``main``'s status.
    """
    import atexit

    status = [1]  # an uncaught exception leaves Python's own status, 1
    atexit.register(_leave, status)
    args = sys.argv[1:]
    if args[:1] and args[0] in _LOCAL_WORKERS and not any(a.startswith(("--scheduler", "--help")) for a in args):
        from mer_zoo.pipeline import start_fork_server

        start_fork_server()
    try:
        main()
    except SystemExit as done:
        status[0] = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        raise
    status[0] = 0


def _leave(status: list[int]) -> None:
    import contextlib
    import os

    if "multiprocessing.util" in sys.modules:  # unlink this process's named semaphores (/dev/shm/sem.mp-*)
        sys.modules["multiprocessing.util"]._run_finalizers(0)

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`) or stream: nothing more to say
            stream.flush()
    os._exit(status[0])


if __name__ == "__main__":
    run()
