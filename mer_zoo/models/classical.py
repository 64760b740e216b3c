"""Classical regressors on per-window vectors: fitted with scikit-learn, evaluated in torch.

``ridge``, ``svr`` and ``hist_gbt`` take one ``(B, D)`` vector per window (functionals, or
the mean and std over time of a frame-level set). They are fitted, not trained:
``fit_arrays(x, y, groups)`` fits scikit-learn estimators on the training windows
(hyperparameters by inner cross-validation grouped by song, see
:mod:`mer_zoo.models.classical_fit`) and keeps only their arrays, as buffers. ``forward`` is
plain torch over those buffers (float64, so CUDA autocast leaves it alone), so evaluation,
prediction and ``.to(device)`` work as for the networks, and the fitted state is an
ordinary ``state_dict`` of tensors that loads with ``torch.load(weights_only=True)``.
Fitted shapes are unknown when a model is built: every buffer starts empty and takes the
shape of the checkpoint's tensor on ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from mer_zoo.errors import MerZooError
from mer_zoo.models.registry import register_model

__all__ = ["FittedRegressor", "HistGBTRegressor", "RidgeRegressor", "SVRRegressor", "hist_gbt", "ridge", "svr"]

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 5, 17))
DEFAULT_C_GRID = (0.1, 1.0, 10.0, 100.0)


class FittedRegressor(nn.Module):
    """A model fitted on arrays (``fit_arrays``), whose fitted state is its buffers.

    Subclasses name their buffers and dtypes in ``state_dtypes`` and implement ``_fit``
    (arrays in, arrays out) and ``_predict`` (float64 tensor in and out).
    """

    fitted = True
    trainable = False
    name: ClassVar[str]
    state_dtypes: ClassVar[dict[str, torch.dtype]]

    def __init__(self, n_features: int, n_outputs: int) -> None:
        super().__init__()
        if n_features < 1 or n_outputs < 1:
            raise ValueError(f"{self.name}: n_mels and n_outputs must be positive, got {n_features}, {n_outputs}")
        self.n_features, self.n_outputs = int(n_features), int(n_outputs)
        for key, dtype in self.state_dtypes.items():
            self.register_buffer(key, torch.empty(0, dtype=dtype))

    @property
    def is_fitted(self) -> bool:
        """True once fitted or loaded (every buffer holds values)."""
        return all(self.get_buffer(key).numel() > 0 for key in self.state_dtypes)

    def fit_arrays(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        """Fit on training windows ``x (N, D)``, targets ``y (N, O)`` and their songs ``groups (N,)``.

        Raises:
            MerZooError: wrong shapes, non-finite features or targets (naming the row's song),
                or too few songs for the inner cross-validation.
        """
        from mer_zoo.models.classical_fit import check_arrays

        x, y, groups = check_arrays(self.name, x, y, groups, self.n_features, self.n_outputs)
        self._set_state(self._fit(x, y, groups))

    def _fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        device = self.get_buffer(next(iter(self.state_dtypes))).device
        for key, dtype in self.state_dtypes.items():
            self._buffers[key] = torch.as_tensor(np.asarray(arrays[key]), dtype=dtype, device=device).clone()

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Take each saved tensor's shape, keep this model's dtype and device; the copy follows.
        for key, dtype in self.state_dtypes.items():
            saved = state_dict.get(prefix + key)
            if isinstance(saved, torch.Tensor):
                self._buffers[key] = torch.empty(saved.shape, dtype=dtype, device=self.get_buffer(key).device)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.is_fitted:
            raise MerZooError(f"{self.name}: not fitted yet (fit_arrays, or load a fitted state_dict)")
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise MerZooError(f"{self.name}: expects (B, {self.n_features}) vectors, got {tuple(x.shape)}")
        out = self._predict(x.to(torch.float64))
        return out.to(x.dtype if x.is_floating_point() else torch.float32)


class RidgeRegressor(FittedRegressor):
    """Ridge regression per output on standardised features: ``x @ weight + bias``."""

    name = "ridge"
    weight: torch.Tensor
    bias: torch.Tensor
    alpha: torch.Tensor
    state_dtypes: ClassVar[dict[str, torch.dtype]] = {
        "weight": torch.float64,
        "bias": torch.float64,
        "alpha": torch.float64,
    }

    def __init__(self, n_features: int, n_outputs: int, alphas: Sequence[float], folds: int) -> None:
        super().__init__(n_features, n_outputs)
        self.alphas, self.folds = [float(a) for a in alphas], int(folds)
        if not self.alphas or min(self.alphas) <= 0 or self.folds < 2:
            raise ValueError(f"ridge: alphas must be positive and folds >= 2, got {alphas}, {folds}")

    def _fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
        from mer_zoo.models.classical_fit import export_ridge, fit_ridge

        return export_ridge(fit_ridge(x, y, groups, self.alphas, self.folds))

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class SVRRegressor(FittedRegressor):
    """RBF support-vector regression per output: ``sum(dual * exp(-gamma ||z - sv||²)) + intercept``."""

    name = "svr"
    mean: torch.Tensor
    scale: torch.Tensor
    support: torch.Tensor
    dual: torch.Tensor
    intercept: torch.Tensor
    gamma: torch.Tensor
    C: torch.Tensor
    state_dtypes: ClassVar[dict[str, torch.dtype]] = {
        "mean": torch.float64, "scale": torch.float64, "support": torch.float64, "dual": torch.float64,
        "intercept": torch.float64, "gamma": torch.float64, "C": torch.float64,
    }  # fmt: skip

    def __init__(self, n_features: int, n_outputs: int, c_grid: Sequence[float], epsilon: float, folds: int) -> None:
        super().__init__(n_features, n_outputs)
        self.c_grid, self.epsilon, self.folds = [float(c) for c in c_grid], float(epsilon), int(folds)
        if not self.c_grid or min(self.c_grid) <= 0 or self.epsilon < 0 or self.folds < 2:
            raise ValueError(
                f"svr: c_grid must be positive, epsilon >= 0, folds >= 2; got {c_grid}, {epsilon}, {folds}"
            )

    def _fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
        from mer_zoo.models.classical_fit import export_svr, fit_svr

        return export_svr(fit_svr(x, y, groups, self.c_grid, self.epsilon, self.folds))

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.scale
        # libsvm's own form of the squared distance: z·z + sv·sv - 2 z·sv.
        d2 = (z * z).sum(1, keepdim=True) + (self.support * self.support).sum(1) - 2.0 * (z @ self.support.T)
        kernel = torch.exp(-d2.unsqueeze(-1) * self.gamma)  # (B, S, O)
        return (kernel * self.dual).sum(1) + self.intercept


class HistGBTRegressor(FittedRegressor):
    """Gradient-boosted trees per output, each tree walked level by level for the whole batch."""

    name = "hist_gbt"
    feature: torch.Tensor
    threshold: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    is_leaf: torch.Tensor
    missing_left: torch.Tensor
    value: torch.Tensor
    roots: torch.Tensor
    tree_output: torch.Tensor
    baseline: torch.Tensor
    depth: torch.Tensor
    state_dtypes: ClassVar[dict[str, torch.dtype]] = {
        "feature": torch.int64, "threshold": torch.float64, "left": torch.int64, "right": torch.int64,
        "is_leaf": torch.bool, "missing_left": torch.bool, "value": torch.float64, "roots": torch.int64,
        "tree_output": torch.int64, "baseline": torch.float64, "depth": torch.int64,
    }  # fmt: skip

    def __init__(self, n_features: int, n_outputs: int, **params: Any) -> None:
        super().__init__(n_features, n_outputs)
        positive = ("max_iter", "learning_rate", "min_samples_leaf")
        if any(params[k] <= 0 for k in positive) or params["max_leaf_nodes"] < 2 or params["l2_regularization"] < 0:
            raise ValueError(
                f"hist_gbt: {', '.join(positive)} must be positive, max_leaf_nodes >= 2, l2_regularization >= 0; "
                f"got {params}"
            )
        self.params = params
        self._steps = 0

    def _fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
        from mer_zoo.models.classical_fit import export_hist_gbt, fit_hist_gbt

        return export_hist_gbt(fit_hist_gbt(x, y, **self.params))

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        self._steps = int(arrays["depth"][0])

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        depth = state_dict.get(prefix + "depth")
        self._steps = int(depth.reshape(-1)[0]) if isinstance(depth, torch.Tensor) and depth.numel() else 0

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        node = self.roots.expand(x.shape[0], -1)  # (B, trees)
        for _ in range(self._steps):
            value = x.gather(1, self.feature[node])
            go_left = (value <= self.threshold[node]) | (torch.isnan(value) & self.missing_left[node])
            child = torch.where(go_left, self.left[node], self.right[node])
            node = torch.where(self.is_leaf[node], node, child)
        out = self.baseline.expand(x.shape[0], -1).clone()
        return out.index_add_(1, self.tree_output, self.value[node])


@register_model(inputs=("vector",))
def ridge(
    *, n_mels: int = 128, n_outputs: int = 2, alphas: Sequence[float] = DEFAULT_ALPHAS, folds: int = 5
) -> RidgeRegressor:
    """Ridge regression on per-window vectors; alpha by inner CV over the training songs.

    Args:
        n_mels: the vector length D.
        n_outputs: outputs (2: arousal, valence), each with its own alpha.
        alphas: the grid searched (default 1e-3 .. 1e5, half a decade apart).
        folds: inner cross-validation folds, grouped by song.
    """
    return RidgeRegressor(n_mels, n_outputs, alphas, folds)


@register_model(inputs=("vector",))
def svr(
    *,
    n_mels: int = 128,
    n_outputs: int = 2,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    epsilon: float = 0.05,
    folds: int = 3,
) -> SVRRegressor:
    """RBF support-vector regression on per-window vectors; C by inner CV over the training songs.

    Args:
        n_mels: the vector length D.
        n_outputs: outputs (2: arousal, valence), one SVR each.
        c_grid: the values of C searched; gamma is scikit-learn's ``"scale"`` on standardised features.
        epsilon: the width of the loss's insensitive tube, in target units.
        folds: inner cross-validation folds, grouped by song.
    """
    return SVRRegressor(n_mels, n_outputs, c_grid, epsilon, folds)


@register_model(inputs=("vector",))
def hist_gbt(
    *,
    n_mels: int = 128,
    n_outputs: int = 2,
    max_iter: int = 200,
    learning_rate: float = 0.05,
    max_leaf_nodes: int = 15,
    min_samples_leaf: int = 10,
    l2_regularization: float = 1.0,
) -> HistGBTRegressor:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingRegressor) on per-window vectors.

    Args:
        n_mels: the vector length D.
        n_outputs: outputs (2: arousal, valence), one boosted ensemble each.
        max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization: passed to
            scikit-learn unchanged (no early stopping: its validation windows would not be split by song).
    """
    return HistGBTRegressor(
        n_mels, n_outputs, max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min_samples_leaf, l2_regularization=l2_regularization,
    )  # fmt: skip
