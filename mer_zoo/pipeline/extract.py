"""The work of one Dask task: a few songs in, each one's windows in every set (or a reason) out.

Kept apart from ``build.py`` so that workers import only what they run (no rich, no
scheduler code), and so the task never raises: every failure becomes a one-line reason.
Each song is decoded once, over the span its windows need, and every feature set of the
job is computed from that one decoded span; each window's silence flag is taken from it too.
A file to predict is read a block of windows at a time (``file_blocks``), so the memory of
its worker does not grow with its length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from mer_zoo.audio import (
    AudioReader,
    WindowPlan,
    fit_to_audio,
    plan_windows,
    silent_windows,
    static_windows,
    window_slices,
)
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets import SongRecord
from mer_zoo.errors import MerZooError, describe, one_line
from mer_zoo.features import Extractor
from mer_zoo.store import SongFeatures

__all__ = [
    "BLOCK_WINDOWS",
    "ExtractJob",
    "FileBlock",
    "SongResult",
    "extract_file",
    "extract_samples",
    "extract_song",
    "extract_songs",
    "file_blocks",
    "warm_up",
]

BLOCK_WINDOWS = 16  # windows a file to predict is decoded for at a time (80 s of audio at a 5-s hop)
_BLOCK_S = 120.0  # and at most this much audio, however far apart its windows lie


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
    planned = None
    if not job.static_labels:  # labels first: a song without them fails so, whatever its audio
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
    with AudioReader(song.audio_path, config.sample_rate) as audio:
        if planned is None:
            first = config.start_s
            y, duration = audio.read(first)
            plan = static_windows(song, int(round(first * config.sample_rate)) + len(y), config, job.frames_per_window)
        else:
            first, last = planned.span_s
            y, duration = audio.read(first, last - first)
            plan = fit_to_audio(planned, int(round(first * config.sample_rate)) + len(y), config)
        backend = audio.backend
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
    silent = silent_windows(y, offsets, config.clip_samples)
    result = _song_features(song, plan, features, duration, silent, backend)
    return SongResult(song.song_id, result, "", dict(plan.dropped))


def _too_short(
    song: SongRecord, duration: float, first: float, config: FeatureConfig, dropped: dict[str, int]
) -> SongResult:
    reason = (
        f"{song.audio_path}: audio ends at {duration:.2f} s, before the end of its first window "
        f"({first:g}-{first + config.clip_s:g} s)"
    )
    return SongResult(song.song_id, None, reason, dropped)


def _song_features(
    song: SongRecord, plan: WindowPlan, features: dict[str, Any], duration: float, silent: Any, backend: str
) -> SongFeatures:
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
        silent=silent,
        backend=backend,
    )


class FileBlock(NamedTuple):
    """A block of a file's windows: each set's features, window starts (s), silence flags; ``last`` ends the file."""

    features: dict[str, Any]
    starts: Any
    silent: Any
    last: bool


def file_blocks(
    path: Any, windows: FeatureConfig, extractors: Sequence[Extractor], block_windows: int = BLOCK_WINDOWS
) -> Iterator[FileBlock]:
    """Every whole window of any audio file from 0 s, in each set, a block of windows at a time (for prediction).

    Each block decodes only the span of its windows from the open file, so memory stays flat
    however long the file; the file's end is where a block finds fewer windows than it asked for
    (the last block may hold none).

    Raises:
        MerZooError: the file cannot be decoded, is shorter than one window, or a set fails.
    """
    per_block = max(1, min(block_windows, int(_BLOCK_S // windows.hop_s)))
    with AudioReader(path, windows.sample_rate) as audio:
        first = 0
        while True:
            starts = windows.hop_s * np.arange(first, first + per_block, dtype=np.float64)
            y, duration = audio.read(float(starts[0]), float(starts[-1] - starts[0]) + windows.clip_s)
            slices = window_slices(starts, float(starts[0]), windows)
            fits = next((i for i, s in enumerate(slices) if s.stop > len(y)), len(slices))
            if fits == 0 and first == 0:
                raise MerZooError(
                    f"{path}: audio ends at {duration:.2f} s, shorter than one {windows.clip_s:g}-s window"
                )
            offsets = [s.start for s in slices[:fits]]
            features, silent = _featurise(y, offsets, windows, extractors, path)
            yield FileBlock(features, starts[:fits], silent, fits < per_block)
            if fits < per_block:
                return
            first += per_block


def extract_file(path: Any, windows: FeatureConfig, extractors: Sequence[Extractor]) -> tuple[dict[str, Any], Any]:
    """Every whole window of any audio file from 0 s, in each set (``file_blocks``, joined).

    Returns:
        ``({set: (n, *shape) float32}, window start times in seconds (n,))``.

    Raises:
        MerZooError: the file cannot be decoded, is shorter than one window, or a set fails.
    """
    blocks = list(file_blocks(path, windows, extractors))
    features = {e.name: np.concatenate([b.features[e.name] for b in blocks]) for e in extractors}
    return features, np.concatenate([b.starts for b in blocks])


def extract_samples(y: Any, windows: FeatureConfig, extractors: Sequence[Extractor], name: Any) -> FileBlock:
    """Every whole window of mono samples ``y`` at ``windows.sample_rate`` from 0 s, as one block; ``name`` in errors."""
    from mer_zoo.audio import window_starts

    starts = window_starts(len(y) / windows.sample_rate, windows, 0.0)
    if len(starts) == 0:
        raise MerZooError(
            f"{name}: audio ends at {len(y) / windows.sample_rate:.2f} s, shorter than one {windows.clip_s:g}-s window"
        )
    offsets = [s.start for s in window_slices(starts, 0.0, windows)]
    features, silent = _featurise(y, offsets, windows, extractors, name)
    return FileBlock(features, starts, silent, True)


def _featurise(
    y: Any, offsets: Sequence[int], windows: FeatureConfig, extractors: Sequence[Extractor], name: Any
) -> tuple[dict[str, Any], Any]:
    """Each set's features of the windows at ``offsets`` in ``y``, and their silence flags; MerZooError naming a failing set."""
    features = {}
    for extractor in extractors:
        try:
            features[extractor.name] = extractor.compute(y, offsets, windows)
        except Exception as err:
            raise MerZooError(f"{name}: feature set {extractor.name!r} failed ({describe(err)})") from None
    return features, silent_windows(y, offsets, windows.clip_samples)


def warm_up(job: ExtractJob) -> None:
    """Import the decoder and build each set's tables once (each imports what it uses), so the first song pays nothing."""
    import soundfile  # noqa: F401

    for extractor in job.extractors:
        extractor.warm_up(job.windows)
