"""Sharing a trained model: an export is a run's prediction half, callable without mer-zoo's training stack.

- :mod:`~mer_zoo.export.spec`: what prediction needs of a run (windows, set, normaliser, task, scale);
- :mod:`~mer_zoo.export.sidecar`: the JSON beside an exported model that carries it, read and checked;
- :mod:`~mer_zoo.export.calls`: the model call of a run folder (torch), an ``.onnx`` file
  (onnxruntime, no torch) or a TorchScript file;
- :mod:`~mer_zoo.export.writer`: ``mer-zoo export``: model file, sidecar, parity check;
- :mod:`~mer_zoo.export.converters`: the ONNX exporters and TorchScript tracing behind it;
- :mod:`~mer_zoo.export.parity`: the exported model against the torch model on the run's test windows.

Every name loads its module on first use, so the reading side never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "FORMATS",
    "ExportResult",
    "ModelCall",
    "PredictSpec",
    "export_run",
    "load_spec",
    "open_model",
    "read_sidecar",
    "sidecar_path",
]

_HOME = {
    "FORMATS": "writer",
    "ExportResult": "writer",
    "ModelCall": "calls",
    "PredictSpec": "spec",
    "export_run": "writer",
    "load_spec": "calls",
    "open_model": "calls",
    "read_sidecar": "sidecar",
    "sidecar_path": "sidecar",
}

if TYPE_CHECKING:
    from mer_zoo.export.calls import ModelCall, load_spec, open_model
    from mer_zoo.export.sidecar import read_sidecar, sidecar_path
    from mer_zoo.export.spec import PredictSpec
    from mer_zoo.export.writer import FORMATS, ExportResult, export_run


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
