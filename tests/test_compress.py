"""Runtime layer compression (SVD): exact factors, the parameter rule, whole-model compression, rank search on
a small model trained on real windows, state round trips, fine-tuning and the trade-off chart."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from deepear.deepx import compress as C
from deepear.deepx.compress import (SVDLinear, break_even_rank, compress_model, count_parameters, rank_search,
                                    redundancy, svd_factor)
from deepear.errors import ConfigError, DataError
from deepear.experiment import Experiment
from deepear.data.protocol import make_split
from deepear.data.windows import Builder, Job
from deepear.model.dnn import MultiTaskDNN, fit_input_norm
from deepear.model.train import fit, window_accuracy
from deepear.recipe import parse_recipe


def _linear(m: int, n: int, seed: int, spectrum: np.ndarray | None = None) -> nn.Linear:
    """nn.Linear(n -> m) with random weights (or a weight with the given singular values) and a random bias."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(n, m)
    with torch.no_grad():
        if spectrum is None:
            lin.weight.copy_(torch.randn(m, n, generator=g))
        else:
            q1, _ = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=torch.float64))
            q2, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
            r = min(m, n)
            lin.weight.copy_((q1[:, :r] * torch.as_tensor(spectrum[:r])) @ q2[:, :r].T)
        lin.bias.copy_(torch.randn(m, generator=g))
    return lin


# ---------------------------------------------------------------------------------------------------- layer
@pytest.mark.parametrize("m,n", [(512, 224), (64, 64), (7, 300), (300, 7), (1, 5)])
def test_full_rank_svd_reproduces_the_layer(m, n):
    lin = _linear(m, n, seed=m * 1000 + n)
    x = torch.randn(32, n, generator=torch.Generator().manual_seed(1))
    f = SVDLinear.from_linear(lin, min(m, n))
    assert isinstance(f, SVDLinear) and f.rank == min(m, n)
    assert torch.allclose(f.dense_weight(), lin.weight, atol=1e-5, rtol=0)
    with torch.no_grad():
        ref, out = lin(x), f(x)
    assert (out - ref).abs().max() <= 1e-5 * max(1.0, float(ref.abs().max()))
    # below full rank the error is exactly the discarded part of the spectrum (Eckart-Young)
    k = max(1, min(m, n) // 2)
    with torch.no_grad():
        s = torch.linalg.svdvals(lin.weight.double())
        err = torch.linalg.matrix_norm(SVDLinear.from_linear(lin, k).dense_weight().double() - lin.weight.double())
    assert float(err) == pytest.approx(float(s[k:].square().sum().sqrt()), rel=1e-4, abs=1e-4)


def test_rank_rule_never_increases_parameters():
    rng = np.random.default_rng(0)
    shapes = [(int(a), int(b)) for a, b in rng.integers(1, 600, size=(400, 2))] + [(1, 1), (2, 2), (1, 1000)]
    for m, n in shapes:
        kb = break_even_rank(m, n)
        assert kb * (m + n) >= m * n and (kb - 1) * (m + n) < m * n, (m, n)        # smallest non-saving rank
        dense = m * n + m
        for k in {1, kb - 1, kb, kb + 1, min(m, n), int(rng.integers(1, min(m, n) + 1))}:
            if k < 1:
                continue
            p = C.factored_parameters(m, n, k)
            assert p <= dense, (m, n, k)
            assert (p < dense) == (k < kb), (m, n, k)
    # the real modules agree with the arithmetic, including the "keep the original" branch
    for m, n in [(64, 48), (5, 512), (512, 224), (3, 3), (40, 1), (2, 7)]:
        lin = _linear(m, n, seed=m + n)
        kb = break_even_rank(m, n)
        for k in sorted({1, 2, kb - 1, kb, kb + 1, min(m, n), min(m, n) + 1} - {0}):
            out = svd_factor(lin, k)
            assert count_parameters(out) <= count_parameters(lin)
            assert count_parameters(out) == C.factored_parameters(m, n, k)
            if k >= break_even_rank(m, n):
                assert out is lin
            else:
                assert isinstance(out, SVDLinear) and count_parameters(out) < count_parameters(lin)


def test_bad_arguments_are_clear_errors():
    lin = _linear(8, 6, 0)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="rank"):
            svd_factor(lin, bad)
    with pytest.raises(ConfigError, match="rank"):
        SVDLinear.from_linear(lin, 7)
    with pytest.raises(ConfigError, match="nn.Linear"):
        svd_factor(nn.ReLU(), 2)
    with pytest.raises(ConfigError, match="m"):
        break_even_rank(0, 5)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        svd_factor(lin, 1)


def test_redundancy_reads_the_spectrum():
    spectrum = np.array([10.0, 5.0, 2.0, 1.0] + [0.0] * 28)            # an exact rank-4 weight, 32 x 48
    r = redundancy(_linear(32, 48, 3, spectrum))
    assert r["shape"] == (32, 48) and len(r["singular_values"]) == 32
    assert np.allclose(r["singular_values"][:4], spectrum[:4], atol=1e-4)
    curve = np.array(r["energy_curve"])
    assert np.all(np.diff(curve) >= -1e-12) and curve[-1] == pytest.approx(1.0)
    assert curve[0] == pytest.approx(100 / 130, rel=1e-5)
    # energy 100, 125, 129, 130 of 130: E = 0.769, 0.962, 0.992, 1
    assert r["effective_rank"] == 3 and r["rank_at"][0.9] == 2 and r["rank_at"][0.999] == 4
    assert r["params_at_effective_rank"] == 3 * (32 + 48) + 32 and 0 < r["redundancy"] < 1
    flat = redundancy(_linear(16, 16, 4, np.ones(16)))                 # nothing to remove: no redundancy
    assert flat["effective_rank"] == 16 and flat["redundancy"] == 0.0
    assert flat["entropy_rank"] == pytest.approx(16.0, rel=1e-5)


def test_svdlinear_state_round_trips():
    f = SVDLinear.from_linear(_linear(40, 30, 5), 7)
    buf = io.BytesIO()
    torch.save(f.state_dict(), buf)
    g = SVDLinear(30, 40, 7)
    assert g.down.weight.device.type == "cpu" and float(g.dense_weight().detach().abs().sum()) == 0.0   # zeros
    assert not torch.equal(g.dense_weight(), f.dense_weight())
    g.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    x = torch.randn(5, 30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(g(x), f(x))
    assert set(f.state_dict()) == {"down.weight", "up.weight", "up.bias"}
    assert f.state_dict()["down.weight"].shape == (7, 30) and f.state_dict()["up.weight"].shape == (40, 7)


# ---------------------------------------------------------------------------------------------------- model
def _decaying_model(seed: int = 0) -> MultiTaskDNN:
    """A small model whose trunk weights have fast-decaying spectra (as trained trunks do)."""
    model = MultiTaskDNN(24, {"a": 3, "b": 2}, hidden=(64, 64), activation="sigmoid",
                         generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for i, (name, lin) in enumerate(model.linear_layers()):
            if name.startswith("trunk."):
                m, n = lin.weight.shape
                spec = 4.0 * 0.6 ** np.arange(min(m, n))
                lin.weight.copy_(_linear(m, n, seed + i, spec).weight)
    return model.eval()


def test_compress_model_keeps_outputs_and_reduces_parameters():
    model = _decaying_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(200, 24, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x)
    errs = []
    for k in (2, 6, 12, 20):
        small = compress_model(model, {"trunk.fc1": k, "trunk.fc2": k})
        assert count_parameters(small) < count_parameters(model)
        assert isinstance(small.get_submodule("trunk.fc2"), SVDLinear)
        with torch.no_grad():
            out = small(x)
        errs.append(max(float((out[t] - ref[t]).abs().max()) for t in ref))
    assert all(b <= a + 1e-6 for a, b in zip(errs, errs[1:]))           # higher rank, closer outputs
    assert errs[-1] < 1e-3                                               # 0.6^20: the rest of the spectrum
    assert errs[0] > 10 * errs[-1]
    for k, v in model.state_dict().items():                              # the original is untouched
        assert torch.equal(v, before[k])
    assert [n for n, _ in model.linear_layers()] == ["trunk.fc1", "trunk.fc2", "heads.a", "heads.b"]
    same = compress_model(model, {"trunk.fc2": 64})                      # above break-even: dense copy
    assert count_parameters(same) == count_parameters(model) and same is not model
    with pytest.raises(ConfigError, match="trunk.fc9"):
        compress_model(model, {"trunk.fc9": 3})


def test_compressed_model_state_round_trips():
    model = _decaying_model(1)
    small = compress_model(model, {"trunk.fc1": 5, "trunk.fc2": 9, "heads.a": 1})
    ranks = C.svd_ranks(small)
    assert ranks == {"trunk.fc1": 5, "trunk.fc2": 9, "heads.a": 1}
    buf = io.BytesIO()
    torch.save({"config": model.config(), "ranks": ranks, "state_dict": small.state_dict()}, buf)
    blob = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    again = C.build_compressed(MultiTaskDNN.from_config(blob["config"]), blob["ranks"])
    again.load_state_dict(blob["state_dict"])
    again.eval()
    x = torch.randn(16, 24, generator=torch.Generator().manual_seed(3))
    for t, v in small(x).items():
        assert torch.equal(again(x)[t], v)
    assert count_parameters(again) == count_parameters(small)


def test_rank_search_logic_on_a_known_accuracy_surface():
    """evaluate = a deterministic function of the ranks: the search must stay within budget and go far."""
    model = _decaying_model(2)
    names = ["trunk.fc1", "trunk.fc2"]

    def evaluate(m: nn.Module) -> dict[str, float]:
        loss = 0.0
        for n in names:
            layer = m.get_submodule(n)
            k = layer.rank if isinstance(layer, SVDLinear) else 64
            loss += 0.3 * 0.6 ** k * (4 if n == "trunk.fc1" else 1)       # fc1 is 4x more sensitive
        return {"a": 0.9 - loss, "b": 0.8 - loss}

    for budget in (0.5, 2.0, 10.0):
        res = rank_search(model, evaluate, max_drop=budget, candidates=5, refine=True)
        assert res.drop <= budget + 1e-9
        check = evaluate(C.compress_model(model, res.ranks))
        assert check == pytest.approx(res.accuracy_after)
        assert res.params_after == count_parameters(res.model) < res.params_before
        # optimal per layer: the smallest rank whose own loss fits (the search bisects down to it)
        assert set(res.ranks) == set(names)
        assert res.ranks["trunk.fc1"] > res.ranks["trunk.fc2"]
        assert res.evaluations == 1 + sum(len(v) for v in res.sensitivity.values()) + len(res.steps)
        json.dumps(res.to_dict())
    tight = rank_search(model, evaluate, max_drop=0.0, candidates=5, refine=True)
    assert tight.drop <= 0.0 and all(r >= 1 for r in tight.ranks.values())
    with pytest.raises(ConfigError, match="max_drop"):
        rank_search(model, evaluate, max_drop=-1)
    with pytest.raises(DataError, match="fractions"):
        rank_search(model, lambda m: {"a": 85.0}, max_drop=1)
    with pytest.raises(ConfigError, match="heads.zz"):
        rank_search(model, evaluate, max_drop=1, layers=["heads.zz"])


# ---------------------------------------------------------------------------------------------------- real data
TINY = {
    "name": "tinyc", "seed": 0,
    "data": {"corpora": ["ravdess", "esc10", "esc50_urban"], "max_clips_per_corpus": 96},
    "tasks": {"stress": {"window_s": 5.0, "hop_s": 2.5}, "scene": {"window_s": 1.28, "hop_s": 0.64}},
    "protocol": {"runs": ["fold0"]},
    "model": {"hidden": [96, 96], "dropout": 0.0},
    "pretrain": {"enabled": False},
    "train": {"epochs": 12, "patience": 12, "batch_size": 64, "threads": 1},
}


@pytest.fixture(scope="module")
def real(data_root, tmp_path_factory):
    """A small MultiTaskDNN (224 -> 96 x 2, stress + scene) trained on clean real windows of fold0's training
    clips; its held-out windows (validation + test clips) stand in for the validation split."""
    tmp = tmp_path_factory.mktemp("compress")
    exp = Experiment(parse_recipe(TINY), data_root, runs_root=tmp / "runs", cache_dir=tmp / "cache", workers=2)
    split = make_split(exp.clips, "fold0", exp.bank, exp.tasks, 0)
    b = Builder(exp.clips, exp.tasks, exp.label_index, exp.task_windows, exp.recipe.front_end, exp.cache, workers=2)
    held = sorted({int(i) for i in split.val} | {int(i) for v in split.test.values() for i in v})
    train = b.build([Job(int(i)) for i in split.train])
    val = b.build([Job(i) for i in held])
    model = exp.build_model()
    model.set_input_norm(*fit_input_norm(train.x))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(model, train, val, exp.recipe.train, {t: 1.0 for t in exp.tasks}, seed=0)
    finally:
        torch.set_num_threads(threads)
    return model.eval(), train, val


def test_rank_search_respects_the_budget_on_real_windows(real):
    model, train, val = real
    assert len(val) >= 100 and train.x.shape[1] == 224
    evaluate = lambda m: window_accuracy(m, val)                         # noqa: E731
    base = evaluate(model)
    assert np.mean(list(base.values())) > 0.45                          # a model that learnt something
    res = rank_search(model, evaluate, max_drop=1.0)
    assert res.accuracy_before == pytest.approx(base)
    again = evaluate(compress_model(model, res.ranks))                   # independent re-measurement
    drop = 100 * (np.mean(list(base.values())) - np.mean(list(again.values())))
    assert drop <= 1.0 + 1e-9 and again == pytest.approx(res.accuracy_after)
    assert res.params_after < res.params_before
    assert set(res.sensitivity) == {"trunk.fc1", "trunk.fc2"}           # trunk only by default
    for name, rank in res.ranks.items():
        lin = model.get_submodule(name)
        assert rank < break_even_rank(*lin.weight.shape)
    # the budget binds: rank 1 everywhere costs more than a point on this model
    crushed = evaluate(compress_model(model, {"trunk.fc1": 1, "trunk.fc2": 1}))
    assert 100 * (np.mean(list(base.values())) - np.mean(list(crushed.values()))) > 1.0


def test_fine_tune_returns_a_trained_copy(real):
    model, train, val = real
    small = compress_model(model, {"trunk.fc1": 2, "trunk.fc2": 2})
    before = {k: v.clone() for k, v in small.state_dict().items()}
    tuned = C.fine_tune(small, train.subset(np.arange(min(len(train), 800))), val, epochs=2, lr=1e-3, seed=0)
    assert tuned is not small and C.svd_ranks(tuned) == {"trunk.fc1": 2, "trunk.fc2": 2}
    assert count_parameters(tuned) == count_parameters(small)
    assert any(not torch.equal(v, tuned.state_dict()[k]) for k, v in before.items())
    for k, v in small.state_dict().items():
        assert torch.equal(v, before[k])
    with pytest.raises(ConfigError, match="epochs"):
        C.fine_tune(small, train, val, epochs=0, lr=1e-3, seed=0)


def test_tradeoff_rows_and_chart(real, tmp_path):
    model, _, val = real
    evaluate = lambda m: window_accuracy(m, val)                         # noqa: E731
    rows = C.tradeoff(model, evaluate, budgets=(1, 5), latency_fn=C.make_latency_fn(4, repeats=3, warmup=1),
                      candidates=4)
    assert [r["budget"] for r in rows] == [None, 1.0, 5.0]
    assert rows[0]["drop"] == 0 and rows[0]["parameters"] == count_parameters(model)
    for r in rows[1:]:
        assert r["drop"] <= r["budget"] + 1e-9
        assert r["parameters"] <= rows[0]["parameters"] and r["latency_ms"] > 0
        assert r["size_bytes_fp32"] == 4 * (r["parameters"] + 2 * 224)   # + the input mean/std buffers
        assert set(r["accuracy"]) == set(rows[0]["accuracy"])
    png = C.plot_tradeoff(rows, tmp_path / "out" / "tradeoff.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["tradeoff.png"]   # no temp file left behind
