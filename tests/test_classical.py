"""Classical regressors: they learn, their torch forward is scikit-learn's predict, their state is tensors only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from mer_zoo.errors import MerZooError
from mer_zoo.models import check_compatible, get_model, get_model_info
from mer_zoo.models import classical_fit as cf
from mer_zoo.models.classical import DEFAULT_ALPHAS, FittedRegressor, RidgeRegressor
from mer_zoo.runs import load_checkpoint, save_checkpoint

MODELS = ["ridge", "svr", "hist_gbt"]
D = 12
OPTIONS: dict[str, dict[str, Any]] = {"ridge": {}, "svr": {}, "hist_gbt": {"max_iter": 40, "learning_rate": 0.1}}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Small fits are quickest on one OpenMP thread (and do not fight over a shared machine's cores)."""
    with threadpool_limits(1):
        yield


def _build(name: str) -> FittedRegressor:
    model = get_model(name, n_mels=D, n_outputs=2, **OPTIONS[name])
    assert isinstance(model, FittedRegressor)
    return model


@pytest.fixture(scope="module")
def problem() -> dict[str, np.ndarray]:
    """50 songs of 8 windows; arousal and valence a smooth function of the first features, plus noise."""
    rng = np.random.default_rng(0)
    songs = np.repeat(np.arange(50), 8)
    x = rng.normal(size=(songs.size, D)).astype(np.float32)
    signal = np.stack([0.6 * x[:, 0] + 0.3 * np.tanh(2 * x[:, 1]), 0.5 * x[:, 2] - 0.2 * x[:, 3] ** 2], axis=1)
    y = (signal + 0.05 * rng.normal(size=signal.shape)).astype(np.float32)
    train = songs < 40
    return {"x": x[train], "y": y[train], "songs": songs[train], "x_test": x[~train], "y_test": y[~train]}


@pytest.fixture(scope="module")
def fitted(problem: dict[str, np.ndarray]) -> dict[str, Any]:
    models = {}
    for name in MODELS:
        models[name] = _build(name)
        models[name].fit_arrays(problem["x"], problem["y"], problem["songs"])
    return models


def _predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _sklearn(name: str, model: Any, problem: dict[str, np.ndarray]) -> list[Any]:
    x, y, songs = cf.check_arrays(name, problem["x"], problem["y"], problem["songs"], D, 2)
    if name == "ridge":
        return cf.fit_ridge(x, y, songs, model.alphas, model.folds)
    if name == "svr":
        return cf.fit_svr(x, y, songs, model.c_grid, model.epsilon, model.folds)
    return cf.fit_hist_gbt(x, y, **model.params)


def test_they_are_registered_vector_models_that_are_fitted_not_trained() -> None:
    for name in MODELS:
        assert get_model_info(name).spec.inputs == ("vector",)
        check_compatible(name, "image", 128, "mel")  # frame-level sets are served as mean+std vectors
        model = get_model(name, n_mels=256)
        assert model.fitted is True and model.trainable is False and not list(model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_each_model_beats_the_mean_on_held_out_songs(
    name: str, problem: dict[str, np.ndarray], fitted: dict[str, Any]
) -> None:
    pred = _predict(fitted[name], problem["x_test"])
    assert pred.shape == problem["y_test"].shape and pred.dtype == np.float32
    mse = np.mean((pred - problem["y_test"]) ** 2)
    baseline = np.mean((problem["y"].mean(axis=0) - problem["y_test"]) ** 2)
    assert mse < 0.5 * baseline


@pytest.mark.parametrize("name", MODELS)
def test_torch_forward_equals_sklearn_predict(
    name: str, problem: dict[str, np.ndarray], fitted: dict[str, Any]
) -> None:
    x = problem["x_test"].copy()
    if name == "hist_gbt":
        x[::3, 0] = np.nan  # trees send missing values where scikit-learn does
    estimators = _sklearn(name, fitted[name], problem)
    expected = np.stack([e.predict(x.astype(np.float64)) for e in estimators], axis=1)
    np.testing.assert_allclose(_predict(fitted[name], x), expected, rtol=0, atol=1e-5)


def test_the_exported_trees_are_all_of_them(fitted: dict[str, Any]) -> None:
    model = fitted["hist_gbt"]
    assert model.roots.numel() == 2 * 40 and model.is_leaf.sum() > model.roots.numel()
    assert torch.equal(torch.bincount(model.tree_output), torch.tensor([40, 40]))


@pytest.mark.parametrize("name", MODELS)
def test_fitted_state_round_trips_through_a_checkpoint(
    name: str, problem: dict[str, np.ndarray], fitted: dict[str, Any], tmp_path: Path
) -> None:
    state = fitted[name].state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())  # no pickled estimator anywhere
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": name, "epoch": 0, "state_dict": {k: v.detach().cpu() for k, v in state.items()}})
    fresh = _build(name)
    fresh.load_state_dict(load_checkpoint(path)["state_dict"])  # torch.load(weights_only=True) inside
    assert torch.equal(fresh(torch.from_numpy(problem["x_test"])), fitted[name](torch.from_numpy(problem["x_test"])))


def test_an_edited_fitted_value_fails_the_checksum(fitted: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": "hist_gbt", "epoch": 0, "state_dict": fitted["hist_gbt"].state_dict()})
    data = torch.load(path, weights_only=True)
    data["state_dict"]["threshold"][0] += 1.0
    torch.save(data, path)
    with pytest.raises(MerZooError, match="checksum mismatch"):
        load_checkpoint(path)


def test_inner_folds_never_split_a_song() -> None:
    songs = np.repeat(np.arange(7), [3, 1, 4, 2, 5, 2, 3])
    folds = cf.group_folds(songs, 5)
    assert len(folds) == 5
    for train, val in folds:
        assert not set(songs[train]) & set(songs[val])
    assert sorted(np.concatenate([val for _, val in folds])) == list(range(songs.size))


def test_alpha_is_chosen_across_songs_not_across_windows() -> None:
    """Windows of a song share a fingerprint and an offset: memorising songs looks good only within a song."""
    rng = np.random.default_rng(0)
    n_songs, per, d = 30, 8, 40
    songs = np.repeat(np.arange(n_songs), per)
    fingerprint, offset = rng.normal(size=(n_songs, d)), rng.normal(size=(n_songs, 2))
    x = (fingerprint[songs] + 0.1 * rng.normal(size=(songs.size, d))).astype(np.float32)
    y = (offset[songs] + 0.3 * x[:, :2]).astype(np.float32)
    by_song, by_window = RidgeRegressor(d, 2, DEFAULT_ALPHAS, 5), RidgeRegressor(d, 2, DEFAULT_ALPHAS, 5)
    by_song.fit_arrays(x, y, songs)
    by_window.fit_arrays(x, y, np.arange(songs.size))  # every window its own group: plain K-fold
    assert by_song.alpha.min() >= 100 * by_window.alpha.max()


@pytest.mark.parametrize("name", MODELS)
def test_bad_training_arrays_are_one_line_errors(name: str, problem: dict[str, np.ndarray]) -> None:
    x = problem["x"].copy()
    x[17, 3] = np.nan
    model = _build(name)
    with pytest.raises(MerZooError, match=rf"^{name}: 1 training windows have non-finite features \(first: row 17, "
                       rf"song {problem['songs'][17]}\)$"):  # fmt: skip
        model.fit_arrays(x, problem["y"], problem["songs"])
    with pytest.raises(MerZooError, match=r"must be \(N, 12\) vectors"):
        model.fit_arrays(x[:, :5], problem["y"], problem["songs"])
    with pytest.raises(MerZooError, match="not fitted yet"):
        model(torch.zeros(2, D))


def test_inner_cross_validation_needs_two_songs(problem: dict[str, np.ndarray]) -> None:
    with pytest.raises(MerZooError, match="at least 2 training songs, got 1"):
        _build("ridge").fit_arrays(problem["x"][:8], problem["y"][:8], problem["songs"][:8])


def test_bad_options_are_refused_at_build() -> None:
    bad: list[tuple[str, dict[str, Any]]] = [
        ("ridge", {"alphas": [0.0]}),
        ("svr", {"folds": 1}),
        ("hist_gbt", {"max_iter": 0}),
    ]
    for name, options in bad:
        with pytest.raises(ValueError, match=name):
            get_model(name, n_mels=D, **options)


def test_a_frame_batch_is_refused_by_name(fitted: dict[str, Any]) -> None:
    with pytest.raises(MerZooError, match=r"ridge: expects \(B, 12\) vectors, got \(2, 1, 12, 5\)"):
        fitted["ridge"](torch.zeros(2, 1, D, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", MODELS)
def test_fits_and_runs_on_cuda(name: str, problem: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
    model = _build(name).cuda()
    model.fit_arrays(problem["x"], problem["y"], problem["songs"])
    x = torch.from_numpy(problem["x_test"]).cuda()
    with torch.no_grad(), torch.autocast(device_type="cuda", dtype=torch.float16):
        out = model(x)
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.float().cpu().numpy(), _predict(fitted[name], problem["x_test"]), atol=1e-5)


@pytest.mark.parametrize("name", ["ridge", "svr", "hist_gbt"])
def test_classical_models_train_evaluate_compare_and_predict_through_the_cli(
    name: str, demo_store: Path, demo_root: Path, tmp_path: Path
) -> None:
    from conftest import run_cli

    runs = tmp_path / "runs"
    assert run_cli(["train", "--model", name, "--features", demo_store, "--out", runs, "--device", "cpu"]) == 0
    (run,) = runs.iterdir()
    assert (run / "best.pt").is_file() and json.loads((run / "metrics.json").read_text())["test"]["mse"] > 0
    assert run_cli(["evaluate", run, "--device", "cpu"]) == 0
    assert run_cli(["compare", run, "--csv", tmp_path / "board.csv"]) == 0
    song = sorted((demo_root / "DEAM_audio/MEMD_audio").glob("*.mp3"))[0]
    out = tmp_path / "p.csv"
    assert run_cli(["predict", run, song, "--out", out, "--workers", "1", "--no-progress", "--device", "cpu"]) == 0
    assert out.read_text().count("\n") > 5
