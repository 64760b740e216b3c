"""Dataset readers, keyed by the ``--dataset`` name: each turns a folder into a `Corpus`.

Built-ins and plugins register through the ``mer_zoo.datasets`` entry-point group (the same
mechanism as models and feature sets); a reader is ``read(root: Path, **options) -> Corpus``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mer_zoo.datasets.base import STATIC_COLUMNS, Corpus, SongRecord
from mer_zoo.errors import InputError
from mer_zoo.registry import Registry, first_doc_line

__all__ = [
    "REGISTRY",
    "STATIC_COLUMNS",
    "Corpus",
    "ReaderInfo",
    "SongRecord",
    "get_reader",
    "list_readers",
    "read_corpus",
    "register_reader",
]

Reader = TypeVar("Reader", bound=Callable[..., Corpus])


@dataclass(frozen=True)
class ReaderInfo:
    """A registered reader: name, where it comes from, a one-line description."""

    name: str
    source: str
    description: str


def _plain_info(name: str, reader: Callable[..., Any], source: str) -> ReaderInfo:
    return ReaderInfo(name.strip().lower(), source, first_doc_line(reader))


REGISTRY: Registry[ReaderInfo] = Registry("dataset", "mer_zoo.datasets", "mer-zoo datasets", _plain_info)


def register_reader(name: str, *, description: str | None = None) -> Callable[[Reader], Reader]:
    """Register a reader ``read(root, **options) -> Corpus`` under ``name``."""

    def decorator(reader: Reader) -> Reader:
        info = ReaderInfo(name.strip().lower(), REGISTRY.source_of(reader), description or first_doc_line(reader))
        REGISTRY.register(name, reader, info)
        return reader

    return decorator


def list_readers() -> list[str]:
    """Names accepted by ``--dataset``, sorted."""
    return REGISTRY.names()


def get_reader(name: str) -> Callable[..., Corpus]:
    """The reader registered under ``name`` (case-insensitive); InputError if unknown."""
    return REGISTRY.lookup(name)[0]


def read_corpus(root: Path, dataset: str = "deam", **options: Any) -> Corpus:
    """Read the dataset folder ``root`` with the reader named ``dataset``, passing it ``options``.

    Options that are None count as not given, so a command line can pass every flag it has.

    Raises:
        InputError: for an unknown dataset, an option its reader does not take or one it needs
            and did not get (``labels=`` -> ``--labels``), and whatever the reader finds wrong.
    """
    reader = get_reader(dataset)
    options = {name: value for name, value in options.items() if value is not None}
    _check_options(dataset, reader, options)
    return reader(Path(root), **options)


def _check_options(dataset: str, reader: Callable[..., Corpus], options: dict[str, Any]) -> None:
    """InputError naming the options ``reader`` does not take, or the ones it needs, as command-line flags."""
    params = [
        p
        for p in list(inspect.signature(reader).parameters.values())[1:]  # after the root
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    unknown = sorted(set(options) - {p.name for p in params})
    if unknown:
        raise InputError(f"--dataset {dataset} does not take {', '.join(map(_flag, unknown))}")
    needed = [p.name for p in params if p.default is p.empty and p.name not in options]
    if needed:
        raise InputError(f"--dataset {dataset} needs {', '.join(map(_flag, needed))}")


def _flag(option: str) -> str:
    """The command-line flag of a reader option: ``labels`` -> ``--labels``."""
    return "--" + option.replace("_", "-")
