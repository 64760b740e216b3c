"""Errors that the CLI turns into one-line messages instead of tracebacks."""

from __future__ import annotations

__all__ = ["InputError", "MerZooError", "Stopped", "describe", "one_line"]


class MerZooError(Exception):
    """A failure the user can act on; the CLI prints it on one line and exits 1."""

    exit_code = 1


class InputError(MerZooError):
    """Bad arguments or paths found before any work starts; the CLI exits 2."""

    exit_code = 2


class Stopped(Exception):
    """A run ended early on purpose (a pruned tuning trial), not by a failure: trackers mark it killed."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def describe(err: BaseException) -> str:
    """An exception as ``Type: message`` on one line."""
    return f"{type(err).__name__}: {one_line(str(err))}"
