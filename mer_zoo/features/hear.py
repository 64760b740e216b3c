"""``hear``: any model with the HEAR 2021 API as a set (``--set NAME=hear:module=PKG.MODULE[,weights=FILE]``).

A HEAR module (the benchmark's baselines and submissions are pip packages) has
``load_model(model_file_path)``, ``get_timestamp_embeddings(audio, model)`` returning
``(embeddings (n, T, D), timestamps (n, T) in ms)``, and a model with ``sample_rate`` and
``timestamp_embedding_size``. Windows are resampled to the model's rate, go through it as one
``(n, samples)`` torch tensor per song, and the timestamps are mapped onto the set's frame
rate as for every encoder (:mod:`mer_zoo.features.encoder`). The module is imported, the
model loaded and its output checked when the set is made: a module that cannot be imported
or lacks the API is one line, before any song is decoded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.errors import InputError, describe
from mer_zoo.features import register_extractor
from mer_zoo.features.encoder import EncoderSet, file_digest, parse_rate

__all__ = ["API", "HearEncoder", "hear"]

API = ("load_model", "get_timestamp_embeddings")
MODEL_ATTRIBUTES = ("sample_rate", "timestamp_embedding_size")


@dataclass
class _Loaded:
    api: Any  # the module
    model: Any
    torch_device: Any


class HearEncoder(EncoderSet):
    """A HEAR 2021 module's timestamp embeddings, ``(timestamp_embedding_size, frames)`` per window."""

    load_settings = ("module", "weights", "sha256")

    def __init__(self, module: str, weights: str | None, rate: float | str, sha256: str | None, device: str) -> None:
        api = _import(module)
        digest = None
        if weights is not None:
            path = Path(weights).expanduser().resolve()
            if not path.is_file():
                raise InputError(f"hear module {module}: weights={weights}: no such file")
            weights, digest = str(path), file_digest([path])
        self.bind(f"hear module {module}: weights {weights}", digest, sha256, device)
        self.settings = {"module": module, "weights": weights, "rate": parse_rate(rate), "sha256": digest}
        model = self.model().model
        self.sample_rate, self.dim = (_model_attribute(module, model, name) for name in MODEL_ATTRIBUTES)
        try:
            frames, _ = self.embed(np.zeros((1, self.sample_rate), dtype=np.float32))
        except Exception as err:
            raise InputError(
                f"hear module {module}: get_timestamp_embeddings fails on 1 s of silence ({describe(err)})"
            ) from None
        if frames.ndim != 3 or frames.shape[-1] != self.dim:
            raise InputError(
                f"hear module {module}: get_timestamp_embeddings gave {frames.shape}, not (1, timestamps, {self.dim})"
            )
        import torch

        self.details = {
            "module_file": str(getattr(api, "__file__", "")),
            "model_class": type(model).__name__,
            "sample_rate": self.sample_rate,
            "timestamp_embedding_size": self.dim,
            "torch": torch.__version__,
        }
        used = getattr(model, "model_file_path", None)  # a model that says which file it loaded: fingerprint it
        if weights is None and used and Path(used).is_file():
            self.details.update(weights_file=str(used), weights_sha256=file_digest([Path(used)]))

    def load(self) -> _Loaded:
        """The module's ``load_model(weights)`` (``load_model()`` without weights), on the device in eval mode."""
        import torch

        module, weights = self.settings["module"], self.settings["weights"]
        api = _import(module)
        try:
            model = api.load_model() if weights is None else api.load_model(weights)
        except Exception as err:  # a plugin's own failure: name the module and its cause
            raise InputError(f"hear module {module}: load_model({weights or ''}) failed ({describe(err)})") from None
        torch_device = torch.device(self.device)
        if isinstance(model, torch.nn.Module):
            model = model.to(torch_device).eval()
        return _Loaded(api, model, torch_device)

    def embed(self, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``get_timestamp_embeddings`` of a batch of windows; timestamps from milliseconds to seconds."""
        import torch

        loaded = self.model()
        audio = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32)).to(loaded.torch_device)
        with torch.inference_mode():
            embeddings, timestamps = loaded.api.get_timestamp_embeddings(audio, loaded.model)
        return _numpy(embeddings), _numpy(timestamps).astype(np.float64) / 1000.0


def _import(module: str) -> Any:
    try:
        api = importlib.import_module(module)
    except Exception as err:  # ImportError, or the module's own error at import
        raise InputError(f"hear module {module} cannot be imported ({describe(err)})") from None
    lacking = [name for name in API if not callable(getattr(api, name, None))]
    if lacking:
        raise InputError(
            f"hear module {module} is not a HEAR 2021 module: it lacks {', '.join(f'{name}()' for name in lacking)}"
        )
    return api


def _model_attribute(module: str, model: Any, name: str) -> int:
    value = getattr(model, name, None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InputError(f"hear module {module}: its model has no positive integer {name} (found {value!r})")
    return int(value)


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


@register_extractor(kind="sequence")
def hear(
    *,
    module: str,
    weights: str | None = None,
    rate: float | str = 2.0,
    sha256: str | None = None,
    device: str = "cpu",
) -> HearEncoder:
    """Any HEAR 2021 API module's timestamp embeddings (load_model + get_timestamp_embeddings), frames at 2 Hz.

    ``module``: the module to import (e.g. ``mer_zoo.features.vibenet_hear``); ``weights``: the
    file passed to ``load_model``; ``rate``: frames per second or ``native``; ``sha256``: the
    weights' expected digest (recorded); ``device``: cpu, cuda or auto.
    """
    return HearEncoder(module, weights, rate, sha256, device)
