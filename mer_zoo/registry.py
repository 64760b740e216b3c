"""The one registry mechanism: names -> builders, filled lazily from an entry-point group.

Models (``mer_zoo.models``), feature extractors (``mer_zoo.features``) and dataset readers
(``mer_zoo.datasets``) are each a :class:`Registry`. mer-zoo declares its own modules in
those groups too, so built-ins and plugins load the same way. An entry point names either a
module (importing it runs its register decorators) or a callable (registered under the
entry point's name). Names are stored in lower case; an unknown name suggests close ones; a
plugin that fails to load gives a warning naming it, and everything else still works.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import inspect
import os
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mer_zoo.errors import InputError, MerZooError

__all__ = ["BUILT_IN", "DISABLE_PLUGINS_ENV", "Registry"]

BUILT_IN = "built-in"
DISABLE_PLUGINS_ENV = "MER_ZOO_DISABLE_PLUGINS"
_OWN_DISTRIBUTION = "mer-zoo"

Info = TypeVar("Info")


class Registry(Generic[Info]):
    """One named registry: ``register``, ``lookup``, ``names``, loaded from ``group`` once.

    Args:
        kind: what it holds, for messages (``"model"``, ``"feature set"``, ``"dataset"``).
        group: the entry-point group that built-ins and plugins declare.
        listing: the command that lists the names, for messages.
        default_info: builds the info of a callable that an entry point names directly,
            from ``(name, builder, source)``.
    """

    def __init__(
        self, kind: str, group: str, listing: str, default_info: Callable[[str, Callable[..., Any], str], Info]
    ) -> None:
        self.kind, self.group, self.listing = kind, group, listing
        self._default_info = default_info
        self.entries: dict[str, tuple[Callable[..., Any], Info]] = {}
        self.loaded = False
        self._loading_source: str | None = None  # the distribution whose entry point is loading

    def register(self, name: str, builder: Callable[..., Any], info: Info) -> None:
        """Add ``builder`` under ``name`` (lower case); a second registration is a MerZooError naming both."""
        key = normalise(name)
        if key in self.entries:
            old_builder, _ = self.entries[key]
            raise MerZooError(
                f"{self.kind} {key!r} is registered twice: by {_origin(self.source_of(old_builder), old_builder)} "
                f"and by {_origin(self.source_of(builder), builder)}"
            )
        self.entries[key] = (builder, info)

    def lookup(self, name: str) -> tuple[Callable[..., Any], Info]:
        """The builder and info registered as ``name``; InputError with close names when unknown."""
        self.ensure_loaded()
        key = normalise(name)
        if key in self.entries:
            return self.entries[key]
        close = [known for known in sorted(self.entries) if key and key in known]
        close += [known for known in difflib.get_close_matches(key, self.entries, n=3) if known not in close]
        hint = (
            f"did you mean {', '.join(close[:3])}?"
            if close
            else f"known {self.kind}s: {', '.join(sorted(self.entries))}"
        )
        raise InputError(f"unknown {self.kind} {name!r}; {hint} (see `{self.listing}`)")

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern`` (case-insensitive), sorted."""
        self.ensure_loaded()
        return sorted(fnmatch.filter(self.entries, pattern.lower()))

    def source_of(self, builder: Callable[..., Any]) -> str:
        """``built-in`` for mer-zoo's own builders, else the distribution that is loading (or the module)."""
        module = getattr(builder, "__module__", "") or ""
        if module == "mer_zoo" or module.startswith("mer_zoo."):
            return BUILT_IN
        return self._loading_source or module or "unknown"

    def entry_points(self) -> list[importlib.metadata.EntryPoint]:
        """The group's entry points, mer-zoo's own first so a plugin cannot shadow a built-in."""
        found = importlib.metadata.entry_points(group=self.group)
        return sorted(found, key=lambda ep: (_distribution(ep) != _OWN_DISTRIBUTION, ep.name))

    def ensure_loaded(self) -> None:
        """Load every entry point of the group once; a failing plugin only gives a warning."""
        if self.loaded:
            return
        self.loaded = True
        plugins_off = os.environ.get(DISABLE_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")
        entry_points = self.entry_points()
        if not any(_distribution(ep) == _OWN_DISTRIBUTION for ep in entry_points):
            warnings.warn(
                f"no built-in {self.kind}s: mer-zoo's {self.group!r} entry points are not installed "
                "(run `pip install -e .` in the mer-zoo checkout)",
                RuntimeWarning,
                stacklevel=3,
            )
        for entry_point in entry_points:
            dist = _distribution(entry_point)
            own = dist == _OWN_DISTRIBUTION
            if plugins_off and not own:
                continue
            self._loading_source = BUILT_IN if own else dist
            try:
                self._load(entry_point)
            except Exception as err:  # a broken plugin must not take the others down
                warnings.warn(
                    f"{self.kind} plugin {entry_point.name!r} from {dist} could not be loaded "
                    f"({entry_point.value}): {type(err).__name__}: {err}",
                    RuntimeWarning,
                    stacklevel=3,
                )
            finally:
                self._loading_source = None

    def _load(self, entry_point: importlib.metadata.EntryPoint) -> None:
        loaded = entry_point.load()
        if inspect.ismodule(loaded):
            return  # its decorators registered what it holds
        if not callable(loaded):
            raise TypeError("it names neither a module nor a callable")
        registered = self.entries.get(normalise(entry_point.name))
        if registered is None or registered[0] is not loaded:
            self.register(
                entry_point.name, loaded, self._default_info(entry_point.name, loaded, self.source_of(loaded))
            )


def normalise(name: str) -> str:
    """The stored form of a registry name: stripped, lower case."""
    return name.strip().lower()


def first_doc_line(obj: Any) -> str:
    """The first line of ``obj``'s docstring, or ``""``."""
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    return doc[0] if doc else ""


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return dist.name.replace("_", "-").lower() if dist is not None else "an unknown distribution"


def _origin(source: str, builder: Callable[..., Any]) -> str:
    module = getattr(builder, "__module__", None)
    return f"{source} ({module})" if module and module != source else source
