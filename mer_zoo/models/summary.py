"""One row per registered model for `mer-zoo models`: name, source, size, input, description."""

from __future__ import annotations

from dataclasses import dataclass

from mer_zoo.errors import MerZooError
from mer_zoo.models.registry import get_model, get_model_info, list_models

__all__ = ["ModelRow", "model_rows"]

DEFAULT_N_MELS = 128


@dataclass(frozen=True)
class ModelRow:
    """What the table shows about one model; ``parameters`` is None when it failed to build."""

    name: str
    source: str
    parameters: int | None
    expected_input: str
    description: str


def model_rows(pattern: str = "*") -> list[ModelRow]:
    """Describe every model matching ``pattern``, counting parameters at n_mels=128 (or the spec's)."""
    names = list_models(pattern)
    if not names:
        raise MerZooError(f"no model matches {pattern!r}; known models: {', '.join(list_models())}")
    rows = []
    for name in names:
        info = get_model_info(name)
        try:
            model = get_model(name, n_mels=info.spec.n_mels or DEFAULT_N_MELS, n_outputs=info.spec.n_outputs)
            parameters: int | None = sum(p.numel() for p in model.parameters())
        except Exception:  # a plugin's broken builder still gets its row
            parameters = None
        features = info.spec.n_mels or ("D" if "vector" in info.spec.inputs else "n_mels")
        shape = f"(B, {features})" if "image" not in info.spec.inputs else f"(B, 1, {features}, T)"
        rows.append(ModelRow(name, info.source, parameters, shape, info.description))
    return rows
