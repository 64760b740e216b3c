"""Per-feature standardisation and frame pooling: numpy in, numpy out (torch tensors where given).

Kept apart from :mod:`mer_zoo.data` (torch and h5py) so that prediction from an exported
model normalises its windows exactly as training did without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from mer_zoo.errors import MerZooError

if TYPE_CHECKING:
    import torch

__all__ = ["Normalizer", "pool_frames"]

_STD_FLOOR = 1e-6
_FIT_BATCH = 64
ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")


class _Windows(Protocol):
    """What ``Normalizer.fit`` reads: a dataset's window shape and raw (unnormalised) windows."""

    item_shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def read_raw(self, rows: range) -> np.ndarray: ...


class Normalizer:
    """Per-feature standardisation: ``(x - mean[d]) / std[d]`` along each window's first axis.

    For frame-level sets ``d`` is the bin (mel band, descriptor), statistics taken over all
    frames; for vectors it is the vector's element.

    Args:
        mean: ``(D,)`` per-feature means.
        std: ``(D,)`` per-feature standard deviations (floored at 1e-6 when applied).
        ndim: dimensions of one window (2 for ``(D, frames)``, 1 for vectors).
    """

    def __init__(self, mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray, ndim: int = 2) -> None:
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape or self.mean.size == 0 or not np.isfinite(self.mean).all():
            raise MerZooError("normalizer: mean and std must be finite and of the same non-zero length")
        self.ndim = int(ndim)
        tail = (1,) * (self.ndim - 1)
        self._shift = self.mean.reshape(-1, *tail)
        self._scale = np.maximum(self.std, _STD_FLOOR).reshape(-1, *tail)

    @property
    def n_mels(self) -> int:
        """Number of features (mel bins) the statistics cover."""
        return int(self.mean.size)

    @classmethod
    def fit(cls, dataset: _Windows) -> Normalizer:
        """Per-feature mean and std over every frame of ``dataset``, streamed in small batches.

        Pass the training dataset only. Its own normalizer and augmentation are ignored.
        """
        n_features = dataset.item_shape[0]
        count, mean, m2 = 0, np.zeros(n_features), np.zeros(n_features)
        for start in range(0, len(dataset), _FIT_BATCH):
            x = dataset.read_raw(range(start, min(start + _FIT_BATCH, len(dataset))))
            x = x.reshape(x.shape[0], n_features, -1)
            n_b = x.shape[0] * x.shape[2]
            mean_b = x.mean(axis=(0, 2), dtype=np.float64)
            m2_b = np.square(x - mean_b.astype(np.float32)[:, None]).sum(axis=(0, 2), dtype=np.float64)
            # Chan et al.'s pairwise update: exact merge of two partial means and M2 sums.
            delta, total = mean_b - mean, count + n_b
            mean += delta * (n_b / total)
            m2 += m2_b + delta**2 * (count * n_b / total)
            count = total
        return cls(mean, np.sqrt(m2 / count), ndim=len(dataset.item_shape))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able statistics, saved with a run."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "ndim": self.ndim}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild from ``to_dict`` output."""
        try:
            return cls(d["mean"], d["std"], int(d.get("ndim", 2)))
        except (KeyError, TypeError, ValueError) as err:
            raise MerZooError(f"normalizer: malformed statistics ({err})") from None

    def __call__(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Normalise ``(..., D, frames)`` (or ``(..., D)``) windows; returns a new array or tensor."""
        if not isinstance(x, np.ndarray):  # a tensor: torch is loaded already
            import torch

            shift = torch.from_numpy(self._shift).to(x.device)
            return (x - shift) / torch.from_numpy(self._scale).to(x.device)
        return (x - self._shift) / self._scale

    def apply_(self, x: ArrayT) -> ArrayT:
        """Normalise a float32 ``(..., D, frames)`` (or ``(..., D)``) array or CPU tensor in place and return it.

        Tensors take torch's kernels, twice as fast as numpy's on a broadcast ``(D, 1)`` and
        equal to the bit (each element is one subtraction and one division either way).
        """
        if not isinstance(x, np.ndarray):
            import torch

            x.sub_(torch.from_numpy(self._shift)).div_(torch.from_numpy(self._scale))
        else:
            x -= self._shift
            x /= self._scale
        return x


def pool_frames(x: np.ndarray) -> np.ndarray:
    """Mean and std over time of frame-level windows ``(B, D, T)`` -> ``(B, 2D)`` vectors."""
    return np.concatenate([x.mean(axis=-1), x.std(axis=-1)], axis=-1).astype(np.float32, copy=False)
