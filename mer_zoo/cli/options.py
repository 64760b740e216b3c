"""Parsing ``KEY=VALUE`` options (``--opt``) and ``[NAME=]EXTRACTOR:key=value`` specs (``--set``)."""

from __future__ import annotations

__all__ = ["model_options", "named_options", "option_value", "set_specs"]


def option_value(text: str) -> object:
    """``true``/``false``/``none``, an int or a float when the text is one, else the text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def named_options(spec: str, flag: str) -> tuple[str, dict[str, object]]:
    """``NAME`` or ``NAME:key=value,key=value`` -> (name, options)."""
    name, _, rest = spec.partition(":")
    return name.strip().lower(), model_options([p for p in rest.split(",") if p.strip()], flag)


def set_specs(specs: list[str]) -> tuple[list[str], dict[str, dict[str, object]]]:
    """``--set`` specs -> (sets, {set name: options}); a set is ``NAME`` or ``NAME=EXTRACTOR`` (``mert7=hf:path=DIR``)."""
    sets, options = [], {}
    for spec in specs:
        entry, settings = named_options(spec, "--set")
        sets.append(entry)
        options[entry.partition("=")[0].strip()] = settings
    return sets, options


def model_options(pairs: list[str], flag: str = "--opt") -> dict[str, object]:
    """``KEY=VALUE`` pairs -> options (values parsed by :func:`option_value`); InputError naming ``flag``."""
    from mer_zoo.errors import InputError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. --opt dropout=0.2 or --set mfcc:n_mfcc=13")
        options[key.strip().replace("-", "_")] = option_value(value.strip())
    return options
