"""Pure audio functions: decode a span of a file, place windows in it (the mel math is in ``melspec``).

Decoding goes through libsndfile (``soundfile``: wav, flac, ogg, mp3, ...), seeking to the
span that is needed instead of decoding the whole song. An mp3 decoder needs a few frames
before the seek point to rebuild its state, so a short pre-roll is decoded and dropped: the
samples are then bit-identical to those of a whole-file decode.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.config import FeatureConfig
from mer_zoo.errors import MerZooError, one_line

__all__ = ["load_audio", "resample", "window_slices", "window_starts"]

_PREROLL = 8192  # native-rate samples decoded before a seek point and dropped (mp3 decoder state)
_BLOCK = 1 << 16  # frames decoded at a time
_EPS = 1e-6


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[np.ndarray, float]:
    """Decode ``duration_s`` seconds from ``offset_s`` as mono float32 at ``sample_rate``.

    Stereo is averaged to mono and other rates are resampled (soxr, high quality, as
    ``librosa.load`` does). The span is cut short where the audio ends.

    Returns:
        The samples, and the file's total duration in seconds (the decoded length when the
        file turns out shorter than its header says, as truncated files do).

    Raises:
        MerZooError: naming the file and the cause when it is missing or cannot be decoded.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise MerZooError(f"{path}: audio file not found")
    try:
        with sf.SoundFile(path) as f:
            native, total = f.samplerate, f.frames
            start = min(int(round(offset_s * native)), total)
            stop = total if duration_s is None else min(total, start + int(np.ceil(duration_s * native)))
            # Decode from a pre-roll point whose time falls on the output sample grid, so the
            # resampled span lines up with a resampled whole file; past `stop` when resampling.
            step = native // math.gcd(native, sample_rate)
            first_read = max(0, (start - _PREROLL) // step * step)
            last_read = min(total, stop + (_PREROLL if native != sample_rate else 0))
            f.seek(first_read)
            mono = _read_mono(f, last_read - first_read)
    except (RuntimeError, OSError, ValueError, EOFError) as err:
        raise MerZooError(f"{path}: cannot decode audio ({_cause(err)})") from None
    if len(mono) < last_read - first_read:  # the header promised more than the stream holds
        total = first_read + len(mono)
        start, stop = min(start, total), min(stop, total)
    if total <= 0:
        raise MerZooError(f"{path}: cannot decode audio (no samples)")
    if native != sample_rate:
        mono = resample(mono, native, sample_rate)
        begin = int(round(start * sample_rate / native))
        first = begin - first_read * sample_rate // native
        n_out = int(np.ceil(stop * sample_rate / native)) - begin
    else:
        first, n_out = start - first_read, stop - start
    y = np.ascontiguousarray(mono[first : first + n_out])
    return y, total / native


def resample(y: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``y`` (samples, or samples x channels) from ``from_rate`` to ``to_rate`` Hz: soxr, high quality, float32.

    The one resampler of mer-zoo: decoding and the encoders' windows (each channel on its own) both use it.
    """
    if from_rate == to_rate:
        return np.asarray(y, dtype=np.float32)
    import soxr

    return soxr.resample(y, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def _cause(err: Exception) -> str:
    """libsndfile's reason, minus its "Error opening PATH:" prefix and its misleading "does not exist"."""
    text = one_line(str(getattr(err, "error_string", None) or err)) or type(err).__name__
    if "does not exist" in text:  # what libsndfile says of an existing file it cannot parse
        return "unrecognised or corrupt audio data"
    return text


def _read_mono(f: Any, frames: int) -> np.ndarray:
    """Read up to ``frames`` frames block by block, averaging channels into one float32 array.

    Only one block of interleaved channels exists at a time: a 10-minute stereo song does
    not need its 220 MB stereo copy. Each block is mixed while it is still in cache: channels
    added one by one (a strided mean is 30x slower), then scaled (a last pass over the whole
    span cost 10% of the decode).
    """
    mono = np.empty(frames, dtype=np.float32)
    block = np.empty((min(frames, _BLOCK), f.channels), dtype=np.float32)
    scale = np.float32(1.0 / f.channels)
    done = 0
    while done < frames:
        data = f.read(out=block[: min(_BLOCK, frames - done)])
        n = len(data)
        if n == 0:
            break
        target = mono[done : done + n]
        if data.shape[1] == 1:
            np.copyto(target, data[:, 0])
        else:
            np.add(data[:, 0], data[:, 1], out=target)
            for c in range(2, data.shape[1]):
                target += data[:, c]
            target *= scale
        done += n
    return mono[:done]


def window_starts(duration_s: float, config: FeatureConfig, start_s: float | None = None) -> np.ndarray:
    """Start times of every whole ``clip_s`` window from ``start_s`` (default: the config's), hop ``hop_s``."""
    start = config.start_s if start_s is None else start_s
    room = duration_s - start - config.clip_s
    if room < -_EPS:
        return np.zeros(0, dtype=np.float64)
    n = int(np.floor(room / config.hop_s + _EPS)) + 1
    return start + config.hop_s * np.arange(n, dtype=np.float64)


def window_slices(starts_s: np.ndarray, offset_s: float, config: FeatureConfig) -> list[slice]:
    """Sample ranges of windows starting at ``starts_s`` in audio decoded from ``offset_s``."""
    sr, n = config.sample_rate, config.clip_samples
    base = int(round(offset_s * sr))
    return [slice(int(round(s * sr)) - base, int(round(s * sr)) - base + n) for s in starts_s]
