"""An export's sidecar: ``MODEL.json`` beside ``MODEL`` (``crnn.onnx`` -> ``crnn.onnx.json``).

It holds what prediction needs (:class:`~mer_zoo.export.spec.PredictSpec`), what the model
file is (runtime, input and output, its SHA-256) and where it came from (the run, its test
figures on their scale, the parity check). Reading one checks, each with a one-line
InputError naming the file: that it exists and is a mer-zoo export sidecar of a format
version this mer-zoo reads, and that the model file beside it is the one it describes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError
from mer_zoo.export.spec import PredictSpec

__all__ = ["RUNTIMES", "SIDECAR_FORMAT", "SIDECAR_VERSION", "file_sha256", "read_sidecar", "sidecar_path"]

SIDECAR_FORMAT = "mer-zoo-export"
SIDECAR_VERSION = 1
RUNTIMES = {".onnx": "onnx", ".pt": "torchscript"}  # what each model file suffix is run with


def sidecar_path(model_file: Path) -> Path:
    """Where the sidecar of ``model_file`` lies: the same name with ``.json`` added."""
    return model_file.with_name(model_file.name + ".json")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1-MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_sidecar(model_file: Path) -> tuple[dict[str, Any], PredictSpec]:
    """The sidecar of ``model_file`` and its prediction settings.

    Raises:
        InputError: the model file or its sidecar is missing, the sidecar is not a mer-zoo
            export sidecar or is of another format version, or it describes another model file.
    """
    if not model_file.is_file():
        raise InputError(f"{model_file}: no such model file")
    path = sidecar_path(model_file)
    if not path.is_file():
        raise InputError(
            f"{model_file}: its sidecar {path.name} is missing (it holds the feature settings, normaliser, task "
            "and scale; `mer-zoo export` writes both)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a mer-zoo export sidecar (unreadable JSON: {err})") from None
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise InputError(f"{path}: not a mer-zoo export sidecar (no format={SIDECAR_FORMAT!r})")
    if data.get("format_version") != SIDECAR_VERSION:
        raise InputError(
            f"{path}: export format version {data.get('format_version')} (written by mer-zoo "
            f"{data.get('mer_zoo_version', '?')}), this mer-zoo reads version {SIDECAR_VERSION}; "
            "export the run again with this mer-zoo"
        )
    if data.get("model_sha256") != file_sha256(model_file):
        raise InputError(
            f"{model_file}: its bytes differ from those its sidecar {path.name} records (SHA-256): the file is "
            "damaged or was changed, or the sidecar belongs to another export"
        )
    if not isinstance(data.get("prediction"), dict):
        raise InputError(f"{path}: not a mer-zoo export sidecar (no prediction settings)")
    return data, PredictSpec.from_dict(data["prediction"], str(path))
