"""Dataset readers, keyed by the ``--dataset`` name: each turns a folder into a `Corpus`."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mer_zoo.datasets.base import Corpus, SongRecord
from mer_zoo.errors import InputError

__all__ = ["Corpus", "SongRecord", "get_reader", "list_readers", "read_corpus"]

# name -> "module:function"; a reader is imported only when asked for.
_READERS: dict[str, str] = {
    "csv": "mer_zoo.datasets.manifest:read_manifest",
    "deam": "mer_zoo.datasets.deam:read_deam",
    "pmemo": "mer_zoo.datasets.pmemo:read_pmemo",
}


def list_readers() -> list[str]:
    """Names accepted by ``--dataset``, sorted."""
    return sorted(_READERS)


def get_reader(name: str) -> Callable[..., Corpus]:
    """The reader registered under ``name`` (case-insensitive); InputError if unknown."""
    target = _READERS.get(name.strip().lower())
    if target is None:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(list_readers())}")
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


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
