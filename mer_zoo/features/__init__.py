"""Feature extractors, by name: built-ins and plugins from the ``mer_zoo.features`` entry points.

An extractor turns the decoded audio of one song's windows into one array per window and
says what it produces: its ``kind`` (``image``: bins x frames, e.g. mel; ``sequence``:
features x frames of per-frame descriptors, e.g. MFCC; ``vector``: D values per window,
e.g. functionals), its shape, its frame rate and its settings (recorded in the store).
Frame-level sets are stored ``(D, frames)`` whatever their kind, so every frame-level
model reads every frame-level set the same way.

Register one with :func:`register_extractor` on a builder that takes keyword settings and
returns an :class:`Extractor` (see ``mer_zoo/features/mel.py``).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.registry import Registry, first_doc_line

__all__ = [
    "ENTRY_POINT_GROUP",
    "KINDS",
    "Extractor",
    "ExtractorInfo",
    "get_extractor",
    "get_extractor_info",
    "list_extractors",
    "register_extractor",
    "takes_option",
]

ENTRY_POINT_GROUP = "mer_zoo.features"
KINDS = ("image", "sequence", "vector")

Builder = TypeVar("Builder", bound=Callable[..., Any])


class Extractor(ABC):
    """Computes one feature set for the windows of a song (see the module docstring)."""

    #: set by the registry: the name the set is stored under (``--set NAME=EXTRACTOR`` renames it)
    name: str = ""
    #: set by the registry: the registered name of the extractor that computes the set
    extractor_name: str = ""
    kind: str = "image"
    version: str = "1"
    #: what computes it (e.g. ``numpy``, ``torch-cuda``), recorded in the store
    backend: str = "numpy"

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The settings that decide the values (JSON-able), recorded as the set's ``config``."""

    @abstractmethod
    def shape(self, windows: FeatureConfig) -> tuple[int, ...]:
        """The shape of one window's features under the store's window settings."""

    def frame_rate_hz(self, windows: FeatureConfig) -> float | None:
        """Frames per second of a frame-level set; None for vectors."""
        return None

    def about(self) -> dict[str, Any]:
        """What else the store records of the set (JSON-able): e.g. a model's class and library versions."""
        return {}

    @abstractmethod
    def compute(self, span: np.ndarray, offsets: Sequence[int], windows: FeatureConfig) -> np.ndarray:
        """Features ``(len(offsets), *shape)`` float32 of the windows starting at ``offsets`` in ``span``.

        Args:
            span: mono float32 audio at ``windows.sample_rate``.
            offsets: each window's first sample in ``span``; every window is
                ``windows.clip_samples`` long and lies inside ``span``.
            windows: the store's window settings.
        """

    def warm_up(self, windows: FeatureConfig) -> None:
        """Import and cache what the first song would otherwise pay for (called once per worker)."""
        silence = np.zeros(windows.clip_samples, dtype=np.float32)
        self.compute(silence, [0], windows)


@dataclass(frozen=True)
class ExtractorInfo:
    """A registered extractor: name, where it comes from, description, kind."""

    name: str
    source: str
    description: str
    kind: str


def _plain_info(name: str, builder: Callable[..., Any], source: str) -> ExtractorInfo:
    return ExtractorInfo(name.strip().lower(), source, first_doc_line(builder), "")


REGISTRY: Registry[ExtractorInfo] = Registry("feature set", ENTRY_POINT_GROUP, "mer-zoo features", _plain_info)


def register_extractor(name: str | None = None, *, kind: str, description: str | None = None) -> Any:
    """Register an extractor builder under ``name`` (its ``__name__`` when None) producing ``kind``."""
    if kind not in KINDS:
        raise MerZooError(f"extractor kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def decorator(builder: Builder) -> Builder:
        key = (name or builder.__name__).strip().lower()
        info = ExtractorInfo(key, REGISTRY.source_of(builder), description or first_doc_line(builder), kind)
        REGISTRY.register(key, builder, info)
        return builder

    return decorator


def get_extractor(name: str, **params: Any) -> Extractor:
    """Build the extractor registered as ``name`` with ``params`` (None values dropped)."""
    builder, info = REGISTRY.lookup(name)
    params = {key: value for key, value in params.items() if value is not None}
    try:
        inspect.signature(builder).bind(**params)
    except TypeError as err:
        raise InputError(f"feature set {info.name!r}: {err}") from None
    try:
        extractor = builder(**params)
    except (TypeError, ValueError) as err:
        raise InputError(f"feature set {info.name!r} rejected its settings {params}: {err}") from None
    if not isinstance(extractor, Extractor):
        raise MerZooError(f"feature set {info.name!r} from {info.source}: its builder did not return an Extractor")
    extractor.name = extractor.extractor_name = info.name
    return extractor


def takes_option(name: str, option: str) -> bool:
    """Whether the extractor registered as ``name`` takes the keyword setting ``option`` (e.g. ``device``)."""
    builder, _ = REGISTRY.lookup(name)
    parameters = inspect.signature(builder).parameters
    return option in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def get_extractor_info(name: str) -> ExtractorInfo:
    """The name, source, description and kind of a registered extractor."""
    return REGISTRY.lookup(name)[1]


def list_extractors(pattern: str = "*") -> list[str]:
    """Registered feature-set names matching a shell-style ``pattern``, sorted."""
    return REGISTRY.names(pattern)
