"""Log-mel spectrograms: every backend gives librosa's numbers within 0.01 dB on every bin of every song."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from mer_zoo.audio import melspec
from mer_zoo.audio.decode import load_audio, window_slices, window_starts
from mer_zoo.audio.melspec import log_mel, log_mel_batch, log_mel_windows, mel_filter_bank, resolve_mel_backend
from mer_zoo.config import FeatureConfig
from mer_zoo.errors import InputError

TOLERANCE_DB = 0.01
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device")
HAS_MKL = importlib.util.find_spec("mkl_fft") is not None
# (backend, the numpy backend's FFT library): every way a CPU computes the mel
CPU_BACKENDS = [
    pytest.param("numpy", "scipy", id="numpy-scipy"),
    pytest.param(
        "numpy", "mkl_fft", id="numpy-mkl_fft", marks=pytest.mark.skipif(not HAS_MKL, reason="mkl_fft not installed")
    ),
    pytest.param("torch", "scipy", id="torch"),
]

ODD_SETTINGS = {
    "22k-nfft1024-hop256-no-floor": FeatureConfig(
        sample_rate=22050, n_mels=64, n_fft=1024, hop_length=256, fmin=40.0, fmax=11025.0, top_db=None
    ),
    "windows-overlapping-off-grid": FeatureConfig(clip_s=5.0, hop_s=2.5),
    "windows-overlapping-on-one-grid": FeatureConfig(sample_rate=22050, n_fft=1024, hop_length=441, hop_s=2.5),
    "hop-300-every-other-window-on-one-grid": FeatureConfig(
        sample_rate=22050, n_mels=64, n_fft=1024, hop_length=300, fmax=11025.0, clip_s=3.0, hop_s=1.0, top_db=60.0
    ),
}


class Corpus:
    """The demo songs from 15 s to their end, decoded once per sample rate, and librosa's mels once per setting."""

    def __init__(self, root: Path) -> None:
        self.paths = sorted((root / "DEAM_audio" / "MEMD_audio").glob("*.mp3"), key=lambda p: int(p.stem))
        self._decoded: dict[int, list[np.ndarray]] = {}
        self._librosa: dict[tuple[FeatureConfig, int], list[np.ndarray]] = {}

    def songs(self, config: FeatureConfig, limit: int | None = None) -> list[tuple[np.ndarray, list[int]]]:
        """``(span, window offsets)`` of every song (or the first ``limit``), as a build worker cuts them."""
        sr = config.sample_rate
        if sr not in self._decoded:
            self._decoded[sr] = [load_audio(p, sr, offset_s=15.0)[0] for p in self.paths]
        songs = []
        for y in self._decoded[sr][:limit]:
            starts = window_starts(15.0 + len(y) / sr, config, start_s=15.0)
            songs.append((y, [s.start for s in window_slices(starts, 15.0, config)]))
        return songs

    def librosa(self, config: FeatureConfig, limit: int | None = None) -> list[np.ndarray]:
        """librosa's ``power_to_db(melspectrogram(...), ref=np.max)`` of each song's windows."""
        key = (config, len(self.paths) if limit is None else limit)
        if key not in self._librosa:
            n = config.clip_samples
            self._librosa[key] = [
                np.stack([_librosa(y[o : o + n], config) for o in offsets]) for y, offsets in self.songs(config, limit)
            ]
        return self._librosa[key]


@pytest.fixture(scope="module")
def corpus(demo_root: Path) -> Corpus:
    return Corpus(demo_root)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One thread per library, as in a build worker: two threads each on a busy 2-core machine run 10x slower."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def _librosa(clip: np.ndarray, config: FeatureConfig) -> np.ndarray:
    power = librosa.feature.melspectrogram(
        y=clip,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    return librosa.power_to_db(power, ref=np.max, top_db=config.top_db)


def _assert_librosa_numbers(corpus: Corpus, config: FeatureConfig, limit: int | None = None, **backend: str) -> None:
    for (y, offsets), reference in zip(corpus.songs(config, limit), corpus.librosa(config, limit)):
        ours = log_mel_windows(y, offsets, config, **backend)
        assert ours.shape == (len(offsets), config.n_mels, config.frames) and ours.dtype == np.float32
        assert np.abs(ours - reference).max() < TOLERANCE_DB


@pytest.fixture
def use_fft(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set ``MER_ZOO_FFT`` for one test; the engine is resolved again before and after it."""

    def use(engine: str) -> None:
        monkeypatch.setenv("MER_ZOO_FFT", engine)
        melspec.fft_engine.cache_clear()

    yield use
    melspec.fft_engine.cache_clear()


@pytest.mark.parametrize(("backend", "fft"), CPU_BACKENDS)
def test_every_cpu_backend_gives_librosas_numbers_on_every_song(
    corpus: Corpus, backend: str, fft: str, use_fft: Callable[[str], None]
) -> None:
    use_fft(fft)
    config = FeatureConfig()
    assert sum(len(offsets) for _, offsets in corpus.songs(config)) >= 60
    _assert_librosa_numbers(corpus, config, backend=backend, device="cpu")


@pytest.mark.parametrize("config", ODD_SETTINGS.values(), ids=ODD_SETTINGS.keys())
@pytest.mark.parametrize(("backend", "fft"), CPU_BACKENDS)
def test_librosas_numbers_with_other_settings(
    corpus: Corpus, backend: str, fft: str, config: FeatureConfig, use_fft: Callable[[str], None]
) -> None:
    use_fft(fft)
    _assert_librosa_numbers(corpus, config, limit=3, backend=backend, device="cpu")


def test_windows_equal_log_mel_of_the_stacked_windows(corpus: Corpus) -> None:
    config = ODD_SETTINGS["windows-overlapping-off-grid"]
    y, offsets = corpus.songs(config, limit=1)[0]
    stacked = np.stack([y[o : o + config.clip_samples] for o in offsets])
    np.testing.assert_allclose(log_mel_windows(y, offsets, config), log_mel(stacked, config), atol=1e-4)
    np.testing.assert_array_equal(log_mel(stacked[1], config), log_mel(stacked, config)[1])


def test_overlapping_windows_on_one_hop_grid_transform_shared_frames_once(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, use_fft: Callable[[str], None]
) -> None:
    import scipy.fft

    use_fft("scipy")  # the FFTs are counted on scipy's
    config = ODD_SETTINGS["windows-overlapping-on-one-grid"]  # 2.5-s steps = 125 hops: half of each window is shared
    y, offsets = corpus.songs(config, limit=1)[0]
    transformed: list[int] = []
    rfft = scipy.fft.rfft

    def counting_rfft(x: np.ndarray, **options: object) -> np.ndarray:
        transformed.append(len(x))
        return rfft(x, **options)

    monkeypatch.setattr(scipy.fft, "rfft", counting_rfft)
    log_mel_windows(y, offsets, config)
    assert len(offsets) >= 10
    assert sum(transformed) < 0.6 * len(offsets) * config.frames


def test_a_batch_of_several_songs_windows_equals_each_songs_own(corpus: Corpus) -> None:
    config = FeatureConfig()
    songs = corpus.songs(config, limit=3)
    clips = np.concatenate([np.stack([y[o : o + config.clip_samples] for o in offsets]) for y, offsets in songs])
    each = np.concatenate([log_mel_windows(y, offsets, config) for y, offsets in songs])
    batch = log_mel_batch(torch.from_numpy(clips), config, "cpu")
    assert batch.shape == each.shape and batch.dtype == np.float32
    assert np.abs(batch - each).max() < TOLERANCE_DB


@needs_cuda
@pytest.mark.parametrize(
    "config", [FeatureConfig(), ODD_SETTINGS["22k-nfft1024-hop256-no-floor"]], ids=["defaults", "no-floor"]
)
def test_cuda_gives_librosas_numbers_even_with_tf32_matmuls(
    corpus: Corpus, config: FeatureConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    _assert_librosa_numbers(corpus, config, backend="torch", device="cuda")
    songs = corpus.songs(config)
    clips = np.concatenate([np.stack([y[o : o + config.clip_samples] for o in offsets]) for y, offsets in songs])
    cpu = np.concatenate([log_mel_windows(y, offsets, config) for y, offsets in songs])
    assert np.abs(log_mel_batch(clips, config, "cuda") - cpu).max() < TOLERANCE_DB


def test_filter_bank_equals_librosa() -> None:
    for sr, n_fft, n_mels, fmin, fmax in [(44100, 2048, 128, 0.0, 8000.0), (22050, 1024, 64, 30.0, 11025.0)]:
        ours = mel_filter_bank(sr, n_fft, n_mels, fmin, fmax)
        theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-9)


def test_no_windows_and_bad_calls() -> None:
    config = FeatureConfig()
    span = np.zeros(config.clip_samples + 10, dtype=np.float32)
    for backend in melspec.MEL_BACKENDS:
        assert log_mel_windows(span, [], config, backend=backend).shape == (0, config.n_mels, config.frames)
    with pytest.raises(ValueError, match="window at sample 11 does not fit"):
        log_mel_windows(span, [0, 11], config)
    with pytest.raises(ValueError, match="unknown mel backend 'jax'"):
        log_mel_windows(span, [0], config, backend="jax")
    with pytest.raises(ValueError, match="numpy mel backend runs on the CPU"):
        log_mel_windows(span, [0], config, device="cuda")


def test_the_fft_library_is_mkl_where_installed_and_can_be_forced(
    monkeypatch: pytest.MonkeyPatch, use_fft: Callable[[str], None]
) -> None:
    use_fft("")
    assert melspec.fft_engine() == ("mkl_fft" if HAS_MKL else "scipy")
    use_fft("SciPy ")
    assert melspec.fft_engine() == "scipy"
    use_fft("fftw")
    with pytest.raises(InputError, match="MER_ZOO_FFT=fftw: expected one of mkl_fft, scipy"):
        melspec.fft_engine()
    monkeypatch.setitem(sys.modules, "mkl_fft", None)  # as if it were not installed
    use_fft("")
    assert melspec.fft_engine() == "scipy"
    use_fft("mkl_fft")
    with pytest.raises(InputError, match=r"mkl_fft is not installed \(pip install mkl_fft\)"):
        melspec.fft_engine()


def test_device_choice_maps_to_a_backend() -> None:
    assert resolve_mel_backend("cpu") == ("numpy", "cpu")
    assert resolve_mel_backend("auto") == (("torch", "cuda") if CUDA else ("numpy", "cpu"))
    with pytest.raises(InputError, match="--device gpu: expected cpu, cuda or auto"):
        resolve_mel_backend("gpu")


@pytest.mark.skipif(CUDA, reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_a_one_line_input_error() -> None:
    with pytest.raises(InputError) as err:
        resolve_mel_backend("cuda")
    assert str(err.value).startswith("--device cuda: CUDA is not available") and "\n" not in str(err.value)


@needs_cuda
def test_cuda_resolves_to_torch() -> None:
    assert resolve_mel_backend("cuda") == ("torch", "cuda")
    assert resolve_mel_backend("cuda:0") == ("torch", "cuda:0")


def test_the_numpy_backend_does_not_import_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from mer_zoo.config import FeatureConfig\n"
        "from mer_zoo.features import get_extractor\n"
        "c = FeatureConfig()\n"
        "get_extractor('mel').compute(np.ones(2 * c.clip_samples, np.float32), [0, c.clip_samples], c)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
