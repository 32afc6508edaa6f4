"""Restricted Boltzmann machines for DeepEar's unsupervised pre-training, trained with CD-k.

A Gaussian-Bernoulli RBM (unit-variance Gaussian visibles: inputs must be standardised per feature, as
`MultiTaskDNN.normalize` does) learns the first layer; Bernoulli-Bernoulli RBMs learn the layers above on the
hidden probabilities of the layer below (greedy, layer-wise; `pretrain_stack`). `init_trunk_from_rbms`
copies each RBM's W and hidden bias into the trunk's nn.Linear layers, which then compute exactly the RBM's
p(h=1 | v) when the trunk's activation is sigmoid.

Shapes: data (N, n_visible) float32; W (n_hidden, n_visible) -- the layout of nn.Linear.weight --;
h_bias (n_hidden,), v_bias (n_visible,). Energies:
    Gaussian-Bernoulli:  E(v, h) = ||v - b||^2 / 2 - c.h - h.W v       p(h=1|v) = sigmoid(W v + c),  E[v|h] = W^T h + b
    Bernoulli-Bernoulli: E(v, h) = -b.v - c.h - h.W v                  E[v|h] = sigmoid(W^T h + b)

Reconstruction error (what is logged and plotted) is the mean over examples and units of
(v - E[v | h = p(h|v)])^2, the deterministic mean-field reconstruction, measured on the whole training set
after every epoch: for standardised inputs 1.0 is "no better than the mean".
All randomness comes from an explicit torch.Generator (shuffling, hidden samples, initial weights).
"""
from __future__ import annotations

from deepear.atomic import atomic_write

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deepear.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DEFAULT_INIT_SEED = 0
DIVERGENCE_FACTOR = 10.0   # an epoch whose recon error exceeds this x the initial error counts as diverged


# RBMs -----------------------------------------------------------------------------------------------------
class RBM(nn.Module):
    """Base RBM with Bernoulli hidden units; subclasses define the visible units.

    Args:
        n_visible, n_hidden: layer sizes.
        generator: source of the initial weights W ~ N(0, init_std^2); None = seeded DEFAULT_INIT_SEED.
        init_std: std of the initial weights (Hinton's guide: 0.01).
    Biases start at 0; `init_visible_bias(data)` sets b from the data (call it before training).
    """

    visible_type = "abstract"

    def __init__(self, n_visible: int, n_hidden: int, generator: torch.Generator | None = None,
                 init_std: float = 0.01) -> None:
        super().__init__()
        if int(n_visible) <= 0 or int(n_hidden) <= 0:
            raise ConfigError(f"RBM: n_visible and n_hidden must be positive, got {n_visible}, {n_hidden}")
        if not init_std > 0:
            raise ConfigError(f"RBM init_std: must be > 0, got {init_std}")
        g = generator if generator is not None else torch.Generator().manual_seed(DEFAULT_INIT_SEED)
        self.n_visible, self.n_hidden = int(n_visible), int(n_hidden)
        self.register_buffer("W", torch.randn(self.n_hidden, self.n_visible, generator=g) * float(init_std))
        self.register_buffer("h_bias", torch.zeros(self.n_hidden))
        self.register_buffer("v_bias", torch.zeros(self.n_visible))
        self.recon_errors: list[float] = []   # appended to by train_rbm, one value per epoch

    def extra_repr(self) -> str:
        return f"{self.visible_type} {self.n_visible} -> bernoulli {self.n_hidden}"

    # Conditionals ---------------------------------------------------------------------------------------
    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        """p(h=1 | v): (B, n_visible) -> (B, n_hidden)."""
        return torch.sigmoid(F.linear(v, self.W, self.h_bias))

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h]: (B, n_hidden) -> (B, n_visible)."""
        raise NotImplementedError

    def sample_visible(self, mean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A sample of v given its conditional mean (B, n_visible)."""
        raise NotImplementedError

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)): (B, n_visible) -> (B,)."""
        raise NotImplementedError

    def check_data(self, data: torch.Tensor, where: str) -> None:
        """Raise DataError if `data` cannot be this RBM's visible input."""
        if data.ndim != 2 or data.shape[1] != self.n_visible or data.shape[0] == 0:
            raise DataError(f"{where}: expected (N >= 1, {self.n_visible}) data, got {tuple(data.shape)}")
        if not bool(torch.isfinite(data).all()):
            raise DataError(f"{where}: data contains NaN/Inf")

    def init_visible_bias(self, data: torch.Tensor) -> None:
        """Set the visible bias from data (N, n_visible) so that E[v | h=0] is the data mean."""
        raise NotImplementedError

    # Derived --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction E[v | h = p(h|v)]: (B, n_visible) -> (B, n_visible)."""
        return self.visible_mean(self.hidden_probs(v))

    @torch.no_grad()
    def transform(self, data: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Hidden probabilities of a whole data set: (N, n_visible) -> (N, n_hidden) float32."""
        return torch.cat([self.hidden_probs(data[i:i + batch_size]) for i in range(0, data.shape[0], batch_size)])


class GaussianBernoulliRBM(RBM):
    """Unit-variance Gaussian visibles (inputs standardised to mean 0, std 1 per feature), Bernoulli hiddens."""

    visible_type = "gaussian"

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.W + self.v_bias

    def sample_visible(self, mean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return mean + torch.randn(mean.shape, generator=generator, dtype=mean.dtype)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((v - self.v_bias) ** 2).sum(dim=1) - F.softplus(F.linear(v, self.W, self.h_bias)).sum(dim=1)

    def check_data(self, data: torch.Tensor, where: str) -> None:
        super().check_data(data, where)
        m, s = float(data.mean()), float(data.std())
        if abs(m) > 0.5 or not 0.5 < s < 2.0:
            log.warning("%s: Gaussian RBM input looks unstandardised (overall mean %.3g, std %.3g); "
                        "unit-variance visibles need per-feature standardised data", where, m, s)

    @torch.no_grad()
    def init_visible_bias(self, data: torch.Tensor) -> None:
        self.v_bias.copy_(data.mean(dim=0))


class BernoulliRBM(RBM):
    """Bernoulli visibles (inputs in [0, 1], e.g. the hidden probabilities of the layer below) and hiddens."""

    visible_type = "bernoulli"

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h @ self.W + self.v_bias)

    def sample_visible(self, mean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.bernoulli(mean, generator=generator)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return -(v @ self.v_bias) - F.softplus(F.linear(v, self.W, self.h_bias)).sum(dim=1)

    def check_data(self, data: torch.Tensor, where: str) -> None:
        super().check_data(data, where)
        lo, hi = float(data.min()), float(data.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{where}: Bernoulli RBM input must lie in [0, 1], got range [{lo:.3g}, {hi:.3g}]")

    @torch.no_grad()
    def init_visible_bias(self, data: torch.Tensor) -> None:
        p = data.mean(dim=0).clamp(1e-3, 1 - 1e-3)
        self.v_bias.copy_(torch.log(p / (1 - p)))   # Hinton's guide, section 8


# Training -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RBMConfig:
    """Hyper-parameters of greedy RBM pre-training (Hinton, "A practical guide to training RBMs", 2010).

    gaussian_lr is used for the Gaussian first layer, lr for the Bernoulli layers above: Gaussian visibles
    need a learning rate one to two orders of magnitude smaller, or CD blows up.
    Momentum is `initial_momentum` for the first `momentum_warmup_epochs` epochs, then `momentum`.
    Weight decay is L2 on W only, scaled by the learning rate (dW = lr * (grad - weight_decay * W)).
    max_update_norm caps the Frobenius norm of each step's W update (a guard for the Gaussian layer;
    None = no cap). sample_visible: draw v from p(v|h) in the negative phase (False: use its mean, less
    noisy and the usual choice).
    """

    epochs: int = 5
    batch_size: int = 128
    k: int = 1
    gaussian_lr: float = 0.005
    lr: float = 0.05
    momentum: float = 0.9
    initial_momentum: float = 0.5
    momentum_warmup_epochs: int = 2
    weight_decay: float = 2e-4
    init_std: float = 0.01
    max_update_norm: float | None = 1.0
    sample_visible: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.k < 1:
            raise ConfigError(f"RBMConfig: epochs, batch_size and k must be >= 1, got {self}")
        if not (self.lr > 0 and self.gaussian_lr > 0):
            raise ConfigError(f"RBMConfig: learning rates must be > 0, got lr={self.lr}, "
                              f"gaussian_lr={self.gaussian_lr}")
        if not (0 <= self.momentum < 1 and 0 <= self.initial_momentum < 1):
            raise ConfigError(f"RBMConfig: momentum must be in [0, 1), got {self.momentum}, {self.initial_momentum}")
        if self.weight_decay < 0 or self.init_std <= 0:
            raise ConfigError("RBMConfig: weight_decay must be >= 0 and init_std > 0")
        if self.max_update_norm is not None and self.max_update_norm <= 0:
            raise ConfigError(f"RBMConfig: max_update_norm must be > 0 or None, got {self.max_update_norm}")

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> "RBMConfig":
        """Build from a recipe mapping; unknown keys raise ConfigError."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"RBMConfig: unknown key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)  # type: ignore[arg-type]

    def train_kwargs(self, gaussian: bool) -> dict[str, object]:
        """Keyword arguments of `train_rbm` for a Gaussian (first) or Bernoulli layer."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "k": self.k,
                "lr": self.gaussian_lr if gaussian else self.lr, "momentum": self.momentum,
                "initial_momentum": self.initial_momentum, "momentum_warmup_epochs": self.momentum_warmup_epochs,
                "weight_decay": self.weight_decay, "max_update_norm": self.max_update_norm,
                "sample_visible": self.sample_visible}


@torch.no_grad()
def reconstruction_error(rbm: RBM, data: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean squared mean-field reconstruction error of data (N, n_visible), averaged over examples and units."""
    total = 0.0
    for i in range(0, data.shape[0], batch_size):
        v = data[i:i + batch_size]
        total += float(((v - rbm.reconstruct(v)) ** 2).sum(dtype=torch.float64))
    return total / (data.shape[0] * data.shape[1])


@dataclass
class _Velocity:
    W: torch.Tensor
    h: torch.Tensor
    v: torch.Tensor


@torch.no_grad()
def cd_step(rbm: RBM, v0: torch.Tensor, lr: float, generator: torch.Generator, k: int = 1,
            momentum: float = 0.0, weight_decay: float = 0.0, velocity: _Velocity | None = None,
            max_update_norm: float | None = None, sample_visible: bool = False) -> _Velocity:
    """One CD-k update of `rbm` in place on a mini-batch v0 (B, n_visible); returns the new velocity.

    Positive phase: p(h|v0). Negative phase: k Gibbs steps from a hidden sample, the last hidden layer kept as
    probabilities. Gradient (batch means): <v h>_data - <v h>_recon, with momentum and L2 weight decay on W.
    """
    if velocity is None:
        velocity = _Velocity(torch.zeros_like(rbm.W), torch.zeros_like(rbm.h_bias), torch.zeros_like(rbm.v_bias))
    b = v0.shape[0]
    ph0 = rbm.hidden_probs(v0)
    phk, vk = ph0, v0
    for _ in range(k):
        h = torch.bernoulli(phk, generator=generator)
        mean = rbm.visible_mean(h)
        vk = rbm.sample_visible(mean, generator) if sample_visible else mean
        phk = rbm.hidden_probs(vk)
    grad_W = (ph0.T @ v0 - phk.T @ vk) / b
    grad_h = (ph0 - phk).mean(dim=0)
    grad_v = (v0 - vk).mean(dim=0)
    dW = lr * (grad_W - weight_decay * rbm.W)
    n = float(torch.linalg.vector_norm(dW))
    if not math.isfinite(n):
        raise ConfigError(f"RBM {rbm.extra_repr()} diverged: non-finite weight update; lower the learning rate "
                          f"(lr={lr}) or set max_update_norm")
    if max_update_norm is not None and n > max_update_norm:
        dW *= max_update_norm / n
    velocity.W.mul_(momentum).add_(dW)
    velocity.h.mul_(momentum).add_(grad_h, alpha=lr)
    velocity.v.mul_(momentum).add_(grad_v, alpha=lr)
    rbm.W.add_(velocity.W)
    rbm.h_bias.add_(velocity.h)
    rbm.v_bias.add_(velocity.v)
    return velocity


def train_rbm(rbm: RBM, data: torch.Tensor, *, generator: torch.Generator, epochs: int = 5,
              batch_size: int = 128, lr: float = 0.005, k: int = 1, momentum: float = 0.9,
              weight_decay: float = 2e-4, initial_momentum: float = 0.5, momentum_warmup_epochs: int = 2,
              max_update_norm: float | None = 1.0, sample_visible: bool = False,
              on_epoch: Callable[[int, float], None] | None = None) -> list[float]:
    """Train an RBM in place with CD-k on data (N, n_visible) (labels are never involved).

    Each epoch visits every example once in an order drawn from `generator`; the last partial batch is used.
    The visible bias is NOT re-initialised here (see `RBM.init_visible_bias`; `pretrain_stack` calls it).
    Returns the reconstruction error (mean squared, mean-field; see module docstring) after each epoch, also
    appended to `rbm.recon_errors` and passed to `on_epoch(epoch, recon_error)` with epoch counted from 1.
    Raises ConfigError when training diverges (NaN, or error > DIVERGENCE_FACTOR x the initial error).
    """
    data = torch.as_tensor(data, dtype=torch.float32)
    rbm.check_data(data, f"train_rbm({rbm.visible_type} RBM) data")
    if epochs < 1 or batch_size < 1 or k < 1 or not lr > 0:
        raise ConfigError(f"train_rbm: need epochs, batch_size, k >= 1 and lr > 0, got "
                          f"{epochs}, {batch_size}, {k}, {lr}")
    n = data.shape[0]
    err0 = reconstruction_error(rbm, data)
    log.info("RBM %s: initial reconstruction error %.4f (N=%d)", rbm.extra_repr(), err0, n)
    velocity: _Velocity | None = None
    history: list[float] = []
    for epoch in range(1, epochs + 1):
        mom = initial_momentum if epoch <= momentum_warmup_epochs else momentum
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            velocity = cd_step(rbm, data[order[i:i + batch_size]], lr, generator, k=k, momentum=mom,
                               weight_decay=weight_decay, velocity=velocity, max_update_norm=max_update_norm,
                               sample_visible=sample_visible)
        err = reconstruction_error(rbm, data)
        if not math.isfinite(err) or err > DIVERGENCE_FACTOR * max(err0, 1e-12):
            raise ConfigError(f"RBM {rbm.extra_repr()} diverged at epoch {epoch}: reconstruction error {err:.4g} "
                              f"(initial {err0:.4g}); lower the learning rate (lr={lr}) or max_update_norm")
        history.append(err)
        rbm.recon_errors.append(err)
        log.info("RBM %s epoch %d/%d: reconstruction error %.4f", rbm.extra_repr(), epoch, epochs, err)
        if on_epoch is not None:
            on_epoch(epoch, err)
    return history


def pretrain_stack(data: torch.Tensor, hidden_sizes: Sequence[int], cfg: RBMConfig | None = None, *,
                   generator: torch.Generator,
                   on_epoch: Callable[[int, int, float], None] | None = None) -> list[RBM]:
    """Greedy layer-wise pre-training: a Gaussian-Bernoulli RBM on `data`, Bernoulli RBMs above.

    Args:
        data: (N, n_visible) standardised unlabelled windows (e.g. `model.normalize(raw)`).
        hidden_sizes: widths of the stacked layers, e.g. model.hidden = (512, 512, 512).
        cfg: hyper-parameters (RBMConfig()); layer i > 0 trains on layer i-1's hidden probabilities.
        generator: the only source of randomness (initial weights, shuffles, samples).
        on_epoch: callback(layer index from 0, epoch from 1, reconstruction error).
    Returns: the trained RBMs, input side first; each keeps its per-epoch errors in `.recon_errors`.
    """
    cfg = cfg or RBMConfig()
    x = torch.as_tensor(data, dtype=torch.float32)
    if x.ndim != 2:
        raise DataError(f"pretrain_stack data: expected (N, n_visible), got shape {tuple(x.shape)}")
    if not hidden_sizes:
        raise ConfigError("pretrain_stack: hidden_sizes is empty")
    rbms: list[RBM] = []
    for layer, n_hidden in enumerate(hidden_sizes):
        cls = GaussianBernoulliRBM if layer == 0 else BernoulliRBM
        rbm = cls(x.shape[1], int(n_hidden), generator=generator, init_std=cfg.init_std)
        rbm.check_data(x, f"pretrain_stack layer {layer} input")
        rbm.init_visible_bias(x)
        cb = None if on_epoch is None else (lambda e, r, _l=layer: on_epoch(_l, e, r))
        train_rbm(rbm, x, generator=generator, on_epoch=cb, **cfg.train_kwargs(gaussian=layer == 0))
        rbms.append(rbm)
        if layer + 1 < len(hidden_sizes):
            x = rbm.transform(x)
    return rbms


def init_trunk_from_rbms(model: nn.Module, rbms: Sequence[RBM]) -> int:
    """Copy each RBM's W (n_hidden, n_visible) and hidden bias into the model's trunk Linear layers, in order.

    `model` must provide `trunk_linears()` (MultiTaskDNN does). With a sigmoid trunk each initialised layer
    computes exactly the RBM's p(h=1|v). With relu or tanh the weights are copied all the same (a warning is
    logged): they are then only a data-dependent starting point, not the RBM's features. Fewer RBMs than
    trunk layers leaves the upper layers as they are; the heads are never touched.
    Returns the number of layers copied. Raises ConfigError on a shape mismatch or too many RBMs.
    """
    linears = list(model.trunk_linears())  # type: ignore[operator]
    if len(rbms) > len(linears):
        raise ConfigError(f"init_trunk_from_rbms: {len(rbms)} RBMs but the trunk has {len(linears)} layers")
    activation = getattr(model, "activation", "sigmoid")
    if activation != "sigmoid":
        log.warning("init_trunk_from_rbms: trunk activation is %r; RBM weights assume sigmoid units, copying "
                    "them anyway as a starting point", activation)
    for i, (rbm, lin) in enumerate(zip(rbms, linears)):
        if tuple(lin.weight.shape) != tuple(rbm.W.shape):
            raise ConfigError(f"init_trunk_from_rbms: layer {i + 1} weight is {tuple(lin.weight.shape)} "
                              f"(out, in) but RBM {i} is {rbm.n_hidden} x {rbm.n_visible}")
        if i == 0 and not isinstance(rbm, GaussianBernoulliRBM):
            log.warning("init_trunk_from_rbms: the first RBM is %s, not Gaussian-Bernoulli", rbm.visible_type)
        with torch.no_grad():
            lin.weight.copy_(rbm.W.to(lin.weight))
            lin.bias.copy_(rbm.h_bias.to(lin.bias))
    return len(rbms)


# Reporting ------------------------------------------------------------------------------------------------
def recon_history(rbms: Sequence[RBM]) -> dict[str, list[float]]:
    """{"rbm1 (gaussian 224-512)": [error per epoch], ...} for `plot_recon_errors` and run logs."""
    return {f"rbm{i + 1} ({r.visible_type} {r.n_visible}-{r.n_hidden})": list(r.recon_errors)
            for i, r in enumerate(rbms)}


def plot_recon_errors(history: Mapping[str, Sequence[float]], path: str | os.PathLike) -> Path:
    """Write a PNG of reconstruction error per epoch, one line per series (e.g. per RBM layer).

    Args: history {label: [error after epoch 1, 2, ...]}; path of the PNG (parent created; atomic write).
    The y axis is logarithmic when every value is positive. Uses matplotlib's Agg canvas directly (no
    pyplot, no global figure state, no display needed).
    Returns: the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not history or not any(len(v) for v in history.values()):
        raise DataError("plot_recon_errors: history is empty")
    out = Path(path)
    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, errs in history.items():
        ax.plot(range(1, len(errs) + 1), list(errs), marker="o", label=label)
    if all(e > 0 for errs in history.values() for e in errs):
        ax.set_yscale("log")          # layers differ by orders of magnitude (Gaussian vs Bernoulli units)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared reconstruction error")
    ax.set_title("RBM pre-training")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png"))
    return out
