"""Window planning: which windows are kept, their labels, and the drop counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mer_zoo.audio.windows import DROP_AUDIO, DROP_LABELS, fit_to_audio, plan_windows
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.base import SongRecord


def _song(times: np.ndarray, seed: int = 0) -> SongRecord:
    rng = np.random.default_rng(seed)
    return SongRecord(
        song_id=1,
        audio_path=Path("1.mp3"),
        times_s=np.asarray(times, dtype=np.float64),
        arousal=rng.uniform(-1, 1, len(times)).astype(np.float32),
        valence=rng.uniform(-1, 1, len(times)).astype(np.float32),
        static={},
    )


def test_a_45_s_excerpt_gives_six_windows_labelled_with_their_means() -> None:
    song = _song(15.0 + 0.5 * np.arange(60))  # 15.0 .. 44.5 s
    plan = plan_windows(song, FeatureConfig())
    np.testing.assert_array_equal(plan.start_s, [15, 20, 25, 30, 35, 40])
    np.testing.assert_array_equal(plan.end_s, plan.start_s + 5)
    np.testing.assert_allclose(plan.arousal, song.arousal.reshape(6, 10).mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(plan.valence, song.valence.reshape(6, 10).mean(axis=1), rtol=1e-6)
    assert not plan.dropped


def test_a_61st_value_adds_no_window_and_no_drop() -> None:
    plan = plan_windows(_song(15.0 + 0.5 * np.arange(61)), FeatureConfig())
    assert len(plan) == 6 and not plan.dropped


def test_a_full_song_gives_windows_over_its_whole_annotated_span() -> None:
    plan = plan_windows(_song(15.0 + 0.5 * np.arange(2 * 200)), FeatureConfig())  # to 214.5 s
    assert len(plan) == 40 and plan.end_s[-1] == 215.0


def test_partly_annotated_windows_are_dropped_and_counted() -> None:
    times = 15.0 + 0.5 * np.arange(60)
    gap = (times < 26.0) | (times >= 27.0)  # two values missing inside [25, 30)
    plan = plan_windows(_song(np.append(times[gap], [45.0, 45.5, 46.0, 46.5, 47.0, 47.5])), FeatureConfig())
    np.testing.assert_array_equal(plan.start_s, [15, 20, 30, 35, 40])
    assert plan.dropped == {DROP_LABELS: 2}  # [25, 30) has a gap, [45, 50) stops at 47.5


def test_other_hops_and_starts() -> None:
    config = FeatureConfig(start_s=20.0, clip_s=5.0, hop_s=2.5)
    plan = plan_windows(_song(15.0 + 0.5 * np.arange(60)), config)
    np.testing.assert_array_equal(plan.start_s, [20, 22.5, 25, 27.5, 30, 32.5, 35, 37.5, 40])


def test_no_annotations_plan_nothing() -> None:
    assert len(plan_windows(_song(np.zeros(0)), FeatureConfig())) == 0


@pytest.mark.parametrize(("seconds", "kept"), [(45.0, 6), (44.99, 5), (30.0, 3), (19.0, 0)])
def test_windows_past_the_end_of_the_audio_are_dropped(seconds: float, kept: int) -> None:
    config = FeatureConfig()
    plan = fit_to_audio(plan_windows(_song(15.0 + 0.5 * np.arange(60)), config), int(seconds * 44100), config)
    assert len(plan) == kept and len(plan.arousal) == kept
    assert plan.dropped == ({DROP_AUDIO: 6 - kept} if kept < 6 else {})
