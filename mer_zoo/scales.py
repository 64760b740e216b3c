"""Label scales as data: ``"-1..1"``, ``"0..1"``, ``"1..9"`` or any ``"LOW..HIGH"``.

Every store records the scale of its dynamic and static labels; metrics are reported on
the scale of the store they were computed on, and cross-corpus evaluation maps predictions
linearly from one scale onto another.
"""

from __future__ import annotations

import math

import numpy as np

from mer_zoo.errors import InputError

__all__ = ["Scale", "parse_scale"]


class Scale(tuple[float, float]):
    """A closed label interval ``(low, high)``; ``str`` gives the ``"LOW..HIGH"`` form."""

    @property
    def low(self) -> float:
        """The lowest value a label can take."""
        return self[0]

    @property
    def high(self) -> float:
        """The highest value a label can take."""
        return self[1]

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}"

    def contains(self, values: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
        """Which finite ``values`` lie on the scale (NaN counts as outside)."""
        v = np.asarray(values, dtype=np.float64)
        return (v >= self.low - tolerance) & (v <= self.high + tolerance)

    def map_to(self, values: np.ndarray, other: Scale) -> np.ndarray:
        """Map ``values`` linearly from this scale onto ``other`` (low to low, high to high)."""
        v = np.asarray(values, dtype=np.float64)
        return other.low + (v - self.low) * (other.high - other.low) / (self.high - self.low)


def parse_scale(text: str) -> Scale:
    """``"LOW..HIGH"`` (also ``"[LOW, HIGH]"``) as a Scale; InputError naming the text when malformed."""
    cleaned = str(text).strip().strip("[]()").replace(",", "..").replace(" ", "")
    low, sep, high = cleaned.partition("..")
    try:
        bounds = (float(low), float(high)) if sep else None
    except ValueError:
        bounds = None
    if bounds is None or not all(math.isfinite(b) for b in bounds) or bounds[0] >= bounds[1]:
        raise InputError(f"bad label scale {text!r}: use LOW..HIGH with LOW < HIGH, e.g. -1..1, 0..1 or 1..9")
    return Scale(bounds)
