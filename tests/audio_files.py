"""Audio files made in tests: noise in any container FFmpeg encodes (m4a/AAC, wma), silence, broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def noise(seconds: float, rate: int = 44100, channels: int = 2, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """``(frames, channels)`` float32 Gaussian noise."""
    return np.random.default_rng(seed).normal(0, level, (int(seconds * rate), channels)).astype(np.float32)


def tones(seconds: float, rate: int = 44100, seed: int = 0) -> np.ndarray:
    """``(frames, 2)`` float32: three tones between 200 Hz and 2 kHz, what a lossy codec keeps well."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mono = sum(0.1 * np.sin(2 * np.pi * f * t + p) for f, p in zip(rng.uniform(200, 2000, 3), rng.uniform(0, 6, 3)))
    return np.stack([mono, 0.5 * mono], axis=1).astype(np.float32)


def encode(path: Path, data: np.ndarray, rate: int = 44100) -> Path:
    """Write ``data`` ``(frames, channels)`` with PyAV's encoder for the suffix: ``.m4a`` (AAC) or ``.wma`` (WMA v2)."""
    import av

    container, codec = {".m4a": ("mp4", "aac"), ".wma": ("asf", "wmav2")}[path.suffix]
    layout = "stereo" if data.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = layout
        stream.bit_rate = 128_000
        planar = np.ascontiguousarray(data.T)
        for start in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start : start + 1024]), format="fltp",
                                               layout=layout)  # fmt: skip
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write(path: Path, data: np.ndarray, rate: int = 44100) -> Path:
    """Write ``data`` with libsndfile (wav, flac, mp3, ...) or PyAV's encoder (m4a, wma), by suffix."""
    if path.suffix in (".m4a", ".wma"):
        return encode(path, data, rate)
    sf.write(path, data, rate)
    return path
