"""deepear/runtime/int8_graph.py: int8 graphs of older bundles (int8 weights) re-encoded so that onnxruntime
computes them exactly on every CPU (its u8 x s8 kernel saturates int16 pair sums on AVX2 CPUs without VNNI)."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto

from deepear.deepx.quantize import export_int8_onnx, quantize_model
from deepear.model.dnn import MultiTaskDNN
from deepear.runtime.int8_graph import exact_u8u8, legacy_u8s8

TASKS = {"emotion": 5, "scene": 4}


def _run(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip(TASKS, s.run(list(TASKS), {"x": x})))


def _int8_model(tmp_path):
    """A sigmoid net whose activation codes sit near 255 (sigmoid >= 0 -> code + 128), the case that saturates."""
    g = torch.Generator().manual_seed(0)
    net = MultiTaskDNN(48, TASKS, hidden=(96, 96), generator=g)
    with torch.no_grad():
        for _, lin in net.linear_layers():
            lin.weight.mul_(4.0)
    x = np.random.default_rng(0).normal(size=(400, 48)).astype(np.float32)
    q = quantize_model(net, x[:200])
    return q, onnx.load(str(export_int8_onnx(q, tmp_path / "m.int8.onnx"))), x


def test_export_writes_uint8_weights_and_onnxruntime_matches_numpy(tmp_path):
    q, model, x = _int8_model(tmp_path)
    assert exact_u8u8(model) == 0                                     # nothing to upgrade in a new export
    got, ref = _run(model, x), q.predict_logits(x)
    for t in TASKS:
        assert np.abs(got[t] - ref[t]).max() <= 0.02, t


def test_old_bundle_graph_is_reencoded_to_the_same_products(tmp_path):
    q, model, x = _int8_model(tmp_path)
    old = legacy_u8s8(model)
    weights = [i for i in old.graph.initializer if i.name.endswith(".weight_t")]
    assert weights and all(i.data_type == TensorProto.INT8 for i in weights)
    n_matmul = sum(n.op_type == "MatMulInteger" for n in old.graph.node)
    assert exact_u8u8(old) == n_matmul
    onnx.checker.check_model(old)
    assert all(i.data_type != TensorProto.INT8 for i in old.graph.initializer)
    assert all(len(n.input) == 4 for n in old.graph.node if n.op_type == "MatMulInteger")
    got, ref = _run(old, x), q.predict_logits(x)
    for t in TASKS:
        assert np.abs(got[t] - ref[t]).max() <= 0.02, t
        np.testing.assert_array_equal(got[t], _run(model, x)[t])     # the same graph as a new export computes
    assert exact_u8u8(old) == 0                                       # idempotent


def test_runtime_loads_an_old_int8_bundle_exactly(tmp_path):
    from deepear.runtime import onnx_model

    q, model, x = _int8_model(tmp_path)
    path = tmp_path / "old.int8.onnx"
    before = legacy_u8s8(model).SerializeToString()
    path.write_bytes(before)
    source = onnx_model._exact_int8(path)
    assert isinstance(source, bytes) and path.read_bytes() == before  # rewritten in memory, file untouched
    s = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    got = dict(zip(TASKS, s.run(list(TASKS), {"x": x})))
    ref = q.predict_logits(x)
    for t in TASKS:
        assert np.abs(got[t] - ref[t]).max() <= 0.02, t
    new = tmp_path / "new.int8.onnx"
    new.write_bytes(model.SerializeToString())
    assert onnx_model._exact_int8(new) == str(new)                    # a current export is used as it is
