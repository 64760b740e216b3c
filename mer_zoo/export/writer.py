"""``mer-zoo export``: a run's ``best.pt`` as an ONNX or TorchScript file, its sidecar, and a parity check.

The model is exported as prediction calls it (normalised windows in, outputs on the model's
scale [-1, 1] out, batch and frames axes dynamic), then run on the run's test windows next to
the torch model; an export whose outputs differ by more than the tolerance (1e-4) is refused
with the figure, and so is one that no exporter can convert (naming the model and the
operator). Only a model that passed is written, with its sidecar, each atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError, MerZooError, describe
from mer_zoo.export.calls import INPUT_NAME, OUTPUT_NAME, OnnxCall, TorchCall, TorchScriptCall
from mer_zoo.export.parity import Parity, compare_calls
from mer_zoo.export.sidecar import SIDECAR_FORMAT, SIDECAR_VERSION, file_sha256, sidecar_path
from mer_zoo.export.spec import PredictSpec
from mer_zoo.version import __version__

__all__ = ["FORMATS", "TOLERANCE", "ExportResult", "export_run"]

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}  # format -> the suffix predict recognises it by
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how it was checked."""

    out: Path
    sidecar: Path
    model: str
    task: str
    scale: str
    exporter: str
    parity: Parity

    def summary_lines(self) -> list[str]:
        """Lines for the terminal."""
        size = self.out.stat().st_size / 1024
        return [
            f"exported {self.model} (task {self.task}, scale {self.scale}) with {self.exporter}",
            f"parity with the torch model: {self.parity.describe()}, within {TOLERANCE:g}",
            f"wrote {self.out} ({size:,.0f} KB) and {self.sidecar.name}",
        ]


def export_run(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fmt: str = "onnx",
    features: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Export a run's ``best.pt`` to ``out`` in ``fmt`` (``onnx`` or ``torchscript``) with its sidecar.

    Args:
        run_dir: the run folder.
        out: the model file (``.onnx`` for ONNX, ``.pt`` for TorchScript); the sidecar is ``out`` + ``.json``.
        fmt: the format.
        features: the store whose test windows the parity check reads, when the run's own has moved
            (it must hold the run's feature set with the same settings).

    Raises:
        InputError: a bad run, format, output path or store, or a missing extra.
        MerZooError: no exporter converts the model (naming it and the operator), or the
            exported model's outputs differ from the torch model's beyond the tolerance.
    """
    from mer_zoo.runs import open_run, require_same_features

    run = open_run(run_dir)
    out = Path(out)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: use {' or '.join(FORMATS)}")
    if out.suffix.lower() != FORMATS[fmt]:
        raise InputError(f"{out}: a {fmt} export is named *{FORMATS[fmt]} (predict knows it by that suffix)")
    if not out.parent.is_dir():
        raise InputError(f"{out}: no such folder {out.parent}")
    if fmt == "onnx":
        _require_onnx()
    store = Path(features) if features is not None else run.store_path
    if not store.is_file():
        raise InputError(
            f"{store}: no such feature store; the parity check reads the run's test windows from it "
            "(--features STORE names a copy)"
        )
    if features is not None:
        require_same_features(store, run)
    spec = PredictSpec.from_run(run)
    spec.extractor()  # the set must be computable by this mer-zoo
    tmp = out.with_name(out.name + ".partial")
    try:
        exporter, parity = _convert(run, spec, store, fmt, tmp)
        sidecar = _sidecar(run, spec, tmp, out.name, fmt, exporter, parity)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    side = sidecar_path(out)
    side_tmp = side.with_name(side.name + ".tmp")
    side_tmp.write_text(json.dumps(sidecar, indent=2, allow_nan=False) + "\n")
    os.replace(side_tmp, side)
    return ExportResult(out, side, run.model_name, spec.task, spec.scale, exporter, parity)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise InputError(f'ONNX export needs {err.name}: pip install "mer-zoo[onnx]"') from None


def _convert(run: Any, spec: PredictSpec, store: Path, fmt: str, tmp: Path) -> tuple[str, Parity]:
    """Convert with each exporter in turn until one's model passes the parity check; MerZooError with every reason."""
    import numpy as np
    import torch

    from mer_zoo.data import FeatureDataset
    from mer_zoo.export.converters import ONNX_EXPORTERS, Head, failure_reason, torchscript

    model = run.build_model("best.pt", "cpu")
    reference = TorchCall(model, torch.device("cpu"), spec.n_frames)
    dataset = FeatureDataset(store, "test", songs=run.split(), feature_set=run.feature_set)
    first = dataset.read_raw(range(min(2, len(dataset))))
    example = torch.from_numpy(spec.model_input(np.concatenate([first, first])[:2]))  # 2: no batch-of-1 shortcut
    head = Head(model, spec.n_frames).eval()
    attempts = ONNX_EXPORTERS if fmt == "onnx" else (("torch.jit.trace", torchscript),)
    reasons = []
    for label, convert in attempts:
        try:
            exporter = convert(head, example, tmp)
            if fmt == "onnx":
                _label_onnx(tmp, run, spec)
                exported: Any = OnnxCall(tmp, spec)
            else:
                exported = TorchScriptCall(tmp, torch.device("cpu"))
        except InputError:
            raise
        except Exception as err:
            reasons.append(f"{label}: {failure_reason(err)}")
            continue
        try:
            parity = compare_calls(spec, dataset, reference, exported)
        except Exception as err:  # e.g. a frames axis the exporter fixed: the shorter windows fail
            reasons.append(f"{label}: the exported model fails on the test windows ({describe(err)[:160]})")
            continue
        if parity.max_abs_diff <= TOLERANCE:
            return exporter, parity
        reasons.append(f"{label}: outputs differ from the torch model's, {parity.describe()} (over {TOLERANCE:g})")
    what, hint = ("ONNX", "; --format torchscript may export it") if fmt == "onnx" else ("TorchScript", "")
    raise MerZooError(f"{run.model_name}: cannot be exported to {what}: {'; '.join(reasons)}{hint}")


def _label_onnx(path: Path, run: Any, spec: PredictSpec) -> None:
    """Name the model, its task and its scale in the ONNX file's own metadata (what Netron shows)."""
    import onnx

    model = onnx.load(str(path))
    model.producer_name, model.producer_version = "mer-zoo", __version__
    model.doc_string = (
        f"mer-zoo {run.model_name} ({spec.task} task): normalised {spec.input_shape} windows in, "
        f"[arousal, valence] on [-1, 1] out; map them onto {spec.scale} and read the settings in "
        f"{path.name.removesuffix('.partial')}.json"
    )
    for key, value in (("mer_zoo.model", run.model_name), ("mer_zoo.task", spec.task), ("mer_zoo.scale", spec.scale)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def _sidecar(
    run: Any, spec: PredictSpec, model_file: Path, name: str, fmt: str, exporter: str, parity: Parity
) -> dict[str, Any]:
    """The sidecar of an export (see :mod:`mer_zoo.export.sidecar`)."""
    from mer_zoo.tasks import MODEL_SCALE, scale_label

    metrics_path = run.path / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "mer_zoo_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model_file": name,
        "model_sha256": file_sha256(model_file),
        "runtime": fmt,
        "exporter": exporter,
        "input": {"name": INPUT_NAME, "shape": spec.input_shape, "dtype": "float32",
                  "what": "the feature set's windows, pooled into mean and std vectors when as_vector, then normalised"},
        "output": {"name": OUTPUT_NAME, "shape": spec.output_shape, "columns": ["arousal", "valence"],
                   "scale": scale_label(MODEL_SCALE), "what": f"mapped linearly onto {spec.scale} by predict"},
        "parity": parity.to_dict(TOLERANCE),
        "prediction": spec.to_dict(),
        "run": {"name": run.path.name, "dataset": run.config["store"].get("dataset"),
                "created": run.config.get("created"), "versions": run.config.get("versions"),
                "split": metrics.get("split"), "best_epoch": metrics.get("best_epoch")},
        "test": None if "test" not in metrics else {"scale": metrics.get("scale"), "unit": metrics.get("unit"),
                                                    **metrics["test"]},
    }  # fmt: skip
