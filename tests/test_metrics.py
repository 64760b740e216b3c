"""The metrics module agrees with scipy/sklearn and with Lin's CCC written out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import mean_squared_error, r2_score

from mer_zoo import metrics


def _ccc_reference(t: np.ndarray, p: np.ndarray) -> float:
    """Lin (1989): rho_c = 2 s_xy / (s_x^2 + s_y^2 + (xbar - ybar)^2), moments with 1/n."""
    n = len(t)
    xbar, ybar = sum(t) / n, sum(p) / n
    sxy = sum((a - xbar) * (b - ybar) for a, b in zip(t, p)) / n
    sx2 = sum((a - xbar) ** 2 for a in t) / n
    sy2 = sum((b - ybar) ** 2 for b in p) / n
    return 2 * sxy / (sx2 + sy2 + (xbar - ybar) ** 2)


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    t = rng.uniform(-1, 1, 200)
    p = 0.6 * t + 0.1 + rng.normal(0, 0.3, 200)
    return t, p


def test_against_reference_implementations(pair: tuple[np.ndarray, np.ndarray]) -> None:
    t, p = pair
    assert metrics.mse(t, p) == pytest.approx(mean_squared_error(t, p), rel=1e-12)
    assert metrics.rmse(t, p) == pytest.approx(math.sqrt(mean_squared_error(t, p)), rel=1e-12)
    assert metrics.r2(t, p) == pytest.approx(r2_score(t, p), rel=1e-12)
    assert metrics.pearson(t, p) == pytest.approx(pearsonr(t, p)[0], rel=1e-12)
    assert metrics.ccc(t, p) == pytest.approx(_ccc_reference(t.tolist(), p.tolist()), rel=1e-12)


def test_ccc_penalises_bias_and_scale_that_pearson_ignores(pair: tuple[np.ndarray, np.ndarray]) -> None:
    t, _ = pair
    assert metrics.ccc(t, t) == pytest.approx(1.0)
    assert metrics.pearson(t, 2 * t + 0.5) == pytest.approx(1.0)
    assert metrics.ccc(t, 2 * t + 0.5) < 0.8
    assert metrics.ccc(t, 2 * t.mean() - t) == pytest.approx(-1.0)  # mirrored about the mean


def test_constant_predictions() -> None:
    t = np.array([0.1, -0.3, 0.5, 0.2])
    const = np.full(4, t.mean())
    assert math.isnan(metrics.pearson(t, const))  # undefined: no variance in the prediction
    assert metrics.ccc(t, const) == 0.0  # defined: a constant never agrees
    assert metrics.r2(t, const) == pytest.approx(0.0)
    assert metrics.r2(t, const) == pytest.approx(r2_score(t, const))


def test_constant_targets() -> None:
    t = np.full(5, 0.2)
    p = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    assert math.isnan(metrics.r2(t, p))
    assert math.isnan(metrics.pearson(t, p))
    assert metrics.ccc(t, p) == 0.0
    assert math.isnan(metrics.ccc(t, t))  # both the same constant: 0/0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="3 values"):
        metrics.mse([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no values"):
        metrics.mse([], [])


def test_metrics_block() -> None:
    rng = np.random.default_rng(0)
    targets = rng.uniform(-1, 1, (12, 2))
    preds = targets + rng.normal(0, 0.1, (12, 2))
    songs = np.repeat([3, 5, 9, 11], 3)
    block = metrics.metrics_block(targets, preds, songs, train_mean=[0.1, -0.2])
    assert block["n_songs"] == 4 and block["n_windows"] == 12
    assert block["mse"] == pytest.approx(mean_squared_error(targets, preds))
    assert block["baseline_mse"] == pytest.approx(mean_squared_error(targets, np.tile([0.1, -0.2], (12, 1))))
    for i, dim in enumerate(("arousal", "valence")):
        assert set(block[dim]) == {"mse", "rmse", "r2", "pearson", "ccc"}
        assert block[dim]["r2"] == pytest.approx(r2_score(targets[:, i], preds[:, i]))
    # undefined figures become JSON null, never NaN
    const = metrics.metrics_block(targets, np.zeros((12, 2)), songs, train_mean=[0, 0])
    assert const["arousal"]["pearson"] is None
    assert "NaN" not in json.dumps(const)


def test_mean_std_skips_undefined_values() -> None:
    assert metrics.mean_std([1.0, 3.0, float("nan")]) == {"mean": 2.0, "std": 1.0, "n": 2}
    assert metrics.mean_std([float("nan")]) == {"mean": None, "std": None, "n": 0}


def test_per_song_block_is_mediaeval_2015() -> None:
    """RMSE and r per song, then mean and std over songs; pooled figures over every frame; json-safe."""
    rng = np.random.default_rng(3)
    songs = np.repeat([10, 20, 30], [40, 25, 60])
    t = rng.uniform(-1, 1, (len(songs), 2))
    p = 0.5 * t + rng.normal(0, 0.2, t.shape)
    block = metrics.per_song_block(t, p, songs, train_mean=[0.1, -0.1])
    assert block["n_songs"] == 3 and block["n_frames"] == len(songs)
    for i, dim in enumerate(metrics.DIMENSIONS):
        rmses = [math.sqrt(mean_squared_error(t[songs == s, i], p[songs == s, i])) for s in (10, 20, 30)]
        rs = [pearsonr(t[songs == s, i], p[songs == s, i])[0] for s in (10, 20, 30)]
        per_song = block[dim]["per_song"]
        assert per_song["rmse"]["mean"] == pytest.approx(np.mean(rmses), rel=1e-12)
        assert per_song["rmse"]["std"] == pytest.approx(np.std(rmses), rel=1e-12)
        assert per_song["pearson"] == pytest.approx({"mean": np.mean(rs), "std": np.std(rs), "n": 3}, rel=1e-12)
        assert block[dim]["pooled"]["pearson"] == pytest.approx(pearsonr(t[:, i], p[:, i])[0], rel=1e-12)
        assert block[dim]["pooled"]["r2"] == pytest.approx(r2_score(t[:, i], p[:, i]), rel=1e-12)
    json.dumps(block, allow_nan=False)


def test_per_song_r_of_a_constant_prediction_is_left_out() -> None:
    songs = np.repeat([1, 2], 5)
    t = np.column_stack([np.linspace(-1, 1, 10)] * 2)
    p = np.zeros_like(t)
    block = metrics.per_song_block(t, p, songs, train_mean=[0.0, 0.0])
    assert block["arousal"]["per_song"]["pearson"] == {"mean": None, "std": None, "n": 0}
    assert block["arousal"]["per_song"]["rmse"]["n"] == 2 and block["mse"] == block["baseline_mse"]
