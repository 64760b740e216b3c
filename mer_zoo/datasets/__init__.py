"""Dataset readers, keyed by the ``--dataset`` name: each turns a folder into a `Corpus`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from mer_zoo.datasets.base import Corpus, SongRecord
from mer_zoo.errors import InputError

__all__ = ["Corpus", "SongRecord", "get_reader", "list_readers", "read_corpus"]

# name -> "module:function"; a reader is imported only when asked for.
_READERS: dict[str, str] = {
    "deam": "mer_zoo.datasets.deam:read_deam",
}


def list_readers() -> list[str]:
    """Names accepted by ``--dataset``, sorted."""
    return sorted(_READERS)


def get_reader(name: str) -> Callable[[Path], Corpus]:
    """The reader registered under ``name`` (case-insensitive); InputError if unknown."""
    target = _READERS.get(name.strip().lower())
    if target is None:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(list_readers())}")
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def read_corpus(root: Path, dataset: str = "deam") -> Corpus:
    """Read the dataset folder ``root`` with the reader named ``dataset``."""
    return get_reader(dataset)(Path(root))
