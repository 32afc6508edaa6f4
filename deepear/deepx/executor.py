"""Execute a DeepX decomposition plan: one executor (a worker thread with its own queue) per processor.

    outputs = execute_plan(model, p, x)            # {task: logits (B, n_classes) float32}
    run = run_plan(model, p, x, time_scale=0.0)    # + simulated latency / energy and a timeline

The processors of a plan are not present on this machine, so each block is computed here (numpy, float64,
returned as float32) by the worker thread of the processor it is assigned to, while a simulated clock
advances by the profile's cost (`partition.block_time_s`, `transfer_time_s`): stage by stage, a processor
first receives the previous stage's outputs that other processors made (serially), then runs its blocks one
after another; the stage ends when its slowest processor does. With `time_scale` > 0 each worker also sleeps
time_scale x its simulated busy time, so the timing can be watched in real time (default 0: no sleeping).
The slices of a layer are concatenated by output unit, which reproduces the layer; the trunk activation is
applied per slice (it is elementwise). The simulated latency equals the planner's prediction for the batch
the blocks were cut for (the costs are those of `unit_blocks(batch=...)`, whatever the batch of `x`).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from deepear.deepx.partition import (Block, LayerSpec, Plan, ProcessorSpec, block_energy_j, block_time_s,
                                     model_layers, option_chain, shared_energy_j, shared_time_s,
                                     transfer_energy_j, transfer_time_s)
from deepear.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_ACTIVATIONS = {None: lambda v: v, "sigmoid": expit, "relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh}


@dataclass
class Event:
    """One step of the simulated timeline: a block computed, or activations received (seconds from start)."""
    kind: str                 # "compute" | "transfer"
    processor: str            # where it happens (the receiver for a transfer)
    what: str                 # block id, or "<src> -> <dst>"
    start_s: float
    end_s: float
    nbytes: int = 0


@dataclass
class Execution:
    """Outputs of an executed plan, with the simulated latency (s) and energy (J) and the event timeline."""
    outputs: dict[str, np.ndarray]
    latency_s: float
    energy_j: float
    timeline: list[Event] = field(default_factory=list)


class _Worker:
    """A processor's executor: a single worker thread, so its blocks run in submission order (its queue)."""

    def __init__(self, spec: ProcessorSpec) -> None:
        self.spec = spec
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"deepx-{spec.name}")

    @staticmethod
    def run(jobs: list[tuple[Any, list[Any]]], inputs: np.ndarray, sleep_s: float) -> list[np.ndarray]:
        """jobs: (inner function, [slice functions]) per layer; the inner factors run once per layer."""
        outs = []
        for inner, slices in jobs:
            z = inner(inputs)
            outs += [fn(z) for fn in slices]
        if sleep_s > 0:
            time.sleep(sleep_s)
        return outs


def _cost(block: Block, chosen: dict[str, Any]):
    opt = chosen[block.layer]
    for c in block.costs:
        if c.option is opt or c.option.name == opt.name:
            return c
    raise ConfigError(f"plan: block {block.id!r} has no option {opt.name!r}")


def _inner_fn(chain: tuple):
    """The layer's inner factors (all but the last; identity for a plain Linear), shared by its slices."""
    inner = chain[:-1]

    def fn(h: np.ndarray) -> np.ndarray:
        for w, bias in inner:
            h = h @ w.T + (0.0 if bias is None else bias)
        return h
    return fn


def _slice_fn(layer: LayerSpec, chain: tuple, block: Block):
    """The function computing `block` (output units [start, stop) of `layer`) from the inner factors' output."""
    a, b = block.out_start, block.out_stop
    w_last, b_last = chain[-1]
    w_s = w_last[a:b]
    b_s = None if b_last is None else b_last[a:b]
    act = _ACTIVATIONS[layer.activation]

    def fn(z: np.ndarray) -> np.ndarray:
        return act(z @ w_s.T + (0.0 if b_s is None else b_s))
    return fn


def run_plan(model: Any, plan: Plan, x: np.ndarray, *, time_scale: float = 0.0) -> Execution:
    """Run `plan` on raw inputs x (B, input_dim): every block on its processor's worker, stage by stage.

    Returns the task outputs {task: logits (B, n_classes) float32} (as the monolithic model's forward), the
    simulated latency (s) and energy (J) of the plan's cost model, and the timeline of simulated events.
    """
    if time_scale < 0:
        raise ConfigError(f"run_plan time_scale: must be >= 0, got {time_scale!r}")
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] < 1 or not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"run_plan x: need a (B, input_dim) numeric array, got shape {arr.shape}")
    layers = {l.name: l for l in model_layers(model)}
    missing = sorted({b.layer for b in plan.blocks} - set(layers))
    if missing or set(layers) - {b.layer for b in plan.blocks}:
        raise ConfigError(f"run_plan: the plan's layers {sorted({b.layer for b in plan.blocks})} do not match "
                          f"the model's {sorted(layers)}")
    first = min(layers.values(), key=lambda l: l.stage)
    if arr.shape[1] != first.in_units:
        raise DataError(f"run_plan x: expected (B, {first.in_units}), got {arr.shape}")
    for blk in plan.blocks:
        l = layers[blk.layer]
        if blk.in_units != l.in_units or blk.out_stop > l.out_units:
            raise ConfigError(f"run_plan: block {blk.id!r} does not fit layer {l.name!r} of the model "
                              f"({l.in_units} -> {l.out_units})")
    if arr.shape[0] != plan.blocks[0].batch:
        log.debug("run_plan: batch %d differs from the planned batch %d (simulated costs are the planned ones)",
                  arr.shape[0], plan.blocks[0].batch)

    specs = {p.name: p for p in plan.processors}
    host = plan.host
    chains = {name: option_chain(layers[name], plan.options[name]) for name in plan.options}
    mean = model.input_mean.detach().cpu().double().numpy()
    std = model.input_std.detach().cpu().double().numpy()
    h = (arr.astype(np.float64) - mean) / std                   # on the host

    workers = {name: _Worker(spec) for name, spec in specs.items()}
    timeline: list[Event] = []
    clock, energy = 0.0, 0.0
    produced: dict[str, float] = {host.name: float(plan.blocks[0].in_bytes)}     # bytes made per processor
    stages = sorted({b.stage for b in plan.blocks})
    outputs: dict[str, np.ndarray] = {}
    try:
        for g in stages:
            blks = [b for b in plan.blocks if b.stage == g]
            users = sorted({plan.assignment[b.id] for b in blks}, key=list(specs).index)
            # 1. every user receives what other processors produced (serially); the stage waits for the slowest
            recv_end = clock
            for q in users:
                t = clock
                for p_name, nbytes in produced.items():
                    if p_name == q:
                        continue
                    src = specs.get(p_name, host if p_name == host.name else None)
                    d = transfer_time_s(nbytes, src, specs[q])
                    energy += transfer_energy_j(nbytes, src, specs[q])
                    timeline.append(Event("transfer", q, f"{p_name} -> {q}", t, t + d, int(nbytes)))
                    t += d
                recv_end = max(recv_end, t)
            clock = recv_end
            # 2. each processor runs its queue in parallel with the others
            futures, stage_end = {}, clock
            for q in users:
                mine = [b for b in blks if plan.assignment[b.id] == q]
                t = clock
                jobs, order = [], []
                for name in dict.fromkeys(b.layer for b in mine):          # layers in block order
                    lb = [b for b in mine if b.layer == name]
                    c0 = _cost(lb[0], plan.options)
                    if c0.shared_macs or c0.shared_weight_bytes:           # inner factors, once on q
                        d = shared_time_s(c0, specs[q])
                        energy += shared_energy_j(c0, specs[q])
                        timeline.append(Event("compute", q, f"{name}[shared]", t, t + d))
                        t += d
                    for b in lb:
                        c = _cost(b, plan.options)
                        d = block_time_s(b, c, specs[q])
                        energy += block_energy_j(b, c, specs[q])
                        timeline.append(Event("compute", q, b.id, t, t + d))
                        t += d
                    jobs.append((_inner_fn(chains[name]), [_slice_fn(layers[name], chains[name], b) for b in lb]))
                    order += lb
                stage_end = max(stage_end, t)
                futures[q] = (order, workers[q].pool.submit(_Worker.run, jobs, h, time_scale * (t - clock)))
            clock = stage_end
            # 3. gather: slices concatenated by output unit, per layer
            parts: dict[str, list[tuple[int, np.ndarray]]] = {}
            for q, (mine, fut) in futures.items():
                for b, y in zip(mine, fut.result()):
                    parts.setdefault(b.layer, []).append((b.out_start, y))
            layer_out = {name: np.concatenate([y for _, y in sorted(ps, key=lambda t: t[0])], axis=1)
                         for name, ps in parts.items()}
            produced = {}
            for b in blks:
                produced[plan.assignment[b.id]] = produced.get(plan.assignment[b.id], 0.0) + b.out_bytes
            if g != stages[-1]:
                (h,) = layer_out.values()
            else:
                outputs = {name.split(".", 1)[1]: v.astype(np.float32) for name, v in layer_out.items()}
        # 4. every output back to the host
        t = clock
        for p_name, nbytes in produced.items():
            if p_name == host.name:
                continue
            d = transfer_time_s(nbytes, specs[p_name], host)
            energy += transfer_energy_j(nbytes, specs[p_name], host)
            timeline.append(Event("transfer", host.name, f"{p_name} -> {host.name}", t, t + d, int(nbytes)))
            t += d
        clock = t
    finally:
        for w in workers.values():
            w.pool.shutdown(wait=True)
    order = [name.split(".", 1)[1] for name in plan.options if name.startswith("heads.")]
    return Execution({t: outputs[t] for t in order}, clock, energy, timeline)


def execute_plan(model: Any, plan: Plan, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run `plan` on raw inputs x (B, input_dim); returns {task: logits (B, n_classes) float32}, which equal
    the monolithic model's forward when every chosen option is the full layer (see `run_plan`)."""
    return run_plan(model, plan, x).outputs
