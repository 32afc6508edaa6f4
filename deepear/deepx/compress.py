"""Runtime Layer Compression (DeepX RLC): replace Linear layers by the two factors of their truncated SVD.

A Linear layer y = W x + b with W (m, n) (m outputs, n inputs) becomes two thinner layers

    y = U_k sqrt(S_k)  ( sqrt(S_k) V_k^T x ) + b        down: n -> k (no bias), up: k -> m (bias)

which stores k (m + n) + m parameters instead of m n + m. That is fewer exactly when k < m n / (m + n); the
smallest rank that saves nothing is the *break-even rank* `ceil(m n / (m + n))`, and `svd_factor` keeps the
original layer at or above it, so the rule never increases the parameter count. The square root of the
singular values goes to both factors (balanced factors: same product, better conditioned for fine-tuning).

    ranks = rank_search(model, evaluate, max_drop=1.0)          # no retraining, validation accuracy only
    small = ranks.model                                        # == compress_model(model, ranks.ranks)
    rows = tradeoff(model, evaluate, budgets=(0.5, 1, 3, 5, 10), latency_fn=make_latency_fn(1))
    plot_tradeoff(rows, "compression.png")

Redundancy estimate (`redundancy`): from the singular values s_1 >= s_2 >= ... of W, the energy curve
E(k) = sum_{i<=k} s_i^2 / sum_i s_i^2 (the fraction of W's squared Frobenius norm a rank-k factorisation keeps;
its relative reconstruction error is sqrt(1 - E(k))). The *effective rank* is the smallest k with E(k) >= 0.99;
a layer is redundant by the fraction of its parameters that factoring at the effective rank would remove.

Rank search (`rank_search`), after AIMET's greedy ratio selection: (1) per-layer sensitivity: each layer alone
is factored at `candidates` ranks spread evenly below its break-even rank and the model evaluated on the
validation split; (2) greedy global search: repeatedly take the step (one layer to its next lower candidate
rank) with the most parameters saved per point of (monotone-enveloped, single-layer) accuracy lost, evaluate
the combined model for real and keep the step only if the mean accuracy over tasks stays within `max_drop`
points of the original (a rejected step freezes that layer); (3) refinement: every frozen layer is
bisected between its kept and its rejected rank. No weights are retrained; `fine_tune` is a separate step.
Accuracies are fractions in [0, 1]; drops and budgets are in percentage points (1.0 = 0.01 of accuracy).
"""
from __future__ import annotations

import copy
import logging
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepear.errors import ConfigError, DataError

log = logging.getLogger(__name__)

ENERGY_LEVEL = 0.99            # the energy kept by the effective rank of `redundancy`
_EPS_POINTS = 1e-3             # the cost floor of a greedy step, in points (so free steps rank by savings)

Evaluate = Callable[[nn.Module], Mapping[str, float]]


# --------------------------------------------------------------------------------------------------------
# The factored layer
class SVDLinear(nn.Module):
    """A Linear layer stored as two factors: `down` (in_features -> rank, no bias), `up` (rank -> out_features).

    Input (..., in_features) -> output (..., out_features), like the nn.Linear it replaces. Built empty
    (zero weights) for loading a state dict; `from_linear` fills it from a layer's truncated SVD.
    """

    def __init__(self, in_features: int, out_features: int, rank: int,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features), ("rank", rank)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"SVDLinear {name}: must be a positive integer, got {v!r}")
        self.in_features, self.out_features, self.rank = int(in_features), int(out_features), int(rank)
        kw: dict[str, Any] = {"device": device if device is not None else "cpu"}
        if dtype is not None:
            kw["dtype"] = dtype
        self.down = nn.utils.skip_init(nn.Linear, self.in_features, self.rank, bias=False, **kw)
        self.up = nn.utils.skip_init(nn.Linear, self.rank, self.out_features, bias=True, **kw)
        with torch.no_grad():                     # skip_init leaves memory uninitialised: never expose it
            self.down.weight.zero_()
            self.up.weight.zero_()
            self.up.bias.zero_()

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int) -> "SVDLinear":
        """The rank-`rank` truncated SVD of `linear` (1 <= rank <= min(m, n)), whether or not it saves anything."""
        m, n = _check_linear(linear, "SVDLinear.from_linear")
        if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) or not 1 <= rank <= min(m, n):
            raise ConfigError(f"SVDLinear.from_linear rank: need 1 <= rank <= min({m}, {n}), got {rank!r}")
        u, s, vt = _svd(linear.weight)
        return _from_factors(linear, u, s, vt, int(rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_features) -> (..., out_features)."""
        return self.up(self.down(x))

    def dense_weight(self) -> torch.Tensor:
        """The (out_features, in_features) product of the factors (what the layer computes, as one matrix)."""
        return self.up.weight @ self.down.weight

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


def _check_linear(linear: nn.Module, where: str) -> tuple[int, int]:
    if not isinstance(linear, nn.Linear):
        raise ConfigError(f"{where}: expected an nn.Linear, got {type(linear).__name__}")
    m, n = linear.weight.shape
    return int(m), int(n)


def _svd(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD of a weight (m, n) in float64: U (m, r), s (r,), Vt (r, n), r = min(m, n)."""
    w = weight.detach().to("cpu", torch.float64)
    if not torch.isfinite(w).all():
        raise DataError("svd: layer weight contains NaN/Inf")
    return torch.linalg.svd(w, full_matrices=False)


def _from_factors(linear: nn.Linear, u: torch.Tensor, s: torch.Tensor, vt: torch.Tensor, k: int) -> SVDLinear:
    m, n = linear.weight.shape
    w = linear.weight
    out = SVDLinear(n, m, k, dtype=w.dtype, device=w.device)
    root = s[:k].sqrt()
    with torch.no_grad():
        out.down.weight.copy_((root[:, None] * vt[:k]).to(w.dtype))
        out.up.weight.copy_((u[:, :k] * root[None, :]).to(w.dtype))
        if linear.bias is not None:
            out.up.bias.copy_(linear.bias.detach())
        else:
            out.up.bias.zero_()
    out.train(linear.training)
    return out


# --------------------------------------------------------------------------------------------------------
# The rank rule, one layer
def break_even_rank(m: int, n: int) -> int:
    """Smallest rank k at which factoring an (m, n) weight saves no parameters: ceil(m n / (m + n)).

    Factors store k (m + n) (+ the same m biases); a rank k < break_even_rank(m, n) stores strictly fewer.
    """
    for name, v in (("m", m), ("n", n)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"break_even_rank {name}: must be a positive integer, got {v!r}")
    return -(-int(m) * int(n) // (int(m) + int(n)))


def factored_parameters(m: int, n: int, rank: int, bias: bool = True) -> int:
    """Parameters of layer (m, n) after `svd_factor` at `rank` (the dense count when rank >= break-even)."""
    b = int(m) if bias else 0
    if rank >= break_even_rank(m, n):
        return int(m) * int(n) + b
    return int(rank) * (int(m) + int(n)) + b


def svd_factor(linear: nn.Linear, rank: int) -> nn.Module:
    """`linear` (weight (m, n)) as an SVDLinear of rank `rank`, or `linear` itself (unchanged, the same
    object) when rank >= break_even_rank(m, n), where factoring would not save parameters. rank >= 1."""
    m, n = _check_linear(linear, "svd_factor")
    if not isinstance(rank, (int, np.integer)) or isinstance(rank, bool) or rank < 1:
        raise ConfigError(f"svd_factor rank: must be a positive integer, got {rank!r}")
    if rank >= break_even_rank(m, n):
        return linear
    return SVDLinear.from_linear(linear, int(rank))


def redundancy(linear: nn.Linear, energy: float = ENERGY_LEVEL) -> dict[str, Any]:
    """Redundancy estimate of a Linear layer from its singular-value spectrum.

    Returns a dict: shape (m, n); singular_values (min(m, n) floats, descending); sigma_max, sigma_min;
    energy_curve (E(k), k = 1..min(m, n): fraction of squared Frobenius norm a rank-k factorisation keeps);
    effective_rank (smallest k with E(k) >= `energy`, default 0.99); rank_at ({0.9, 0.95, 0.99, 0.999}: rank);
    entropy_rank (exp of the entropy of s / sum(s), Roy & Vetterli's effective rank); break_even_rank;
    params (dense), params_at_effective_rank (after factoring there) and redundancy (fraction of the dense
    parameters that factoring at the effective rank removes; 0 when it saves nothing).
    """
    m, n = _check_linear(linear, "redundancy")
    if not 0.0 < energy <= 1.0:
        raise ConfigError(f"redundancy energy: must be in (0, 1], got {energy!r}")
    s = torch.linalg.svdvals(linear.weight.detach().to("cpu", torch.float64)).numpy()
    sq = s ** 2
    total = float(sq.sum())
    curve = np.cumsum(sq) / total if total > 0 else np.ones_like(sq)

    def rank_at(level: float) -> int:
        return int(min(len(s), np.searchsorted(curve, level - 1e-12) + 1))

    p = s / s.sum() if s.sum() > 0 else np.full_like(s, 1.0 / len(s))
    p = p[p > 0]
    k_eff = rank_at(energy)
    dense = m * n + (m if linear.bias is not None else 0)
    after = factored_parameters(m, n, k_eff, bias=linear.bias is not None)
    return {"shape": (m, n), "singular_values": s.tolist(), "sigma_max": float(s[0]), "sigma_min": float(s[-1]),
            "energy_curve": curve.tolist(), "energy_level": float(energy), "effective_rank": k_eff,
            "rank_at": {lvl: rank_at(lvl) for lvl in (0.9, 0.95, 0.99, 0.999)},
            "entropy_rank": float(np.exp(-(p * np.log(p)).sum())), "break_even_rank": break_even_rank(m, n),
            "params": dense, "params_at_effective_rank": after, "redundancy": 1.0 - after / dense}


# --------------------------------------------------------------------------------------------------------
# Whole models
def count_parameters(model: nn.Module) -> int:
    """Number of stored parameters (weights and biases; buffers such as input normalisation excluded)."""
    return int(sum(p.numel() for p in model.parameters()))


def model_bytes(model: nn.Module, bytes_per_value: int = 4) -> int:
    """Stored size in bytes at `bytes_per_value` per value (4 = fp32): parameters and buffers."""
    return int(sum(t.numel() for t in model.parameters()) + sum(b.numel() for b in model.buffers())) * bytes_per_value


def linear_layer_names(model: nn.Module) -> list[str]:
    """Names of the model's nn.Linear layers: `model.linear_layers()` when it has it, else named_modules order."""
    if hasattr(model, "linear_layers"):
        return [name for name, _ in model.linear_layers()]
    return [name for name, mod in model.named_modules() if isinstance(mod, nn.Linear)]


def trunk_layer_names(model: nn.Module) -> list[str]:
    """The default layers to compress: the shared trunk (names "trunk.*"); all Linear layers of a model without one."""
    names = linear_layer_names(model)
    trunk = [n for n in names if n.startswith("trunk.")]
    return trunk or names


def compress_model(model: nn.Module, ranks: Mapping[str, int]) -> nn.Module:
    """A deep copy of `model` with each named Linear layer replaced by `svd_factor(layer, rank)`.

    ranks: {layer name from model.linear_layers() (e.g. "trunk.fc2", "heads.scene"): rank >= 1}; a rank at or
    above the layer's break-even rank keeps it dense. `model` itself is never modified.
    """
    names = set(linear_layer_names(model))
    unknown = sorted(set(ranks) - names)
    if unknown:
        raise ConfigError(f"compress_model ranks: {unknown} are not Linear layers of the model (have {sorted(names)})")
    out = copy.deepcopy(model)
    for name, rank in ranks.items():
        out.set_submodule(name, svd_factor(out.get_submodule(name), rank))
    return out


def svd_ranks(model: nn.Module) -> dict[str, int]:
    """{module name: rank} of every SVDLinear in `model` (what a manifest records)."""
    return {name: mod.rank for name, mod in model.named_modules() if isinstance(mod, SVDLinear)}


def build_compressed(model: nn.Module, ranks: Mapping[str, int]) -> nn.Module:
    """A copy of `model` whose named layers are empty SVDLinear skeletons of the given ranks (every rank below
    break-even is factored), ready for `load_state_dict` of a model compressed with the same ranks: rebuild
    from `MultiTaskDNN.from_config(cfg)` + `svd_ranks(compressed)`."""
    out = copy.deepcopy(model)
    for name, rank in ranks.items():
        lin = out.get_submodule(name)
        m, n = _check_linear(lin, f"build_compressed {name}")
        if rank < break_even_rank(m, n):
            w = lin.weight
            out.set_submodule(name, SVDLinear(n, m, int(rank), dtype=w.dtype, device=w.device))
    return out


# --------------------------------------------------------------------------------------------------------
# Rank search (no retraining)
@dataclass
class SearchResult:
    """What `rank_search` found. Accuracies are fractions; drop and budget in points."""

    ranks: dict[str, int]                          # layer -> rank (only the factored layers)
    params_before: int
    params_after: int
    accuracy_before: dict[str, float]              # task -> validation accuracy
    accuracy_after: dict[str, float]
    mean_before: float
    mean_after: float
    max_drop: float
    sensitivity: dict[str, list[dict[str, Any]]]   # layer -> [{rank, params, accuracy {task: acc}, mean, drop}]
    evaluations: int                               # calls of `evaluate`, the baseline included
    steps: list[dict[str, Any]] = field(default_factory=list)   # the global search, in order
    seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False)   # the compressed model (a new module)

    @property
    def drop(self) -> float:
        """Mean accuracy drop, in points."""
        return 100.0 * (self.mean_before - self.mean_after)

    @property
    def reduction(self) -> float:
        """params_before / params_after."""
        return self.params_before / max(1, self.params_after)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (without the model)."""
        return {"ranks": dict(self.ranks), "params_before": self.params_before, "params_after": self.params_after,
                "reduction": self.reduction, "accuracy_before": dict(self.accuracy_before),
                "accuracy_after": dict(self.accuracy_after), "mean_before": self.mean_before,
                "mean_after": self.mean_after, "drop_points": self.drop, "max_drop": self.max_drop,
                "sensitivity": self.sensitivity, "evaluations": self.evaluations, "steps": self.steps,
                "seconds": self.seconds}


def candidate_ranks(m: int, n: int, candidates: int = 10) -> list[int]:
    """Up to `candidates` ranks spread evenly over (0, break-even): round(k_be i / (candidates + 1)), i = 1..;
    ascending, distinct, each >= 1 and < break_even_rank(m, n) (empty when no rank saves parameters)."""
    if not isinstance(candidates, (int, np.integer)) or candidates < 1:
        raise ConfigError(f"candidates: must be a positive integer, got {candidates!r}")
    kb = break_even_rank(m, n)
    ks = {max(1, int(round(kb * i / (candidates + 1)))) for i in range(1, candidates + 1)}
    return sorted(k for k in ks if k < kb)


class _Counter:
    """`evaluate` with call counting and validation of its answer (fractions, same tasks every time)."""

    def __init__(self, evaluate: Evaluate) -> None:
        self.evaluate = evaluate
        self.calls = 0
        self.tasks: list[str] | None = None

    def __call__(self, model: nn.Module) -> tuple[dict[str, float], float]:
        self.calls += 1
        with torch.no_grad():
            acc = {str(t): float(a) for t, a in dict(self.evaluate(model)).items()}
        if not acc:
            raise DataError("rank_search evaluate: returned no task accuracies")
        bad = {t: a for t, a in acc.items() if not (0.0 <= a <= 1.0)}
        if bad:
            raise DataError(f"rank_search evaluate: accuracies must be fractions in [0, 1], got {bad}")
        if self.tasks is None:
            self.tasks = sorted(acc)
        elif sorted(acc) != self.tasks:
            raise DataError(f"rank_search evaluate: tasks changed from {self.tasks} to {sorted(acc)}")
        return acc, float(np.mean(list(acc.values())))


@dataclass
class _Layer:
    name: str
    linear: nn.Linear
    u: torch.Tensor
    s: torch.Tensor
    vt: torch.Tensor
    ranks: list[int]                 # candidate ranks, ascending

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.linear.weight.shape[0]), int(self.linear.weight.shape[1])

    def params(self, rank: int | None) -> int:
        m, n = self.shape
        dense = m * n + (m if self.linear.bias is not None else 0)
        return dense if rank is None else factored_parameters(m, n, rank, self.linear.bias is not None)

    def factor(self, rank: int | None) -> nn.Module:
        return self.linear if rank is None else _from_factors(self.linear, self.u, self.s, self.vt, rank)


class _Search:
    """Shared state of a search: the original model, its layers' SVDs, the sensitivity table."""

    def __init__(self, model: nn.Module, evaluate: Evaluate, candidates: int, layers: Sequence[str] | None) -> None:
        names = linear_layer_names(model)
        chosen = list(layers) if layers is not None else trunk_layer_names(model)
        unknown = [n for n in chosen if n not in names]
        if unknown:
            raise ConfigError(f"rank_search layers: {unknown} are not Linear layers of the model (have {names})")
        self.model = model
        self.eval = _Counter(evaluate)
        self.layers: dict[str, _Layer] = {}
        for name in chosen:
            lin = model.get_submodule(name)
            ranks = candidate_ranks(*lin.weight.shape, candidates)
            if not ranks:
                log.info("rank_search: %s %s cannot be factored with fewer parameters, skipped", name,
                         tuple(lin.weight.shape))
                continue
            u, s, vt = _svd(lin.weight)
            self.layers[name] = _Layer(name, lin, u, s, vt, ranks)
        self.acc0, self.mean0 = self.eval(copy.deepcopy(model).eval())
        self.params0 = count_parameters(model)
        self.sensitivity = self._sensitivity()

    def build(self, ranks: Mapping[str, int | None]) -> nn.Module:
        """A copy of the original with `ranks` applied (None = dense); shares no tensors with the original."""
        out = copy.deepcopy(self.model)
        for name, r in ranks.items():
            if r is not None:
                out.set_submodule(name, self.layers[name].factor(r))
        return out.eval()

    def _sensitivity(self) -> dict[str, list[dict[str, Any]]]:
        table: dict[str, list[dict[str, Any]]] = {}
        for name, layer in self.layers.items():
            rows = []
            for r in layer.ranks:
                acc, mean = self.eval(self.build({name: r}))
                rows.append({"rank": r, "params": layer.params(r), "accuracy": acc, "mean": mean,
                             "drop": 100.0 * (self.mean0 - mean)})
            table[name] = rows
            log.info("sensitivity %s: %s", name, ", ".join(f"k={x['rank']}: {x['drop']:+.2f}" for x in rows))
        return table

    def _drop_envelope(self, name: str) -> dict[int | None, float]:
        """Single-layer drop per rank, made monotone (a lower rank never costs less than a higher one)."""
        env: dict[int | None, float] = {None: 0.0}
        worst = 0.0
        for row in reversed(self.sensitivity[name]):        # highest rank first
            worst = max(worst, row["drop"])
            env[row["rank"]] = worst
        return env

    def greedy(self, max_drop: float, refine: bool = False
               ) -> tuple[dict[str, int | None], dict[str, float], float, list[dict[str, Any]]]:
        """Greedy over the candidate grid, then (refine) bisection per layer; returns (ranks, acc, mean, steps)."""
        cur: dict[str, int | None] = {n: None for n in self.layers}
        frozen: dict[str, int] = {}                        # layer -> the rank that broke the budget
        env = {n: self._drop_envelope(n) for n in self.layers}
        acc, mean = dict(self.acc0), self.mean0
        steps: list[dict[str, Any]] = []

        def within(m: float) -> bool:
            return 100.0 * (self.mean0 - m) <= max_drop + 1e-9

        while True:
            options = []
            for n, layer in self.layers.items():
                if n in frozen:
                    continue
                lower = [r for r in layer.ranks if cur[n] is None or r < cur[n]]
                if not lower:
                    continue
                nxt = lower[-1]
                saved = layer.params(cur[n]) - layer.params(nxt)
                cost = max(env[n][nxt] - env[n][cur[n]], 0.0) + _EPS_POINTS
                options.append((saved / cost, saved, n, nxt))
            if not options:
                break
            _, saved, n, nxt = max(options)
            trial = {**cur, n: nxt}
            t_acc, t_mean = self.eval(self.build(trial))
            ok = within(t_mean)
            steps.append({"phase": "greedy", "layer": n, "rank": nxt, "saved": saved, "mean": t_mean,
                          "drop": 100.0 * (self.mean0 - t_mean), "accepted": ok})
            if ok:
                cur, acc, mean = trial, t_acc, t_mean
            else:
                frozen[n] = nxt
        # refinement: bisect every layer between the highest rank known to break the budget (0 when none was
        # rejected: the grid's lowest candidate was kept, so ranks below it are tried down to 1) and the kept one
        for n in sorted(self.layers, key=lambda k: -(self.layers[k].shape[0] + self.layers[k].shape[1])):
            if not refine:
                break
            layer = self.layers[n]
            lo = frozen.get(n, 0)                           # breaks the budget (0: a virtual rank that does)
            hi = cur[n] if cur[n] is not None else break_even_rank(*layer.shape)   # keeps it
            if n not in frozen and cur[n] != layer.ranks[0]:
                continue                                    # left the grid early only when frozen
            while hi - lo > 1:
                mid = (lo + hi) // 2
                trial = {**cur, n: mid}
                t_acc, t_mean = self.eval(self.build(trial))
                ok = within(t_mean)
                steps.append({"phase": "refine", "layer": n, "rank": mid,
                              "saved": layer.params(cur[n]) - layer.params(mid), "mean": t_mean,
                              "drop": 100.0 * (self.mean0 - t_mean), "accepted": ok})
                if ok:
                    cur, acc, mean, hi = trial, t_acc, t_mean, mid
                else:
                    lo = mid
        return cur, acc, mean, steps


def _check_budget(max_drop: float) -> float:
    if not isinstance(max_drop, (int, float, np.floating)) or not math.isfinite(max_drop) or max_drop < 0:
        raise ConfigError(f"max_drop: must be a finite number of points >= 0, got {max_drop!r}")
    return float(max_drop)


def _result(search: _Search, max_drop: float, t0: float, refine: bool) -> SearchResult:
    ranks, acc, mean, steps = search.greedy(max_drop, refine)
    model = search.build(ranks)
    chosen = {n: r for n, r in ranks.items() if r is not None}
    return SearchResult(ranks=chosen, params_before=search.params0, params_after=count_parameters(model),
                        accuracy_before=dict(search.acc0), accuracy_after=acc, mean_before=search.mean0,
                        mean_after=mean, max_drop=max_drop, sensitivity=search.sensitivity,
                        evaluations=search.eval.calls, steps=steps, seconds=time.perf_counter() - t0, model=model)


def rank_search(model: nn.Module, evaluate: Evaluate, max_drop: float, candidates: int = 10,
                layers: list[str] | None = None, refine: bool = False) -> SearchResult:
    """Per-layer SVD ranks that keep mean validation accuracy within `max_drop` points, without retraining.

    Args:
        model: the trained model (not modified).
        evaluate: model -> {task: accuracy in [0, 1]} on a validation split (never the test split); the mean
            over its tasks is what the budget bounds.
        max_drop: allowed drop of mean accuracy, in percentage points (1.0 = one point).
        candidates: candidate ranks per layer for the sensitivity table (spread evenly below break-even).
        layers: names from model.linear_layers() to consider (default: the trunk, "trunk.*").
        refine: after the greedy pass over the candidate grid, bisect each layer's rank between the rank that
            broke the budget and the kept one (down to rank 1 when the grid's lowest rank was kept). False
            stops at the grid: coarser, but less fitted to the noise of a small validation split.
    Returns: SearchResult; result.model is the compressed model, result.mean_after its validated accuracy.
    """
    max_drop = _check_budget(max_drop)
    t0 = time.perf_counter()
    return _result(_Search(model, evaluate, candidates, layers), max_drop, t0, refine)


def tradeoff(model: nn.Module, evaluate: Evaluate, budgets: Sequence[float] = (0.5, 1, 3, 5, 10),
             latency_fn: Callable[[nn.Module], float] | None = None, candidates: int = 10,
             layers: list[str] | None = None, refine: bool = False) -> list[dict[str, Any]]:
    """The compression curve: one row for the original model (budget None) and one per budget (points).

    The sensitivity table is computed once and shared by every budget (candidates, layers and refine as in
    `rank_search`). Each row: budget, ranks, mean_accuracy,
    accuracy {task: acc}, drop (points), parameters, size_bytes_fp32 (parameters + buffers, 4 bytes each),
    reduction (original parameters / parameters), latency_ms (latency_fn(model), when given), evaluations.
    """
    budgets = [_check_budget(b) for b in budgets]
    search = _Search(model, evaluate, candidates, layers)
    rows = [_row(None, {}, model, search.acc0, search.mean0, search.mean0, search.params0, latency_fn)]
    for b in budgets:
        calls = search.eval.calls
        ranks, acc, mean, _ = search.greedy(b, refine)
        small = search.build(ranks)
        row = _row(b, {n: r for n, r in ranks.items() if r is not None}, small, acc, mean, search.mean0,
                   search.params0, latency_fn)
        row["evaluations"] = search.eval.calls - calls
        rows.append(row)
        log.info("budget %.1f: %d params (%.2fx), drop %.2f points", b, row["parameters"], row["reduction"], row["drop"])
    return rows


def _row(budget: float | None, ranks: dict[str, int], model: nn.Module, acc: Mapping[str, float], mean: float,
         mean0: float, params0: int, latency_fn: Callable[[nn.Module], float] | None) -> dict[str, Any]:
    params = count_parameters(model)
    row: dict[str, Any] = {"budget": budget, "ranks": ranks, "mean_accuracy": mean, "accuracy": dict(acc),
                           "drop": 100.0 * (mean0 - mean), "parameters": params,
                           "size_bytes_fp32": model_bytes(model), "reduction": params0 / max(1, params)}
    if latency_fn is not None:
        model.eval()
        row["latency_ms"] = float(latency_fn(model))
    return row


def make_latency_fn(batch_size: int, threads: int = 1, repeats: int = 200, warmup: int = 20,
                    input_dim: int | None = None) -> Callable[[nn.Module], float]:
    """A latency_fn for `tradeoff`: median wall time in ms of one torch forward pass (no_grad, eval mode) on a
    (batch_size, input_dim) batch with `threads` intra-op threads (restored afterwards). input_dim defaults to
    the model's `input_dim` attribute. The input is fixed (zeros + ramp), no RNG."""
    if batch_size < 1 or threads < 1 or repeats < 1:
        raise ConfigError(f"make_latency_fn: batch_size, threads and repeats must be >= 1, got "
                          f"{batch_size}, {threads}, {repeats}")

    def measure(model: nn.Module) -> float:
        dim = input_dim if input_dim is not None else getattr(model, "input_dim", None)
        if dim is None:
            raise ConfigError("make_latency_fn: the model has no input_dim; pass input_dim")
        x = torch.linspace(-1.0, 1.0, batch_size * dim).reshape(batch_size, dim)
        prev = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            model.eval()
            times = []
            with torch.inference_mode():
                for i in range(warmup + repeats):
                    t = time.perf_counter()
                    model(x)
                    if i >= warmup:
                        times.append(time.perf_counter() - t)
        finally:
            torch.set_num_threads(prev)
        return 1000.0 * statistics.median(times)

    return measure


# --------------------------------------------------------------------------------------------------------
# Optional recovery (retraining; always reported apart from the no-retraining result)
def fine_tune(model: nn.Module, train: Any, val: Any, epochs: int, lr: float, seed: int,
              batch_size: int = 256, weight_decay: float = 1e-4, score_tasks: list[str] | None = None) -> nn.Module:
    """A fine-tuned copy of a (compressed) MultiTaskDNN: `deepear.model.train.fit` with AdamW for `epochs`
    epochs at learning rate `lr` on `train` (WindowSet), keeping the epoch best on `val` (mean accuracy over
    `score_tasks`, default every task with validation labels). Every random draw comes from `seed`."""
    from deepear.model.train import fit           # deepx.compress stays importable without the training stack
    from deepear.recipe import TrainSpec

    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ConfigError(f"fine_tune epochs: must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ConfigError(f"fine_tune lr: must be > 0, got {lr!r}")
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"fine_tune: need training and validation windows, got {len(train)} and {len(val)}")
    out = copy.deepcopy(model)
    spec = TrainSpec(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), weight_decay=float(weight_decay),
                     patience=int(epochs), class_balance=True)
    res = fit(out, train, val, spec, {t: 1.0 for t in out.task_names}, seed=int(seed), score_tasks=score_tasks)
    log.info("fine_tune: %d epochs, best epoch %d (val %.4f), %.1f s", len(res.history), res.best_epoch,
             res.best_score, res.seconds)
    out.eval()
    return out


# --------------------------------------------------------------------------------------------------------
# The chart
def plot_tradeoff(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = "Runtime layer compression") -> Path:
    """DeepX-style chart (PNG, written atomically): model size (fp32 KB) per accuracy-drop budget, each bar
    labelled with its size, parameter reduction and measured mean drop. rows: `tradeoff` output."""
    if not rows:
        raise DataError("plot_tradeoff: no rows")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from deepear.atomic import atomic_write

    path = Path(path)
    labels = ["original" if r["budget"] is None else f"<= {r['budget']:g} pt" for r in rows]
    sizes = [r["size_bytes_fp32"] / 1024.0 for r in rows]
    fig = Figure(figsize=(1.3 * len(rows) + 3, 4.2), dpi=120)      # Agg canvas, no pyplot state
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    bars = ax.bar(range(len(rows)), sizes, color=["#888888"] + ["#3a78b5"] * (len(rows) - 1))
    for b, r, kb in zip(bars, rows, sizes):
        note = f"{kb:.0f} KB\n{r.get('reduction', 1.0):.2f}x fewer\ndrop {r['drop']:+.2f} pt"
        if "latency_ms" in r:
            note += f"\n{r['latency_ms']:.3f} ms"
        ax.annotate(note, (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)), labels)
    ax.set_xlabel("allowed mean accuracy drop (validation, no retraining)")
    ax.set_ylabel("model size, fp32 (KB)")
    ax.set_ylim(0, max(sizes) * 1.35)
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    return path
