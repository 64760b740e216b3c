"""The tasks as data: which labels each reads, how predictions pool, what is scored, on which scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr
from task_stores import FRAMES, WINDOWS, write_tiny_store

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.scales import parse_scale
from mer_zoo.store.reader import FeatureStore
from mer_zoo.store.writer import StoreLabels
from mer_zoo.tasks import (
    MODEL_SCALE,
    TASK_NAMES,
    TaskLabels,
    check_task,
    frame_rows,
    from_model,
    get_task,
    hold,
    pool_songs,
    read_labels,
    score,
    task_scale,
    to_model,
    unlabelled_songs,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("tasks") / "tiny.h5", n_songs=6)


def test_three_tasks_and_a_clear_error_for_others() -> None:
    assert TASK_NAMES == ("window", "static", "dynamic")
    assert get_task(" Static ").name == "static"
    with pytest.raises(InputError, match="unknown task 'song': use window, static, dynamic"):
        get_task("song")


def test_each_task_reads_its_own_labels(tiny: Path) -> None:
    with FeatureStore(tiny) as store:
        segments, songs, frames = store.segments, store.songs.set_index("song_id"), store.frames()
    rows = np.arange(len(segments))
    window = read_labels(get_task("window"), tiny, rows)
    np.testing.assert_array_equal(window.targets, segments[["arousal", "valence"]].to_numpy(dtype=np.float32))
    static = read_labels(get_task("static"), tiny, rows)
    expected = songs.loc[segments["song_id"], ["arousal_mean", "valence_mean"]].to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(static.targets, expected)  # every window carries its song's static label
    dynamic = read_labels(get_task("dynamic"), tiny, rows[4:8])
    assert dynamic.targets.shape == (4, FRAMES, 2) and dynamic.frame_times is not None
    np.testing.assert_array_equal(dynamic.targets[..., 0], frames["arousal_frames"][4:8])
    np.testing.assert_array_equal(dynamic.frame_times, frames["frame_times"][4:8])


def test_scales_come_from_the_store(tiny: Path, tmp_path: Path) -> None:
    scales = {"dynamic": "-1..1", "static": "1..9"}
    assert task_scale(get_task("window"), scales) == parse_scale("-1..1")
    assert task_scale(get_task("dynamic"), scales) == parse_scale("-1..1")
    assert task_scale(get_task("static"), scales) == parse_scale("1..9")
    # a corpus labelled per song only: its window labels are the static labels
    assert task_scale(get_task("window"), scales, window_labels="static") == parse_scale("1..9")
    assert to_model(np.array([1.0, 5.0, 9.0]), parse_scale("1..9")).tolist() == [-1.0, 0.0, 1.0]
    assert from_model(np.array([-1.0, 0.0, 1.0]), parse_scale("0..1")).tolist() == [0.0, 0.5, 1.0]
    same = np.array([0.25, -0.5], dtype=np.float32)
    np.testing.assert_array_equal(to_model(same, MODEL_SCALE), same)


def test_static_pools_a_songs_windows_by_their_mean() -> None:
    songs, pooled = pool_songs(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 5.0]]), [7, 7, 3])
    assert songs.tolist() == [3, 7] and pooled.tolist() == [[5.0, 5.0], [2.0, 3.0]]
    # windows that scatter around their song's label score perfectly once pooled
    labels = TaskLabels(np.array([[6.0, 4.0]] * 2 + [[2.0, 8.0]] * 2, dtype=np.float32), np.array([1, 1, 2, 2]))
    preds = np.array([[5.0, 3.0], [7.0, 5.0], [1.0, 9.0], [3.0, 7.0]])
    block = score(get_task("static"), labels, preds, train_mean=[4.0, 6.0])
    assert block["n_songs"] == 2 and block["n_windows"] == 4
    assert block["mse"] == 0.0 and block["arousal"]["r2"] == 1.0 and block["valence"]["ccc"] == 1.0
    assert block["baseline_mse"] == pytest.approx(4.0)  # (2^2 + 2^2) / 2 on each dimension


def test_a_window_value_is_held_over_its_frames() -> None:
    held = hold(np.array([[0.1, 0.2], [0.3, 0.4]]), 3)
    assert held.shape == (2, 3, 2) and held[1, 2].tolist() == [0.3, 0.4]
    frames = np.zeros((2, 3, 2))
    assert hold(frames, 3) is frames


def test_frames_are_scored_once_without_their_nan_labels() -> None:
    # Two overlapping windows of song 5 share the frame at 1.0 s; the last frame is unlabelled.
    times = np.array([[0.0, 0.5, 1.0], [1.0, 1.5, 2.0]])
    targets = np.array([[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], [[0.3, 0.3], [0.4, 0.4], [np.nan, np.nan]]])
    preds = np.array([[[0.0, 0.0], [0.0, 0.0], [0.2, 0.2]], [[0.4, 0.4], [0.0, 0.0], [9.0, 9.0]]])
    songs, t, p = frame_rows(np.array([5, 5]), times, targets, preds)
    assert songs.tolist() == [5] * 4
    assert t[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert p[:, 0].tolist() == pytest.approx([0.0, 0.0, 0.3, 0.0])  # 1.0 s: mean of 0.2 and 0.4


def test_dynamic_scores_are_per_song_then_averaged(tiny: Path) -> None:
    task = get_task("dynamic")
    labels = read_labels(task, tiny, np.arange(6 * WINDOWS))
    rng = np.random.default_rng(1)
    preds = labels.targets + rng.normal(0, 0.1, labels.targets.shape)
    block = score(task, labels, preds, train_mean=[0.0, 0.0])
    labelled = np.isfinite(labels.targets[..., 0])
    assert block["n_songs"] == 6 and block["n_frames"] == int(labelled.sum())
    per_song_rmse, per_song_r = [], []
    for song in range(1, 7):
        rows = labels.song_ids == song
        t, p = labels.targets[rows][..., 0], preds[rows][..., 0]
        keep = np.isfinite(t)
        per_song_rmse.append(np.sqrt(np.mean((t[keep] - p[keep]) ** 2)))
        per_song_r.append(pearsonr(t[keep], p[keep])[0])
    arousal = block["arousal"]
    assert arousal["per_song"]["rmse"]["mean"] == pytest.approx(np.mean(per_song_rmse))
    assert arousal["per_song"]["rmse"]["std"] == pytest.approx(np.std(per_song_rmse))
    assert arousal["per_song"]["pearson"]["mean"] == pytest.approx(np.mean(per_song_r))
    t_all, p_all = labels.targets[..., 0][labelled], preds[..., 0][labelled]
    assert arousal["pooled"]["pearson"] == pytest.approx(pearsonr(t_all, p_all)[0])
    # a prediction at an unlabelled frame changes nothing
    preds[~labelled] = 50.0
    assert score(task, labels, preds, train_mean=[0.0, 0.0])["arousal"] == arousal
    # a window model's (n, 2) output is held over the frames
    held = score(task, labels, np.nanmean(labels.targets, axis=1), train_mean=[0.0, 0.0])
    assert held["n_frames"] == block["n_frames"] and held["rmse_per_song"] < held["baseline_rmse_per_song"]


def test_a_task_the_store_cannot_serve_is_refused(tmp_path: Path) -> None:
    record = {"path": "pm.h5", "dataset": "pmemo", "window_labels": "static"}
    with pytest.raises(
        MerZooError, match=r"task 'dynamic' needs 2 Hz labels, but store pm.h5 \(pmemo\) has static labels only"
    ):
        check_task(get_task("dynamic"), "crnn", 2, record)
    check_task(get_task("static"), "crnn", 2, record)
    with pytest.raises(MerZooError, match="model 'big' has 3 outputs, but task 'window' needs 2"):
        check_task(get_task("window"), "big", 3, {"window_labels": "dynamic"})


def test_songs_without_static_labels_are_named(tmp_path: Path) -> None:
    path = write_tiny_store(tmp_path / "nan.h5", n_songs=4, static_only=False)
    import h5py

    with h5py.File(path, "r+") as f:
        f["songs/arousal_mean"][2] = np.nan
    assert unlabelled_songs(get_task("static"), path) == [3]
    assert unlabelled_songs(get_task("window"), path) == []


def test_static_only_corpus_labels(tmp_path: Path) -> None:
    path = write_tiny_store(tmp_path / "pm.h5", n_songs=3, static_only=True, labels=StoreLabels(static_scale="0..1"))
    with FeatureStore(path) as store:
        assert store.window_labels == "static"
    labels = read_labels(get_task("window"), path, np.arange(3 * WINDOWS))
    static = read_labels(get_task("static"), path, np.arange(3 * WINDOWS))
    np.testing.assert_allclose(labels.targets, static.targets)
