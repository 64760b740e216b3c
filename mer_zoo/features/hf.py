"""``hf``: a Hugging Face audio encoder loaded from a local folder, one of its hidden-state layers as a set.

``--set mert7=hf:path=/models/MERT-v1-95M,layer=7[,rate=2][,trust_remote_code=true]``

The folder is what ``save_pretrained`` writes (``config.json``, the weights, and the feature
extractor's ``preprocessor_config.json``); it is read with ``local_files_only=True`` and
``HF_HUB_OFFLINE=1``, so nothing reaches a hub. The feature extractor found there decides the
sampling rate and the normalisation. ``layer=K`` is ``hidden_states[K]`` of
``output_hidden_states=True`` (0: the input embeddings; default: the last layer),
``layer=mean`` their average (MARBLE's protocol). Frames are time-ordered for encoders whose
hidden states are a time sequence (HuBERT, wav2vec 2.0, WavLM, data2vec-audio, MERT): a
convolutional front end's frame ``k`` is centred on its receptive field, other frames are
taken to tile the window evenly.

Models whose code is not part of ``transformers`` (MERT ships ``modeling_MERT.py``) run only
with ``trust_remote_code=true``. Every failure to use the folder is one line naming it, raised
when the set is made: before any song is decoded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.errors import InputError, describe
from mer_zoo.features import register_extractor
from mer_zoo.features.encoder import EncoderSet, file_digest, parse_rate

__all__ = ["HfEncoder", "frame_times", "hf", "weight_files"]

_WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
_TRAINING_ONLY = ("masked_spec_embed",)  # in wav2vec2-style checkpoints, used only when pre-training


def weight_files(folder: Path) -> list[Path]:
    """The weight files ``from_pretrained`` reads in ``folder`` (safetensors or PyTorch bins, shards included)."""
    return sorted({p for pattern in _WEIGHTS for p in folder.glob(pattern) if p.is_file()})


def frame_times(n_frames: int, n_samples: int, sample_rate: int, config: Any) -> np.ndarray:
    """Each frame's centre in seconds: the receptive field's centre under a conv front end, else an even tiling."""
    kernels, strides = getattr(config, "conv_kernel", None), getattr(config, "conv_stride", None)
    if kernels and strides and len(kernels) == len(strides):
        field, hop = 1, 1
        for kernel, stride in zip(kernels, strides):
            field += (kernel - 1) * hop
            hop *= stride
        return (np.arange(n_frames) * hop + field / 2) / sample_rate
    return (np.arange(n_frames) + 0.5) * (n_samples / sample_rate) / n_frames


@dataclass
class _Loaded:
    model: Any
    features: Any  # the folder's feature extractor
    torch_device: Any


class HfEncoder(EncoderSet):
    """A local Hugging Face encoder's hidden states, ``(hidden size, frames)`` per window."""

    load_settings = ("path", "trust_remote_code", "sha256")

    def __init__(
        self, path: str, layer: int | str | None, rate: float | str, trust_remote_code: bool, sha256: str | None,
        device: str,
    ) -> None:  # fmt: skip
        folder = Path(path).expanduser().resolve()
        config = _read_config(folder)
        weights = weight_files(folder)
        if not weights:
            raise InputError(f"{folder}: no weights (model.safetensors or pytorch_model.bin) in the model folder")
        if not (folder / "preprocessor_config.json").is_file():
            raise InputError(
                f"{folder}: no preprocessor_config.json: save the model's feature extractor there too "
                "(feature_extractor.save_pretrained(DIR)), it decides the sampling rate and normalisation"
            )
        _check_remote_code(folder, config, bool(trust_remote_code))
        digest = file_digest(weights)
        self.bind(f"{folder}: its weights", digest, sha256, device)
        self.settings = {"path": str(folder), "layer": None, "rate": parse_rate(rate),
                         "trust_remote_code": bool(trust_remote_code), "sha256": digest}  # fmt: skip
        loaded = self.model()
        self.sample_rate = int(loaded.features.sampling_rate)
        frames, n_states = self._probe(loaded)
        self.settings["layer"] = _resolve_layer(layer, n_states, folder)
        self.dim = int(frames.shape[-1])
        import torch
        import transformers

        self.details = {
            "model_class": type(loaded.model).__name__,
            "model_type": str(config.get("model_type", "")),
            "feature_extractor": type(loaded.features).__name__,
            "sample_rate": self.sample_rate,
            "hidden_states": n_states,
            "weights": [p.name for p in weight_files(folder)],
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }

    def load(self) -> _Loaded:
        """The model (float32, eval mode, on the device) and its feature extractor, from the folder only.

        In a worker of another machine the folder must be at the same path, holding the same weights.
        """
        import socket

        folder, recorded = Path(self.settings["path"]), self.settings["sha256"]
        here = f"on {socket.gethostname()} (pid {os.getpid()})"
        if not folder.is_dir():
            raise InputError(f"{folder}: no such model folder {here}")
        if file_digest(weight_files(folder)) != recorded:
            raise InputError(f"{folder}: the weights {here} differ from the set's (sha256 {recorded[:16]}...)")
        return _load(folder, self.settings["trust_remote_code"], self.device)

    def _probe(self, loaded: _Loaded) -> tuple[np.ndarray, int]:
        """One second of silence through the model: its hidden size and how many hidden states it gives."""
        states = self._hidden_states(loaded, np.zeros((1, self.sample_rate), dtype=np.float32))
        return states[-1].float().cpu().numpy(), len(states)

    def _hidden_states(self, loaded: _Loaded, clips: np.ndarray) -> Any:
        import torch

        inputs = loaded.features(list(clips), sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {key: value.to(loaded.torch_device) for key, value in inputs.items()}
        with torch.inference_mode():
            out = loaded.model(**inputs, output_hidden_states=True)
        states = getattr(out, "hidden_states", None)
        if not states:
            raise InputError(f"{self.settings['path']}: {type(loaded.model).__name__} gives no hidden states")
        return states

    def embed(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chosen layer (or the mean of all) for a batch of windows, with the frames' centres."""
        import torch

        loaded = self.model()
        states = self._hidden_states(loaded, clips)
        layer = self.settings["layer"]
        chosen = torch.stack(states).mean(dim=0) if layer == "mean" else states[layer]
        frames = chosen.float().cpu().numpy()
        return frames, frame_times(frames.shape[1], clips.shape[1], self.sample_rate, loaded.model.config)


def _read_config(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such model folder")
    path = folder / "config.json"
    if not path.is_file():
        raise InputError(f"{folder}: no config.json, not a model saved with save_pretrained")
    try:
        config: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: unreadable model config ({describe(err)})") from None
    return config


def _transformers() -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"  # read by huggingface_hub at import: no request leaves this process
    try:
        import transformers
    except ImportError:
        raise InputError('the hf feature set needs transformers: pip install "mer-zoo[hf]"') from None
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def _check_remote_code(folder: Path, config: dict[str, Any], trusted: bool) -> None:
    """InputError when the folder's model needs its own code and ``trust_remote_code`` is not given."""
    transformers = _transformers()
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    auto_map = config.get("auto_map") or {}
    if trusted or not auto_map or config.get("model_type") in CONFIG_MAPPING:
        return
    code = auto_map.get("AutoModel") or next(iter(auto_map.values()))
    raise InputError(
        f"{folder}: the model's code is not part of transformers {transformers.__version__}: its config.json asks "
        f"for {code}, a Python file in that folder that would be imported and run; add trust_remote_code=true "
        "to the set's settings if you trust it"
    )


def _load(folder: Path, trusted: bool, device: str) -> _Loaded:
    transformers = _transformers()
    import torch

    options = {"local_files_only": True, "trust_remote_code": trusted}
    try:
        features = transformers.AutoFeatureExtractor.from_pretrained(folder, **options)
    except Exception as err:  # any library's error: the folder is what the user can fix
        raise InputError(f"{folder}: its feature extractor does not load ({describe(err)})") from None
    try:
        model, info = transformers.AutoModel.from_pretrained(folder, output_loading_info=True, **options)
    except Exception as err:
        raise InputError(f"{folder}: weights do not load ({describe(err)})") from None
    missing = [key for key in info.get("missing_keys", ()) if not key.endswith(_TRAINING_ONLY)]
    if missing:
        raise InputError(
            f"{folder}: weights do not load: {len(missing)} of {type(model).__name__}'s tensors are not in them "
            f"(e.g. {sorted(missing)[0]})"
        )
    torch_device = torch.device(device)
    return _Loaded(model.float().to(torch_device).eval(), features, torch_device)


def _resolve_layer(layer: int | str | None, n_states: int, folder: Path) -> int | str:
    if layer is None:
        return n_states - 1
    if isinstance(layer, str) and layer.strip().lower() == "mean":
        return "mean"
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_states:
        raise InputError(f"layer={layer!r}: {folder} has hidden states 0..{n_states - 1}, or use layer=mean")
    return layer


@register_extractor(kind="sequence")
def hf(
    *,
    path: str,
    layer: int | str | None = None,
    rate: float | str = 2.0,
    trust_remote_code: bool = False,
    sha256: str | None = None,
    device: str = "cpu",
) -> HfEncoder:
    """A Hugging Face audio encoder from a local folder: a hidden-state layer, frames at 2 Hz.

    ``path``: the folder ``save_pretrained`` wrote; ``layer``: K (0 = input embeddings; default
    the last) or ``mean``; ``rate``: frames per second or ``native``; ``trust_remote_code``: run
    the folder's own modeling code (MERT); ``sha256``: the weights' expected digest (recorded);
    ``device``: cpu, cuda or auto.
    """
    return HfEncoder(path, layer, rate, trust_remote_code, sha256, device)
