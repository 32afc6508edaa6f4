"""Deep Architecture Decomposition (DeepX DAD): cut a model into unit blocks, plan where each block runs.

    blocks = unit_blocks(model, slices={"trunk.fc1": 4}, options={"trunk.fc2": [full, svd64]})
    p = plan(blocks, [cpu, dsp, cloud], alpha=1.0, beta=1.0, accuracy_budget=1.0)   # exact MILP
    print(format_plan(p, baseline_plans(blocks, [cpu, dsp, cloud])))

**Unit blocks.** Every Linear layer of a `MultiTaskDNN` (trunk.fc1 .. fcN, heads.<task>; a layer already
replaced by a chain of Linears, e.g. an SVD pair, counts as one layer) is cut into S column slices: slice i
computes output units [start, stop) of the layer (the rows of its last weight factor), so one layer can be
spread over processors; the slices' outputs concatenated are the layer's output. The trunk layers are stages
0..N-1 in order; all heads form stage N (they all read the trunk output). A layer may offer several
`LayerOption`s (full, SVD rank k, ...): the planner picks exactly one per layer (joint compress + partition).

**Cost model** (per block b with its layer's chosen option o, on processor p; batch of `batch` windows):

    time(b,p)   = fixed_cost_s + MACs / macs_per_s
    energy(b,p) = fixed_energy_j + MACs * energy_per_mac_j + bytes(b) * energy_per_byte_j
                  bytes(b) = weight bytes + input activation bytes + output activation bytes

Stages run one after the other (a stage starts when the previous one's outputs have arrived); within a stage
each processor runs its blocks one after another, processors in parallel: stage time = max over processors of
the sum of its block times. Between stages every processor q used by the next stage receives the outputs that
other processors p produced (it needs the whole previous layer); receptions into q are serial:

    transfer time p->q   = (latency_s(p) + latency_s(q)) / 2 + bytes / min(bandwidth(p), bandwidth(q))
    transfer energy p->q = bytes * (xfer(p) + xfer(q)),   xfer = radio_energy_per_byte_j for a cloud,
                                                           energy_per_byte_j otherwise

The raw input starts on the **host** (the first CPU unless given) and every head's output must end there, so
a cloud-only plan pays the upload and the download. makespan = sum of stage times + sum of boundary times
(the boundary time is the slowest receiver's). Memory: the weight bytes of the blocks a processor holds must
fit its `memory_bytes` (None/inf = unlimited).

**Integer program** (solved exactly by HiGHS through `scipy.optimize.milp`). Blocks of one layer with equal
width have equal costs, so they form a group and the program counts them, as DeepX's formulation does (B_i
blocks on processor i): integers n[g,o,p] = blocks of group g run with option o on processor p; binaries
s[l,o] (layer l uses option o: sum_p n[g,o,p] = |g| s[l,o]) and u[k,p] (stage k uses p: |g| u >= n); y[g,p,q]
>= n[g,p] - |g| (1 - u[k+1,q]) (blocks of g that p must send to q) and w[k,p,q] >= u[k,p] + u[k+1,q] - 1 (the
p -> q link is opened and pays its latency); t[k] >= busy time of every processor in stage k, c[k] >= receive
time of every processor at boundary k; minimise alpha * energy + beta * (sum t + sum c) subject to memory and
the accuracy budget. Every product in the cost model is an integer times a binary, linearised exactly, so the
MILP optimum is the cost model's optimum; a valid cut (a used q receives every block it does not hold) tightens
the relaxation. `brute_force` enumerates every per-block assignment of the same cost model (numpy) and is
the reference the tests hold the MILP to.
"""
from __future__ import annotations

import itertools
import logging
import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from deepear.errors import ConfigError

log = logging.getLogger(__name__)

PROCESSOR_KINDS = ("cpu", "dsp", "gpu", "cloud")
BYTES_PER_ACTIVATION = 4          # activations exchanged as float32
BRUTE_FORCE_MAX = 3_000_000       # assignments x option combinations brute_force accepts
_OBJ_SCALE = 1e4                  # the MILP objective is normalised to about this size (HiGHS gaps are absolute)


# Processors -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessorSpec:
    """A processor (or the cloud link) as the planner sees it; any object with these attributes works too.

    Units: macs_per_s (MAC/s), energy_per_mac_j (J/MAC), energy_per_byte_j (J/byte moved in its memory),
    memory_bytes (bytes for weights; None or inf = unlimited), fixed_cost_s / fixed_energy_j (per block
    invocation), latency_s (round trip of its link: half is paid by every transfer into or out of it, so an
    upload + download pays it once; the cloud's network latency), bandwidth_bytes_per_s
    (its memory path, or the cloud link), radio_energy_per_byte_j (the device radio's J/byte, cloud only).
    """
    name: str
    kind: str
    macs_per_s: float
    energy_per_mac_j: float = 0.0
    energy_per_byte_j: float = 0.0
    memory_bytes: float | None = None
    fixed_cost_s: float = 0.0
    fixed_energy_j: float = 0.0
    latency_s: float = 0.0
    bandwidth_bytes_per_s: float = math.inf
    radio_energy_per_byte_j: float = 0.0

    @property
    def memory_limit(self) -> float:
        """memory_bytes, with None read as unlimited (inf)."""
        return math.inf if self.memory_bytes is None else float(self.memory_bytes)

    @property
    def transfer_energy_per_byte_j(self) -> float:
        """J per byte this end pays for a transfer: the radio for a cloud, its memory path otherwise."""
        return self.radio_energy_per_byte_j if self.kind == "cloud" else self.energy_per_byte_j


def as_spec(proc: Any) -> ProcessorSpec:
    """Read any processor-like object (e.g. deepear.deepx.processors.Processor) into a checked ProcessorSpec.

    Missing optional attributes take the ProcessorSpec defaults; the radio's energy may be given as
    `radio_energy_per_byte_j` or as `radio.energy_per_byte_j`.
    """
    if isinstance(proc, ProcessorSpec):
        spec = proc
    else:
        name = getattr(proc, "name", None)
        if name is None:
            raise ConfigError(f"processor {proc!r}: has no 'name'")
        radio = getattr(proc, "radio_energy_per_byte_j", None)
        if radio is None and getattr(proc, "radio", None) is not None:
            radio = getattr(proc.radio, "energy_per_byte_j", None)
        vals: dict[str, Any] = {}
        for f in ("kind", "macs_per_s", "energy_per_mac_j", "energy_per_byte_j", "memory_bytes",
                  "fixed_cost_s", "fixed_energy_j", "latency_s", "bandwidth_bytes_per_s"):
            v = getattr(proc, f, None)
            if v is not None:
                vals[f] = v
        if radio is not None:
            vals["radio_energy_per_byte_j"] = radio
        if "kind" not in vals or "macs_per_s" not in vals:
            raise ConfigError(f"processor {name!r}: needs 'kind' and 'macs_per_s'")
        spec = ProcessorSpec(name=str(name), **vals)
    _check_spec(spec)
    return spec


def _check_spec(p: ProcessorSpec) -> None:
    if p.kind not in PROCESSOR_KINDS:
        raise ConfigError(f"processor {p.name!r}: kind {p.kind!r} is not one of {PROCESSOR_KINDS}")
    if not (float(p.macs_per_s) > 0):
        raise ConfigError(f"processor {p.name!r}: macs_per_s must be > 0, got {p.macs_per_s!r}")
    if not (p.bandwidth_bytes_per_s is None or float(p.bandwidth_bytes_per_s) > 0):
        raise ConfigError(f"processor {p.name!r}: bandwidth_bytes_per_s must be > 0, got "
                          f"{p.bandwidth_bytes_per_s!r}")
    for f in ("energy_per_mac_j", "energy_per_byte_j", "fixed_cost_s", "fixed_energy_j", "latency_s",
              "radio_energy_per_byte_j"):
        v = float(getattr(p, f))
        if not (v >= 0) or math.isinf(v):
            raise ConfigError(f"processor {p.name!r}: {f} must be finite and >= 0, got {v!r}")
    if p.memory_bytes is not None and not (float(p.memory_bytes) > 0):
        raise ConfigError(f"processor {p.name!r}: memory_bytes must be > 0 (None = unlimited), "
                          f"got {p.memory_bytes!r}")


def _bandwidth(p: ProcessorSpec) -> float:
    return math.inf if p.bandwidth_bytes_per_s is None else float(p.bandwidth_bytes_per_s)


# Layers, options, blocks ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LayerOption:
    """One way to run a layer, for the planner to choose.

    rank None = the layer as stored in the model; rank k = its truncated SVD W ~ A (m,k) B (k,n), computed from
    the layer's weights at execution unless `factors` gives it. factors: the layer as a chain of
    (weight (out,in), bias (out,) or None) applied in order, overriding the model's (e.g. from compress.py).
    accuracy_cost: the caller's estimate of the accuracy drop (points) this option causes.
    bytes_per_param: storage per weight (4 fp32, 1 int8): sets the weight bytes of its blocks.
    """
    name: str
    rank: int | None = None
    accuracy_cost: float = 0.0
    bytes_per_param: float = 4.0
    factors: tuple[tuple[np.ndarray, np.ndarray | None], ...] | None = None


FULL = LayerOption("full")


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """A Linear layer of the model as a chain of (W (out,in) float64, b (out,) or None), plus its activation."""
    name: str
    stage: int
    chain: tuple[tuple[np.ndarray, np.ndarray | None], ...]
    activation: str | None          # "sigmoid" | "relu" | "tanh" | None (heads: raw logits)

    @property
    def in_units(self) -> int:
        return int(self.chain[0][0].shape[1])

    @property
    def out_units(self) -> int:
        return int(self.chain[-1][0].shape[0])


@dataclass(frozen=True)
class BlockCost:
    """A block's cost under one option of its layer (MACs for the whole batch, weight bytes held).

    macs / weight_bytes: the block's own part (its rows of the last factor). shared_macs / shared_weight_bytes:
    the layer's inner factors under a factored option (B x of an SVD pair), computed and held once by every
    processor that runs at least one slice of the layer (0 for a plain layer).
    """
    option: LayerOption
    macs: int
    weight_bytes: int
    shared_macs: int = 0
    shared_weight_bytes: int = 0


@dataclass(frozen=True)
class Block:
    """A unit block: output units [out_start, out_stop) of `layer` (slice `slice_index` of `n_slices`).

    in_bytes / out_bytes: activations it reads / writes for the planned batch (float32).
    costs: one BlockCost per option of its layer, in the layer's option order.
    """
    id: str
    layer: str
    stage: int
    slice_index: int
    n_slices: int
    out_start: int
    out_stop: int
    in_units: int
    batch: int
    in_bytes: int
    out_bytes: int
    costs: tuple[BlockCost, ...]

    @property
    def out_units(self) -> int:
        return self.out_stop - self.out_start


_ACT_NAMES = {"Sigmoid": "sigmoid", "ReLU": "relu", "Tanh": "tanh"}


def model_layers(model: Any) -> list[LayerSpec]:
    """The model's layers in execution order: trunk Linears (stage 0..N-1, with their activation), then heads.

    Accepts a MultiTaskDNN whose Linears may have been replaced by a module whose children are Linears applied
    in registration order (nn.Sequential, compress.SVDLinear's down/up). Dropout is ignored (inference).
    """
    from torch import nn

    def chain_of(mod: nn.Module, where: str) -> tuple[tuple[np.ndarray, np.ndarray | None], ...]:
        if isinstance(mod, nn.Linear):
            mods = [mod]
        else:
            mods = list(mod.children())
            if not mods or not all(isinstance(m, nn.Linear) for m in mods):
                raise ConfigError(f"model layer {where!r}: {type(mod).__name__} is neither a Linear nor a chain of "
                                  f"Linears; the partitioner cannot cut it")
        out = []
        for m in mods:
            w = m.weight.detach().cpu().double().numpy().copy()
            b = None if m.bias is None else m.bias.detach().cpu().double().numpy().copy()
            out.append((w, b))
        for (w0, _), (w1, _) in zip(out, out[1:]):
            if w1.shape[1] != w0.shape[0]:
                raise ConfigError(f"model layer {where!r}: chained Linears do not fit ({w0.shape} then {w1.shape})")
        return tuple(out)

    if not hasattr(model, "trunk") or not hasattr(model, "heads"):
        raise ConfigError(f"model: expected a MultiTaskDNN (trunk + heads), got {type(model).__name__}")
    layers: list[LayerSpec] = []
    pending: tuple[str, tuple] | None = None
    for child_name, mod in model.trunk.named_children():
        kind = type(mod).__name__
        if kind in _ACT_NAMES:
            if pending is None:
                raise ConfigError(f"model trunk: activation {child_name!r} before any Linear")
            layers.append(LayerSpec(pending[0], len(layers), pending[1], _ACT_NAMES[kind]))
            pending = None
        elif isinstance(mod, nn.Dropout) or isinstance(mod, nn.Identity):
            continue
        else:
            if pending is not None:
                layers.append(LayerSpec(pending[0], len(layers), pending[1], None))
            pending = (f"trunk.{child_name}", chain_of(mod, f"trunk.{child_name}"))
    if pending is not None:
        layers.append(LayerSpec(pending[0], len(layers), pending[1], None))
    head_stage = len(layers)
    for task in getattr(model, "task_names", list(model.heads.keys())):
        layers.append(LayerSpec(f"heads.{task}", head_stage, chain_of(model.heads[task], f"heads.{task}"), None))
    for a, b in zip(layers, layers[1:]):
        if b.stage == a.stage + 1 and b.in_units != a.out_units:
            raise ConfigError(f"model: layer {b.name!r} takes {b.in_units} inputs but {a.name!r} gives {a.out_units}")
    return layers


def option_chain(layer: LayerSpec, option: LayerOption) -> tuple[tuple[np.ndarray, np.ndarray | None], ...]:
    """The chain of (W, b) that runs `layer` under `option` (float64): the model's, a truncated SVD, or given."""
    if option.factors is not None:
        chain = tuple((np.asarray(w, dtype=np.float64), None if b is None else np.asarray(b, dtype=np.float64))
                      for w, b in option.factors)
        if chain[0][0].shape[1] != layer.in_units or chain[-1][0].shape[0] != layer.out_units:
            raise ConfigError(f"option {option.name!r} of {layer.name!r}: factors map {chain[0][0].shape[1]} -> "
                              f"{chain[-1][0].shape[0]}, the layer maps {layer.in_units} -> {layer.out_units}")
        return chain
    if option.rank is None:
        return layer.chain
    w, b = _dense(layer.chain)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    k = int(option.rank)
    return ((vt[:k].copy(), None), (u[:, :k] * s[:k], b))


def _dense(chain: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray]:
    w = np.eye(chain[0][0].shape[1])
    b = np.zeros(chain[0][0].shape[1])
    for wi, bi in chain:
        w = wi @ w
        b = wi @ b + (0.0 if bi is None else bi)
    return w, b


def _chain_dims(layer: LayerSpec, option: LayerOption) -> list[tuple[int, int, bool]]:
    """(out, in, has_bias) per factor of the layer under `option`, without computing anything."""
    m, n = layer.out_units, layer.in_units
    if option.factors is not None:
        return [(int(np.shape(w)[0]), int(np.shape(w)[1]), b is not None) for w, b in option.factors]
    if option.rank is None:
        return [(w.shape[0], w.shape[1], b is not None) for w, b in layer.chain]
    k = option.rank
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= min(m, n):
        raise ConfigError(f"option {option.name!r} of {layer.name!r}: rank must be an integer in [1, {min(m, n)}], "
                          f"got {k!r}")
    has_bias = any(b is not None for _, b in layer.chain)
    return [(int(k), n, False), (m, int(k), has_bias)]


def unit_blocks(model: Any, slices: int | Mapping[str, int] = 1,
                options: Mapping[str, Sequence[LayerOption]] | None = None, *, batch: int = 1) -> list[Block]:
    """Cut `model` into unit blocks: every layer into `slices` column slices (an int for all layers, or
    {layer name: S}, missing layers 1) of near-equal width, each with its cost under every option of its layer.

    options: {layer name: [LayerOption, ...]}; layers not named get [FULL]. batch: windows per inference,
    which scales MACs and activation bytes. Under a factored option (SVD) the inner factor (B x) is a cost
    shared by the slices on one processor (BlockCost.shared_*): paid once per processor the layer runs on.
    Returns the blocks in execution order (stage, layer, slice).
    """
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ConfigError(f"unit_blocks batch: must be a positive integer, got {batch!r}")
    layers = model_layers(model)
    names = [l.name for l in layers]
    if isinstance(slices, Mapping):
        unknown = sorted(set(slices) - set(names))
        if unknown:
            raise ConfigError(f"unit_blocks slices: unknown layer(s) {unknown}; layers are {names}")
        per = {n: slices.get(n, 1) for n in names}
    else:
        per = {n: slices for n in names}
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"unit_blocks options: unknown layer(s) {unknown}; layers are {names}")
    blocks: list[Block] = []
    for layer in layers:
        s = per[layer.name]
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or not 1 <= s <= layer.out_units:
            raise ConfigError(f"unit_blocks slices[{layer.name!r}]: must be an integer in [1, {layer.out_units}], "
                              f"got {s!r}")
        opts = list(options.get(layer.name, [FULL]))
        if not opts:
            raise ConfigError(f"unit_blocks options[{layer.name!r}]: empty list (give at least one option)")
        if len({o.name for o in opts}) != len(opts):
            raise ConfigError(f"unit_blocks options[{layer.name!r}]: option names repeat: {[o.name for o in opts]}")
        dims = {o.name: _chain_dims(layer, o) for o in opts}
        for o in opts:
            d = dims[o.name]
            if d[0][1] != layer.in_units or d[-1][0] != layer.out_units or any(
                    a[0] != b[1] for a, b in zip(d, d[1:])):
                raise ConfigError(f"option {o.name!r} of {layer.name!r}: factor shapes {[x[:2] for x in d]} do not "
                                  f"map {layer.in_units} -> {layer.out_units}")
            if not (o.bytes_per_param > 0) or not np.isfinite(o.accuracy_cost):
                raise ConfigError(f"option {o.name!r} of {layer.name!r}: bytes_per_param must be > 0 and "
                                  f"accuracy_cost finite")
        edges = np.linspace(0, layer.out_units, int(s) + 1).round().astype(int)
        for i in range(int(s)):
            a, b = int(edges[i]), int(edges[i + 1])
            costs = []
            for o in opts:
                d = dims[o.name]
                inner_w = sum(r * c for r, c, _ in d[:-1])
                inner_b = sum(r for r, _, hb in d[:-1] if hb)
                r_last, c_last, hb_last = d[-1]
                params = (b - a) * c_last + ((b - a) if hb_last else 0)
                costs.append(BlockCost(o, int(batch * (b - a) * c_last), int(math.ceil(params * o.bytes_per_param)),
                                       int(batch * inner_w), int(math.ceil((inner_w + inner_b) * o.bytes_per_param))))
            blocks.append(Block(id=f"{layer.name}[{i}/{s}]", layer=layer.name, stage=layer.stage, slice_index=i,
                                n_slices=int(s), out_start=a, out_stop=b, in_units=layer.in_units,
                                batch=int(batch), in_bytes=batch * layer.in_units * BYTES_PER_ACTIVATION,
                                out_bytes=batch * (b - a) * BYTES_PER_ACTIVATION, costs=tuple(costs)))
    return blocks


# Cost of single items (used by the evaluator's matrix form and by the executor's simulation) ----------------
def block_time_s(block: Block, cost: BlockCost, proc: ProcessorSpec) -> float:
    """Seconds `block` takes on `proc` under `cost`'s option: fixed cost + MACs / (MAC/s)."""
    return float(proc.fixed_cost_s) + cost.macs / float(proc.macs_per_s)


def block_energy_j(block: Block, cost: BlockCost, proc: ProcessorSpec) -> float:
    """Joules `block` takes on `proc`: fixed + MACs * J/MAC + (weights + activations in and out) * J/byte."""
    moved = cost.weight_bytes + block.in_bytes + block.out_bytes
    return (float(proc.fixed_energy_j) + cost.macs * float(proc.energy_per_mac_j)
            + moved * float(proc.energy_per_byte_j))


def shared_time_s(cost: BlockCost, proc: ProcessorSpec) -> float:
    """Seconds `proc` spends once per layer on the shared inner factors of a factored option."""
    return cost.shared_macs / float(proc.macs_per_s)


def shared_energy_j(cost: BlockCost, proc: ProcessorSpec) -> float:
    """Joules `proc` spends once per layer on the shared inner factors (MACs + their weight bytes)."""
    return cost.shared_macs * float(proc.energy_per_mac_j) + cost.shared_weight_bytes * float(proc.energy_per_byte_j)


def transfer_time_s(nbytes: float, src: ProcessorSpec, dst: ProcessorSpec) -> float:
    """Seconds to move `nbytes` from `src` to `dst`: half of each end's round-trip latency_s + bytes over the
    slower path (0 on the same processor); an upload and a download to a cloud pay its latency_s once."""
    if src.name == dst.name:
        return 0.0
    return 0.5 * (float(src.latency_s) + float(dst.latency_s)) + nbytes / min(_bandwidth(src), _bandwidth(dst))


def transfer_energy_j(nbytes: float, src: ProcessorSpec, dst: ProcessorSpec) -> float:
    """Joules to move `nbytes` from `src` to `dst` (each end's transfer J/byte; 0 if same processor)."""
    if src.name == dst.name:
        return 0.0
    return nbytes * (src.transfer_energy_per_byte_j + dst.transfer_energy_per_byte_j)


# Plans -------------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """A decomposition plan and its predicted cost.

    assignment: {block id: processor name}; options: {layer: chosen LayerOption}; latency_s: predicted makespan
    (s); energy_j: predicted energy (J); objective = alpha * energy_j + beta * latency_s; memory_bytes:
    {processor: weight bytes it holds}; busy_s: {processor: seconds computing}; stage_s / transfer_s: per-stage
    compute times and per-boundary transfer times (boundary 0 = input from the host, last = outputs to it);
    accuracy_cost: sum of the chosen options' costs (points); status: "optimal" | "time_limit" (MILP),
    "brute_force"; solve_time_s: wall time of the search.
    """
    blocks: list[Block]
    processors: list[ProcessorSpec]
    host: ProcessorSpec
    assignment: dict[str, str]
    options: dict[str, LayerOption]
    alpha: float
    beta: float
    latency_s: float
    energy_j: float
    objective: float
    memory_bytes: dict[str, int]
    busy_s: dict[str, float]
    stage_s: list[float]
    transfer_s: list[float]
    accuracy_cost: float
    accuracy_budget: float | None
    status: str
    solve_time_s: float
    method: str = "milp"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (for manifests and `deepear partition --json`)."""
        return {"method": self.method, "status": self.status, "alpha": self.alpha, "beta": self.beta,
                "host": self.host.name, "latency_s": self.latency_s, "energy_j": self.energy_j,
                "objective": self.objective, "accuracy_cost": self.accuracy_cost,
                "accuracy_budget": self.accuracy_budget, "solve_time_s": self.solve_time_s,
                "processors": [p.name for p in self.processors],
                "memory_bytes": dict(self.memory_bytes),
                "memory_limit_bytes": {p.name: (None if p.memory_bytes is None else p.memory_limit)
                                       for p in self.processors},
                "busy_s": dict(self.busy_s), "stage_s": list(self.stage_s), "transfer_s": list(self.transfer_s),
                "options": {l: o.name for l, o in self.options.items()},
                "assignment": dict(self.assignment),
                "blocks": [{"id": b.id, "layer": b.layer, "units": [b.out_start, b.out_stop],
                            "processor": self.assignment[b.id]} for b in self.blocks]}


class _Problem:
    """Blocks + processors in array form; the single implementation of the cost model (`evaluate`)."""

    def __init__(self, blocks: Sequence[Block], processors: Sequence[Any], host: Any | None) -> None:
        if not blocks:
            raise ConfigError("plan: no blocks (call unit_blocks(model) first)")
        if not processors:
            raise ConfigError("plan: no processors given")
        self.procs = [as_spec(p) for p in processors]
        pnames = [p.name for p in self.procs]
        if len(set(pnames)) != len(pnames):
            raise ConfigError(f"plan: processor names repeat: {pnames}")
        if host is None:
            cpus = [p for p in self.procs if p.kind == "cpu"]
            host_spec = cpus[0] if cpus else next((p for p in self.procs if p.kind != "cloud"), None)
            if host_spec is None:        # only a cloud: the device side is free and instant (link costs only)
                host_spec = ProcessorSpec("device", "cpu", macs_per_s=1.0)
        else:
            host_spec = as_spec(host) if not isinstance(host, str) else next(
                (p for p in self.procs if p.name == host), None)
            if host_spec is None:
                raise ConfigError(f"plan host: {host!r} is not one of the processors {pnames}")
        self.host = host_spec
        self.allp = list(self.procs) + ([] if host_spec.name in pnames else [host_spec])
        self.P, self.Q = len(self.procs), len(self.allp)
        self.h = [p.name for p in self.allp].index(host_spec.name)

        self.blocks = list(blocks)
        ids = [b.id for b in self.blocks]
        if len(set(ids)) != len(ids):
            raise ConfigError("plan: block ids repeat (pass the blocks of one unit_blocks call)")
        self.layers: list[str] = []
        self.layer_opts: dict[str, list[LayerOption]] = {}
        self.layer_blocks: dict[str, list[int]] = {}
        for i, b in enumerate(self.blocks):
            if b.layer not in self.layer_opts:
                self.layers.append(b.layer)
                self.layer_opts[b.layer] = [c.option for c in b.costs]
                self.layer_blocks[b.layer] = []
            elif [c.option.name for c in b.costs] != [o.name for o in self.layer_opts[b.layer]]:
                raise ConfigError(f"plan: blocks of layer {b.layer!r} disagree on its options")
            self.layer_blocks[b.layer].append(i)
        stages = sorted({b.stage for b in self.blocks})
        if stages != list(range(len(stages))):
            raise ConfigError(f"plan: block stages must be 0..G-1, got {stages}")
        self.G = len(stages)
        self.stage_blocks = [[i for i, b in enumerate(self.blocks) if b.stage == g] for g in range(self.G)]
        in0 = {self.blocks[i].in_bytes for i in self.stage_blocks[0]}
        if len(in0) != 1:
            raise ConfigError("plan: first-stage blocks disagree on their input size")
        self.in_bytes = float(in0.pop())
        self.out_bytes = np.array([b.out_bytes for b in self.blocks], dtype=float)
        B = len(self.blocks)
        # per block, per option: (P,) time and energy on each assignable processor; weight bytes
        self.T = [np.array([[block_time_s(b, c, p) for p in self.procs] for c in b.costs]) for b in self.blocks]
        self.E = [np.array([[block_energy_j(b, c, p) for p in self.procs] for c in b.costs]) for b in self.blocks]
        self.W = [np.array([c.weight_bytes for c in b.costs], dtype=float) for b in self.blocks]
        # per layer, per option: the shared inner-factor cost on each processor (paid once if the layer runs there)
        first = {l: self.blocks[self.layer_blocks[l][0]] for l in self.layers}
        for l in self.layers:
            if any((c.shared_macs, c.shared_weight_bytes) != (c0.shared_macs, c0.shared_weight_bytes)
                   for i in self.layer_blocks[l] for c, c0 in zip(self.blocks[i].costs, first[l].costs)):
                raise ConfigError(f"plan: blocks of layer {l!r} disagree on their shared costs")
        self.ST = {l: np.array([[shared_time_s(c, p) for p in self.procs] for c in first[l].costs])
                   for l in self.layers}
        self.SE = {l: np.array([[shared_energy_j(c, p) for p in self.procs] for c in first[l].costs])
                   for l in self.layers}
        self.SW = {l: np.array([c.shared_weight_bytes for c in first[l].costs], dtype=float) for l in self.layers}
        self.layer_stage = {l: first[l].stage for l in self.layers}
        self.acc = {l: np.array([o.accuracy_cost for o in self.layer_opts[l]], dtype=float) for l in self.layers}
        self.mem = np.array([p.memory_limit for p in self.procs])
        Q = self.Q
        self.lat = np.zeros((Q, Q))
        self.inv_bw = np.zeros((Q, Q))
        self.xe = np.zeros((Q, Q))
        for a, pa in enumerate(self.allp):
            for c, pc in enumerate(self.allp):
                if a != c:
                    self.lat[a, c] = 0.5 * (float(pa.latency_s) + float(pc.latency_s))
                    self.inv_bw[a, c] = 1.0 / min(_bandwidth(pa), _bandwidth(pc))
                    self.xe[a, c] = pa.transfer_energy_per_byte_j + pc.transfer_energy_per_byte_j
        self.n_blocks = B

    # option vectors ------------------------------------------------------------------------------------------
    def block_options(self, layer_choice: Mapping[str, int]) -> np.ndarray:
        return np.array([layer_choice[b.layer] for b in self.blocks], dtype=int)

    def accuracy(self, layer_choice: Mapping[str, int]) -> float:
        return float(sum(self.acc[l][layer_choice[l]] for l in self.layers))

    def evaluate(self, A: np.ndarray, layer_choice: Mapping[str, int]) -> dict[str, np.ndarray]:
        """Cost of N assignments A (N, B) (processor indices) under one option choice: arrays over N."""
        A = np.atleast_2d(np.asarray(A, dtype=int))
        N, B, P, Q = A.shape[0], self.n_blocks, self.P, self.Q
        opt = self.block_options(layer_choice)
        Tb = np.stack([self.T[b][opt[b]] for b in range(B)])           # (B, P)
        Eb = np.stack([self.E[b][opt[b]] for b in range(B)])
        Wb = np.array([self.W[b][opt[b]] for b in range(B)])
        oh = (A[:, :, None] == np.arange(Q)[None, None, :]).astype(float)     # (N, B, Q); Q >= P
        energy = (oh[:, :, :P] * Eb[None]).sum(axis=(1, 2))
        mem = (oh[:, :, :P] * Wb[None, :, None]).sum(axis=1)
        stage_busy = [(oh[:, idx, :P] * Tb[None, idx]).sum(axis=1) for idx in self.stage_blocks]   # (N, P) each
        for l in self.layers:                 # shared inner factors: once per processor running the layer
            o = layer_choice[l]
            if self.SW[l][o] == 0 and not self.ST[l][o].any() and not self.SE[l][o].any():
                continue
            present = oh[:, self.layer_blocks[l], :P].max(axis=1)
            energy = energy + present @ self.SE[l][o]
            mem = mem + present * self.SW[l][o]
            stage_busy[self.layer_stage[l]] = stage_busy[self.layer_stage[l]] + present * self.ST[l][o][None, :]
        busy = sum(stage_busy)
        stage_t = np.stack([sb.max(axis=1) for sb in stage_busy], axis=1)
        eh = np.zeros(Q)
        eh[self.h] = 1.0
        u_prev = np.broadcast_to(eh, (N, Q))
        bytes_prev = u_prev * self.in_bytes
        bound_t = np.zeros((N, self.G + 1))
        for k in range(self.G + 1):
            if k < self.G:
                idx = self.stage_blocks[k]
                u_next = oh[:, idx, :].max(axis=1)
            else:
                u_next = np.broadcast_to(eh, (N, Q))
            recv = u_next * (u_prev @ self.lat + bytes_prev @ self.inv_bw)          # (N, Q)
            bound_t[:, k] = recv.max(axis=1)
            energy = energy + np.einsum("np,pq,nq->n", bytes_prev, self.xe, u_next)
            if k < self.G:
                u_prev = u_next
                bytes_prev = (oh[:, idx, :] * self.out_bytes[idx][None, :, None]).sum(axis=1)
        latency = stage_t.sum(axis=1) + bound_t.sum(axis=1)
        return {"latency": latency, "energy": energy, "mem": mem, "busy": busy, "stage": stage_t,
                "bound": bound_t}

    def make_plan(self, A: np.ndarray, layer_choice: Mapping[str, int], alpha: float, beta: float,
                  budget: float | None, status: str, solve_time: float, method: str) -> Plan:
        ev = self.evaluate(np.asarray(A)[None, :], layer_choice)
        lat, en = float(ev["latency"][0]), float(ev["energy"][0])
        return Plan(blocks=self.blocks, processors=self.procs, host=self.host,
                    assignment={b.id: self.procs[int(a)].name for b, a in zip(self.blocks, A)},
                    options={l: self.layer_opts[l][layer_choice[l]] for l in self.layers},
                    alpha=alpha, beta=beta, latency_s=lat, energy_j=en, objective=alpha * en + beta * lat,
                    memory_bytes={p.name: int(round(ev["mem"][0, i])) for i, p in enumerate(self.procs)},
                    busy_s={p.name: float(ev["busy"][0, i]) for i, p in enumerate(self.procs)},
                    stage_s=[float(v) for v in ev["stage"][0]], transfer_s=[float(v) for v in ev["bound"][0]],
                    accuracy_cost=self.accuracy(layer_choice), accuracy_budget=budget, status=status,
                    solve_time_s=solve_time, method=method)


def _check_weights(alpha: float, beta: float, budget: float | None) -> None:
    if not (alpha >= 0 and beta >= 0 and alpha + beta > 0 and math.isfinite(alpha) and math.isfinite(beta)):
        raise ConfigError(f"plan alpha/beta: need finite alpha >= 0, beta >= 0, not both 0; got {alpha}, {beta}")
    if budget is not None and not (budget >= 0 and math.isfinite(budget)):
        raise ConfigError(f"plan accuracy_budget: need a finite number >= 0 (points) or None, got {budget!r}")


# The integer program -------------------------------------------------------------------------------------------
class _LP:
    """Tiny builder for scipy.optimize.milp: variables with bounds/costs, sparse rows lo <= a.x <= hi."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integer: list[int] = []
        self.cost: list[float] = []
        self.ri: list[int] = []
        self.ci: list[int] = []
        self.vals: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def var(self, lb: float = 0.0, ub: float = math.inf, integer: bool = False, cost: float = 0.0) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(1 if integer else 0)
        self.cost.append(cost)
        return len(self.lb) - 1

    def row(self, terms: Sequence[tuple[int, float]], lo: float, hi: float) -> None:
        r = len(self.lo)
        for c, v in terms:
            if v != 0.0:
                self.ri.append(r)
                self.ci.append(c)
                self.vals.append(float(v))
        self.lo.append(lo)
        self.hi.append(hi)

    def solve(self, time_limit_s: float) -> Any:
        cons = ()
        if self.lo:
            a = csr_array((self.vals, (self.ri, self.ci)), shape=(len(self.lo), len(self.lb)))
            cons = (LinearConstraint(a, np.array(self.lo), np.array(self.hi)),)
        return milp(np.array(self.cost), integrality=np.array(self.integer), bounds=Bounds(self.lb, self.ub),
                    constraints=cons, options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0})


def _groups(pr: _Problem) -> list[tuple[str, int, list[int]]]:
    """Interchangeable blocks: (layer, stage, block indices) of equal width and equal costs, in block order."""
    out: dict[tuple, list[int]] = {}
    for i, blk in enumerate(pr.blocks):
        key = (blk.layer, blk.out_units, blk.in_bytes, blk.out_bytes,
               tuple((c.macs, c.weight_bytes) for c in blk.costs))
        out.setdefault(key, []).append(i)
    return [(key[0], pr.blocks[idx[0]].stage, idx) for key, idx in out.items()]


def _count_vars(lp: _LP, pr: _Problem, groups: list[tuple[str, int, list[int]]], budget: float | None,
                cost_n: Any = None) -> dict[tuple[int, int, int], int]:
    """n[g,o,p]: how many blocks of group g run option o on processor p (integer; DeepX's B_i per processor),
    s[l,o] option binaries: one option per layer, every block placed once, the accuracy budget."""
    P = pr.P
    s: dict[tuple[str, int], int] = {}
    for l in pr.layers:
        nopt = len(pr.layer_opts[l])
        if nopt > 1:
            for o in range(nopt):
                s[l, o] = lp.var(0, 1, True)
            lp.row([(s[l, o], 1.0) for o in range(nopt)], 1, 1)
    n: dict[tuple[int, int, int], int] = {}
    for gi, (layer, _stage, idx) in enumerate(groups):
        k = len(idx)
        nopt = len(pr.layer_opts[layer])
        for o in range(nopt):
            for p in range(P):
                n[gi, o, p] = lp.var(0, k, True, 0.0 if cost_n is None else cost_n(idx[0], o, p))
            terms = [(n[gi, o, p], 1.0) for p in range(P)]
            if nopt > 1:
                lp.row(terms + [(s[layer, o], -float(k))], 0, 0)
            else:
                lp.row(terms, k, k)
    if budget is not None and s:
        fixed = sum(float(pr.acc[l][0]) for l in pr.layers if len(pr.layer_opts[l]) == 1)
        lp.row([(v, float(pr.acc[l][o])) for (l, o), v in s.items()], -math.inf,
               budget - fixed + 1e-9 * max(1.0, abs(budget)))
    return n


def _shared_vars(lp: _LP, pr: _Problem, groups: list[tuple[str, int, list[int]]], n: dict,
                 cost: Any) -> dict[tuple[str, int, int], int]:
    """v[l,o,p] = 1 when layer l runs option o on p and that option has shared inner factors (paid once on p)."""
    v: dict[tuple[str, int, int], int] = {}
    for l in pr.layers:
        for o in range(len(pr.layer_opts[l])):
            if pr.SW[l][o] == 0 and not pr.ST[l][o].any() and not pr.SE[l][o].any():
                continue
            for p in range(pr.P):
                v[l, o, p] = lp.var(0, 1, True, cost(l, o, p))
                for gi, g in enumerate(groups):
                    if g[0] == l:
                        lp.row([(v[l, o, p], float(len(g[2]))), (n[gi, o, p], -1.0)], 0, math.inf)
    return v


def _solve_milp(pr: _Problem, alpha: float, beta: float, budget: float | None,
                time_limit_s: float) -> tuple[np.ndarray, dict[str, int], str, float]:
    """The DAD integer program over block counts per (group, option, processor); see the module docstring."""
    P, h, G = pr.P, pr.h, pr.G
    groups = _groups(pr)
    # scales: times in units of ts seconds; the objective normalised to about _OBJ_SCALE
    tmin = sum(float(pr.T[b].min()) for b in range(pr.n_blocks))
    emin = sum(float(pr.E[b].min()) for b in range(pr.n_blocks))
    ts = tmin if tmin > 0 else max(1e-12, max(float(t.max()) for t in pr.T))
    es = emin if emin > 0 else max(1e-12, max(float(e.max()) for e in pr.E))
    k_obj = _OBJ_SCALE / (alpha * es + beta * ts)
    ce = alpha * k_obj             # objective per joule
    ct = beta * ts * k_obj         # objective per ts seconds

    def cost_n(b: int, o: int, p: int) -> float:
        c = ce * pr.E[b][o, p]
        if pr.blocks[b].stage == G - 1 and p != h:          # its output goes to the host: linear in n
            c += ce * pr.out_bytes[b] * pr.xe[p, h]
        return c

    lp = _LP()
    n = _count_vars(lp, pr, groups, budget, cost_n)
    nopt = {gi: len(pr.layer_opts[g[0]]) for gi, g in enumerate(groups)}
    by_stage = [[gi for gi, g in enumerate(groups) if g[1] == st] for st in range(G)]

    def N(gi: int, p: int, coef: float = 1.0) -> list[tuple[int, float]]:
        return [(n[gi, o, p], coef) for o in range(nopt[gi])]

    # u[st, p] = 1 when stage st runs anything on p
    u = {(st, p): lp.var(0, 1, True) for st in range(G) for p in range(P)}
    for st in range(G):
        for gi in by_stage[st]:
            k = len(groups[gi][2])
            for p in range(P):
                lp.row([(u[st, p], float(k))] + N(gi, p, -1.0), 0, math.inf)
    v = _shared_vars(lp, pr, groups, n, lambda l, o, p: ce * pr.SE[l][o, p])
    # memory (rows scaled to the capacity: coefficients <= 1, right-hand side 1)
    for p in range(P):
        if math.isfinite(pr.mem[p]):
            lp.row([(n[gi, o, p], pr.W[g[2][0]][o] / pr.mem[p]) for gi, g in enumerate(groups)
                    for o in range(nopt[gi])]
                   + [(c, pr.SW[l][o] / pr.mem[p]) for (l, o, pp), c in v.items() if pp == p], -math.inf, 1.0)
    # stage compute time: t >= the busy time of every processor
    for st in range(G):
        t = lp.var(0, math.inf, False, ct)
        for p in range(P):
            lp.row([(t, 1.0)] + [(n[gi, o, p], -pr.T[groups[gi][2][0]][o, p] / ts)
                                 for gi in by_stage[st] for o in range(nopt[gi])]
                   + [(c, -pr.ST[l][o, p] / ts) for (l, o, pp), c in v.items()
                      if pp == p and pr.layer_stage[l] == st], 0, math.inf)
    # boundary 0: the input, from the host to every processor of stage 0
    c0 = lp.var(0, math.inf, False, ct)
    for q in range(P):
        if q != h:
            lp.cost[u[0, q]] += ce * pr.in_bytes * pr.xe[h, q]
            lp.row([(c0, 1.0), (u[0, q], -(pr.lat[h, q] + pr.in_bytes * pr.inv_bw[h, q]) / ts)], 0, math.inf)
    # boundaries between stages: y[p,q] >= bytes made on p if q is used next (big-M on u), w opens the p->q link
    for k in range(1, G):
        ck = lp.var(0, math.inf, False, ct)
        prev = by_stage[k - 1]
        recv: dict[int, list[tuple[int, float]]] = {q: [] for q in range(P)}
        ys: dict[tuple[int, int, int], int] = {}
        for p in range(P):
            for q in range(P):
                if p == q:
                    continue
                if pr.lat[p, q] > 0:
                    w = lp.var(0, 1)
                    lp.row([(w, 1.0), (u[k - 1, p], -1.0), (u[k, q], -1.0)], -1, math.inf)
                    recv[q].append((w, pr.lat[p, q] / ts))
                if pr.inv_bw[p, q] > 0 or pr.xe[p, q] > 0:
                    for gi in prev:         # y = blocks of group gi made on p that q needs: n[gi,p] if u[k,q]
                        kk, ob = len(groups[gi][2]), pr.out_bytes[groups[gi][2][0]]
                        y = ys[gi, p, q] = lp.var(0, kk, False, ce * ob * pr.xe[p, q])
                        lp.row([(y, 1.0), (u[k, q], -float(kk))] + N(gi, p, -1.0), -float(kk), math.inf)
                        if pr.inv_bw[p, q] > 0:
                            recv[q].append((y, ob * pr.inv_bw[p, q] / ts))
        for q in range(P):
            if recv[q]:
                lp.row([(ck, 1.0)] + [(c, -v) for c, v in recv[q]], 0, math.inf)
            # valid cut: a used q receives every block of the previous stage it does not hold itself
            for gi in prev:
                yq = [ys[gi, p, q] for p in range(P) if (gi, p, q) in ys]
                if len(yq) == P - 1:
                    lp.row([(y, 1.0) for y in yq] + [(u[k, q], -float(len(groups[gi][2])))] + N(gi, q, 1.0),
                           0, math.inf)
    # last boundary: every head output to the host (linear in n and u)
    cl = lp.var(0, math.inf, False, ct)
    terms = []
    for p in range(P):
        if p == h:
            continue
        terms.append((u[G - 1, p], -pr.lat[p, h] / ts))
        for gi in by_stage[G - 1]:
            terms += N(gi, p, -pr.out_bytes[groups[gi][2][0]] * pr.inv_bw[p, h] / ts)
    if terms:
        lp.row([(cl, 1.0)] + terms, 0, math.inf)

    t0 = _time.perf_counter()
    res = lp.solve(time_limit_s)
    dt = _time.perf_counter() - t0
    log.debug("milp: %d variables (%d integer), %d rows, %s nodes, status %s (%s) in %.3f s", len(lp.lb),
              sum(lp.integer), len(lp.lo), getattr(res, "mip_node_count", "?"), res.status, res.message, dt)
    if res.status == 2:
        return np.empty(0, dtype=int), {}, "infeasible", dt
    if res.x is None:
        raise ConfigError(f"plan: the MILP found no plan within time_limit_s={time_limit_s} "
                          f"({res.message}); give it more time")
    status = "optimal" if res.status == 0 else "time_limit"
    if status != "optimal":
        log.warning("plan: MILP stopped at its time limit (gap %.3g); the plan may not be optimal",
                    getattr(res, "mip_gap", float("nan")))
    xv = np.round(res.x).astype(int)
    A = np.zeros(pr.n_blocks, dtype=int)
    choice: dict[str, int] = {}
    for gi, (layer, _st, idx) in enumerate(groups):
        o = max(range(nopt[gi]), key=lambda oo: sum(xv[n[gi, oo, p]] for p in range(P)))
        choice[layer] = o
        procs = [p for p in range(P) for _ in range(xv[n[gi, o, p]])]
        if len(procs) != len(idx):
            raise ConfigError(f"plan: MILP returned {len(procs)} placements for {len(idx)} blocks of {layer!r}")
        A[idx] = procs
    return A, choice, status, dt


# Infeasibility -----------------------------------------------------------------------------------------------
def _fmt_bytes(n: float) -> str:
    return f"{int(round(n)):,} bytes"


def _explain_infeasible(pr: _Problem, budget: float | None) -> ConfigError:
    """Why no plan exists: accuracy budget, a block too big for every processor, or total memory short."""
    if budget is not None:
        best = sum(float(pr.acc[l].min()) for l in pr.layers)
        if best > budget + 1e-9 * max(1.0, abs(budget)):
            worst = max(pr.layers, key=lambda l: float(pr.acc[l].min()))
            return ConfigError(f"accuracy budget {budget:g} points cannot be met: the most accurate option of every "
                               f"layer still costs {best:g} points in total (largest: {worst!r}, "
                               f"{float(pr.acc[worst].min()):g})")
    finite = [i for i in range(pr.P) if math.isfinite(pr.mem[i])]
    if len(finite) < pr.P:
        return ConfigError("plan: infeasible although a processor has unlimited memory (please report)")
    biggest = max(finite, key=lambda i: pr.mem[i])
    def own(i: int) -> float:            # a block alone on a processor: its rows + its layer's shared factors
        return float((pr.W[i] + pr.SW[pr.blocks[i].layer]).min())

    b = max(range(pr.n_blocks), key=own)                                  # the largest block
    blk, need = pr.blocks[b], own(b)
    if need > pr.mem[biggest]:
        return ConfigError(
            f"block {blk.id!r} needs at least {_fmt_bytes(need)} of weights but the largest memory, processor "
            f"{pr.procs[biggest].name!r}, holds {_fmt_bytes(pr.mem[biggest])}: shortfall "
            f"{_fmt_bytes(need - pr.mem[biggest])} (slice the layer more or add a compressed option)")
    # least total overflow over all assignments that meet the accuracy budget
    lp = _LP()
    groups = _groups(pr)
    n = _count_vars(lp, pr, groups, budget)
    v = _shared_vars(lp, pr, groups, n, lambda l, o, p: 0.0)
    over = {}
    for p in range(pr.P):
        over[p] = lp.var(0, math.inf, False, 1.0)
        lp.row([(n[gi, o, p], pr.W[g[2][0]][o]) for gi, g in enumerate(groups) for o in range(len(pr.W[g[2][0]]))]
               + [(c, pr.SW[l][o]) for (l, o, pp), c in v.items() if pp == p]
               + [(over[p], -1.0)], -math.inf, pr.mem[p])
    res = lp.solve(30.0)
    if res.x is None:
        return ConfigError(f"plan: no feasible plan ({res.message})")
    short = {pr.procs[p].name: float(np.ceil(res.x[over[p]] - 1e-6)) for p in range(pr.P)}
    short = {k: v for k, v in short.items() if v > 0}
    need = sum(float(min(sum(pr.W[i][o] for i in pr.layer_blocks[l]) + pr.SW[l][o]
                         for o in range(len(pr.layer_opts[l])))) for l in pr.layers)
    have = float(sum(pr.mem))
    caps = ", ".join(f"{p.name!r} holds {_fmt_bytes(p.memory_limit)}" for p in pr.procs)
    detail = "; ".join(f"processor {k!r} short by {_fmt_bytes(v)}" for k, v in short.items())
    under = f" under the accuracy budget {budget:g} points" if budget is not None else ""
    if len(pr.procs) == 1:
        p = pr.procs[0]
        return ConfigError(f"processor {p.name!r} holds {_fmt_bytes(p.memory_limit)} of weights but the model needs "
                           f"at least {_fmt_bytes(p.memory_limit + sum(short.values()))}{under}: shortfall "
                           f"{_fmt_bytes(sum(short.values()))}")
    return ConfigError(f"no plan fits in processor memory{under}: {caps} ({_fmt_bytes(have)} in all; the weights "
                       f"need at least {_fmt_bytes(need)}); the best packing still leaves {detail} "
                       f"(total shortfall {_fmt_bytes(sum(short.values()))})")


# Public planners ---------------------------------------------------------------------------------------------
def plan(blocks: Sequence[Block], processors: Sequence[Any], alpha: float = 1.0, beta: float = 1.0,
         accuracy_budget: float | None = None, time_limit_s: float = 10, *, host: Any | None = None) -> Plan:
    """The exact DeepX plan: minimise alpha * energy_j + beta * latency_s (MILP, HiGHS).

    Every block on exactly one processor, one option per layer, weights within each processor's memory, the
    chosen options' accuracy_cost summing to <= accuracy_budget (points; None = no limit). host: processor
    (or name) where the input starts and the outputs end; default the first CPU.
    Raises ConfigError naming the processor and the shortfall in bytes when nothing fits.
    """
    _check_weights(alpha, beta, accuracy_budget)
    t0 = _time.perf_counter()
    pr = _Problem(blocks, processors, host)
    if accuracy_budget is not None and sum(float(pr.acc[l].min()) for l in pr.layers) > accuracy_budget + 1e-9 * max(
            1.0, accuracy_budget):
        raise _explain_infeasible(pr, accuracy_budget)
    A, choice, status, _ = _solve_milp(pr, float(alpha), float(beta), accuracy_budget, time_limit_s)
    if status == "infeasible":
        raise _explain_infeasible(pr, accuracy_budget)
    p = pr.make_plan(A, choice, float(alpha), float(beta), accuracy_budget, status, _time.perf_counter() - t0,
                     "milp")
    log.info("plan: %s, objective %.6g (latency %.4g s, energy %.4g J) in %.3f s", status, p.objective,
             p.latency_s, p.energy_j, p.solve_time_s)
    return p


def brute_force(blocks: Sequence[Block], processors: Sequence[Any], alpha: float = 1.0, beta: float = 1.0,
                accuracy_budget: float | None = None, *, host: Any | None = None) -> Plan:
    """The optimum by enumerating every assignment and option choice (the reference for `plan`).

    Only for small problems: P^B x (option combinations) <= BRUTE_FORCE_MAX, else ConfigError.
    """
    _check_weights(alpha, beta, accuracy_budget)
    t0 = _time.perf_counter()
    pr = _Problem(blocks, processors, host)
    combos = list(itertools.product(*[range(len(pr.layer_opts[l])) for l in pr.layers]))
    n_assign = pr.P ** pr.n_blocks
    if n_assign * len(combos) > BRUTE_FORCE_MAX:
        raise ConfigError(f"brute_force: {pr.P}^{pr.n_blocks} assignments x {len(combos)} option choices is too "
                          f"many (limit {BRUTE_FORCE_MAX:,}); use plan()")
    A = np.array(list(itertools.product(range(pr.P), repeat=pr.n_blocks)), dtype=int).reshape(n_assign, pr.n_blocks)
    best: tuple[float, np.ndarray, dict[str, int]] | None = None
    for combo in combos:
        choice = dict(zip(pr.layers, combo))
        if accuracy_budget is not None and pr.accuracy(choice) > accuracy_budget + 1e-9 * max(1.0, accuracy_budget):
            continue
        ev = pr.evaluate(A, choice)
        obj = alpha * ev["energy"] + beta * ev["latency"]
        ok = (ev["mem"] <= pr.mem[None, :]).all(axis=1)
        if not ok.any():
            continue
        obj = np.where(ok, obj, np.inf)
        i = int(np.argmin(obj))
        if best is None or obj[i] < best[0]:
            best = (float(obj[i]), A[i].copy(), choice)
    if best is None:
        raise _explain_infeasible(pr, accuracy_budget)
    return pr.make_plan(best[1], best[2], float(alpha), float(beta), accuracy_budget, "brute_force",
                        _time.perf_counter() - t0, "brute_force")


def single_processor_plan(blocks: Sequence[Block], processor: Any, alpha: float = 1.0, beta: float = 1.0,
                          accuracy_budget: float | None = None, *, host: Any | None = None) -> Plan:
    """Everything on `processor` (the CPU-only / DSP-only / cloud-only baseline), options still chosen
    optimally under the accuracy budget. host: where input starts and outputs end (default: the processor
    itself; for a cloud, a free and instant device, i.e. only the link's latency, bandwidth and radio count).
    ConfigError naming the processor and the shortfall when the model does not fit its memory.
    """
    p = plan(blocks, [processor], alpha, beta, accuracy_budget, host=host)
    p.method = "single"
    return p


def baseline_plans(blocks: Sequence[Block], processors: Sequence[Any], alpha: float = 1.0, beta: float = 1.0,
                   accuracy_budget: float | None = None, *, host: Any | None = None) -> dict[str, Plan | str]:
    """{"<name>-only": Plan, or the ConfigError text when it cannot run there} for every processor; the input
    starts on the same host as the joint plan's (default: the first CPU)."""
    specs = [as_spec(p) for p in processors]
    if host is None:
        host = next((p for p in specs if p.kind == "cpu"), None)
    elif isinstance(host, str):
        host = next((p for p in specs if p.name == host), host)
    out: dict[str, Plan | str] = {}
    for p in specs:
        try:
            out[f"{p.name}-only"] = single_processor_plan(blocks, p, alpha, beta, accuracy_budget, host=host)
        except ConfigError as e:
            out[f"{p.name}-only"] = str(e)
    return out


# Printing ----------------------------------------------------------------------------------------------------
def format_plan(plan: Plan, baselines: Mapping[str, Plan | str] | None = None) -> str:
    """The plan as text: per layer its option and slices per processor, memory use, predicted latency (ms)
    and energy (mJ), and the same for each baseline with the plan's gain over it."""
    procs = [p.name for p in plan.processors]
    lines = [f"DeepX plan ({plan.method}, {plan.status}, solved in {plan.solve_time_s * 1e3:.1f} ms): "
             f"alpha={plan.alpha:g}, beta={plan.beta:g}, host {plan.host.name!r}, {len(plan.blocks)} blocks"]
    w = max([len("layer")] + [len(b.layer) for b in plan.blocks])
    ow = max([len("option")] + [len(o.name) for o in plan.options.values()])
    cw = max(8, *[len(p) for p in procs])
    lines.append(f"  {'layer':<{w}}  {'option':<{ow}}  " + "  ".join(f"{p:>{cw}}" for p in procs)
                 + "   (slices / units per processor)")
    for layer, opt in plan.options.items():
        blks = [b for b in plan.blocks if b.layer == layer]
        cells = []
        for p in procs:
            mine = [b for b in blks if plan.assignment[b.id] == p]
            cells.append(f"{len(mine)}/{sum(b.out_units for b in mine)}" if mine else "-")
        lines.append(f"  {layer:<{w}}  {opt.name:<{ow}}  " + "  ".join(f"{c:>{cw}}" for c in cells))
    mem = ", ".join(f"{p.name} {plan.memory_bytes[p.name]:,} B"
                    + ("" if p.memory_bytes is None else f" of {p.memory_limit:,.0f}") for p in plan.processors)
    lines.append(f"  weights held: {mem}")
    lines.append(f"  accuracy cost: {plan.accuracy_cost:g} points"
                 + ("" if plan.accuracy_budget is None else f" (budget {plan.accuracy_budget:g})"))
    rows = [("plan", plan)] + list((baselines or {}).items())
    lines.append(f"  {'':<14} {'latency ms':>11} {'energy mJ':>11} {'objective':>11}   vs plan (latency, energy)")
    for name, p in rows:
        if isinstance(p, Plan):
            gain = "" if p is plan else (f"{p.latency_s / plan.latency_s:.2f}x, {p.energy_j / plan.energy_j:.2f}x"
                                         if plan.latency_s > 0 and plan.energy_j > 0 else "")
            lines.append(f"  {name:<14} {p.latency_s * 1e3:>11.4f} {p.energy_j * 1e3:>11.4f} "
                         f"{p.objective:>11.5g}   {gain}")
        else:
            lines.append(f"  {name:<14} {'infeasible':>11}   {p}")
    return "\n".join(lines)
