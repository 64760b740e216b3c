"""The model registry: names -> builders, filled lazily from the ``mer_zoo.models`` entry points.

mer-zoo declares its own model modules in that group too, so built-ins and plugins load the
same way. An entry point names either a module (importing it runs its ``@register_model``
decorators) or a builder callable (registered under the entry point's name).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import inspect
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from mer_zoo.errors import InputError, MerZooError

if TYPE_CHECKING:
    import torch

    from mer_zoo.config import FeatureConfig

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModelInfo",
    "ModelSpec",
    "check_compatible",
    "get_model",
    "get_model_info",
    "list_models",
    "register_model",
]

ENTRY_POINT_GROUP = "mer_zoo.models"
BUILT_IN = "built-in"
_OWN_DISTRIBUTION = "mer-zoo"
_DISABLE_ENV = "MER_ZOO_DISABLE_PLUGINS"

Builder = TypeVar("Builder", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelSpec:
    """What a model expects: ``n_mels`` (None: any, given when building) and its outputs."""

    n_mels: int | None = None
    n_outputs: int = 2


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its name, where it comes from, a one-line description, its spec."""

    name: str
    source: str
    description: str
    spec: ModelSpec


_models: dict[str, tuple[Callable[..., Any], ModelInfo]] = {}
_loaded = False
_loading_source: str | None = None  # the distribution whose entry point is being loaded


def register_model(
    name: str | Callable[..., Any] | None = None,
    *,
    n_mels: int | None = None,
    n_outputs: int = 2,
    description: str | None = None,
) -> Any:
    """Register a builder; use bare (``@register_model``) or with arguments.

    Args:
        name: registry name; the builder's ``__name__`` when None. Stored in lower case.
        n_mels: the mel bins the model requires, or None when it adapts to ``n_mels``.
        n_outputs: number of outputs (2: arousal, valence).
        description: one line for ``mer-zoo models``; the docstring's first line when None.

    Returns:
        The decorator, or the builder itself when used bare.
    """
    if callable(name):
        return register_model(n_mels=n_mels, n_outputs=n_outputs, description=description)(name)

    def decorator(builder: Builder) -> Builder:
        key = (name or builder.__name__).strip().lower()
        doc = (inspect.getdoc(builder) or "").strip().splitlines()
        info = ModelInfo(key, _source_of(builder), description or (doc[0] if doc else ""), ModelSpec(n_mels, n_outputs))
        if key in _models:
            old_builder, old = _models[key]
            raise MerZooError(
                f"model {key!r} is registered twice: by {_origin(old.source, old_builder)} "
                f"and by {_origin(info.source, builder)}"
            )
        _models[key] = (builder, info)
        return builder

    return decorator


def get_model(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build the model registered as ``name``; keyword arguments that are None are dropped."""
    builder, info = _lookup(name)
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
    _ensure_loaded()
    return sorted(fnmatch.filter(_models, pattern.lower()))


def get_model_info(name: str) -> ModelInfo:
    """The name, source, description and spec of a registered model."""
    return _lookup(name)[1]


def check_compatible(name: str, config: FeatureConfig) -> None:
    """Raise MerZooError when the model's spec needs other mel bins than ``config`` records."""
    spec = get_model_info(name).spec
    if spec.n_mels is not None and spec.n_mels != config.n_mels:
        raise MerZooError(
            f"model {name.lower()!r} expects n_mels={spec.n_mels}, but the features have n_mels={config.n_mels}"
        )


def _lookup(name: str) -> tuple[Callable[..., Any], ModelInfo]:
    _ensure_loaded()
    key = name.strip().lower()
    if key in _models:
        return _models[key]
    close = [known for known in sorted(_models) if key and key in known]
    close += [known for known in difflib.get_close_matches(key, _models, n=3) if known not in close]
    close = close[:3]
    hint = f"did you mean {', '.join(close)}?" if close else f"known models: {', '.join(sorted(_models))}"
    raise InputError(f"unknown model {name!r}; {hint} (see `mer-zoo models`)")


def _ensure_loaded() -> None:
    """Load every entry point of the group once; a failing plugin only gives a warning."""
    global _loaded, _loading_source
    if _loaded:
        return
    _loaded = True
    plugins_off = os.environ.get(_DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")
    entry_points = _entry_points()
    if not any(_distribution(ep) == _OWN_DISTRIBUTION for ep in entry_points):
        warnings.warn(
            f"no built-in models: mer-zoo's {ENTRY_POINT_GROUP!r} entry points are not installed "
            "(run `pip install -e .` in the mer-zoo checkout)",
            RuntimeWarning,
            stacklevel=3,
        )
    for entry_point in entry_points:
        dist = _distribution(entry_point)
        own = dist == _OWN_DISTRIBUTION
        if plugins_off and not own:
            continue
        _loading_source = BUILT_IN if own else dist
        try:
            loaded = entry_point.load()
            if not (inspect.ismodule(loaded) or callable(loaded)):
                raise TypeError("it names neither a module nor a builder")
            registered = _models.get(entry_point.name.lower())
            if not inspect.ismodule(loaded) and (registered is None or registered[0] is not loaded):
                register_model(entry_point.name)(loaded)
        except Exception as err:  # a broken plugin must not take the other models down
            warnings.warn(
                f"model plugin {entry_point.name!r} from {dist} could not be loaded "
                f"({entry_point.value}): {type(err).__name__}: {err}",
                RuntimeWarning,
                stacklevel=3,
            )
        finally:
            _loading_source = None


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, mer-zoo's own first so a plugin cannot shadow a built-in."""
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (_distribution(ep) != _OWN_DISTRIBUTION, ep.name))


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return dist.name.replace("_", "-").lower() if dist is not None else "an unknown distribution"


def _source_of(builder: Callable[..., Any]) -> str:
    module = getattr(builder, "__module__", "") or ""
    if module == "mer_zoo" or module.startswith("mer_zoo."):
        return BUILT_IN
    return _loading_source or module or "unknown"


def _origin(source: str, builder: Callable[..., Any]) -> str:
    module = getattr(builder, "__module__", None)
    return f"{source} ({module})" if module and module != source else source
