"""The model registry: names -> builders, from the ``mer_zoo.models`` entry points.

A model declares what it takes in its :class:`ModelSpec`: which kinds of feature set
(``image``/``sequence``: frame-level sets served as ``(B, 1, D, T)``; ``vector``: one
``(B, D)`` vector per window) and, when it needs a fixed size, how many features ``D``;
and what it gives: one ``(B, 2)`` value per window, and with ``temporal=True`` also a
sequence ``(B, F, 2)`` when called as ``model(x, n_frames=F)`` (the dynamic task's 0.5-s frames).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.registry import BUILT_IN, Registry, first_doc_line

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "FRAME_KINDS",
    "KINDS",
    "REGISTRY",
    "ModelInfo",
    "ModelSpec",
    "check_compatible",
    "get_model",
    "get_model_info",
    "list_models",
    "register_model",
]

ENTRY_POINT_GROUP = "mer_zoo.models"
KINDS = ("image", "sequence", "vector")
FRAME_KINDS = ("image", "sequence")

Builder = TypeVar("Builder", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelSpec:
    """What a model expects and gives: ``n_mels`` (features D; None: any), outputs, set kinds, temporal.

    ``temporal``: ``forward(x, n_frames=F)`` returns ``(B, F, n_outputs)``, one value per label frame.
    """

    n_mels: int | None = None
    n_outputs: int = 2
    inputs: tuple[str, ...] = FRAME_KINDS
    temporal: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its name, where it comes from, a one-line description, its spec."""

    name: str
    source: str
    description: str
    spec: ModelSpec


def _plain_info(name: str, builder: Callable[..., Any], source: str) -> ModelInfo:
    return ModelInfo(name.strip().lower(), source, first_doc_line(builder), ModelSpec())


REGISTRY: Registry[ModelInfo] = Registry("model", ENTRY_POINT_GROUP, "mer-zoo models", _plain_info)


def register_model(
    name: str | Callable[..., Any] | None = None,
    *,
    n_mels: int | None = None,
    n_outputs: int = 2,
    inputs: tuple[str, ...] = FRAME_KINDS,
    temporal: bool = False,
    description: str | None = None,
) -> Any:
    """Register a builder; use bare (``@register_model``) or with arguments.

    Args:
        name: registry name; the builder's ``__name__`` when None. Stored in lower case.
        n_mels: the features (mel bins) the model requires, or None when it adapts.
        n_outputs: number of outputs (2: arousal, valence).
        inputs: the feature-set kinds it takes (see ``KINDS``).
        temporal: whether ``forward(x, n_frames=F)`` gives one output per label frame ``(B, F, n_outputs)``.
        description: one line for ``mer-zoo models``; the docstring's first line when None.

    Returns:
        The decorator, or the builder itself when used bare.
    """
    if callable(name):
        bare = register_model(
            n_mels=n_mels, n_outputs=n_outputs, inputs=inputs, temporal=temporal, description=description
        )
        return bare(name)
    unknown = sorted(set(inputs) - set(KINDS))
    if unknown or not inputs:
        raise MerZooError(f"model inputs must be among {', '.join(KINDS)}, got {list(inputs)}")

    def decorator(builder: Builder) -> Builder:
        key = (name or builder.__name__).strip().lower()
        spec = ModelSpec(n_mels, n_outputs, tuple(inputs), bool(temporal))
        info = ModelInfo(key, REGISTRY.source_of(builder), description or first_doc_line(builder), spec)
        REGISTRY.register(key, builder, info)
        return builder

    return decorator


def get_model(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build the model registered as ``name``; keyword arguments that are None are dropped."""
    builder, info = REGISTRY.lookup(name)
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    wanted = kwargs.get("n_mels")
    if info.spec.n_mels is not None and wanted is not None and wanted != info.spec.n_mels:
        raise MerZooError(f"model {info.name!r} needs n_mels={info.spec.n_mels}, got {wanted}")
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as err:
        raise InputError(f"model {info.name!r}: {err}") from None
    return builder(**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style ``pattern`` (case-insensitive), sorted."""
    return REGISTRY.names(pattern)


def get_model_info(name: str) -> ModelInfo:
    """The name, source, description and spec of a registered model."""
    return REGISTRY.lookup(name)[1]


def check_compatible(name: str, kind: str, n_features: int, set_name: str = "mel") -> None:
    """MerZooError naming both sides when the model cannot take ``set_name`` (its kind or size)."""
    spec = get_model_info(name).spec
    label = f"model {name.strip().lower()!r}"
    if kind not in spec.inputs and not (kind in FRAME_KINDS and "vector" in spec.inputs):
        raise MerZooError(
            f"{label} takes {'/'.join(spec.inputs)} features, but feature set {set_name!r} is of kind {kind!r}"
        )
    if kind in spec.inputs and spec.n_mels is not None and spec.n_mels != n_features:
        raise MerZooError(
            f"{label} expects n_mels={spec.n_mels}, but feature set {set_name!r} has {n_features} features"
        )
