"""int8 quantisation (deepear.deepx.quantize) and the fp32 ONNX export (deepear.deepx.onnx_export).

Arithmetic tests use generated data; accuracy and runtime-agreement tests use a small model trained here on
real windows of the shared corpora (window-level accuracy on held-out validation + test windows).
"""
from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from deepear.data.protocol import make_split
from deepear.deepx.onnx_export import export_onnx
from deepear.deepx.quantize import (A_QMIN, INT32_MAX, W_QMAX, Int8Model, QuantizedLinear, calibrate,
                                    export_int8_onnx, linear_chain, quantize_model)
from deepear.errors import ConfigError, DataError
from deepear.experiment import Experiment
from deepear.model.dnn import MultiTaskDNN, fit_input_norm
from deepear.model.train import fit
from deepear.recipe import parse_recipe

SHORT = {"window_s": 1.28, "hop_s": 0.32}       # short windows: several labelled windows per RAVDESS clip
TINYQ = {
    "name": "tinyq", "seed": 0,
    # 48 RAVDESS clips = two emotions per actor (both stress classes); urban + music give three scene classes
    "data": {"corpora": ["ravdess", "esc50_urban", "music"], "max_clips_per_corpus": 48},
    "tasks": {"emotion": SHORT, "stress": SHORT, "speaker": SHORT, "scene": {"window_s": 1.28, "hop_s": 1.28}},
    "protocol": {"runs": ["fold0"]},
    "model": {"hidden": [64, 64], "dropout": 0.0},
    "pretrain": {"enabled": False},
    "mixing": {"copies": 0},
    "train": {"epochs": 25, "patience": 25, "batch_size": 64, "threads": 1},
}


class Pair(nn.Module):
    """A factored layer as a compression module might store it: two Linear layers `first` then `second`."""

    def __init__(self, first: nn.Linear, second: nn.Linear) -> None:
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def svd_pair(lin: nn.Linear, rank: int, as_sequential: bool = True) -> nn.Module:
    """Truncated-SVD factors of `lin` as nn.Sequential(Linear(in, rank, no bias), Linear(rank, out)) or a Pair."""
    u, s, vt = torch.linalg.svd(lin.weight.detach().double(), full_matrices=False)
    first = nn.Linear(lin.in_features, rank, bias=False)
    second = nn.Linear(rank, lin.out_features)
    with torch.no_grad():
        first.weight.copy_((s[:rank].sqrt()[:, None] * vt[:rank]).float())
        second.weight.copy_((u[:, :rank] * s[:rank].sqrt()[None, :]).float())
        second.bias.copy_(lin.bias.detach())
    return nn.Sequential(first, second) if as_sequential else Pair(first, second)


def factored(model: MultiTaskDNN, rank: int) -> MultiTaskDNN:
    out = copy.deepcopy(model)
    for i, (name, lin) in enumerate([(n, m) for n, m in out.linear_layers() if n.startswith("trunk.")]):
        out.set_submodule(name, svd_pair(lin, rank, as_sequential=i % 2 == 0))
    return out


def torch_logits(model: nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    model.eval()
    with torch.no_grad():
        return {t: v.numpy() for t, v in model(torch.as_tensor(x, dtype=torch.float32)).items()}


def window_acc(logits: dict[str, np.ndarray], y: np.ndarray, tasks: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for j, t in enumerate(tasks):
        sel = y[:, j] >= 0
        if sel.sum() >= 20:
            out[t] = float((logits[t][sel].argmax(1) == y[sel, j]).mean())
    return out


def session(path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_onnx(path, x: np.ndarray) -> dict[str, np.ndarray]:
    s = session(path)
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"x": x.astype(np.float32)})))


@pytest.fixture(scope="module")
def real(data_root, tmp_path_factory):
    """A small sigmoid MultiTaskDNN trained on real windows; calibration (training) and held-out windows."""
    tmp = tmp_path_factory.mktemp("quantize")
    exp = Experiment(parse_recipe(TINYQ), data_root, runs_root=tmp / "runs", cache_dir=tmp / "cache", workers=2)
    split = make_split(exp.clips, "fold0", exp.bank, exp.tasks, 0)
    train, val, _, _ = exp.training_data(split, keep_frames=False)
    test = exp.test_data(split, None, keep_frames=False)
    torch.manual_seed(0)
    model = MultiTaskDNN(train.x.shape[1], {t: len(exp.labels[t]) for t in exp.tasks},
                         hidden=tuple(TINYQ["model"]["hidden"]), generator=torch.Generator().manual_seed(0))
    model.set_input_norm(*fit_input_norm(train.x))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                      # a tiny MLP: more threads only contend on a shared machine
    try:
        fit(model, train, val, exp.recipe.train, {t: 1.0 for t in exp.tasks}, seed=0)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    held_x = np.concatenate([val.x, test.x])
    held_y = np.concatenate([val.y, test.y])
    return {"model": model, "calib": train.x, "x": held_x, "y": held_y, "tasks": train.tasks}


# ---------------------------------------------------------------------------------------------------------
# arithmetic (generated data)
@pytest.mark.parametrize("n_in,n_out", [(224, 64), (512, 512), (64, 5)])
def test_int8_matmul_error_within_analytic_bound(rng, n_in, n_out):
    w = (rng.standard_normal((n_out, n_in)) * rng.uniform(0.01, 0.2, (n_out, 1))).astype(np.float32)
    b = (rng.standard_normal(n_out) * 0.2).astype(np.float32)
    x = (rng.standard_normal((300, n_in)) * 1.5).astype(np.float32)
    q = QuantizedLinear.from_float("L", w, b, in_range=float(np.abs(x).max()))
    assert q.weight.dtype == np.int8 and q.bias.dtype == np.int32 and q.w_scale.dtype == np.float32
    assert np.abs(q.weight.astype(np.int32)).max() == W_QMAX            # every row uses its full int8 range
    got = q.linear(x)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + b
    err = np.abs(got - ref)
    bound = q.error_bound(x, w, b)
    assert (err <= bound).all(), float((err - bound).max())
    assert 0 < err.max()                                                  # really quantised, not fp32
    mass = np.abs(x).astype(np.float64) @ np.abs(w).T.astype(np.float64)    # sum_j |W_j x_j|
    assert (bound < 0.08 * mass).all()           # not vacuous: ~(range/mean|x| + max|W|/mean|W|) / 254 of the mass


def test_bias_is_int32_in_accumulator_units(rng):
    w = rng.standard_normal((16, 32)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    q = QuantizedLinear.from_float("L", w, b, in_range=3.0)
    step = np.float64(q.in_scale) * q.w_scale
    assert np.all(np.abs(q.bias * step - b) <= step / 2 + 1e-9)
    assert np.isclose(q.in_scale, 3.0 / 127)
    assert np.allclose(q.rescale, np.float32(q.in_scale) * q.w_scale)


@pytest.mark.parametrize("n_in,n_out", [(224, 512), (512, 512), (512, 30), (224, 64), (64, 512), (1024, 1024)])
def test_int32_accumulation_never_overflows(n_in, n_out):
    # worst case: every weight at +-127, every input saturated at -128 or 127, bias at its largest
    w = np.where(np.arange(n_out)[:, None] % 2 == 0, 1.0, -1.0) * np.ones((n_out, n_in))
    q = QuantizedLinear.from_float("L", w, np.full(n_out, 1e3), in_range=1.0)
    x = np.stack([np.full(n_in, -10.0), np.full(n_in, 10.0)]).astype(np.float32)   # beyond the range: saturates
    xq = q.quantize_input(x)
    assert xq.min() == A_QMIN and xq.max() == 127
    acc = q.accumulate(xq)
    exact = xq.astype(np.int64) @ q.weight.astype(np.int64).T + q.bias.astype(np.int64)
    assert acc.dtype == np.int32 and np.array_equal(acc.astype(np.int64), exact)      # no wrap-around
    assert np.abs(exact).max() <= q.max_accumulator() < INT32_MAX
    assert n_in * 128 * 127 < 2**31


def test_too_many_inputs_for_int32_is_refused():
    with pytest.raises(ConfigError, match="overflow"):
        QuantizedLinear.from_float("huge", np.ones((1, 140_000), np.float32), None, in_range=1.0)


def test_factored_layers_are_read_in_forward_order_and_saved(rng, tmp_path):
    model = MultiTaskDNN(20, {"a": 3, "b": 4}, hidden=(16, 12), activation="relu")
    model.set_input_norm(rng.standard_normal(20), rng.uniform(0.5, 2.0, 20))
    model.set_submodule("trunk.fc1", svd_pair(model.trunk.fc1, 6, as_sequential=False))
    model.set_submodule("trunk.fc2", svd_pair(model.trunk.fc2, 5, as_sequential=True))
    model.set_submodule("heads.b", svd_pair(model.heads.b, 2, as_sequential=False))
    chain = linear_chain(model)
    assert [lay.name for lay in chain.trunk] == ["trunk.fc1.first", "trunk.fc1.second", "trunk.fc2.0", "trunk.fc2.1"]
    assert [lay.activation for lay in chain.trunk] == [None, "relu", None, "relu"]
    assert [lay.name for lay in chain.heads["b"]] == ["heads.b.first", "heads.b.second"]

    x = (rng.standard_normal((400, 20)) * 2).astype(np.float32)
    q = quantize_model(model, x)
    ref, got = torch_logits(model, x), q.predict_logits(x)
    for t in ("a", "b"):
        scale = np.abs(ref[t]).mean()
        assert np.abs(got[t] - ref[t]).mean() < 0.05 * scale
    assert q.nbytes() == sum(lay.weight.size + 4 * lay.weight.shape[0] * 2 + 4 for lay in q.layers())

    q.save(tmp_path / "q.npz")
    back = Int8Model.load(tmp_path / "q.npz")
    again = back.predict_logits(x)
    assert all(np.array_equal(again[t], got[t]) for t in got)
    lp = back.predict_log_proba(x[:5])
    assert np.allclose(np.exp(lp["a"]).sum(1), 1.0, atol=1e-5)


def test_calibration_ranges(rng):
    model = MultiTaskDNN(10, {"a": 2}, hidden=(8,))
    x = rng.standard_normal((2000, 10)).astype(np.float32)
    x[0, 3] = 40.0                                                        # one outlier
    mx = calibrate(model, x, method="maxabs")
    pc = calibrate(model, x, method="percentile", percentile=99.99)
    assert list(mx) == ["trunk.fc1", "heads.a"]
    assert mx["trunk.fc1"] == pytest.approx(40.0)
    assert 3.0 < pc["trunk.fc1"] < 10.0                                 # the outlier is clipped
    assert 0 < mx["heads.a"] <= 1.0                                     # sigmoid outputs


def test_bad_inputs_are_clear_errors(rng):
    model = MultiTaskDNN(10, {"a": 2}, hidden=(8,))
    with pytest.raises(DataError, match="x_calib"):
        calibrate(model, np.zeros((5, 9), np.float32))
    with pytest.raises(DataError, match="NaN"):
        calibrate(model, np.full((5, 10), np.nan, np.float32))
    with pytest.raises(ConfigError, match="method"):
        calibrate(model, np.zeros((5, 10), np.float32), method="entropy")
    with pytest.raises(ConfigError, match="x_calib"):
        export_int8_onnx(model, "never.onnx")

    odd = copy.deepcopy(model)
    odd.set_submodule("trunk.act1", nn.Sequential(nn.Sigmoid(), nn.LayerNorm(8)))
    with pytest.raises(ConfigError, match="LayerNorm"):
        quantize_model(odd, rng.standard_normal((50, 10)).astype(np.float32))

    class Doubled(nn.Module):                                          # computes something its Linear leaf does not
        def __init__(self, lin: nn.Linear) -> None:
            super().__init__()
            self.lin = lin

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * self.lin(x)

    sneaky = copy.deepcopy(model)
    sneaky.set_submodule("trunk.fc1", Doubled(sneaky.trunk.fc1))
    with torch.no_grad():
        sneaky.heads.a.weight.normal_(generator=torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="does not reproduce"):
        quantize_model(sneaky, rng.standard_normal((50, 10)).astype(np.float32))


# ---------------------------------------------------------------------------------------------------------
# real data
def test_fp32_onnx_matches_torch(real, tmp_path):
    model = real["model"]
    for name, m in (("dense", model), ("svd", factored(model, 12))):
        path = export_onnx(m, tmp_path / name / "model.onnx", input_dim=m.input_dim)
        assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]       # single file
        s = session(path)
        assert [o.name for o in s.get_outputs()] == m.task_names
        for x in (real["x"][:1], real["x"]):                                         # dynamic batch axis
            got, ref = run_onnx(path, x), torch_logits(m, x)
            for t in m.task_names:
                assert got[t].shape == ref[t].shape
                assert np.abs(got[t] - ref[t]).max() <= 1e-4, (name, t)


def test_numpy_int8_and_onnxruntime_int8_agree(real, tmp_path):
    model = real["model"]
    for name, m in (("dense", model), ("svd", factored(model, 12))):
        q = quantize_model(m, real["calib"])
        path = export_int8_onnx(q, tmp_path / f"{name}.int8.onnx")
        proto = onnx.load(str(path))
        weights = {i.name: i for i in proto.graph.initializer if i.name.endswith(".weight_t")}
        assert len(weights) == len(q.layers())
        # stored one byte per weight as the int8 code + 128 (zero point 128): onnxruntime's exact u8 x u8 kernel
        assert all(i.data_type == onnx.TensorProto.UINT8 for i in weights.values())
        for i, lay in enumerate(q.layers()):
            stored = onnx.numpy_helper.to_array(weights[f"L{i}.weight_t"]).astype(np.int16) - 128
            assert np.array_equal(stored, lay.weight.T)
        ops = {n.op_type for n in proto.graph.node}
        assert ops >= {"QuantizeLinear", "MatMulInteger"} and not ops & {"MatMul", "Gemm"}   # no fp32 matmul
        got, ref = run_onnx(path, real["x"]), q.predict_logits(real["x"])
        assert list(got) == m.task_names
        for t in m.task_names:
            agree = (got[t].argmax(1) == ref[t].argmax(1)).mean()
            assert agree >= 0.99, (name, t, agree)
            # same integer arithmetic: only ORT's float sigmoid / division may flip a code now and then (this
            # fails with u8 x s8 weights on AVX2 CPUs without VNNI: int16 pair sums saturate, ~89% agreement)
            assert np.abs(got[t] - ref[t]).max() <= 0.02, (name, t)
        n_weights = sum(lay.weight.size for lay in q.layers())
        assert sum(len(i.raw_data) for i in weights.values()) == n_weights              # one byte per weight
        assert q.nbytes() < 0.3 * 4 * sum(p.numel() for p in m.parameters())


def test_int8_accuracy_within_two_points_of_fp32(real):
    model = real["model"]
    x, y, tasks = real["x"], real["y"], real["tasks"]
    for name, m in (("dense", model), ("svd", factored(model, 12))):
        fp32 = window_acc(torch_logits(m, x), y, tasks)
        int8 = window_acc(quantize_model(m, real["calib"]).predict_logits(x), y, tasks)
        assert set(fp32) >= {"emotion", "stress", "scene"}
        assert max(fp32.values()) > 0.5                                  # a model that learned something
        for t in fp32:
            assert abs(int8[t] - fp32[t]) <= 0.02, (name, t, fp32[t], int8[t])
