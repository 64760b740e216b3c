"""Decoding: a span of a file as mono float32 at one rate, through libsndfile, else FFmpeg; window places.

Decoding goes through libsndfile (``soundfile``: wav, flac, ogg, mp3, aiff, ...), seeking to the
span that is needed instead of decoding the whole song. An mp3 decoder needs a few frames
before the seek point to rebuild its state, so a short pre-roll is decoded and dropped: the
samples are then bit-identical to those of a whole-file decode. Only a file libsndfile refuses
to open goes to FFmpeg through PyAV (:mod:`~mer_zoo.audio.ffmpeg`: m4a/AAC and ALAC, wma, ape,
wv, mp4, ...), so the files libsndfile reads cost nothing more; each reader says which decoder
read the file (``backend``). Both paths mix channels and resample alike.

An :class:`AudioReader` keeps the file open, so a long file is read span after span (a block
of windows at a time) with memory flat in its length. Causes of failure are said plainly
(:mod:`~mer_zoo.audio.causes`); what libmpg123 prints on stderr while decoding goes to the
``mer_zoo.audio`` log (debug level) with the file's name, in processes that ask for it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.audio.causes import decoder_phrase, empty_file, plain_cause
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import MerZooError, one_line

__all__ = ["AudioReader", "capture_decoder_notes", "load_audio", "resample", "window_slices", "window_starts"]

_PREROLL = 8192  # native-rate samples decoded before a seek point and dropped (mp3 decoder state)
_BLOCK = 1 << 16  # frames decoded at a time
_EPS = 1e-6
_DECODE_ERRORS = (RuntimeError, OSError, ValueError, EOFError)
_log = logging.getLogger("mer_zoo.audio")
_notes: dict[str, Any] = {"file": None}  # the capture file, once capture_decoder_notes(True)


def capture_decoder_notes(enabled: bool = True) -> None:
    """Send what decoders print on stderr while reading a file to the ``mer_zoo.audio`` log, with the file's name.

    For worker processes, whose stderr is the user's terminal: libmpg123 there prints notes
    such as "Warning: Xing stream size off by more than 1%" that name no file.
    """
    if enabled and _notes["file"] is None:
        _notes["file"] = tempfile.TemporaryFile()  # noqa: SIM115  (kept open for the process)
    elif not enabled and _notes["file"] is not None:
        _notes["file"].close()
        _notes["file"] = None


@contextlib.contextmanager
def _decoder_notes(path: Path) -> Iterator[None]:
    """While decoding ``path``: stderr (file descriptor 2) into the capture file, then into the log."""
    capture = _notes["file"]
    if capture is None:
        yield
        return
    saved = os.dup(2)
    os.dup2(capture.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if capture.tell():
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip():
                    _log.debug("%s: %s", path, line.strip())
            capture.seek(0)
            capture.truncate()


class _SoundFileSource:
    """A file libsndfile opened: native-rate mono spans read after a seek."""

    backend = "soundfile"
    exact = True  # its frame count is the stream's (or more, for a truncated file): spans stop there

    def __init__(self, path: Path) -> None:
        import soundfile as sf

        self._file = sf.SoundFile(path)
        self.samplerate, self.frames = self._file.samplerate, self._file.frames

    def read(self, first: int, count: int | None) -> np.ndarray:
        self._file.seek(first)
        return _read_mono(self._file, self.frames - first if count is None else count)

    def close(self) -> None:
        self._file.close()


class AudioReader:
    """An audio file opened once, read as mono float32 spans at ``sample_rate``: libsndfile, else FFmpeg.

    Args:
        path: the audio file.
        sample_rate: the rate every span is resampled to.

    Raises:
        MerZooError: naming the file and a plain cause when it is missing, empty, or neither
            decoder can open it.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int) -> None:
        self.path, self.sample_rate = Path(path), int(sample_rate)
        if not self.path.is_file():
            raise MerZooError(f"{self.path}: audio file not found")
        if (empty := empty_file(self.path)) is not None:
            raise MerZooError(f"{self.path}: cannot decode audio ({empty})")
        self._source: Any = _open(self.path)

    @property
    def backend(self) -> str:
        """The decoder reading the file: ``soundfile`` (libsndfile) or ``pyav`` (FFmpeg)."""
        return str(self._source.backend)

    def read(self, offset_s: float = 0.0, duration_s: float | None = None) -> tuple[np.ndarray, float]:
        """Decode ``duration_s`` seconds (to the end when None) from ``offset_s``, as ``load_audio`` does.

        Returns:
            The samples, and the file's duration in seconds (the decoded length where the file
            turns out shorter than its header says, or where it was read to its end).
        """
        source, path = self._source, self.path
        native, total = source.samplerate, source.frames
        exact = getattr(source, "exact", False) and total is not None
        start = int(round(offset_s * native))
        start = min(start, total) if exact else start
        stop = None if duration_s is None else start + int(np.ceil(duration_s * native))
        if exact:
            stop = total if stop is None else min(total, stop)
        # Decode from a pre-roll point whose time falls on the output sample grid, so the
        # resampled span lines up with a resampled whole file; past `stop` when resampling.
        step = native // math.gcd(native, self.sample_rate)
        first_read = max(0, (start - _PREROLL) // step * step)
        last_read = None if stop is None else stop + (_PREROLL if native != self.sample_rate else 0)
        if exact and last_read is not None:
            last_read = min(total, last_read)
        try:
            with _decoder_notes(path):
                mono = source.read(first_read, None if last_read is None else last_read - first_read)
        except Exception as err:  # libsndfile's RuntimeError, FFmpeg's av.FFmpegError, ...
            raise MerZooError(f"{path}: cannot decode audio ({plain_cause(_message(err), path)})") from None
        if last_read is None or len(mono) < last_read - first_read:  # read to its end, or shorter than promised
            total = first_read + len(mono)
            start, stop = min(start, total), total if stop is None else min(stop, total)
        elif total is None or total < first_read + len(mono):  # a header that said less, or nothing
            total = first_read + len(mono)
        if total <= 0 or stop is None:
            raise MerZooError(f"{path}: cannot decode audio (no audio samples in the file)")
        if native != self.sample_rate:
            mono = resample(mono, native, self.sample_rate)
            begin = int(round(start * self.sample_rate / native))
            first = begin - first_read * self.sample_rate // native
            n_out = int(np.ceil(stop * self.sample_rate / native)) - begin
        else:
            first, n_out = start - first_read, stop - start
        return np.ascontiguousarray(mono[first : first + n_out]), total / native

    def close(self) -> None:
        """Close the file."""
        self._source.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> Any:
    """libsndfile's source for ``path``; FFmpeg's only where libsndfile refuses it. MerZooError when both do."""
    try:
        with _decoder_notes(path):
            return _SoundFileSource(path)
    except _DECODE_ERRORS as err:
        refused = _message(err)
    from mer_zoo.audio.ffmpeg import PyAVSource, pyav_available

    if not pyav_available():
        said = decoder_phrase(refused)
        raise MerZooError(f"{path}: cannot decode audio (libsndfile: {said}; PyAV, which reads m4a, wma and more, "
                          "is not installed: pip install av)")  # fmt: skip
    try:
        return PyAVSource(path)
    except Exception as err:  # av.FFmpegError and OSError: FFmpeg refuses it too
        cause = plain_cause([("FFmpeg", _message(err)), ("libsndfile", refused)], path)
        raise MerZooError(f"{path}: cannot decode audio ({cause})") from None


def _message(err: BaseException) -> str:
    """A decoder exception's own text (libsndfile's ``error_string`` when it has one)."""
    return one_line(str(getattr(err, "error_string", None) or err)) or type(err).__name__


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
    with AudioReader(path, sample_rate) as reader:
        return reader.read(offset_s, duration_s)


def resample(y: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """``y`` (samples, or samples x channels) from ``from_rate`` to ``to_rate`` Hz: soxr, high quality, float32.

    The one resampler of mer-zoo: decoding and the encoders' windows (each channel on its own) both use it.
    """
    if from_rate == to_rate:
        return np.asarray(y, dtype=np.float32)
    import soxr

    return soxr.resample(y, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


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
