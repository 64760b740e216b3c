"""The work of one Dask task: a few songs in, each one's windows in every set (or a reason) out.

Kept apart from ``build.py`` so that workers import only what they run (no rich, no
scheduler code), and so the task never raises: every failure becomes a one-line reason.
Each song is decoded once, over the span its windows need, and every feature set of the
job is computed from that one decoded span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mer_zoo.audio import WindowPlan, fit_to_audio, load_audio, plan_windows, static_windows, window_slices
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets import SongRecord
from mer_zoo.errors import MerZooError, describe, one_line
from mer_zoo.features import Extractor
from mer_zoo.store import SongFeatures

__all__ = [
    "ExtractJob",
    "SongResult",
    "extract_file",
    "extract_samples",
    "extract_song",
    "extract_songs",
    "warm_up",
]


@dataclass(frozen=True)
class ExtractJob:
    """What every task of a build shares: window settings, the sets to compute, the label layout."""

    windows: FeatureConfig
    extractors: Sequence[Extractor]
    frames_per_window: int
    static_labels: bool = False  # the corpus is labelled per song: windows cover the whole audio


class SongResult(NamedTuple):
    """What a worker returns: features, or None, a one-line reason and the set that failed; windows dropped."""

    song_id: int
    features: SongFeatures | None
    reason: str
    dropped: dict[str, int]
    failed_set: str = ""


def extract_song(song: SongRecord, job: ExtractJob) -> SongResult:
    """Plan, decode and compute every set of one song's windows; never raises."""
    try:
        return _extract(song, job)
    except MerZooError as err:
        return SongResult(song.song_id, None, one_line(str(err)), {})
    except Exception as err:  # a bug or a decoder surprise must not stop the other songs
        return SongResult(song.song_id, None, one_line(f"{song.audio_path}: {type(err).__name__}: {err}"), {})


def extract_songs(songs: list[SongRecord], job: ExtractJob) -> list[SongResult]:
    """``extract_song`` for each of a few songs: one Dask task for several, to save its overhead."""
    return [extract_song(song, job) for song in songs]


def _extract(song: SongRecord, job: ExtractJob) -> SongResult:
    config = job.windows
    if job.static_labels:
        y, duration = load_audio(song.audio_path, config.sample_rate, offset_s=config.start_s)
        first = config.start_s
        plan = static_windows(song, int(round(first * config.sample_rate)) + len(y), config, job.frames_per_window)
        if len(plan) == 0:
            return _too_short(song, duration, first, config, {})
    else:
        if len(song.times_s) == 0:
            reason = f"song {song.song_id}: no dynamic annotations (arousal/valence rows missing or empty)"
            return SongResult(song.song_id, None, reason, {})
        planned = plan_windows(song, config, job.frames_per_window)
        if len(planned) == 0:
            reason = (
                f"song {song.song_id}: no {config.clip_s:g}-s window from {config.start_s:g} s is fully annotated "
                f"(annotations {song.times_s[0]:g}-{song.times_s[-1]:g} s)"
            )
            return SongResult(song.song_id, None, reason, dict(planned.dropped))
        first, last = planned.span_s
        y, duration = load_audio(song.audio_path, config.sample_rate, offset_s=first, duration_s=last - first)
        plan = fit_to_audio(planned, int(round(first * config.sample_rate)) + len(y), config)
        if len(plan) == 0:
            return _too_short(song, duration, first, config, dict(plan.dropped))
    offsets = [s.start for s in window_slices(plan.start_s, first, config)]
    features = {}
    for extractor in job.extractors:
        try:
            features[extractor.name] = extractor.compute(y, offsets, config)
        except Exception as err:  # one set failing fails the song, naming the set
            reason = f"{song.audio_path}: feature set {extractor.name!r} failed ({type(err).__name__}: {err})"
            return SongResult(song.song_id, None, one_line(reason), dict(plan.dropped), extractor.name)
    return SongResult(song.song_id, _song_features(song, plan, features, duration), "", dict(plan.dropped))


def _too_short(
    song: SongRecord, duration: float, first: float, config: FeatureConfig, dropped: dict[str, int]
) -> SongResult:
    reason = (
        f"{song.audio_path}: audio ends at {duration:.2f} s, before the end of its first window "
        f"({first:g}-{first + config.clip_s:g} s)"
    )
    return SongResult(song.song_id, None, reason, dropped)


def _song_features(song: SongRecord, plan: WindowPlan, features: dict[str, Any], duration: float) -> SongFeatures:
    return SongFeatures(
        song_id=song.song_id,
        path=str(song.audio_path),
        duration_s=float(duration),
        features=features,
        start_s=plan.start_s,
        end_s=plan.end_s,
        arousal=plan.arousal,
        valence=plan.valence,
        frame_times=plan.frame_times,
        arousal_frames=plan.arousal_frames,
        valence_frames=plan.valence_frames,
        static=dict(song.static),
        metadata=dict(song.metadata),
    )


def extract_file(path: Any, windows: FeatureConfig, extractors: Sequence[Extractor]) -> tuple[dict[str, Any], Any]:
    """Every whole window of any audio file from 0 s, in each set (for prediction).

    Returns:
        ``({set: (n, *shape) float32}, window start times in seconds (n,))``.

    Raises:
        MerZooError: the file cannot be decoded, is shorter than one window, or a set fails.
    """
    y, _ = load_audio(path, windows.sample_rate)
    return extract_samples(y, windows, extractors, path)


def extract_samples(
    y: Any, windows: FeatureConfig, extractors: Sequence[Extractor], name: Any
) -> tuple[dict[str, Any], Any]:
    """:func:`extract_file` of mono samples ``y`` at ``windows.sample_rate``; ``name`` names them in errors."""
    from mer_zoo.audio import window_starts

    starts = window_starts(len(y) / windows.sample_rate, windows, 0.0)
    if len(starts) == 0:
        raise MerZooError(
            f"{name}: audio ends at {len(y) / windows.sample_rate:.2f} s, shorter than one {windows.clip_s:g}-s window"
        )
    offsets = [s.start for s in window_slices(starts, 0.0, windows)]
    features = {}
    for extractor in extractors:
        try:
            features[extractor.name] = extractor.compute(y, offsets, windows)
        except Exception as err:
            raise MerZooError(f"{name}: feature set {extractor.name!r} failed ({describe(err)})") from None
    return features, starts


def warm_up(job: ExtractJob) -> None:
    """Import the decoder and build each set's tables once (each imports what it uses), so the first song pays nothing."""
    import soundfile  # noqa: F401

    for extractor in job.extractors:
        extractor.warm_up(job.windows)
