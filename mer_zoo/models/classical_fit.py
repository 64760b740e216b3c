"""Fitting the classical regressors with scikit-learn, and exporting them to plain arrays.

Each ``fit_*`` takes training windows ``x (N, D)``, targets ``y (N, O)`` and each window's
song ``groups (N,)``, and returns one fitted scikit-learn estimator per output.
Hyperparameters are chosen by inner cross-validation over the training songs, grouped so
that no song has windows on both sides of a fold (:func:`group_folds`). Each ``export_*``
turns those estimators into a dict of numpy arrays, all :mod:`mer_zoo.models.classical`
keeps: a fitted model is saved and loaded as tensors, never as a pickled estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from mer_zoo.errors import MerZooError

__all__ = [
    "check_arrays",
    "export_hist_gbt",
    "export_ridge",
    "export_svr",
    "fit_hist_gbt",
    "fit_ridge",
    "fit_svr",
    "group_folds",
]

Arrays = dict[str, np.ndarray]


def check_arrays(
    name: str, x: Any, y: Any, groups: Any, n_features: int, n_outputs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x``, ``y`` as float64 and ``groups`` as int64; MerZooError naming the first bad row and its song."""
    x, y, groups = np.asarray(x), np.asarray(y), np.asarray(groups)
    if x.ndim != 2 or x.shape[1] != n_features:
        raise MerZooError(f"{name}: features must be (N, {n_features}) vectors, got shape {x.shape}")
    if y.shape != (x.shape[0], n_outputs) or groups.shape != (x.shape[0],):
        raise MerZooError(
            f"{name}: {x.shape[0]} feature rows need targets ({x.shape[0]}, {n_outputs}) and song ids "
            f"({x.shape[0]},), got {y.shape} and {groups.shape}"
        )
    if x.shape[0] == 0:
        raise MerZooError(f"{name}: no training windows to fit")
    x, y, groups = x.astype(np.float64), y.astype(np.float64), groups.astype(np.int64)
    for what, values in (("features", x), ("targets", y)):
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if bad.size:
            raise MerZooError(
                f"{name}: {bad.size} training windows have non-finite {what} "
                f"(first: row {bad[0]}, song {groups[bad[0]]})"
            )
    return x, y, groups


def group_folds(groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``min(folds, songs)`` (train, validation) index pairs that never split a song; MerZooError under 2 songs."""
    n_songs = np.unique(groups).size
    if n_songs < 2:
        raise MerZooError(f"inner cross-validation needs at least 2 training songs, got {n_songs}")
    splitter = GroupKFold(n_splits=min(folds, n_songs))
    return list(splitter.split(np.zeros((groups.size, 1)), groups=groups))


def _select(
    estimator: BaseEstimator,
    grid: dict[str, Sequence[float]],
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int,
) -> BaseEstimator:
    """The estimator refit on all of ``x`` with the grid point of lowest grouped cross-validated MSE."""
    if all(len(values) == 1 for values in grid.values()):
        return clone(estimator).set_params(**{k: v[0] for k, v in grid.items()}).fit(x, y)
    search = GridSearchCV(estimator, grid, cv=group_folds(groups, folds), scoring="neg_mean_squared_error")
    return search.fit(x, y).best_estimator_


def fit_ridge(x: np.ndarray, y: np.ndarray, groups: np.ndarray, alphas: Sequence[float], folds: int) -> list[Pipeline]:
    """Standardise + ridge per output, ``alpha`` chosen from ``alphas`` by grouped inner CV."""
    pipe = make_pipeline(StandardScaler(), Ridge())
    return [_select(pipe, {"ridge__alpha": list(alphas)}, x, y[:, o], groups, folds) for o in range(y.shape[1])]


def export_ridge(pipes: list[Pipeline]) -> Arrays:
    """``weight (D, O)``, ``bias (O,)`` with the standardisation folded in, and the chosen ``alpha (O,)``."""
    weight, bias = [], []
    for pipe in pipes:
        scaler, ridge = pipe[0], pipe[-1]
        w = np.asarray(ridge.coef_, dtype=np.float64).reshape(-1) / scaler.scale_
        weight.append(w)
        bias.append(float(ridge.intercept_) - float(scaler.mean_ @ w))
    return {
        "weight": np.stack(weight, axis=1),
        "bias": np.asarray(bias),
        "alpha": np.asarray([pipe[-1].alpha for pipe in pipes], dtype=np.float64),
    }


def fit_svr(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, c_grid: Sequence[float], epsilon: float, folds: int
) -> list[Pipeline]:
    """Standardise + RBF SVR (``gamma="scale"``) per output, ``C`` chosen from ``c_grid`` by grouped inner CV."""
    pipe = make_pipeline(StandardScaler(), SVR(kernel="rbf", gamma="scale", epsilon=epsilon))
    return [_select(pipe, {"svr__C": list(c_grid)}, x, y[:, o], groups, folds) for o in range(y.shape[1])]


def export_svr(pipes: list[Pipeline]) -> Arrays:
    """Standardisation, the union of support vectors ``(S, D)``, dual coefficients ``(S, O)``, intercepts, gammas."""
    scaler = pipes[0][0]
    rows: dict[int, int] = {}
    vectors: list[np.ndarray] = []
    for pipe in pipes:
        for index, vector in zip(pipe[-1].support_, pipe[-1].support_vectors_):
            if int(index) not in rows:
                rows[int(index)] = len(vectors)
                vectors.append(vector)
    dual = np.zeros((len(vectors), len(pipes)))
    for o, pipe in enumerate(pipes):
        dual[[rows[int(i)] for i in pipe[-1].support_], o] = pipe[-1].dual_coef_[0]
    return {
        "mean": np.asarray(scaler.mean_, dtype=np.float64),
        "scale": np.asarray(scaler.scale_, dtype=np.float64),
        "support": np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1),
        "dual": dual,
        "intercept": np.asarray([float(p[-1].intercept_[0]) for p in pipes]),
        "gamma": np.asarray([float(p[-1]._gamma) for p in pipes]),
        "C": np.asarray([float(p[-1].C) for p in pipes]),
    }


def fit_hist_gbt(x: np.ndarray, y: np.ndarray, **params: Any) -> list[HistGradientBoostingRegressor]:
    """One ``HistGradientBoostingRegressor(**params)`` per output, no early stopping, numeric features only."""
    base = HistGradientBoostingRegressor(early_stopping=False, categorical_features=None, random_state=0, **params)
    return [clone(base).fit(x, y[:, o]) for o in range(y.shape[1])]


def export_hist_gbt(models: list[HistGradientBoostingRegressor]) -> Arrays:
    """Every tree's nodes in flat arrays (children as global node indices), tree roots and outputs, baselines."""
    nodes, roots, outputs, baseline = [], [], [], []
    offset = 0
    for o, model in enumerate(models):
        baseline.append(float(np.asarray(model._baseline_prediction).reshape(-1)[0]))
        for (predictor,) in model._predictors:
            tree = predictor.nodes
            if tree["is_categorical"].any():
                raise MerZooError("hist_gbt: categorical splits cannot be exported")
            tree = tree.copy()
            tree["left"] += offset
            tree["right"] += offset
            nodes.append(tree)
            roots.append(offset)
            outputs.append(o)
            offset += len(tree)
    flat = np.concatenate(nodes)
    return {
        "feature": flat["feature_idx"].astype(np.int64),
        "threshold": flat["num_threshold"].astype(np.float64),
        "left": flat["left"].astype(np.int64),
        "right": flat["right"].astype(np.int64),
        "is_leaf": flat["is_leaf"].astype(bool),
        "missing_left": flat["missing_go_to_left"].astype(bool),
        "value": flat["value"].astype(np.float64),
        "roots": np.asarray(roots, dtype=np.int64),
        "tree_output": np.asarray(outputs, dtype=np.int64),
        "baseline": np.asarray(baseline),
        "depth": np.asarray([int(flat["depth"].max())], dtype=np.int64),
    }
