"""DeepEar's multi-task DNN: input standardisation -> shared fully connected trunk -> one softmax head per task.

Shapes: the input is a batch of raw per-window summary vectors, (B, input_dim) float32 (e.g. 224 = 32 log-mel
bands x 7 statistics); `forward` returns {task: logits (B, n_classes)} in the order the tasks were given.

Layout (module names are stable; DeepX profiles and replaces layers by these names):

    input_mean, input_std      buffers (input_dim,): x_std = (x - input_mean) / input_std
    trunk.fc1, trunk.act1[, trunk.drop1], trunk.fc2, ...   nn.Linear / activation / dropout
    heads.<task>               nn.Linear(hidden[-1], n_classes), raw logits (softmax left to the loss / runtime)

Every weight is initialised from an explicit torch.Generator (Glorot-uniform for sigmoid/tanh trunks,
He-uniform for relu; heads Glorot; biases 0), so building a model never touches torch's global RNG.
Dropout draws from torch's global RNG while training (torch offers no per-module generator): training
scripts seed it.
"""
from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from deepear.errors import ConfigError, DataError

log = logging.getLogger(__name__)

ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}
DEFAULT_HIDDEN: tuple[int, ...] = (512, 512, 512)
DEFAULT_INIT_SEED = 0          # used only when no generator is passed, so a model is always reproducible
MIN_STD = 1e-6                 # input_std is floored at this (a constant feature must not divide by 0)
_TASK_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


def fit_input_norm(x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std of training windows, for `MultiTaskDNN(input_norm=...)`.

    Args: x (N, input_dim) raw summary vectors, N >= 2, finite.
    Returns: (mean, std), each (input_dim,) float32; std is the population std floored at MIN_STD.
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float64)
    if t.ndim != 2 or t.shape[0] < 2:
        raise DataError(f"fit_input_norm: need (N >= 2, input_dim) windows, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError("fit_input_norm: windows contain NaN/Inf")
    mean = t.mean(dim=0)
    std = t.std(dim=0, correction=0).clamp_min(MIN_STD)
    return mean.float(), std.float()


class MultiTaskDNN(nn.Module):
    """Shared trunk of fully connected layers feeding one linear (softmax) head per task.

    Args:
        input_dim: length of the raw input vector (e.g. 224).
        tasks: {task name: number of classes}, in output order; names are identifiers (ONNX output names).
        hidden: widths of the trunk's hidden layers, at least one (DeepEar: 3 x 512 per task net).
        activation: "sigmoid" (matches RBM pre-training), "relu" or "tanh".
        dropout: dropout probability after every hidden activation (0 = no dropout modules at all).
        input_norm: (mean, std), each (input_dim,), fitted on training windows (`fit_input_norm`);
            None = identity (mean 0, std 1) until `set_input_norm` is called.
        generator: source of the initial weights; None = torch.Generator seeded with DEFAULT_INIT_SEED.
    """

    def __init__(self, input_dim: int, tasks: Mapping[str, int], hidden: Sequence[int] = DEFAULT_HIDDEN,
                 activation: str = "sigmoid", dropout: float = 0.0,
                 input_norm: tuple[ArrayLike, ArrayLike] | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_args(input_dim, tasks, hidden, activation, dropout)
        self.input_dim = int(input_dim)
        self.tasks: dict[str, int] = {str(k): int(v) for k, v in tasks.items()}
        self.hidden: tuple[int, ...] = tuple(int(h) for h in hidden)
        self.activation = activation
        self.dropout = float(dropout)

        self.register_buffer("input_mean", torch.zeros(self.input_dim))
        self.register_buffer("input_std", torch.ones(self.input_dim))
        if input_norm is not None:
            self.set_input_norm(*input_norm)

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width = self.input_dim
        for i, h in enumerate(self.hidden, start=1):
            layers[f"fc{i}"] = nn.utils.skip_init(nn.Linear, width, h)
            layers[f"act{i}"] = ACTIVATIONS[activation]()
            if self.dropout > 0:
                layers[f"drop{i}"] = nn.Dropout(self.dropout)
            width = h
        self.trunk = nn.Sequential(layers)
        self.heads = nn.ModuleDict({t: nn.utils.skip_init(nn.Linear, width, n) for t, n in self.tasks.items()})
        self.reset_parameters(generator)

    # Construction helpers ------------------------------------------------------------------------------
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-initialise every Linear layer from `generator` (None: a generator seeded DEFAULT_INIT_SEED)."""
        g = generator if generator is not None else torch.Generator().manual_seed(DEFAULT_INIT_SEED)
        with torch.no_grad():
            for name, lin in self.linear_layers():
                if name.startswith("trunk.") and self.activation == "relu":
                    nn.init.kaiming_uniform_(lin.weight, nonlinearity="relu", generator=g)
                else:
                    nn.init.xavier_uniform_(lin.weight, generator=g)
                lin.bias.zero_()

    def set_input_norm(self, mean: ArrayLike, std: ArrayLike) -> None:
        """Store the input standardisation: mean and std, each (input_dim,) finite; std floored at MIN_STD."""
        m = torch.as_tensor(np.asarray(mean) if not isinstance(mean, torch.Tensor) else mean).float().reshape(-1)
        s = torch.as_tensor(np.asarray(std) if not isinstance(std, torch.Tensor) else std).float().reshape(-1)
        for name, v in (("mean", m), ("std", s)):
            if v.shape[0] != self.input_dim:
                raise ConfigError(f"input_norm {name}: expected {self.input_dim} values, got {v.shape[0]}")
            if not torch.isfinite(v).all():
                raise ConfigError(f"input_norm {name}: contains NaN/Inf")
        if (s <= 0).any():
            raise ConfigError(f"input_norm std: must be > 0, got min {float(s.min()):.3g}")
        with torch.no_grad():
            self.input_mean.copy_(m.to(self.input_mean.device))
            self.input_std.copy_(s.clamp_min(MIN_STD).to(self.input_std.device))

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable, without weights or input_norm): see `from_config`."""
        return {"input_dim": self.input_dim, "tasks": dict(self.tasks), "hidden": list(self.hidden),
                "activation": self.activation, "dropout": self.dropout}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "MultiTaskDNN":
        """Build an (untrained) model from `config()`; then `load_state_dict` restores weights and input_norm."""
        try:
            return cls(input_dim=cfg["input_dim"], tasks=cfg["tasks"], hidden=tuple(cfg["hidden"]),
                       activation=cfg.get("activation", "sigmoid"), dropout=cfg.get("dropout", 0.0))
        except KeyError as e:
            raise ConfigError(f"model config: missing key {e.args[0]!r}") from None

    # Introspection -------------------------------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        """Task names in output order (also the column order of a (B, n_tasks) label tensor)."""
        return list(self.tasks)

    def linear_layers(self) -> list[tuple[str, nn.Linear]]:
        """Every nn.Linear in execution order: trunk.fc1 .. trunk.fcN, then heads.<task> in task order.

        Names are `named_modules()` paths, so `model.set_submodule(name, new_module)` replaces a layer.
        """
        out = [(f"trunk.{n}", m) for n, m in self.trunk.named_children() if isinstance(m, nn.Linear)]
        out += [(f"heads.{t}", self.heads[t]) for t in self.tasks if isinstance(self.heads[t], nn.Linear)]
        return out

    def trunk_linears(self) -> list[nn.Linear]:
        """The trunk's Linear layers, input side first (what RBM pre-training initialises)."""
        return [m for _, m in self.trunk.named_children() if isinstance(m, nn.Linear)]

    def n_parameters(self) -> int:
        """Number of trainable parameters (weights and biases; the normalisation buffers excluded)."""
        return sum(p.numel() for p in self.parameters())

    # Forward -------------------------------------------------------------------------------------------
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw input (B, input_dim) -> standardised (B, input_dim): (x - input_mean) / input_std."""
        return (x - self.input_mean) / self.input_std

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Raw input (B, input_dim) -> shared trunk output (B, hidden[-1])."""
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()   # export: shapes are symbolic
        if not tracing and (x.ndim != 2 or x.shape[1] != self.input_dim):
            raise DataError(f"MultiTaskDNN input: expected (B, {self.input_dim}), got {tuple(x.shape)}")
        return self.trunk(self.normalize(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw input (B, input_dim) -> {task: logits (B, n_classes)}, tasks in `task_names` order."""
        z = self.embed(x)
        return {t: self.heads[t](z) for t in self.tasks}


def _check_args(input_dim: int, tasks: Mapping[str, int], hidden: Sequence[int], activation: str,
                dropout: float) -> None:
    if not isinstance(input_dim, (int, np.integer)) or input_dim <= 0:
        raise ConfigError(f"model input_dim: must be a positive integer, got {input_dim!r}")
    if not isinstance(tasks, Mapping) or not tasks:
        raise ConfigError(f"model tasks: need a non-empty mapping task -> n_classes, got {tasks!r}")
    for t, n in tasks.items():
        if not isinstance(t, str) or not _TASK_RE.match(t):
            raise ConfigError(f"model tasks: task name {t!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
            raise ConfigError(f"model tasks: task {t!r} needs an integer n_classes >= 2, got {n!r}")
    if len(hidden) == 0 or any(not isinstance(h, (int, np.integer)) or h <= 0 for h in hidden):
        raise ConfigError(f"model hidden: need one or more positive layer widths, got {tuple(hidden)!r}")
    if activation not in ACTIVATIONS:
        raise ConfigError(f"model activation: {activation!r} is not one of {sorted(ACTIVATIONS)}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"model dropout: must be in [0, 1), got {dropout!r}")
