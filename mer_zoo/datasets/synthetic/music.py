"""The synthetic music: audio whose content follows latent arousal and valence curves.

Arousal sets tempo, note density, attack, loudness, percussion and brightness; valence sets
mode (major/minor), consonance (dissonant clusters and beating, rough partials) and register.
Key, instruments, mix, pans, tempo scale, register offset, the strength of each cue and the
gain are drawn per song and carry no label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["render"]

_HARMONICS = 12  # keeps the highest melody note's partials below the synthesis Nyquist
_TABLE = 2048
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


def render(
    rng: np.random.Generator,
    duration_s: float,
    sample_rate: int,
    channels: int,
    lat_t: np.ndarray,
    arousal: np.ndarray,
    valence: np.ndarray,
) -> np.ndarray:
    """A song that follows the latent ``arousal``/``valence`` (on ``lat_t``): (samples, channels) float32, peak below 1."""
    from scipy.signal import resample_poly

    sr = sample_rate // 2  # synthesise at half rate (content below 11 kHz), then upsample
    n_out = int(round(duration_s * sample_rate))
    t = np.arange((n_out + 1) // 2) / sr
    x_at = lambda when: (np.interp(when, lat_t, arousal) + 1) / 2  # noqa: E731  arousal on 0..1
    y_at = lambda when: (np.interp(when, lat_t, valence) + 1) / 2  # noqa: E731  valence on 0..1
    style = _Style.draw(rng)

    beats = _beats(rng, t[-1], x_at, style.tempo)
    bars = beats[::4]
    bx, by = x_at(bars), y_at(bars)

    # Chords: major or minor from valence, register from valence, dissonance when valence is low.
    major = by - 0.5 + rng.normal(0, 0.06, len(bars)) > 0
    scale = np.where(major[:, None], _MAJOR, _MINOR)
    root_pc = style.key + scale[np.arange(len(bars)), rng.choice([0, 3, 4, 5], len(bars))]
    target = 40 + 14 * by + style.register + rng.normal(0, 1.0, len(bars))
    root = root_pc + 12 * np.round((target - root_pc) / 12)
    dissonance = style.roughness * np.clip((style.consonance - by) / 0.45, 0, 1)
    third = np.where(major, 4, 3)
    chord_tones = [
        (root, 1.0, 0.0),
        (root + third, 0.8, 0.0),
        (root + 7, 0.7, 0.0),
        (root + 13, 0.9 * dissonance, 0.0),  # a minor-second cluster, an octave up
        (root + 6, 0.6 * dissonance, 0.0),  # a tritone
        (root, 0.9 * dissonance, 3.0 + 6.0 * dissonance),  # detuned partners: slow beating
        (root + third, 0.7 * dissonance, 2.0 + 5.0 * dissonance),
    ]
    grid = _Grid(t, bars, decay=np.full(len(bars), 60.0), attack=0.015 + 0.6 * (1 - bx) ** 2)
    brightness = np.clip(style.brightness + 0.5 * x_at(t), 0, 1)
    pad = sum(
        grid.voice(_hz(midi) + detune, amp, sr, style.pad, brightness)
        for midi, amp, detune in chord_tones
        if np.any(amp)
    )
    # Grainy partials when dissonant.
    pad *= 1 - 0.5 * np.interp(t, bars, dissonance) * (0.5 + 0.5 * np.sin(2 * np.pi * style.flutter_hz * t))

    # Melody: notes per beat from arousal, a walk over the bar's scale from its chord root.
    per_beat = np.clip(np.round(0.6 + 3.4 * x_at(beats[:-1]) + rng.normal(0, 0.35, len(beats) - 1)), 1, 4)
    notes = _subdivide(beats, per_beat.astype(int))
    bar_of = np.searchsorted(bars, notes, side="right") - 1
    step = np.abs((np.cumsum(rng.choice([-2, -1, 1, 2], len(notes))) + 5) % 20 - 10)  # folded into 0..10
    pitch = root[bar_of] + scale[bar_of, step % 7] + 12 * (step // 7)
    nx = x_at(notes)
    level = np.where(rng.random(len(notes)) < 0.35 * (1 - nx), 0.0, rng.uniform(0.6, 1.0, len(notes)))
    melody = _Grid(t, notes, decay=0.07 + 0.6 * (1 - nx) ** 1.5, attack=np.full(len(notes), 0.004)).voice(
        _hz(pitch), level, sr, style.lead, np.clip(style.brightness + 0.8 * x_at(t), 0, 1)
    )
    bass = _Grid(t, beats, decay=0.25 + 0.5 * (1 - x_at(beats)), attack=np.full(len(beats), 0.01)).voice(
        _hz(root[np.searchsorted(bars, beats, side="right") - 1] - 12), 0.8, sr, style.pad, 0.2
    )
    drums = style.kit * _drums(rng, t, beats, x_at, style.hat_decay)

    loud = 0.45 + 0.55 * x_at(t)
    tones = 0.5 * pad + 0.35 * bass
    lead = 0.7 * style.lead_level * melody
    left = loud * (tones + (1 - style.pans[0]) * lead + (1 - style.pans[1]) * drums)
    right = loud * (tones + style.pans[0] * lead + style.pans[1] * drums)
    mix = np.stack([left, right], 1) if channels == 2 else (left + right)[:, None] / 2
    mix = resample_poly(mix, 2, 1, axis=0)[:n_out]
    mix *= rng.uniform(0.3, 0.9) / np.abs(mix).max()
    return mix.astype(np.float32)


@dataclass(frozen=True)
class _Style:
    """A song's label-free nuisance: key, instruments, mix, tempo scale and how strong each cue is."""

    key: int
    pad: tuple[np.ndarray, np.ndarray]
    lead: tuple[np.ndarray, np.ndarray]
    brightness: float
    register: float
    tempo: float
    kit: float
    hat_decay: float
    roughness: float
    consonance: float
    flutter_hz: float
    lead_level: float
    pans: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Style:
        return cls(
            key=int(rng.integers(12)),
            pad=_tables(rng),
            lead=_tables(rng),
            brightness=float(rng.uniform(0.0, 0.3)),
            register=float(rng.normal(0, 2.0)),
            tempo=float(rng.uniform(0.9, 1.1)),
            kit=float(rng.uniform(0.6, 1.2)),
            hat_decay=float(rng.uniform(0.015, 0.05)),
            roughness=float(rng.uniform(0.75, 1.2)),
            consonance=float(rng.uniform(0.5, 0.6)),
            flutter_hz=float(rng.uniform(8.0, 14.0)),
            lead_level=float(rng.uniform(0.6, 1.2)),
            pans=rng.uniform(0.25, 0.75, 2),
        )


class _Grid:
    """Notes starting at ``onsets`` (one at a time): per-sample note index and time since onset."""

    def __init__(self, t: np.ndarray, onsets: np.ndarray, decay: np.ndarray, attack: np.ndarray) -> None:
        idx = np.searchsorted(onsets, t, side="right") - 1
        self.idx = np.maximum(idx, 0)
        tau = t - onsets[self.idx]
        until_next = np.append(onsets[1:], np.inf)[self.idx] - t
        fade_out = np.clip(until_next / 0.02, 0, 1) * (idx >= 0)
        self.env = (1 - np.exp(-tau / attack[self.idx])) * np.exp(-tau / decay[self.idx]) * fade_out

    def voice(
        self, freq, amp, sr: int, timbre: tuple[np.ndarray, np.ndarray], brightness: np.ndarray | float
    ) -> np.ndarray:
        """A wavetable voice: per-note frequency and amplitude, timbre blended dull to bright."""
        amp = np.broadcast_to(amp, np.shape(freq))
        phase = np.cumsum(freq[self.idx] / sr) % 1.0
        i = (phase * _TABLE).astype(np.int64)
        dull, bright = timbre
        tone = dull[i] + brightness * (bright[i] - dull[i])
        return tone * amp[self.idx] * self.env


def _tables(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random instrument colour as two single-cycle wavetables, dull and bright."""
    k = np.arange(1, _HARMONICS + 1)
    colour = 10 ** (rng.normal(0, 3, _HARMONICS) / 20) * np.where(k % 2 == 0, rng.uniform(0.4, 1.0), 1.0)
    phase = rng.uniform(0, 2 * np.pi, _HARMONICS)
    cycle = np.sin(2 * np.pi * k[:, None] * np.arange(_TABLE)[None, :] / _TABLE + phase[:, None])
    tables = []
    for tilt in (2.4, 0.7):
        wave = (colour * k**-tilt) @ cycle
        tables.append(wave / np.sqrt(np.mean(wave**2)))
    return tables[0], tables[1]


def _hz(midi) -> np.ndarray:
    return 440.0 * 2 ** ((np.asarray(midi, dtype=np.float64) - 69) / 12)


def _beats(rng: np.random.Generator, end_s: float, x_at, scale: float) -> np.ndarray:
    """Beat times whose tempo follows arousal (about 65-160 bpm), times a song's tempo scale."""
    beats, now = [], float(rng.uniform(0.0, 0.4))
    while now < end_s:
        beats.append(now)
        now += 60.0 / ((65 + 95 * x_at(now)) * scale)
    return np.array(beats)


def _subdivide(beats: np.ndarray, per_beat: np.ndarray) -> np.ndarray:
    """Onsets that split beat ``i`` (up to the last beat) into ``per_beat[i]`` even parts."""
    within = np.arange(per_beat.sum()) - np.repeat(np.cumsum(per_beat) - per_beat, per_beat)
    return np.repeat(beats[:-1], per_beat) + within * np.repeat(np.diff(beats) / per_beat, per_beat)


def _drums(rng: np.random.Generator, t: np.ndarray, beats: np.ndarray, x_at, hat_decay: float) -> np.ndarray:
    """Kick, snare and hi-hat whose level and density rise with arousal (silent when calm)."""
    level = lambda when: np.clip((x_at(when) - 0.3) / 0.6, 0, 1) ** 1.3  # noqa: E731
    beat_no = np.arange(len(beats))
    high = x_at(beats) > 0.62
    kicks = beats[(beat_no % 2 == 0) | high]
    snares = beats[beat_no % 2 == 1]
    hats = _subdivide(beats, np.where(x_at(beats[:-1]) > 0.7, 4, 2))
    noise = rng.standard_normal(len(t))
    hiss = np.diff(noise, prepend=0.0)

    def hits(onsets: np.ndarray, decay: float) -> tuple[np.ndarray, np.ndarray]:
        idx = np.searchsorted(onsets, t, side="right") - 1
        gain = np.where(idx >= 0, (level(onsets) * rng.uniform(0.7, 1.0, len(onsets)))[np.maximum(idx, 0)], 0.0)
        tau = t - onsets[np.maximum(idx, 0)]
        return tau, gain * np.exp(-tau / decay)

    tau, env = hits(kicks, 0.12)
    kick = env * np.sin(2 * np.pi * (50 * tau + 90 * 0.03 * (1 - np.exp(-tau / 0.03))))
    tau, env = hits(snares, 0.07)
    snare = env * (0.7 * noise + 0.5 * np.sin(2 * np.pi * 185 * tau))
    _, env = hits(hats, hat_decay)
    return 1.1 * kick + 0.6 * snare + 0.45 * env * hiss
