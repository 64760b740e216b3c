"""The model call of prediction, the one thing a run folder and an export do differently.

:func:`open_model` takes a run folder, an ONNX file or a TorchScript file and returns its
:class:`~mer_zoo.export.spec.PredictSpec` and a call: normalised model input ``(n, ...)``
float32 in, outputs ``(n, 2)`` (or ``(n, F, 2)``) on the model's scale out, in batches. A run
folder is called with torch (its ``best.pt``), an ``.onnx`` file with onnxruntime only (torch
is never imported), a TorchScript ``.pt`` with ``torch.jit``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mer_zoo.errors import InputError, describe
from mer_zoo.export.sidecar import RUNTIMES, read_sidecar
from mer_zoo.export.spec import PredictSpec

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "ModelCall",
    "OnnxCall",
    "TorchCall",
    "TorchScriptCall",
    "load_spec",
    "open_model",
]

INPUT_NAME, OUTPUT_NAME = "features", "outputs"  # an exported model's input and output


class ModelCall(Protocol):
    """Normalised model input in, outputs on the model's scale out (numpy both ways)."""

    def __call__(self, x: np.ndarray) -> np.ndarray: ...

    def use_all_cores(self) -> None:
        """Let the call use every core this process may run on (a batch prediction, no workers beside it)."""


class TorchCall:
    """A torch module on a device: ``model(x)``, or ``model(x, n_frames=F)`` for a temporal model."""

    def __init__(self, model: Any, device: Any, n_frames: int | None, batch_size: int = 64) -> None:
        self.model, self.device, self.n_frames, self.batch_size = model, device, n_frames, batch_size

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        from mer_zoo.training.batches import forward

        t = torch.from_numpy(np.ascontiguousarray(x))
        with torch.no_grad():
            out = [
                forward(self.model, t[i : i + self.batch_size].to(self.device), self.n_frames).float().cpu()
                for i in range(0, len(t), self.batch_size)
            ]
        return torch.cat(out).numpy()

    def use_all_cores(self) -> None:
        """Torch's threads on every core."""
        from mer_zoo.training import use_all_cores

        use_all_cores()


class TorchScriptCall(TorchCall):
    """An exported TorchScript module (its temporal frames are part of it)."""

    def __init__(self, path: Path, device: Any, batch_size: int = 64) -> None:
        import torch

        try:
            with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export: still the file format
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location=device).eval()
        except Exception as err:  # a truncated archive, a foreign file: one line either way
            raise InputError(f"{path}: not a readable TorchScript model ({describe(err)[:200]})") from None
        super().__init__(module, device, None, batch_size)


class OnnxCall:
    """An ONNX model in an onnxruntime session on the CPU."""

    def __init__(self, path: Path, spec: PredictSpec, batch_size: int = 64) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError(
                f'{path}: predicting from an ONNX file needs onnxruntime: pip install "mer-zoo[onnx]"'
            ) from None
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings are not the user's business
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise InputError(f"{path}: not a readable ONNX model ({describe(err)[:200]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or len(inputs[0].shape) != len(spec.input_shape):
            found = ", ".join(f"{i.name} {i.shape}" for i in inputs)
            raise InputError(
                f"{path}: not a mer-zoo export: it takes {found}, its sidecar describes {INPUT_NAME} {spec.input_shape}"
            )
        if not outputs or len(outputs[0].shape) != len(spec.output_shape):
            raise InputError(f"{path}: not a mer-zoo export: its outputs differ from {spec.output_shape}")
        self.batch_size = batch_size

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = [
            self.session.run(None, {INPUT_NAME: x[i : i + self.batch_size]})[0]
            for i in range(0, len(x), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float32, copy=False)

    def use_all_cores(self) -> None:
        """Nothing to do: onnxruntime's threads cover the physical cores already."""


def load_spec(source: str | os.PathLike[str]) -> PredictSpec:
    """The prediction settings of a run folder or an exported model file, without loading the model."""
    path = Path(source)
    if _is_run(path):
        from mer_zoo.runs import open_run

        return PredictSpec.from_run(open_run(path))
    return read_sidecar(path)[1]


def open_model(
    source: str | os.PathLike[str], *, device: str = "auto", batch_size: int = 64
) -> tuple[PredictSpec, ModelCall]:
    """The prediction settings and model call of a run folder or an exported model file.

    Raises:
        InputError: a missing or unreadable source, a sidecar that is missing, foreign or of
            another version, or onnxruntime missing for an ONNX file.
    """
    path = Path(source)
    if _is_run(path):
        from mer_zoo.runs import open_run
        from mer_zoo.training import resolve_device

        run = open_run(path)
        dev = resolve_device(device)
        spec = PredictSpec.from_run(run)
        return spec, TorchCall(run.build_model("best.pt", dev), dev, spec.n_frames, batch_size)
    spec = read_sidecar(path)[1]
    if RUNTIMES[path.suffix.lower()] == "onnx":
        if device not in ("auto", "cpu"):
            raise InputError(f"--device {device}: an ONNX export runs on the CPU (onnxruntime); use --device cpu")
        return spec, OnnxCall(path, spec, batch_size)
    from mer_zoo.training import resolve_device

    return spec, TorchScriptCall(path, resolve_device(device), batch_size)


def _is_run(path: Path) -> bool:
    """A run folder (or a path that is no exported model file: ``open_run`` says what it lacks)."""
    return path.is_dir() or path.suffix.lower() not in RUNTIMES
