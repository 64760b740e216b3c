"""What one song's compute floor is made of, and what other decoders and FFT libraries would give.

A build worker spends its time on two things per song: decoding the 30-s span of the mp3
that holds the six 5-s windows (libsndfile, which decodes mp3 with mpg123) and the log-mel
of those windows (mostly 2,586 real FFTs of 2,048 samples, scipy's pocketfft). This script
times each part on the synthetic corpus of ``bench_build.py`` and, side by side in the same
repeats, the alternatives that could lower it, when they are installed (none is a
dependency of mer-zoo):

- decode: ``load_audio`` (what workers run), libsndfile alone (the stereo read, no mono
  mix), and libmpg123 called directly with its decoder-side mono mix (``MPG123_MONO_MIX``,
  which mixes before the synthesis filter bank), when ``libmpg123.so.0`` is on the system;
- FFT of the windowed frames: scipy (pocketfft, the numpy backend's without mkl_fft), numpy's
  pocketfft, torch (one thread), and pyFFTW (FFTW, ``FFTW_MEASURE``), mkl_fft and ducc0 when
  installed; each in chunks of 64 frames, as the numpy backend runs it;
- the whole log-mel of a song's six windows with each FFT the numpy backend can use.

Every method runs once per repeat, in turn, on one thread; medians over the repeats, in
milliseconds per song (a song = one 30-s span, or its 2,586 frames).

Run: ``.venv/bin/python benchmarks/bench_floor.py`` (after ``bench_build.py`` has made its corpus).
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread, as in a build worker
    os.environ.setdefault(_name, "1")

import argparse
import ctypes
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mer_zoo.audio.decode import load_audio
from mer_zoo.audio.mel_basis import mel_plan
from mer_zoo.audio.melspec import log_mel_windows
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.synthetic import AUDIO

CORPUS = Path(__file__).resolve().parents[1] / "bench_out" / "build" / "deam200"
PREROLL = 8192
CHUNK = 64


def _mpg123() -> Callable[[Path, int, int], np.ndarray] | None:
    """A decoder of ``frames`` mono float32 samples from ``first``, through libmpg123 with its mono mix."""
    try:
        lib = ctypes.CDLL("libmpg123.so.0")
    except OSError:
        return None
    handle, text, long_, int_ = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_int
    lib.mpg123_new.restype = handle
    lib.mpg123_open.argtypes = [handle, text]
    lib.mpg123_param.argtypes = [handle, int_, long_, ctypes.c_double]
    lib.mpg123_format_none.argtypes = [handle]
    lib.mpg123_format.argtypes = [handle, long_, int_, int_]
    lib.mpg123_getformat.argtypes = [handle, *[ctypes.POINTER(t) for t in (long_, int_, int_)]]
    lib.mpg123_seek.argtypes, lib.mpg123_seek.restype = [handle, long_, int_], long_
    lib.mpg123_read.argtypes = [handle, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.mpg123_close.argtypes = lib.mpg123_delete.argtypes = [handle]
    lib.mpg123_init()
    add_flags, mono_mix, force_float, quiet, gapless, float32 = 2, 0x4, 0x400, 0x20, 0x40, 0x200

    def decode(path: Path, first: int, frames: int) -> np.ndarray:
        h = lib.mpg123_new(None, None)
        lib.mpg123_param(h, add_flags, mono_mix | force_float | quiet | gapless, 0.0)
        if lib.mpg123_open(h, str(path).encode()) != 0:
            raise OSError(f"{path}: libmpg123 cannot open it")
        rate, channels, encoding = ctypes.c_long(), ctypes.c_int(), ctypes.c_int()
        lib.mpg123_getformat(h, rate, channels, encoding)
        lib.mpg123_format_none(h)
        lib.mpg123_format(h, rate.value, 1, float32)
        lib.mpg123_seek(h, first, 0)
        out, done = np.empty(frames, dtype=np.float32), ctypes.c_size_t()
        lib.mpg123_read(h, out.ctypes.data, out.nbytes, ctypes.byref(done))
        lib.mpg123_close(h)
        lib.mpg123_delete(h)
        return out[: done.value // 4]

    return decode


def decoders(paths: list[Path], config: FeatureConfig) -> dict[str, Callable[[], None]]:
    """Each way of decoding every song's 15-45 s span (with the pre-roll a seek needs)."""
    import soundfile as sf

    rate, start, length = config.sample_rate, 15.0, 30.0
    first, frames = int(start * rate) - PREROLL, int(length * rate) + PREROLL

    def ours() -> None:
        for path in paths:
            load_audio(path, rate, offset_s=start, duration_s=length)

    def libsndfile() -> None:
        for path in paths:
            with sf.SoundFile(path) as f:
                f.seek(first)
                f.read(frames, dtype="float32")

    methods = {"`load_audio` (libsndfile + mono mix, what workers run)": ours, "libsndfile alone, stereo": libsndfile}
    mpg123 = _mpg123()
    if mpg123 is not None:
        methods["libmpg123 direct, decoder-side mono mix"] = lambda: [mpg123(p, first, frames) for p in paths] and None
    return methods


def ffts(frames: np.ndarray, config: FeatureConfig) -> dict[str, Callable[[], None]]:
    """Each FFT library on the windowed frames, 64 at a time (the window multiply included)."""
    import scipy.fft

    window = mel_plan(config, np.dtype(np.float32))[0]
    buffer = np.empty((CHUNK, config.n_fft), dtype=np.float32)

    def chunked(transform: Callable[[np.ndarray], object], into: np.ndarray = buffer) -> Callable[[], None]:
        def run() -> None:
            for start in range(0, len(frames) - CHUNK + 1, CHUNK):
                np.multiply(frames[start : start + CHUNK], window, out=into)
                transform(into)

        return run

    methods = {
        "scipy.fft (pocketfft; the numpy backend without mkl_fft)": chunked(
            lambda c: scipy.fft.rfft(c, axis=-1, overwrite_x=True)
        ),
        "numpy.fft (pocketfft)": chunked(lambda c: np.fft.rfft(c, axis=-1)),
    }
    import torch

    torch.set_num_threads(1)
    methods["torch.fft, 1 thread"] = chunked(lambda c: torch.fft.rfft(torch.from_numpy(c), dim=-1))
    try:
        import pyfftw
    except ImportError:
        pass
    else:
        aligned = pyfftw.empty_aligned((CHUNK, config.n_fft), dtype="float32")
        spectrum = pyfftw.empty_aligned((CHUNK, config.n_fft // 2 + 1), dtype="complex64")
        plan = pyfftw.FFTW(aligned, spectrum, axes=(-1,), flags=("FFTW_MEASURE",), threads=1)
        methods["pyFFTW (FFTW_MEASURE)"] = chunked(lambda c: plan(), into=aligned)
    try:
        import mkl_fft
    except ImportError:
        pass
    else:
        methods["mkl_fft"] = chunked(lambda c: mkl_fft.rfft(c, axis=-1))
    try:
        import ducc0
    except ImportError:
        pass
    else:
        methods["ducc0"] = chunked(lambda c: ducc0.fft.r2c(c, axes=(1,), nthreads=1))
    return methods


def log_mels(span: np.ndarray, offsets: list[int], config: FeatureConfig) -> dict[str, Callable[[], None]]:
    """``log_mel_windows`` (numpy backend) with each FFT library it can use (``MER_ZOO_FFT``)."""
    from mer_zoo.audio import melspec

    def with_fft(engine: str) -> Callable[[], None]:
        def run() -> None:
            os.environ["MER_ZOO_FFT"] = engine
            melspec.fft_engine.cache_clear()
            log_mel_windows(span, offsets, config)

        return run

    engines = ["scipy"] + (["mkl_fft"] if importlib.util.find_spec("mkl_fft") else [])
    return {f"`log_mel_windows`, numpy backend, {engine}": with_fft(engine) for engine in engines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=60, help="songs decoded per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    config = FeatureConfig()
    paths = sorted((CORPUS / AUDIO).glob("*.mp3"), key=lambda p: int(p.stem))[: args.songs]
    if not paths:
        raise SystemExit(f"no corpus at {CORPUS}: run benchmarks/bench_build.py first")
    span, _ = load_audio(paths[0], config.sample_rate, offset_s=15.0, duration_s=30.0)
    offsets = [i * config.clip_samples for i in range(6)]
    n = (config.frames - 1) * config.hop_length + config.n_fft
    frames = np.concatenate(
        [np.lib.stride_tricks.sliding_window_view(span[o : o + n], config.n_fft)[:: config.hop_length] for o in offsets]
    )
    groups = {
        "decode (per song)": (decoders(paths, config), len(paths)),
        "FFT of the windowed frames (per song)": (ffts(frames, config), len(frames) // CHUNK * CHUNK / len(frames)),
        "log-mel of the six windows (per song)": (log_mels(span, offsets, config), 1),
    }
    times: dict[str, list[float]] = {name: [] for methods, _ in groups.values() for name in methods}
    for methods, _ in groups.values():  # warm every method once
        for method in methods.values():
            method()
    for _ in range(args.repeats):
        for methods, per in groups.values():
            for name, method in methods.items():
                started = time.process_time()
                method()
                times[name].append(1000 * (time.process_time() - started) / per)
    print(f"{args.songs} songs, medians of {args.repeats} repeats, one thread, CPU ms per song\n")
    for group, (methods, _) in groups.items():
        first = statistics.median(times[next(iter(methods))])
        print(f"| {group} | ms | vs first |\n|---|---:|---:|")
        for name in methods:
            ms = statistics.median(times[name])
            print(f"| {name} | {ms:.2f} | {first / ms:.2f}x |")
        print()


if __name__ == "__main__":
    main()
