"""Parsing ``KEY=VALUE`` options (``--opt``) and ``NAME:key=value`` specs (``--set``)."""

from __future__ import annotations

__all__ = ["model_options", "named_options", "option_value"]


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
