"""Deep Architecture Decomposition: unit blocks, the exact MILP against brute force, memory and accuracy limits,
clear infeasibility errors, and executed plans that reproduce the monolithic model."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from deepear.deepx.executor import execute_plan, run_plan
from deepear.deepx.partition import (FULL, LayerOption, Plan, ProcessorSpec, baseline_plans, brute_force,
                                     format_plan, model_layers, option_chain, plan, single_processor_plan,
                                     unit_blocks)
from deepear.errors import ConfigError
from deepear.model.dnn import MultiTaskDNN


def _model(input_dim=12, hidden=(10, 8), tasks=None, activation="sigmoid", seed=0) -> MultiTaskDNN:
    tasks = tasks or {"scene": 4, "stress": 2}
    g = torch.Generator().manual_seed(seed)
    m = MultiTaskDNN(input_dim, tasks, hidden=hidden, activation=activation, generator=g)
    mean = torch.randn(input_dim, generator=g)
    std = torch.rand(input_dim, generator=g) + 0.5
    m.set_input_norm(mean, std)
    return m.eval()


def _procs(rng: np.random.Generator, mem: tuple[float | None, ...] = (None, None, None),
           fast_link: bool = False) -> list[ProcessorSpec]:
    """A random CPU, DSP and cloud (units in the ProcessorSpec doc); fast_link: a cloud worth using."""
    u = rng.uniform
    cpu = ProcessorSpec("cpu", "cpu", macs_per_s=u(1e5, 1e6), energy_per_mac_j=u(1e-9, 3e-9),
                        energy_per_byte_j=u(1e-10, 1e-9), memory_bytes=mem[0], fixed_cost_s=u(0, 2e-5),
                        fixed_energy_j=u(0, 1e-8), bandwidth_bytes_per_s=u(1e7, 1e8))
    dsp = ProcessorSpec("dsp", "dsp", macs_per_s=u(1e5, 1e6), energy_per_mac_j=u(1e-10, 5e-10),
                        energy_per_byte_j=u(1e-10, 5e-10), memory_bytes=mem[1], fixed_cost_s=u(0, 5e-5),
                        fixed_energy_j=u(0, 1e-8), bandwidth_bytes_per_s=u(5e6, 5e7))
    cloud = ProcessorSpec("cloud", "cloud", macs_per_s=u(1e7, 1e8), memory_bytes=(tuple(mem) + (None,) * 3)[2],
                          latency_s=u(1e-5, 1e-4) if fast_link else
                          u(1e-4, 2e-3), bandwidth_bytes_per_s=u(1e7, 1e8) if fast_link else u(1e5, 1e6),
                          radio_energy_per_byte_j=u(1e-11, 1e-10) if fast_link else u(1e-8, 1e-7))
    return [cpu, dsp, cloud]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


# Unit blocks -------------------------------------------------------------------------------------------------
def test_model_layers_follow_the_model():
    m = _model(hidden=(10, 8, 6), tasks={"a": 3, "b": 2})
    layers = model_layers(m)
    assert [(l.name, l.stage, l.in_units, l.out_units, l.activation) for l in layers] == [
        ("trunk.fc1", 0, 12, 10, "sigmoid"), ("trunk.fc2", 1, 10, 8, "sigmoid"), ("trunk.fc3", 2, 8, 6, "sigmoid"),
        ("heads.a", 3, 6, 3, None), ("heads.b", 3, 6, 2, None)]
    np.testing.assert_array_equal(layers[1].chain[0][0], m.trunk.fc2.weight.detach().double().numpy())


def test_slices_cover_the_layer_and_concatenate_to_it():
    m = _model(input_dim=12, hidden=(11, 8))
    blocks = unit_blocks(m, slices={"trunk.fc1": 3, "heads.scene": 4}, batch=5)
    fc1 = [b for b in blocks if b.layer == "trunk.fc1"]
    assert [(b.out_start, b.out_stop) for b in fc1] == [(0, 4), (4, 7), (7, 11)]
    assert [b.id for b in fc1] == ["trunk.fc1[0/3]", "trunk.fc1[1/3]", "trunk.fc1[2/3]"]
    assert len([b for b in blocks if b.layer == "heads.scene"]) == 4
    # slicing the weight rows, computing each slice and concatenating reproduces the layer
    layer = model_layers(m)[0]
    (w, bias), = option_chain(layer, FULL)
    x = np.random.default_rng(0).normal(size=(5, 12))
    parts = [x @ w[b.out_start:b.out_stop].T + bias[b.out_start:b.out_stop] for b in fc1]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), x @ w.T + bias, rtol=0, atol=1e-12)
    ref = m.trunk.fc1(torch.from_numpy(x).float()).detach().numpy()
    np.testing.assert_allclose(np.concatenate(parts, axis=1), ref, atol=1e-5)
    # costs: the slices of a full layer add up to the layer (MACs for the batch, fp32 weight + bias bytes)
    assert sum(b.costs[0].macs for b in fc1) == 5 * 11 * 12
    assert sum(b.costs[0].weight_bytes for b in fc1) == 4 * (11 * 12 + 11)
    assert all(b.in_bytes == 5 * 12 * 4 and b.out_bytes == 5 * b.out_units * 4 for b in fc1)


def test_rank_option_costs_and_full_rank_svd_reproduces_the_layer():
    m = _model(input_dim=12, hidden=(10, 8))
    opts = [FULL, LayerOption("svd3", rank=3, accuracy_cost=1.5), LayerOption("svd8", rank=8)]
    blocks = unit_blocks(m, slices={"trunk.fc2": 2}, options={"trunk.fc2": opts})
    b0 = next(b for b in blocks if b.id == "trunk.fc2[0/2]")            # units 0..4 of 8, input 10
    assert [c.option.name for c in b0.costs] == ["full", "svd3", "svd8"]
    assert b0.costs[0].macs == 4 * 10 and b0.costs[0].weight_bytes == 4 * (4 * 10 + 4)
    assert b0.costs[0].shared_macs == 0 and b0.costs[0].shared_weight_bytes == 0
    # rank 3: 4 rows of the outer factor (4 x 3) + 4 biases; the inner factor (3 x 10) is shared by the slices
    assert b0.costs[1].macs == 4 * 3 and b0.costs[1].weight_bytes == 4 * (4 * 3 + 4)
    assert b0.costs[1].shared_macs == 3 * 10 and b0.costs[1].shared_weight_bytes == 4 * 3 * 10
    layer = model_layers(m)[1]
    chain = option_chain(layer, LayerOption("svd8", rank=8))           # rank 8 = min(m, n): exact
    x = np.random.default_rng(1).normal(size=(3, 10))
    h = x
    for w, b in chain:
        h = h @ w.T + (0 if b is None else b)
    w_full, b_full = layer.chain[0]
    np.testing.assert_allclose(h, x @ w_full.T + b_full, atol=1e-10)


def test_any_processor_like_object_is_accepted():
    from types import SimpleNamespace
    m = _model()
    blocks = unit_blocks(m, slices={"trunk.fc1": 2})
    obj = SimpleNamespace(name="dsp", kind="dsp", macs_per_s=1e6, energy_per_mac_j=1e-10, energy_per_byte_j=1e-10,
                          memory_bytes=10_000, fixed_cost_s=0.0, fixed_energy_j=0.0, latency_s=None,
                          bandwidth_bytes_per_s=None, radio_energy_per_byte_j=None)
    spec = ProcessorSpec("dsp", "dsp", macs_per_s=1e6, energy_per_mac_j=1e-10, energy_per_byte_j=1e-10,
                         memory_bytes=10_000)
    cpu = ProcessorSpec("cpu", "cpu", macs_per_s=2e6, energy_per_mac_j=1e-9)
    a, b = plan(blocks, [cpu, obj]), plan(blocks, [cpu, spec])
    assert a.assignment == b.assignment and a.objective == b.objective


def test_bad_block_requests_are_config_errors():
    m = _model()
    with pytest.raises(ConfigError, match="unknown layer"):
        unit_blocks(m, slices={"trunk.fc9": 2})
    with pytest.raises(ConfigError, match=r"slices\['heads.stress'\]"):
        unit_blocks(m, slices={"heads.stress": 3})                      # only 2 output units
    with pytest.raises(ConfigError, match="rank"):
        unit_blocks(m, options={"trunk.fc1": [FULL, LayerOption("svd", rank=11)]})
    with pytest.raises(ConfigError, match="kind"):
        plan(unit_blocks(m), [ProcessorSpec("npu", "npu", macs_per_s=1e9)])


# The MILP is exact ---------------------------------------------------------------------------------------------
def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    m = _model(input_dim=int(rng.integers(6, 14)), hidden=(int(rng.integers(4, 9)), int(rng.integers(4, 9))),
               tasks={"a": int(rng.integers(2, 5)), "b": 2}, seed=seed)
    layers = [l.name for l in model_layers(m)]
    n_slices = {layers[0]: int(rng.integers(1, 4)), layers[1]: int(rng.integers(1, 3))}
    options = {}
    if seed % 2 == 0:           # joint compress + partition on one or two layers
        options[layers[1]] = [FULL, LayerOption("svd2", rank=2, accuracy_cost=float(rng.uniform(0.2, 2)))]
    if seed % 3 == 0:
        options[layers[0]] = [FULL, LayerOption("svd1", rank=1, accuracy_cost=float(rng.uniform(0.2, 2))),
                              LayerOption("int8", bytes_per_param=1.0, accuracy_cost=float(rng.uniform(0, 1)))]
    blocks = unit_blocks(m, slices=n_slices, options=options, batch=int(rng.integers(1, 4)))
    total = sum(b.costs[0].weight_bytes for b in blocks)
    # memory that binds: the DSP (and sometimes the CPU) hold only part of the model
    mem = (None if seed % 4 else total * 0.8, total * float(rng.uniform(0.3, 0.7)),
           total * 0.4 if seed % 3 == 1 else None)
    procs = _procs(rng, mem, fast_link=seed % 3 == 1)
    alpha, beta = float(rng.choice([0.0, 0.5, 1.0, 5.0])), float(rng.choice([1.0, 2.0, 10.0]))
    budget = None if seed % 5 == 4 else float(rng.uniform(0.5, 2.5))
    return m, blocks, procs, alpha, beta, budget


@pytest.mark.parametrize("seed", range(12))
def test_milp_optimum_equals_brute_force(seed):
    m, blocks, procs, alpha, beta, budget = _random_case(seed)
    assert len(blocks) <= 8
    exact = plan(blocks, procs, alpha, beta, accuracy_budget=budget)
    ref = brute_force(blocks, procs, alpha, beta, accuracy_budget=budget)
    assert exact.status == "optimal"
    assert _rel(exact.objective, ref.objective) <= 1e-9, (exact.objective, ref.objective)
    assert _rel(exact.objective, alpha * exact.energy_j + beta * exact.latency_s) <= 1e-12
    for p in procs:                                                     # never over a processor's memory
        assert exact.memory_bytes[p.name] <= p.memory_limit
    if budget is not None:
        assert exact.accuracy_cost <= budget + 1e-9


def test_milp_equals_brute_force_with_a_non_cpu_host_and_two_processors():
    rng = np.random.default_rng(7)
    m = _model(input_dim=9, hidden=(7, 5))
    blocks = unit_blocks(m, slices={"trunk.fc1": 3, "trunk.fc2": 2}, batch=2)
    cpu, dsp, cloud = _procs(rng)
    for procs, host in (([dsp, cloud], None), ([cpu, dsp], dsp), ([cloud, dsp], cpu)):
        exact = plan(blocks, procs, 1.0, 3.0, host=host)
        ref = brute_force(blocks, procs, 1.0, 3.0, host=host)
        assert _rel(exact.objective, ref.objective) <= 1e-9


def test_plan_respects_memory_that_binds():
    rng = np.random.default_rng(3)
    m = _model(input_dim=16, hidden=(12, 12))
    blocks = unit_blocks(m, slices={"trunk.fc1": 4, "trunk.fc2": 4})
    cpu, dsp, cloud = _procs(rng)
    dsp = ProcessorSpec(**{**dsp.__dict__, "energy_per_mac_j": 1e-12, "energy_per_byte_j": 1e-13,
                           "macs_per_s": 1e9})                     # the DSP is best for everything
    free = plan(blocks, [cpu, dsp])
    assert set(free.assignment.values()) == {"dsp"}
    limit = free.memory_bytes["dsp"] // 2
    dsp_small = ProcessorSpec(**{**dsp.__dict__, "memory_bytes": limit})
    bound = plan(blocks, [cpu, dsp_small])
    assert bound.memory_bytes["dsp"] <= limit
    assert bound.memory_bytes["dsp"] + bound.memory_bytes["cpu"] == free.memory_bytes["dsp"]
    assert bound.objective >= free.objective
    assert _rel(bound.objective, brute_force(blocks, [cpu, dsp_small]).objective) <= 1e-9


def test_accuracy_budget_picks_the_options():
    m = _model(input_dim=12, hidden=(10, 8))
    opts = {"trunk.fc1": [FULL, LayerOption("svd2", rank=2, accuracy_cost=2.0)],
            "trunk.fc2": [FULL, LayerOption("svd2", rank=2, accuracy_cost=0.5)]}
    blocks = unit_blocks(m, options=opts)
    cpu = ProcessorSpec("cpu", "cpu", macs_per_s=1e6, energy_per_mac_j=1e-9)
    assert plan(blocks, [cpu], accuracy_budget=None).accuracy_cost == 2.5       # cheapest: both compressed
    p1 = plan(blocks, [cpu], accuracy_budget=1.0)
    assert {l: o.name for l, o in p1.options.items() if l.startswith("trunk")} == {
        "trunk.fc1": "full", "trunk.fc2": "svd2"}
    assert plan(blocks, [cpu], accuracy_budget=0.0).accuracy_cost == 0.0


# Infeasible budgets ----------------------------------------------------------------------------------------------
def test_model_too_big_for_a_processor_names_it_and_the_shortfall():
    m = _model(input_dim=12, hidden=(10, 8))
    blocks = unit_blocks(m)
    need = sum(b.costs[0].weight_bytes for b in blocks)
    dsp = ProcessorSpec("dsp", "dsp", macs_per_s=1e6, memory_bytes=need - 100)
    with pytest.raises(ConfigError) as e:
        single_processor_plan(blocks, dsp)
    msg = str(e.value)
    assert "'dsp'" in msg and f"shortfall {100:,} bytes" in msg
    assert f"{need:,} bytes" in msg
    with pytest.raises(ConfigError, match="shortfall 100 bytes"):
        brute_force(blocks, [dsp])


def test_no_packing_fits_names_the_processors_and_the_shortfall():
    m = _model(input_dim=12, hidden=(10, 8))
    blocks = unit_blocks(m, slices={"trunk.fc1": 5})
    need = sum(b.costs[0].weight_bytes for b in blocks)
    a = ProcessorSpec("cpu", "cpu", macs_per_s=1e6, memory_bytes=need // 2)
    b = ProcessorSpec("dsp", "dsp", macs_per_s=1e6, memory_bytes=need // 2 - 300)
    with pytest.raises(ConfigError) as e:
        plan(blocks, [a, b])
    msg = str(e.value)
    assert "'cpu'" in msg and "'dsp'" in msg and "short by" in msg
    total = int(re.search(r"total shortfall ([\d,]+) bytes", msg).group(1).replace(",", ""))
    assert total >= need - (a.memory_bytes + b.memory_bytes)
    # one block larger than every processor
    tiny = ProcessorSpec("dsp", "dsp", macs_per_s=1e6, memory_bytes=50)
    fc2_bytes = 4 * (10 * 8 + 8)
    with pytest.raises(ConfigError, match=rf"block 'trunk.fc2\[0/1\]' .*'dsp'.* shortfall {fc2_bytes - 50} bytes"):
        plan(blocks, [tiny])


def test_impossible_accuracy_budget_is_a_config_error():
    m = _model()
    opts = {"trunk.fc1": [LayerOption("svd1", rank=1, accuracy_cost=0.7), LayerOption("svd2", rank=2,
                                                                                        accuracy_cost=0.4)]}
    blocks = unit_blocks(m, options=opts)
    cpu = ProcessorSpec("cpu", "cpu", macs_per_s=1e6)
    with pytest.raises(ConfigError, match="accuracy budget 0.3 points cannot be met.*0.4"):
        plan(blocks, [cpu], accuracy_budget=0.3)
    with pytest.raises(ConfigError, match="accuracy budget"):
        brute_force(blocks, [cpu], accuracy_budget=0.3)


# Execution ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_executed_plan_equals_the_monolithic_model(activation):
    rng = np.random.default_rng(11)
    m = _model(input_dim=20, hidden=(16, 12), tasks={"scene": 4, "emotion": 5, "stress": 2},
               activation=activation, seed=3)
    blocks = unit_blocks(m, slices={"trunk.fc1": 4, "trunk.fc2": 3, "heads.emotion": 2}, batch=6)
    total = sum(b.costs[0].weight_bytes for b in blocks)
    procs = _procs(rng, mem=(total * 0.45, total * 0.45))             # no processor can hold it alone
    procs[2] = ProcessorSpec(**{**procs[2].__dict__, "memory_bytes": total * 0.3})
    p = plan(blocks, procs, 1.0, 1.0)
    assert len(set(p.assignment.values())) >= 2
    assert any(len({p.assignment[b.id] for b in blocks if b.layer == l}) > 1 for l in ("trunk.fc1", "trunk.fc2"))
    x = rng.normal(size=(6, 20)).astype(np.float32) * 3
    got = execute_plan(m, p, x)
    with torch.no_grad():
        ref = m(torch.from_numpy(x))
    assert list(got) == list(ref)
    for t in ref:
        assert got[t].shape == tuple(ref[t].shape) and got[t].dtype == np.float32
        np.testing.assert_allclose(got[t], ref[t].numpy(), rtol=0, atol=1e-5)
    run = run_plan(m, p, x)                   # the simulated clock agrees with the planner's prediction
    assert _rel(run.latency_s, p.latency_s) <= 1e-9 and _rel(run.energy_j, p.energy_j) <= 1e-9
    computed = [e.what for e in run.timeline if e.kind == "compute" and not e.what.endswith("[shared]")]
    assert sorted(computed) == sorted(b.id for b in blocks)
    for e in run.timeline:
        if e.kind == "compute":
            assert p.assignment[e.what] == e.processor


def test_executed_plan_with_compressed_options_and_a_factored_layer():
    m = _model(input_dim=14, hidden=(12, 10), tasks={"a": 3, "b": 2}, seed=5)
    # the model's fc2 is already factored (as compress.py stores an SVD layer): a chain of two Linears
    w = m.trunk.fc2.weight.detach().double()
    u, s, vt = torch.linalg.svd(w, full_matrices=False)
    down, up = nn.Linear(12, 4, bias=False), nn.Linear(4, 10)
    with torch.no_grad():
        down.weight.copy_((vt[:4]).float())
        up.weight.copy_((u[:, :4] * s[:4]).float())
        up.bias.copy_(m.trunk.fc2.bias)
    m.trunk.fc2 = nn.Sequential(down, up)
    opts = {"trunk.fc1": [FULL, LayerOption("svd5", rank=5, accuracy_cost=1.0)]}
    blocks = unit_blocks(m, slices={"trunk.fc2": 2}, options=opts, batch=4)
    fc2 = next(b for b in blocks if b.layer == "trunk.fc2")
    assert fc2.costs[0].macs == 4 * (5 * 4) and fc2.costs[0].shared_macs == 4 * (4 * 12)   # 5 outer rows; inner
    cpu = ProcessorSpec("cpu", "cpu", macs_per_s=1e6, energy_per_mac_j=1e-9)
    dsp = ProcessorSpec("dsp", "dsp", macs_per_s=1e6, energy_per_mac_j=1e-10, bandwidth_bytes_per_s=1e9)
    p = plan(blocks, [cpu, dsp], 1.0, 1.0, accuracy_budget=5.0)
    assert p.options["trunk.fc1"].name == "svd5"                        # cheaper and within the budget
    x = np.random.default_rng(2).normal(size=(4, 14)).astype(np.float32)
    got = execute_plan(m, p, x)
    run = run_plan(m, p, x)              # shared inner factors counted once per processor, as the planner does
    assert _rel(run.latency_s, p.latency_s) <= 1e-9 and _rel(run.energy_j, p.energy_j) <= 1e-9
    assert _rel(p.objective, brute_force(blocks, [cpu, dsp], 1.0, 1.0, accuracy_budget=5.0).objective) <= 1e-9
    # reference: the model with fc1 replaced by its rank-5 SVD (computed here with torch)
    ref_model = _model(input_dim=14, hidden=(12, 10), tasks={"a": 3, "b": 2}, seed=5)
    ref_model.trunk.fc2 = m.trunk.fc2
    w1 = ref_model.trunk.fc1.weight.detach().double()
    u1, s1, vt1 = torch.linalg.svd(w1, full_matrices=False)
    with torch.no_grad():
        ref_model.trunk.fc1.weight.copy_(((u1[:, :5] * s1[:5]) @ vt1[:5]).float())
        ref = ref_model(torch.from_numpy(x))
        plain = m(torch.from_numpy(x))
    for t in ref:
        np.testing.assert_allclose(got[t], ref[t].numpy(), atol=1e-5)
    assert max(float(np.abs(got[t] - plain[t].numpy()).max()) for t in ref) > 1e-4   # really compressed


def test_executor_rejects_a_plan_for_another_model():
    m = _model(input_dim=12, hidden=(10, 8))
    p = plan(unit_blocks(m), [ProcessorSpec("cpu", "cpu", macs_per_s=1e6)])
    other = _model(input_dim=12, hidden=(10, 8, 6))
    with pytest.raises(ConfigError, match="layers"):
        execute_plan(other, p, np.zeros((1, 12), np.float32))


# Printing -------------------------------------------------------------------------------------------------------
def test_format_plan_shows_the_plan_and_the_baselines():
    rng = np.random.default_rng(5)
    m = _model(input_dim=16, hidden=(12, 12))
    blocks = unit_blocks(m, slices={"trunk.fc1": 2})
    total = sum(b.costs[0].weight_bytes for b in blocks)
    procs = _procs(rng, mem=(None, total // 2))
    p = plan(blocks, procs)
    base = baseline_plans(blocks, procs)
    assert set(base) == {"cpu-only", "dsp-only", "cloud-only"}
    assert isinstance(base["cpu-only"], Plan) and isinstance(base["dsp-only"], str)
    assert "'dsp'" in base["dsp-only"] and "shortfall" in base["dsp-only"]
    for b in base.values():                                   # the joint optimum is never worse than one processor
        if isinstance(b, Plan):
            assert p.objective <= b.objective * (1 + 1e-9)
    text = format_plan(p, base)
    for word in ("trunk.fc1", "heads.scene", "cpu-only", "cloud-only", "infeasible", "latency ms", "energy mJ"):
        assert word in text
    assert f"{p.latency_s * 1e3:.4f}" in text
    assert math.isclose(p.to_dict()["objective"], p.objective)
