"""VibeNet's pretrained EfficientNet-B0 as a HEAR 2021 module: a 1280-d embedding every 0.5 s.

``--set vibenet=hear:module=mer_zoo.features.vibenet_hear`` (``pip install "mer-zoo[embeddings]"``).

VibeNet (Jaeheon Shim, GPL-3.0-or-later, https://github.com/jaeheonshim/vibenet) ships its
weights inside its PyPI package as ``vibenet/artifacts/efficientnet_model.onnx``: an
EfficientNet-B0 student distilled from a PANNs CNN14 teacher, both trained on the Free Music
Archive to predict seven Echo Nest attributes of a track (valence, energy, danceability, ...).
This module reads only that file (none of vibenet's Python code runs), cuts the graph at the
backbone's pooled 1280-d output (the input of its regression trunk) and runs it with
onnxruntime.

Timestamps are the centres of consecutive 0.5-s steps; each embedding is computed from the
2-s context centred on its timestamp (silence beyond the audio's edges, as the HEAR
baselines pad their centred frames), through VibeNet's own log-mel (16 kHz, 1024-point FFT, 640-sample Hann window, hop 320, 128
Slaney mel bands to 8 kHz, dB with an 80-dB floor below the context's maximum).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CONTEXT_S",
    "HOP_S",
    "SAMPLE_RATE",
    "VibeNetEmbedder",
    "context_mels",
    "get_timestamp_embeddings",
    "load_model",
    "log_mel",
    "shipped_model_file",
    "timestamps_s",
]

SAMPLE_RATE = 16000
HOP_S = 0.5
CONTEXT_S = 2.0
EMBEDDING_SIZE = 1280
_N_FFT, _WIN, _HOP, _N_MELS, _FMAX = 1024, 640, 320, 128, 8000.0


def shipped_model_file() -> Path:
    """The ONNX file inside the installed vibenet package (found without importing it)."""
    spec = importlib.util.find_spec("vibenet")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "artifacts" / "efficientnet_model.onnx" if locations else None
    if path is None or not path.is_file():
        raise ImportError('VibeNet\'s weights are not installed: pip install "mer-zoo[embeddings]"')
    return path


class VibeNetEmbedder:
    """An onnxruntime session of VibeNet's backbone: log-mel contexts ``(B, 128, frames)`` -> ``(B, 1280)``."""

    sample_rate = SAMPLE_RATE
    timestamp_embedding_size = EMBEDDING_SIZE

    def __init__(self, model_file_path: Path, threads: int = 1) -> None:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError(
                f'VibeNet runs on onnxruntime and onnx ({err}): pip install "mer-zoo[embeddings]"'
            ) from None
        self.model_file_path = str(model_file_path)
        graph = onnx.load(self.model_file_path)
        pooled = _backbone_output(graph)
        _cut_at(graph.graph, pooled)
        graph.graph.output.append(onnx.helper.make_tensor_value_info(pooled, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.intra_op_num_threads = options.inter_op_num_threads = max(1, threads)
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(graph.SerializeToString(), options, providers=providers)
        self.input_name = graph.graph.input[0].name

    def __call__(self, mels: np.ndarray) -> np.ndarray:
        """``(B, 128, frames)`` log-mels -> ``(B, 1280)`` pooled backbone features."""
        (pooled,) = self.session.run(None, {self.input_name: np.ascontiguousarray(mels, dtype=np.float32)})
        return np.asarray(pooled).reshape(len(mels), -1)


def _backbone_output(graph: Any) -> str:
    """The pooled backbone tensor: what the first LayerNormalization reads, before its batch-1 reshape."""
    producers = {out: node for node in graph.graph.node for out in node.output}
    norm = next((node for node in graph.graph.node if node.op_type == "LayerNormalization"), None)
    if norm is None:
        raise ValueError("not VibeNet's graph: no LayerNormalization after the backbone")
    tensor = norm.input[0]
    while tensor in producers and producers[tensor].op_type in ("Reshape", "Flatten", "Squeeze"):
        tensor = producers[tensor].input[0]
    return str(tensor)


def _cut_at(graph: Any, tensor: str) -> None:
    """Keep only the nodes ``tensor`` depends on, and the weights they read; no output left."""
    producers = {out: node for node in graph.node for out in node.output}
    needed, todo = set(), [tensor]
    while todo:
        node = producers.get(todo.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            todo += list(node.input)
    kept = [node for node in graph.node if id(node) in needed]
    read = {name for node in kept for name in node.input}
    weights = [init for init in graph.initializer if init.name in read]
    del graph.node[:], graph.output[:]
    graph.node.extend(kept)
    initializers = [type(w)() for w in weights]
    for copy, weight in zip(initializers, weights):
        copy.CopyFrom(weight)
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def load_model(model_file_path: str = "") -> VibeNetEmbedder:
    """HEAR API: the backbone from ``model_file_path``, or from the installed vibenet package when empty."""
    import torch

    path = Path(model_file_path) if model_file_path else shipped_model_file()
    return VibeNetEmbedder(path, threads=torch.get_num_threads())


@lru_cache(maxsize=2)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=_N_FFT, n_mels=_N_MELS, fmin=0.0, fmax=_FMAX).astype(np.float32)


def log_mel(y: np.ndarray) -> np.ndarray:
    """VibeNet's log-mel of mono 16-kHz audio: ``(128, frames)`` dB, floored 80 dB below its maximum."""
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy.fft import rfft
    from scipy.signal import get_window

    y = np.asarray(y, dtype=np.float32)
    if len(y) < _WIN:
        y = np.pad(y, (0, _WIN - len(y)))
    frames = sliding_window_view(y, _WIN)[::_HOP] * get_window("hann", _WIN, fftbins=True).astype(np.float32)
    spectrum = rfft(frames, n=_N_FFT, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    db = 10.0 * np.log10(np.maximum(1e-10, _mel_basis() @ power.T))
    return np.maximum(db, db.max() - 80.0).astype(np.float32)


def context_mels(clip: np.ndarray) -> np.ndarray:
    """The log-mel of each timestamp's 2-s context of one clip: ``(T, 128, 99)``, ``log_mel`` of each context.

    The STFT runs once over the padded clip: every context starts on its frame grid (0.5-s
    steps are 25 hops), so each context's frames are a slice of it; only the 80-dB floor is per context.
    """
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy.fft import rfft
    from scipy.signal import get_window

    times = timestamps_s(len(clip))
    half, first = int(CONTEXT_S * SAMPLE_RATE) // 2, int(round(times[0] * SAMPLE_RATE))
    padded = np.pad(np.asarray(clip, dtype=np.float32), (half - first, half))
    frames = sliding_window_view(padded, _WIN)[::_HOP] * get_window("hann", _WIN, fftbins=True).astype(np.float32)
    spectrum = rfft(frames, n=_N_FFT, axis=-1)
    power = _mel_basis() @ (spectrum.real**2 + spectrum.imag**2).astype(np.float32).T
    step, width = int(HOP_S * SAMPLE_RATE) // _HOP, (2 * half - _WIN) // _HOP + 1
    db = 10.0 * np.log10(
        np.maximum(1e-10, np.stack([power[:, k * step : k * step + width] for k in range(len(times))]))
    )
    return np.maximum(db, db.max(axis=(1, 2), keepdims=True) - 80.0).astype(np.float32)


def timestamps_s(n_samples: int) -> np.ndarray:
    """Centres of the consecutive 0.5-s steps of ``n_samples`` of audio (at least one)."""
    steps = max(1, int(np.floor(n_samples / SAMPLE_RATE / HOP_S + 1e-9)))
    return (np.arange(steps) + 0.5) * HOP_S


def get_timestamp_embeddings(audio: Any, model: VibeNetEmbedder) -> tuple[Any, Any]:
    """HEAR API: ``(n, samples)`` 16-kHz audio -> embeddings ``(n, T, 1280)`` and timestamps in ms ``(n, T)``."""
    import torch

    clips = audio.detach().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    if clips.ndim != 2:
        raise ValueError(f"audio must be (n_sounds, n_samples), got {clips.shape}")
    n, length = clips.shape
    times = timestamps_s(length)
    mels = np.concatenate([context_mels(clip) for clip in clips])
    embeddings = np.array(model(mels).reshape(n, len(times), -1), dtype=np.float32)
    stamps = np.tile(times * 1000.0, (n, 1))
    return torch.from_numpy(embeddings), torch.from_numpy(stamps)
