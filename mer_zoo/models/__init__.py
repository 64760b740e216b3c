"""The model zoo: build any registered model by name, list them, read their specs.

Built-in families live one per module here; plugins add more through the
``mer_zoo.models`` entry-point group (see ``plugins/mer-zoo-example``).
"""

from __future__ import annotations

from mer_zoo.models.registry import (
    ModelInfo,
    ModelSpec,
    check_compatible,
    get_model,
    get_model_info,
    list_models,
    register_model,
)

__all__ = [
    "ModelInfo",
    "ModelSpec",
    "check_compatible",
    "get_model",
    "get_model_info",
    "list_models",
    "register_model",
]
