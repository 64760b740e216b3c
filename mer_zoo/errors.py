"""Errors that the CLI turns into one-line messages instead of tracebacks."""

from __future__ import annotations

__all__ = ["InputError", "MerZooError"]


class MerZooError(Exception):
    """A failure the user can act on; the CLI prints it on one line and exits 1."""

    exit_code = 1


class InputError(MerZooError):
    """Bad arguments or paths found before any work starts; the CLI exits 2."""

    exit_code = 2
