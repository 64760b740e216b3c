"""The second decoder: FFmpeg's, through PyAV, for what libsndfile cannot open (m4a/AAC, ALAC, wma, ape, wv, ...).

A source reads spans of native-rate mono float32 samples, forward: it keeps decoding from where
it stopped, so the blocks of a long file cost one pass, and seeks (to a point a pre-roll before
the span, as the libsndfile path does for mp3) only when the next span starts far ahead. After a
seek a frame's place is its timestamp, counted from the first frame's (WMA's first frame is
stamped with its pre-roll); otherwise the samples are counted. Channels are averaged
as on the libsndfile path. FFmpeg's own log stays off (PyAV's default): no chatter on stderr.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["PyAVSource", "pyav_available"]

_PREROLL = 8192  # native-rate samples decoded before a seek point and dropped (decoder state)
_SEEK_AHEAD = 30  # seek rather than decode through when the span starts this many seconds ahead
_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def pyav_available() -> bool:
    """Whether PyAV (``av``) can be imported."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _mono(frame: Any) -> np.ndarray:
    """One decoded frame as float32 mono (channels averaged), whatever its sample format."""
    data = frame.to_ndarray()
    name = frame.format.name
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:  # packed: (1, samples x channels)
        data = data.reshape(-1, channels).T
    kind = name.rstrip("p")
    if kind in _SCALE:
        offset = 128.0 if kind == "u8" else 0.0
        data = (data.astype(np.float32) - offset) / np.float32(_SCALE[kind])
    data = np.asarray(data, dtype=np.float32)
    return data[0].copy() if channels == 1 else data.mean(axis=0, dtype=np.float32)


class PyAVSource:
    """A file opened with FFmpeg: ``samplerate``, ``frames`` (the header's estimate, or None) and ``read``.

    Raises:
        av.FFmpegError, OSError: the file cannot be opened, or holds no audio stream.
    """

    backend = "pyav"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import av

        self._container = av.open(str(path))
        try:
            if not self._container.streams.audio:
                raise av.InvalidDataError(1094995529, "no audio stream")  # said plainly by causes
            self._stream = self._container.streams.audio[0]
            self.samplerate = int(self._stream.codec_context.sample_rate or self._stream.rate or 0)
            if self.samplerate <= 0:
                raise av.InvalidDataError(1094995529, "no sample rate")
            self.frames = self._estimate()
            # Seek only where timestamps place a frame to the sample (m4a: 1/rate); WMA's are in
            # milliseconds, off by up to 22 samples at 44.1 kHz: there, decode through instead.
            base = self._stream.time_base
            self._seekable = base is not None and float(base) * self.samplerate <= 1.0 + 1e-9
            self._origin: float | None = None  # the first frame's time: where sample 0 is
            self._start(seek_to=None)
            self._pull()  # learns the origin
        except BaseException:
            self._container.close()
            raise

    def _estimate(self) -> int | None:
        """The length the container states, in samples; None when it states none."""
        stream, rate = self._stream, self.samplerate
        if stream.duration is not None and stream.time_base is not None:
            return int(round(float(stream.duration * stream.time_base) * rate))
        if self._container.duration is not None:
            return int(round(self._container.duration / 1_000_000 * rate))
        return None

    def _start(self, seek_to: int | None) -> None:
        """Decode afresh: from the start (``None``, or 0), or from a seek point a pre-roll before sample ``seek_to``."""
        self._chunks: list[np.ndarray] = []  # decoded samples from self._base on
        self._base = 0
        self._next: int | None = 0  # sample index of the next frame, while counted
        if seek_to is not None and seek_to > _PREROLL and self._origin is not None and self._seekable:
            seconds = (seek_to - _PREROLL) / self.samplerate + self._origin
            base = float(self._stream.time_base or 1 / self.samplerate)
            self._container.seek(int(seconds / base), stream=self._stream, backward=True)
            self._next = None  # known from the first frame's timestamp
        elif seek_to is not None:
            self._container.seek(0)
        self._frames = self._container.decode(self._stream)

    def _end(self) -> int:
        return self._base + sum(len(c) for c in self._chunks)

    def _pull(self) -> bool:
        """Decode one more frame onto the buffer; False at the end of the stream."""
        for frame in self._frames:
            mono = _mono(frame)
            seconds = None if frame.pts is None or frame.time_base is None else float(frame.pts * frame.time_base)
            if self._origin is None:
                self._origin = 0.0 if seconds is None else seconds
            if self._next is None:  # just after a seek: the timestamp says where we are
                if seconds is None:
                    raise ValueError("no timestamps after a seek")
                self._next = self._base = int(round((seconds - self._origin) * self.samplerate))
            self._chunks.append(mono)
            self._next += len(mono)
            return True
        return False

    def _drop_before(self, first: int) -> None:
        while self._chunks and self._base + len(self._chunks[0]) <= first:
            self._base += len(self._chunks.pop(0))
        if self._chunks and self._base < first:
            self._chunks[0] = self._chunks[0][first - self._base :]
            self._base = first

    def _fill(self, first: int, count: int | None) -> None:
        """Decode until the buffer holds ``[first, first + count)`` or the stream ends, dropping what lies before."""
        self._drop_before(first)
        while (count is None or self._end() < first + count) and self._pull():
            self._drop_before(first)

    def read(self, first: int, count: int | None) -> np.ndarray:
        """Samples ``[first, first + count)`` (to the end when ``count`` is None); fewer where the audio ends."""
        if first < self._base:
            self._start(seek_to=first)
        elif first - self._end() > _SEEK_AHEAD * self.samplerate:
            try:
                self._start(seek_to=first)
            except (ValueError, OSError):
                self._start(seek_to=0)
        try:
            self._fill(first, count)
        except ValueError:  # no timestamps after a seek
            self._start(seek_to=0)
            self._fill(first, count)
        if self._base > first:  # a seek landed past the span: decode through from the start instead
            self._start(seek_to=0)
            self._fill(first, count)
        data = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        self._chunks = [data] if data.size else []
        return data[first - self._base :][:count].copy()

    def close(self) -> None:
        """Close the container."""
        self._container.close()
