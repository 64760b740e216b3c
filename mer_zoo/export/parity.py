"""The parity check of an export: the exported model against the torch model on the run's test windows.

Both are called exactly as prediction calls them (:class:`~mer_zoo.export.calls.ModelCall` on
:meth:`~mer_zoo.export.spec.PredictSpec.model_input`), on every test window of the run's store
in chunks, so memory stays bounded on a whole corpus. Frame-level models are also compared on
the first chunk cut to three quarters of its frames: the exported frames axis must be dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mer_zoo.export.calls import ModelCall
from mer_zoo.export.spec import PredictSpec

__all__ = ["Parity", "compare_calls"]

_CHUNK = 128  # windows compared at a time


@dataclass(frozen=True)
class Parity:
    """The largest absolute difference between two calls' outputs, over how many windows and frame counts."""

    max_abs_diff: float
    windows: int
    frames: tuple[int, ...]

    def describe(self) -> str:
        """E.g. ``max abs difference 2.4e-07 on 22 test windows (431 and 323 frames)``."""
        frames = f" ({' and '.join(str(f) for f in self.frames)} frames)" if self.frames else ""
        return f"max abs difference {self.max_abs_diff:.1e} on {self.windows} test windows{frames}"

    def to_dict(self, tolerance: float) -> dict[str, Any]:
        """What the sidecar records."""
        return {"max_abs_diff": self.max_abs_diff, "tolerance": tolerance, "windows": self.windows,
                "frames": list(self.frames)}  # fmt: skip


def compare_calls(spec: PredictSpec, dataset: Any, reference: ModelCall, exported: ModelCall) -> Parity:
    """``max |reference(x) - exported(x)|`` over the raw windows ``dataset.read_raw`` serves (unpooled)."""
    worst = 0.0
    frames_seen: tuple[int, ...] = ()
    for start in range(0, len(dataset), _CHUNK):
        raw = dataset.read_raw(range(start, min(start + _CHUNK, len(dataset))))
        worst = max(worst, _difference(spec, raw, reference, exported))
        if start == 0 and spec.input_shape[-1] == "frames":  # frame-level input: any length must work
            cut = raw[..., : max(1, raw.shape[-1] * 3 // 4)]
            worst = max(worst, _difference(spec, cut, reference, exported))
            frames_seen = (raw.shape[-1], cut.shape[-1])
    return Parity(worst, len(dataset), frames_seen)


def _difference(spec: PredictSpec, raw: np.ndarray, reference: ModelCall, exported: ModelCall) -> float:
    x = spec.model_input(raw)
    a, b = np.asarray(reference(x), dtype=np.float64), np.asarray(exported(x), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"outputs of shape {b.shape}, the torch model's are {a.shape}")
    if not np.isfinite(b).all() and np.isfinite(a).all():
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
