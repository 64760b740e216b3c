"""A search space file: the ``train`` options and model options (``--opt``) a study tunes, with ranges and types.

YAML or JSON, one entry per option::

    lr:           {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    batch-size:   {type: categorical, choices: [16, 32, 64]}
    schedule:     {type: categorical, choices: [none, cosine]}
    opt.dropout:  {type: float, low: 0.0, high: 0.5}
    opt.channels: {type: int, low: 8, high: 32, step: 8}

Types: ``int`` and ``float`` (``low``, ``high``, optional ``step`` or ``log: true``), ``log``
(a float on a log scale) and ``categorical`` (``choices``). Train options are spelled as on
the command line (``batch-size`` or ``batch_size``); model options as ``opt.NAME`` (or
nested under ``opt:``). Anything else is refused with the file's name before any trial.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError

__all__ = ["TRAIN_OPTIONS", "Dimension", "SearchSpace", "load_space", "parse_space", "split_params"]

# The train options a space may tune: CLI spelling -> TrainConfig field.
TRAIN_OPTIONS = {
    "lr": "lr",
    "weight-decay": "weight_decay",
    "batch-size": "batch_size",
    "epochs": "epochs",
    "patience": "patience",
    "schedule": "schedule",
    "augment": "augment",
    "set": "feature_set",
}
MODEL_PREFIX = "opt."
TYPES = ("int", "float", "log", "categorical")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Dimension:
    """One tuned option: ``name`` as in the file (``lr``, ``opt.dropout``), its type and range or choices."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial suggests for this option."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def ends(self) -> tuple[Any, Any]:
        """The two extreme values (first and last choice), to check the option before any trial."""
        if self.kind == "categorical":
            return self.choices[0], self.choices[-1]
        assert self.low is not None and self.high is not None
        cast = int if self.kind == "int" else float
        return cast(self.low), cast(self.high)

    def to_dict(self) -> dict[str, Any]:
        """The entry as written back (canonical: it names a study)."""
        if self.kind == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class SearchSpace:
    """The tuned options of a study, in the file's order."""

    dimensions: tuple[Dimension, ...]
    source: str = "space"

    def suggest(self, trial: Any) -> dict[str, Any]:
        """One value per option, as an Optuna trial suggests them (``{"lr": 0.003, "opt.dropout": 0.2}``)."""
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def ends(self) -> list[dict[str, Any]]:
        """Every option at its low end, then at its high end."""
        return [{d.name: d.ends()[i] for d in self.dimensions} for i in (0, 1)]

    def to_dict(self) -> dict[str, Any]:
        """Every entry, canonical."""
        return {d.name: d.to_dict() for d in self.dimensions}


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's values as (TrainConfig fields, model options): ``{"batch-size": 16, "opt.dropout": 0.2}``
    -> ``({"batch_size": 16}, {"dropout": 0.2})``."""
    train, model = {}, {}
    for name, value in params.items():
        if name.startswith(MODEL_PREFIX):
            model[name[len(MODEL_PREFIX) :]] = value
        else:
            train[TRAIN_OPTIONS[name]] = value
    return train, model


def _name(key: str, source: str) -> str:
    """A file's key as the space names it: ``--batch_size`` -> ``batch-size``; ``opt.NAME`` kept."""
    key = str(key).strip()
    if key.startswith(MODEL_PREFIX) and len(key) > len(MODEL_PREFIX):
        return MODEL_PREFIX + key[len(MODEL_PREFIX) :].replace("-", "_")
    name = key.lstrip("-").replace("_", "-").lower()
    if name not in TRAIN_OPTIONS:
        raise InputError(
            f"{source}: unknown option {key!r}: a space tunes train options ({', '.join(TRAIN_OPTIONS)}) "
            "or model options written opt.NAME"
        )
    return name


def _number(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    try:
        number = float(value)  # YAML reads 1e-4 (no dot) as text
    except (TypeError, ValueError):
        raise InputError(f"{where}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{where}: {key} must be finite, got {value!r}")
    return number


def _dimension(name: str, entry: Any, source: str) -> Dimension:
    where = f"{source}: {name}"
    if not isinstance(entry, Mapping):
        raise InputError(f"{where}: expected a range or choices such as {{type: float, low: 0.0001, high: 0.01, "
                         "log: true}} (a fixed value is a train option on the command line)")  # fmt: skip
    unknown = sorted(set(entry) - {"type", "low", "high", "step", "log", "choices"})
    kind = str(entry.get("type", "categorical" if "choices" in entry else "")).lower()
    if unknown or kind not in TYPES:
        bad = f"unknown keys {unknown}" if unknown else f"type {entry.get('type')!r}"
        raise InputError(f"{where}: {bad}; use type ({', '.join(TYPES)}) with low, high, step, log, or choices")
    if kind == "categorical":
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, _SCALARS) for c in choices):
            raise InputError(f"{where}: choices must be a non-empty list of numbers, text, true/false or null")
        return Dimension(name, kind, choices=tuple(choices))
    low, high, step = (_number(entry, k, where) for k in ("low", "high", "step"))
    log = kind == "log" or bool(entry.get("log", False))
    kind = "float" if kind == "log" else kind
    if low is None or high is None or not low < high:
        raise InputError(f"{where}: needs low < high, got low {entry.get('low')!r}, high {entry.get('high')!r}")
    if log and (low <= 0 or step is not None):
        raise InputError(f"{where}: a log scale needs low > 0 and no step")
    if step is not None and step <= 0:
        raise InputError(f"{where}: step must be positive, got {step}")
    if kind == "int" and any(v is not None and v != int(v) for v in (low, high, step)):
        raise InputError(f"{where}: an int range needs whole numbers, got low {low}, high {high}, step {step}")
    return Dimension(name, kind, low, high, step, log)


def parse_space(data: Any, source: str = "space") -> SearchSpace:
    """A space from a file's parsed mapping; InputError naming ``source`` and the entry at fault."""
    if not isinstance(data, Mapping) or not data:
        raise InputError(
            f"{source}: expected a mapping of options to ranges, e.g. lr: {{type: log, low: 1e-4, high: 1e-2}}"
        )
    entries: dict[str, Any] = {}
    for key, entry in data.items():
        if str(key).strip() == "opt" and isinstance(entry, Mapping):
            entries.update({f"{MODEL_PREFIX}{k}": v for k, v in entry.items()})
        else:
            entries[str(key)] = entry
    dims = [_dimension(_name(key, source), entry, source) for key, entry in entries.items()]
    names = [d.name for d in dims]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{source}: {', '.join(twice)} given twice")
    return SearchSpace(tuple(dims), source)


def load_space(path: Path) -> SearchSpace:
    """The space in a ``.json``, ``.yaml`` or ``.yml`` file (YAML needs PyYAML, in the tune extra)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"--space {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"--space {path}: unreadable ({err})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError(
                f'--space {path}: YAML needs PyYAML: pip install "mer-zoo[tune]" (or write JSON)'
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise InputError(f"--space {path}: not valid YAML ({' '.join(str(err).split())})") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as err:
            raise InputError(f"--space {path}: not valid JSON ({err})") from None
    else:
        raise InputError(f"--space {path}: expected a .yaml, .yml or .json file")
    return parse_space(data, str(path))
