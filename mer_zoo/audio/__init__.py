"""Signal math: decode a span of a file, place the windows, log-mel spectrograms (numpy and torch).

Pure functions of audio and settings; nothing here knows about stores or Dask.

- :mod:`~mer_zoo.audio.decode`: decode a span, resample, mix down (libsndfile, else
  :mod:`~mer_zoo.audio.ffmpeg`, FFmpeg through PyAV); window start times;
- :mod:`~mer_zoo.audio.causes`: decoders' phrases as plain causes;
- :mod:`~mer_zoo.audio.silence`: which windows are silent;
- :mod:`~mer_zoo.audio.arrays`: samples handed over as an array, mixed down and resampled alike;
- :mod:`~mer_zoo.audio.windows`: which windows a song has, their labels and 2 Hz frames;
- :mod:`~mer_zoo.audio.mel_basis`: the Slaney filter bank and working precision both backends share;
- :mod:`~mer_zoo.audio.melspec`, :mod:`~mer_zoo.audio.melspec_torch`: log-mel of windows.
"""

from __future__ import annotations

from mer_zoo.audio.arrays import to_mono
from mer_zoo.audio.causes import plain_cause
from mer_zoo.audio.decode import AudioReader, capture_decoder_notes, load_audio, resample, window_slices, window_starts
from mer_zoo.audio.mel_basis import mel_filter_bank, mel_plan
from mer_zoo.audio.melspec import FFT_ENGINES, MEL_BACKENDS, fft_engine, log_mel, log_mel_windows
from mer_zoo.audio.melspec_torch import log_mel_batch, resolve_mel_backend
from mer_zoo.audio.silence import SILENCE_DBFS, silent_windows
from mer_zoo.audio.windows import (
    DROP_AUDIO,
    DROP_LABELS,
    WindowPlan,
    annotation_step,
    fit_to_audio,
    frames_per_window,
    plan_windows,
    relabel,
    static_windows,
)

__all__ = [
    "DROP_AUDIO",
    "DROP_LABELS",
    "FFT_ENGINES",
    "MEL_BACKENDS",
    "SILENCE_DBFS",
    "AudioReader",
    "WindowPlan",
    "annotation_step",
    "capture_decoder_notes",
    "fft_engine",
    "fit_to_audio",
    "frames_per_window",
    "load_audio",
    "log_mel",
    "log_mel_batch",
    "log_mel_windows",
    "mel_filter_bank",
    "mel_plan",
    "plain_cause",
    "plan_windows",
    "relabel",
    "resample",
    "resolve_mel_backend",
    "silent_windows",
    "static_windows",
    "to_mono",
    "window_slices",
    "window_starts",
]
