"""The bundle's ONNX graph in onnxruntime: raw window vectors in, logits per task out.

One intra-op thread by default: a bundle's model is small (a few hundred microseconds per batch), a
device's other cores are better left to the audio and the application, and one thread keeps latency
predictable. `threads` raises it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from deepear.errors import AudioError
from deepear.runtime.bundle import Bundle, BundleError

log = logging.getLogger(__name__)


class OnnxModel:
    """An onnxruntime session over a bundle's model.onnx (fp32) or model.int8.onnx (int8)."""

    def __init__(self, bundle: Bundle, precision: str = "fp32", threads: int = 1) -> None:
        import onnxruntime as ort

        if not isinstance(threads, int) or threads < 1:
            raise BundleError(f"onnx model: threads must be a positive integer, got {threads!r}")
        self.path: Path = bundle.model_path(precision)
        self.precision = precision
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        source: str | bytes = str(self.path)
        if precision == "int8":
            source = _exact_int8(self.path)
        try:
            self.session = ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise BundleError(f"{self.path}: onnxruntime cannot load it ({e})") from e
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != bundle.input_name:
            raise BundleError(f"{self.path}: expected one input named {bundle.input_name!r}, "
                              f"got {[i.name for i in inputs]}")
        shape = inputs[0].shape
        if len(shape) != 2 or shape[1] != bundle.input_dim:
            raise BundleError(f"{self.path}: input shape {shape} does not match input.dim={bundle.input_dim}")
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        for name, t in bundle.tasks.items():
            if name not in outs:
                raise BundleError(f"{self.path}: no output for task {name!r} (outputs: {sorted(outs)})")
            n_cls = outs[name][-1]
            if isinstance(n_cls, int) and n_cls != len(t.labels):
                raise BundleError(f"{self.path}: output {name!r} has {n_cls} classes, the manifest lists "
                                  f"{len(t.labels)} labels")
        self.tasks = list(bundle.tasks)
        self.input_name = bundle.input_name
        self.input_dim = bundle.input_dim

    def logits(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """(N, dim) float32 raw window vectors -> {task: (N, n_classes) float32 logits}; N may be 0."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise AudioError(f"onnx model: expected window vectors (N, {self.input_dim}), got shape {x.shape}")
        if x.shape[0] == 0:
            return {t: np.zeros((0, 0), np.float32) for t in self.tasks}
        out = self.session.run(self.tasks, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        return dict(zip(self.tasks, out))


def _exact_int8(path: Path) -> str | bytes:
    """model.int8.onnx as onnxruntime should run it: a bundle exported before November 2026 stores int8
    weights, which onnxruntime multiplies inexactly on AVX2 CPUs without VNNI; those are re-encoded in memory
    (deepear.runtime.int8_graph). Returns the path when nothing needs rewriting, else the rewritten bytes."""
    import onnx

    from deepear.runtime.int8_graph import exact_u8u8

    try:
        model = onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and others
        raise BundleError(f"{path}: not a readable ONNX file ({e})") from e
    if not exact_u8u8(model):
        return str(path)
    log.info("%s: exported before deepear's exact int8 encoding; re-encoded in memory (re-export to skip this)",
             path)
    return model.SerializeToString()


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, C) logits -> (N, C) float32 probabilities (row-wise, max-subtracted)."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
