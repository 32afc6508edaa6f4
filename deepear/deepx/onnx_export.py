"""Minimal fp32 ONNX export of a MultiTaskDNN (plain or with layers replaced, e.g. SVD-compressed).

    export_onnx(model, "model.onnx", input_dim=224)   # -> Path

The graph takes one input `x` (B, input_dim) float32 of *raw* window vectors (the model's input
standardisation is inside the graph) and has one output per task, named after the task, holding **logits**
(B, n_classes) float32 — softmax / log-softmax is left to the runtime, exactly like `MultiTaskDNN.forward`,
so the fp32 and int8 (`deepear.deepx.quantize.export_int8_onnx`) graphs are interchangeable. The batch axis
is dynamic; the file is self-contained (weights inline, no `.onnx.data`). Uses the legacy TorchScript-based
exporter (`dynamo=False`): it needs no onnxscript and writes a single file.
"""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from deepear.atomic import atomic_write_bytes
from deepear.errors import ConfigError

log = logging.getLogger(__name__)

INPUT_NAME = "x"


class _TupleOutputs(nn.Module):
    """Wraps a {task: logits} model so the exporter sees a tuple in task order."""

    def __init__(self, model: nn.Module, tasks: list[str]) -> None:
        super().__init__()
        self.model = model
        self.tasks = tasks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x)
        return tuple(out[t] for t in self.tasks)


def export_onnx(model: nn.Module, path: str | Path, input_dim: int, opset: int = 17) -> Path:
    """Write `model` as a single-file fp32 ONNX graph: input `x` (B, input_dim) -> one logits output per task.

    Args:
        model: a MultiTaskDNN (or anything with `task_names` whose forward returns {task: (B, C) logits}).
        path: destination file (written atomically: temp file, then renamed into place).
        input_dim: length of the raw input vector (e.g. 224).
        opset: ONNX opset (17 by default).
    Returns: the path written.
    """
    tasks = list(getattr(model, "task_names", []))
    if not tasks:
        raise ConfigError("export_onnx model: has no task_names (expected a MultiTaskDNN)")
    if not isinstance(input_dim, int) or input_dim <= 0:
        raise ConfigError(f"export_onnx input_dim: must be a positive integer, got {input_dim!r}")
    was_training = model.training
    model.eval()
    buf = io.BytesIO()
    try:
        dummy = torch.zeros(2, input_dim, dtype=torch.float32)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)     # the legacy exporter is chosen on purpose
            torch.onnx.export(_TupleOutputs(model, tasks), (dummy,), buf, dynamo=False,
                              input_names=[INPUT_NAME], output_names=tasks, opset_version=opset,
                              dynamic_axes={INPUT_NAME: {0: "batch"}, **{t: {0: "batch"} for t in tasks}},
                              do_constant_folding=True)
    finally:
        model.train(was_training)
    path = atomic_write_bytes(path, buf.getvalue())
    log.info("exported fp32 ONNX (%d tasks, input_dim %d) to %s", len(tasks), input_dim, path)
    return path
