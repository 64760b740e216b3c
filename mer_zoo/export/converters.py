"""Torch modules to files: ONNX (two exporters, tried in turn) and TorchScript (a trace).

torch 2.13 ships two ONNX exporters and neither takes every mer-zoo model: the TorchScript-based
one (``dynamo=False``, needs only ``onnx``) exports the GRU of ``crnn`` but bakes the sequence
length of ``mel_transformer`` into a reshape and gets ``hist_gbt``'s summed trees wrong; the
dynamo one (needs ``onnxscript`` too) exports those two but fails on the GRU. So the writer
tries them in :data:`ONNX_EXPORTERS` order and keeps the first whose model passes the parity
check. Every failure is turned into one line naming the operator where one can be found.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from mer_zoo.errors import InputError, one_line
from mer_zoo.export.calls import INPUT_NAME, OUTPUT_NAME

__all__ = ["ONNX_EXPORTERS", "Head", "failure_reason", "onnx_dynamo", "onnx_torchscript", "torchscript"]

LEGACY_OPSET, DYNAMO_OPSET = 17, 18


class Head(nn.Module):
    """A run's model as prediction calls it: ``model(x)``, or ``model(x, n_frames=F)`` with F fixed."""

    def __init__(self, model: nn.Module, n_frames: int | None) -> None:
        super().__init__()
        self.model, self.n_frames = model, n_frames

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features) if self.n_frames is None else self.model(features, n_frames=self.n_frames)


def _dynamic_axes(example: torch.Tensor) -> dict[int, str]:
    return {0: "batch", 3: "frames"} if example.ndim == 4 else {0: "batch"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' progress lines, graph dumps (written by C++ to the process's own stdout),
    warnings and log records kept off the user's terminal; their errors still raise."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as devnull, warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def onnx_torchscript(head: Head, example: torch.Tensor, out: Path) -> str:
    """Export with the TorchScript-based ONNX exporter (opset 17); returns its description."""
    axes = _dynamic_axes(example)
    with _quiet():
        torch.onnx.export(
            head, (example,), str(out), dynamo=False, opset_version=LEGACY_OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: {0: "batch"}},
        )  # fmt: skip
    return f"torch.onnx (TorchScript-based, opset {LEGACY_OPSET}), torch {torch.__version__}"


def onnx_dynamo(head: Head, example: torch.Tensor, out: Path) -> str:
    """Export with the dynamo-based ONNX exporter (opset 18, needs onnxscript); returns its description."""
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise InputError('the dynamo ONNX exporter needs onnxscript: pip install "mer-zoo[onnx]"') from None
    dims = dict.fromkeys(_dynamic_axes(example), torch.export.Dim.DYNAMIC)
    with _quiet():
        torch.onnx.export(
            head, (example,), str(out), dynamo=True, opset_version=DYNAMO_OPSET, verbose=False,
            external_data=False, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=(dims,),
        )  # fmt: skip
    return f"torch.onnx (dynamo, opset {DYNAMO_OPSET}), torch {torch.__version__}"


ONNX_EXPORTERS: tuple[tuple[str, Callable[[Head, torch.Tensor, Path], str]], ...] = (
    ("TorchScript-based exporter", onnx_torchscript),
    ("dynamo exporter", onnx_dynamo),
)


def torchscript(head: Head, example: torch.Tensor, out: Path) -> str:
    """Trace ``head`` on ``example`` and save it as TorchScript; returns its description."""
    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(head, (example,), check_trace=False)
        traced.save(str(out))
    return f"torch.jit.trace, torch {torch.__version__}"


_OPERATOR = (
    re.compile(r"operator '?([\w:.]+)'?"),  # "Exporting the operator 'aten::foo' ..." / "export of operator foo"
    re.compile(r"target=torch\.ops\.([\w.]+)"),  # a dynamo graph node
    re.compile(r"(aten[.:]{1,2}[\w.]+)"),
)


def failure_reason(err: BaseException) -> str:
    """An exporter's exception as one short line: the operator it names, and its first line of cause."""
    text = str(err)
    cause = err.__cause__
    while cause is not None:  # the dynamo exporter wraps the cause (e.g. a decomposition error)
        text += "\n" + str(cause)
        cause = cause.__cause__
    operator = next((m.group(1) for pattern in _OPERATOR if (m := pattern.search(text))), None)
    summary = text.split("## Exception summary", 1)[-1] if "## Exception summary" in text else text
    first = next((line for line in summary.splitlines() if line.strip()), type(err).__name__)
    first = re.sub(r"\x1b\[[0-9;]*m", "", one_line(first)).split(" Please feel free")[0]
    first = re.sub(r"<class '([\w.]+)'>", r"\1", first)[:160]
    return f"operator {operator} ({first})" if operator else first
