"""A synthetic dataset in DEAM's exact layout whose audio carries learnable emotion.

Each song follows two latent trajectories, arousal and valence in [-1, 1], that drift slowly.
The music follows them: arousal sets tempo, note density, attack, loudness, percussion and
brightness; valence sets mode (major/minor), consonance (dissonant clusters and beating,
rough partials) and register. Key, instruments, mix, pans, tempo scale, register offset,
the strength of each cue and the gain are drawn per song and carry no label. The dynamic annotations are the latent values some 1-2 s late plus rater noise,
at 2 Hz from 15 s; the static ones are the song means on the 1..9 scale plus noise.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from mer_zoo.errors import InputError

__all__ = ["replicate_deam", "write_synthetic_deam"]

AVERAGED = Path("DEAM_Annotations/annotations/annotations averaged per song")
DYNAMIC = AVERAGED / "dynamic (per second annotations)"
SONG_LEVEL = AVERAGED / "song_level"
AUDIO = Path("DEAM_audio/MEMD_audio")
STATIC_FILES = ("static_annotations_averaged_songs_1_2000.csv", "static_annotations_averaged_songs_2000_2058.csv")
STATIC_1_2000 = "song_id, valence_mean, valence_std, arousal_mean, arousal_std"
STATIC_2000_2058 = (
    "song_id, valence_mean, valence_std, valence_ max_mean, valence_max_std, valence_min_mean, "
    "valence_min_std, arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, "
    "arousal_min_mean, arousal_min_std"
)
MAX_SONGS = 999 + 1000 + 58  # the id ranges of DEAM's 2013, 2014 and 2015 parts

_HARMONICS = 12  # keeps the highest melody note's partials below the synthesis Nyquist
_TABLE = 2048
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


@dataclass(frozen=True)
class _Song:
    song_id: int
    sample_rate: int
    channels: int
    duration_s: float
    full: bool  # a 2015-style full song rather than a 45-s excerpt


def write_synthetic_deam(out: Path, n_songs: int = 60, seed: int = 0) -> str:
    """Write ``n_songs`` synthetic songs in DEAM's Kaggle layout under ``out``; return a summary line."""
    out = Path(out)
    if not 4 <= n_songs <= MAX_SONGS:
        raise InputError(f"--songs must be between 4 and {MAX_SONGS}, got {n_songs}")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    for folder in (AUDIO, DYNAMIC, SONG_LEVEL):
        (out / folder).mkdir(parents=True, exist_ok=True)
    songs = _plan(n_songs, seed)
    jobs = [(song, seed, out / AUDIO / f"{song.song_id}.mp3") for song in songs]
    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        labels = list(pool.map(_make_song, *zip(*jobs)))
    _write_dynamic(out / DYNAMIC, songs, labels)
    _write_static(out / SONG_LEVEL, songs, labels, np.random.default_rng([seed, 1]))
    full = sum(s.full for s in songs)
    short = sum(not s.full and s.duration_s < 45.0 for s in songs)
    return (
        f"wrote {n_songs} synthetic songs in DEAM layout to {out}: {n_songs - full} excerpts "
        f"({short} shorter than 45 s), {full} full songs, "
        f"{sum(s.sample_rate != 44100 for s in songs)} at 48 kHz, {sum(s.channels == 1 for s in songs)} mono (seed {seed})"
    )


def replicate_deam(src: Path, dst: Path, copies: int) -> Path:
    """Copy a Kaggle-layout dataset ``copies`` times under new ids (id + 10,000 k): hard-linked audio, copied rows."""
    (dst / AUDIO).mkdir(parents=True)
    for mp3 in sorted((src / AUDIO).glob("*.mp3")):
        for k in range(copies):
            os.link(mp3, dst / AUDIO / f"{int(mp3.stem) + 10_000 * k}.mp3")
    csvs = [DYNAMIC / "arousal.csv", DYNAMIC / "valence.csv"] + [SONG_LEVEL / name for name in STATIC_FILES]
    for csv in csvs:
        header, *rows = (src / csv).read_text().splitlines()
        ids_rest = [row.split(",", 1) for row in rows]
        clones = [f"{int(i) + 10_000 * k},{rest}" for k in range(copies) for i, rest in ids_rest]
        (dst / csv).parent.mkdir(parents=True, exist_ok=True)
        (dst / csv).write_text("\n".join([header, *clones]) + "\n")
    return dst


def _plan(n_songs: int, seed: int) -> list[_Song]:
    """Song ids, formats and durations: mostly 44.1 kHz stereo 45-s excerpts, a few quirks."""
    rng = np.random.default_rng([seed, 0])
    n_full = min(58, max(1, round(0.05 * n_songs)))
    n_excerpts = n_songs - n_full
    n_2013 = min(999, n_excerpts * 2 // 5)
    ids = np.concatenate(
        [
            np.sort(rng.choice(np.arange(2, 1001), n_2013, replace=False)),
            np.sort(rng.choice(np.arange(1001, 2001), n_excerpts - n_2013, replace=False)),
        ]
    )
    quirky = rng.permutation(n_excerpts)
    n_48k, n_mono, n_short = max(1, n_songs // 60), max(1, n_songs // 50), max(1, round(0.08 * n_excerpts))
    rate_48k = set(quirky[:n_48k])
    mono = set(quirky[n_48k : n_48k + n_mono])
    short = set(quirky[n_48k + n_mono : n_48k + n_mono + n_short])
    songs = [
        _Song(
            song_id=int(song_id),
            sample_rate=48000 if i in rate_48k else 44100,
            channels=1 if i in mono else 2,
            duration_s=round(float(rng.uniform(44.6, 44.9) if i in short else rng.uniform(45.02, 45.6)), 3),
            full=False,
        )
        for i, song_id in enumerate(ids)
    ]
    songs += [
        _Song(song_id=2001 + i, sample_rate=44100, channels=2, duration_s=round(float(rng.uniform(60, 100)), 3), full=True)
        for i in range(n_full)
    ]
    return songs


def _make_song(song: _Song, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one song, write its mp3 and return its 2 Hz annotations (times, arousal, valence)."""
    import soundfile as sf

    rng = np.random.default_rng([seed, 2, song.song_id])
    lat_t, arousal, valence = _latent(rng, song.duration_s)
    audio = _render(rng, song, lat_t, arousal, valence)
    sf.write(path, audio, song.sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    if song.full:  # labels stop a little before the song ends
        last = np.floor(2 * (song.duration_s - rng.uniform(1.0, 3.0))) / 2
    else:  # 60 values, sometimes a 61st at 45 s
        last = 45.0 if song.duration_s > 45.3 and rng.random() < 0.3 else 44.5
    times = np.arange(15.0, last + 0.25, 0.5)
    return times, *(_annotate(rng, times, lat_t, x) for x in (arousal, valence))


def _latent(rng: np.random.Generator, duration_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slowly drifting arousal and valence on a 10 Hz grid: a song mean plus three slow waves each."""
    t = np.arange(0.0, duration_s + 1.0, 0.1)
    centre = np.clip(rng.multivariate_normal([0.0, 0.0], [[0.2, 0.05], [0.05, 0.2]]), -0.8, 0.8)
    curves = []
    for mean in centre:
        period = rng.uniform(8.0, 40.0, 3)
        amp = rng.uniform(0.06, 0.16, 3)
        phase = rng.uniform(0, 2 * np.pi, 3)
        drift = (amp[:, None] * np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])).sum(0)
        curves.append(np.clip(mean + drift, -0.95, 0.95))
    return t, curves[0], curves[1]


def _annotate(rng: np.random.Generator, times: np.ndarray, lat_t: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """What raters report: the latent value some 1-2 s late, plus smooth and white noise, in [-1, 1]."""
    lag = rng.uniform(1.0, 2.0)
    smooth = np.convolve(rng.normal(0, 0.09, len(times) + 8), np.ones(9) / 3, mode="valid")
    values = np.interp(times - lag, lat_t, latent) + smooth + rng.normal(0, 0.02, len(times))
    return np.clip(values, -1.0, 1.0)


def _render(rng: np.random.Generator, song: _Song, lat_t: np.ndarray, arousal: np.ndarray, valence: np.ndarray) -> np.ndarray:
    """The song's audio at its own rate: (samples, channels) float32, peak below 1."""
    from scipy.signal import resample_poly

    sr = song.sample_rate // 2  # synthesise at half rate (content below 11 kHz), then upsample
    n_out = int(round(song.duration_s * song.sample_rate))
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
    pad = sum(grid.voice(_hz(midi) + detune, amp, sr, style.pad, brightness) for midi, amp, detune in chord_tones if np.any(amp))
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
    mix = np.stack([left, right], 1) if song.channels == 2 else (left + right)[:, None] / 2
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

    def voice(self, freq, amp, sr: int, timbre: tuple[np.ndarray, np.ndarray], brightness: np.ndarray | float) -> np.ndarray:
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


def _write_dynamic(folder: Path, songs: list[_Song], labels: list[tuple[np.ndarray, ...]]) -> None:
    """``arousal.csv``/``valence.csv``: one wide row per song, shorter rows end in empty cells."""
    width = max(len(times) for times, _, _ in labels)
    header = "song_id," + ",".join(f"sample_{15000 + 500 * i}ms" for i in range(width))
    for column, name in ((1, "arousal"), (2, "valence")):
        rows = [header]
        for song, row in zip(songs, labels):
            values = [f"{v:.4f}" for v in row[column]]
            rows.append(",".join([str(song.song_id), *values, *[""] * (width - len(values))]))
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")


def _write_static(folder: Path, songs: list[_Song], labels: list[tuple[np.ndarray, ...]], rng: np.random.Generator) -> None:
    """Both averaged static files: song means mapped to 1..9 with rater noise, DEAM's headers."""
    excerpts, full = [STATIC_1_2000], [STATIC_2000_2058]
    for song, (_, arousal, valence) in zip(songs, labels):
        stats = []
        for dynamic in (valence, arousal):
            mean = float(np.clip(5.0 + 3.6 * dynamic.mean() + rng.normal(0, 0.3), 1.0, 9.0))
            stats.append((round(mean, 1), rng.uniform(0.5, 1.6)))
        if song.full:
            cells = []
            for mean, std in stats:
                spread = rng.uniform(0.5, 1.8, 2)
                high, low = min(9.0, mean + spread[0]), max(1.0, mean - spread[1])
                cells += [f"{mean:.1f}", f"{std:.2f}", f"{high:.1f}", f"{rng.uniform(0.5, 1.6):.2f}", f"{low:.1f}", f"{rng.uniform(0.5, 1.6):.2f}"]
            full.append(",".join([str(song.song_id), *cells]))
        else:
            (vm, vs), (am, sd) = stats
            excerpts.append(",".join([str(song.song_id), f"{vm:g}", f"{vs:.2f}", f"{am:g}", f"{sd:.2f}"]))
    for name, rows in zip(STATIC_FILES, (excerpts, full)):
        (folder / name).write_text("\n".join(rows) + "\n")
