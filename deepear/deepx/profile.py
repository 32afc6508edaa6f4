"""Per-layer cost of a model: parameters, MACs, weight and activation bytes, measured latency on this CPU.

A *layer* is a Linear-like leaf module (an `nn.Linear`, or any childless module with integer `in_features` and
`out_features` -- e.g. an int8 layer or one factor of an SVD pair) together with the parameter-free leaf
modules that consume its output directly (its activation, dropout). Layers are found by running the model
once with forward hooks, so any graph of Linear leaves works (trunk + heads, SVD factor pairs, int8 layers).
A list of `(name, module)` *unit blocks* is profiled block by block instead (each block on its own input).

Units: bytes, MACs per example, seconds. Definitions used throughout:

    params              weights + biases of the layer (what fp32 storage holds)
    macs                in_features * out_features multiply-accumulates per example
    weight_bytes_fp32   4 * params
    weight_bytes_int8   in*out (1 byte per weight) + 4*out (fp32 scale per output channel)
                        + 4*out (int32 bias, if the layer has a bias)
    stored_bytes        bytes the module actually holds now (parameters + buffers, any dtype)
    activation_bytes    4 * out_features: the layer's fp32 output per example
    latency_s           median over `repeats` timed calls of layer(+activation) on a (batch, in) input,
                        torch limited to 1 thread, after warm-up
    peak_bytes_fp32     weight_bytes_fp32 (all weights resident) + peak_activation_bytes
    peak_bytes_int8     weight_bytes_int8 + peak_activation_bytes (activations kept fp32: conservative)
    peak_activation_bytes  max over layers of batch * 4 * (in_features + out_features): the largest pair of
                        consecutive activations (a layer's input and its output) live at once, for an
                        executor that frees each activation once its consumer has run.
"""
from __future__ import annotations

import contextlib
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepear.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FP32_BYTES = 4
INT8_SCALE_BYTES = 4        # one fp32 scale per output channel
INT32_BIAS_BYTES = 4        # int32 bias per output channel
DEFAULT_REPEATS = 200
PROFILE_SEED = 0            # the random input used for timing (values do not change dense-matmul cost)


@dataclass(frozen=True)
class LayerProfile:
    """Cost of one Linear-like layer (+ the activation that follows it). See the module docstring for units."""

    name: str
    kind: str                   # module class name, e.g. "Linear"
    in_features: int
    out_features: int
    bias: bool
    params: int
    macs: int                   # per example
    weight_bytes_fp32: int
    weight_bytes_int8: int
    stored_bytes: int
    activation_bytes: int       # fp32 output per example
    activation: str             # following parameter-free modules, e.g. "Sigmoid+Dropout"; "" if none
    latency_s: float            # median, for one call on a (batch, in_features) input
    latency_min_s: float


@dataclass
class ModelProfile:
    """Per-layer profile of a model plus totals. `to_dict()` is JSON for tools, `format_table()` for people."""

    name: str
    input_dim: int
    batch: int
    repeats: int
    layers: list[LayerProfile]
    model_latency_s: float | None = None    # whole forward pass, median (None for a list of blocks)
    threads: int = 1
    cpu: str = field(default_factory=lambda: cpu_name())
    torch_version: str = torch.__version__

    # Totals ------------------------------------------------------------------------------------------
    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def macs(self) -> int:
        """MACs per example over every layer."""
        return sum(l.macs for l in self.layers)

    @property
    def weight_bytes_fp32(self) -> int:
        return sum(l.weight_bytes_fp32 for l in self.layers)

    @property
    def weight_bytes_int8(self) -> int:
        return sum(l.weight_bytes_int8 for l in self.layers)

    @property
    def stored_bytes(self) -> int:
        return sum(l.stored_bytes for l in self.layers)

    @property
    def activation_bytes(self) -> int:
        """Sum of every layer's fp32 output per example."""
        return sum(l.activation_bytes for l in self.layers)

    @property
    def layers_latency_s(self) -> float:
        """Sum of the per-layer median latencies (one batch)."""
        return float(sum(l.latency_s for l in self.layers))

    @property
    def peak_activation_bytes(self) -> int:
        """max over layers of batch * 4 * (in + out): a layer's input and output live at the same time."""
        if not self.layers:
            return 0
        return max(self.batch * FP32_BYTES * (l.in_features + l.out_features) for l in self.layers)

    @property
    def peak_bytes_fp32(self) -> int:
        return self.weight_bytes_fp32 + self.peak_activation_bytes

    @property
    def peak_bytes_int8(self) -> int:
        return self.weight_bytes_int8 + self.peak_activation_bytes

    def totals(self) -> dict[str, Any]:
        """Every total as a flat dict (bytes, MACs per example, seconds)."""
        return {"params": self.params, "macs": self.macs, "weight_bytes_fp32": self.weight_bytes_fp32,
                "weight_bytes_int8": self.weight_bytes_int8, "stored_bytes": self.stored_bytes,
                "activation_bytes": self.activation_bytes, "peak_activation_bytes": self.peak_activation_bytes,
                "peak_bytes_fp32": self.peak_bytes_fp32, "peak_bytes_int8": self.peak_bytes_int8,
                "layers_latency_s": self.layers_latency_s, "model_latency_s": self.model_latency_s}

    # Output ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict: meta, `layers` (one dict per layer), `totals`, `definitions`."""
        return {"name": self.name, "input_dim": self.input_dim, "batch": self.batch, "repeats": self.repeats,
                "threads": self.threads, "cpu": self.cpu, "torch": self.torch_version,
                "layers": [asdict(l) for l in self.layers], "totals": self.totals(),
                "definitions": dict(DEFINITIONS)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def format_table(self) -> str:
        """A fixed-width terminal table: one row per layer, then totals and peak memory."""
        head = ("layer", "in->out", "params", "MACs", "fp32 KB", "int8 KB", "act B", "act fn", "latency us")
        rows = [(l.name, f"{l.in_features}->{l.out_features}", f"{l.params:,}", f"{l.macs:,}",
                 f"{l.weight_bytes_fp32 / 1024:.1f}", f"{l.weight_bytes_int8 / 1024:.1f}",
                 f"{l.activation_bytes:,}", l.activation or "-", f"{l.latency_s * 1e6:.1f}") for l in self.layers]
        rows.append(("total", "", f"{self.params:,}", f"{self.macs:,}", f"{self.weight_bytes_fp32 / 1024:.1f}",
                     f"{self.weight_bytes_int8 / 1024:.1f}", f"{self.activation_bytes:,}", "",
                     f"{self.layers_latency_s * 1e6:.1f}"))
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        fmt = lambda r: "  ".join(str(c).ljust(w) if i in (0, 1, 7) else str(c).rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(r, widths)))
        rule = "  ".join("-" * w for w in widths)
        out = [f"profile of {self.name}: input {self.input_dim}, batch {self.batch}, "
               f"median of {self.repeats} runs, {self.threads} thread on {self.cpu}", fmt(head), rule]
        out += [fmt(r) for r in rows[:-1]] + [rule, fmt(rows[-1])]
        if self.model_latency_s is not None:
            out.append(f"whole forward pass: {self.model_latency_s * 1e6:.1f} us (median)")
        out.append(f"peak memory: fp32 {self.peak_bytes_fp32 / 1024:.1f} KB, int8 {self.peak_bytes_int8 / 1024:.1f} KB"
                   f" (weights + largest input+output activation pair, batch {self.batch}: "
                   f"{self.peak_activation_bytes:,} B)")
        return "\n".join(out)


DEFINITIONS: dict[str, str] = {
    "macs": "in_features * out_features per example",
    "weight_bytes_fp32": "4 * params",
    "weight_bytes_int8": "in*out + 4*out (fp32 per-channel scale) + 4*out (int32 bias, when present)",
    "activation_bytes": "4 * out_features (fp32 output) per example",
    "latency_s": "median of `repeats` timed calls of layer+activation on a (batch, in) input, 1 torch thread",
    "peak_activation_bytes": "max over layers of batch * 4 * (in_features + out_features)",
    "peak_bytes_fp32": "weight_bytes_fp32 + peak_activation_bytes",
    "peak_bytes_int8": "weight_bytes_int8 + peak_activation_bytes (fp32 activations, conservative)",
}


# Helpers ---------------------------------------------------------------------------------------------
def cpu_name() -> str:
    """This machine's CPU model string (from /proc/cpuinfo where available)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the body with torch limited to `n` intra-op threads; restore the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_linear_like(m: nn.Module) -> bool:
    """True for nn.Linear and for any childless module with integer in_features and out_features."""
    if isinstance(m, nn.Linear):
        return True
    if next(m.children(), None) is not None:
        return False
    return all(isinstance(getattr(m, a, None), int) and getattr(m, a) > 0 for a in ("in_features", "out_features"))


def _has_bias(m: nn.Module) -> bool:
    return getattr(m, "bias", None) is not None


def int8_weight_bytes(in_features: int, out_features: int, bias: bool) -> int:
    """Bytes of a symmetric per-output-channel int8 layer: in*out int8 weights + fp32 scales + int32 bias."""
    bias_bytes = INT32_BIAS_BYTES * out_features if bias else 0
    return in_features * out_features + INT8_SCALE_BYTES * out_features + bias_bytes


def _stored_bytes(m: nn.Module) -> int:
    tensors = list(m.parameters(recurse=True)) + list(m.buffers(recurse=True))
    return int(sum(t.numel() * t.element_size() for t in tensors))


def _time_call(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, min) seconds of `fn()` over `repeats` calls after max(3, repeats // 10) warm-up calls."""
    for _ in range(max(3, repeats // 10)):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) * 1e-9, min(times) * 1e-9


def _layer_profile(name: str, linears: Sequence[nn.Module], followers: Sequence[nn.Module], block: nn.Module,
                   latency: tuple[float, float]) -> LayerProfile:
    """Sum the static costs of `linears` (one layer, or the linear leaves of one block)."""
    params = macs = int8 = 0
    for lin in linears:
        i, o, b = int(lin.in_features), int(lin.out_features), _has_bias(lin)
        params += i * o + (o if b else 0)
        macs += i * o
        int8 += int8_weight_bytes(i, o, b)
    first, last = linears[0], linears[-1]
    kind = type(first).__name__ if len(linears) == 1 else type(block).__name__
    return LayerProfile(name=name, kind=kind, in_features=int(first.in_features), out_features=int(last.out_features),
                        bias=_has_bias(last), params=params, macs=macs, weight_bytes_fp32=FP32_BYTES * params,
                        weight_bytes_int8=int8, stored_bytes=_stored_bytes(block),
                        activation_bytes=FP32_BYTES * int(last.out_features),
                        activation="+".join(type(f).__name__ for f in followers),
                        latency_s=latency[0], latency_min_s=latency[1])


def _trace(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, torch.Tensor, list[nn.Module], Any]]:
    """Run `model(x)` once; return [(name, linear, its input, following activations, last output)] in call order."""
    calls: list[tuple[str, nn.Module, Any, Any]] = []
    handles = []
    for name, m in model.named_modules():
        if next(m.children(), None) is None or is_linear_like(m):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, _n=name: calls.append((_n, mod, inp[0] if inp else None, out))))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    layers: list[list[Any]] = []
    seen: dict[str, int] = {}
    for name, mod, inp, out in calls:
        if is_linear_like(mod):
            seen[name] = seen.get(name, 0) + 1
            label = name if seen[name] == 1 else f"{name}#{seen[name]}"
            layers.append([label, mod, inp, [], out])
        elif layers and inp is layers[-1][4] and next(mod.parameters(), None) is None:
            layers[-1][3].append(mod)
            layers[-1][4] = out
        else:
            log.debug("profile: %s (%s) is not attached to a Linear layer", name, type(mod).__name__)
    return [tuple(l) for l in layers]


# Public API --------------------------------------------------------------------------------------------
def profile_model(model: nn.Module | Sequence[tuple[str, nn.Module]], input_dim: int, repeats: int = DEFAULT_REPEATS,
                  batch: int = 1, name: str | None = None) -> ModelProfile:
    """Profile every Linear-like layer of `model` (or every block of a list of `(name, module)` unit blocks).

    Args:
        model: a module taking (batch, input_dim) float32 (e.g. MultiTaskDNN, possibly with SVD factor pairs
            or int8 layers swapped in), or a list of unit blocks, each timed on its own (batch, in) input.
        input_dim: the model's input width (checked against the first block's in_features for blocks).
        repeats: timed calls per layer (median reported); warm-up max(3, repeats // 10) calls first.
        batch: examples per call.
        name: label for the profile (default: the model's class name).
    Returns: ModelProfile (latencies in seconds per call of `batch` examples, MACs/bytes per example).
    """
    if not isinstance(input_dim, int) or input_dim <= 0:
        raise ConfigError(f"profile input_dim: must be a positive integer, got {input_dim!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"profile repeats: must be an integer >= 1, got {repeats!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"profile batch: must be an integer >= 1, got {batch!r}")
    gen = torch.Generator().manual_seed(PROFILE_SEED)
    with torch_threads(1), torch.inference_mode():
        if isinstance(model, nn.Module):
            return _profile_module(model, input_dim, repeats, batch, name or type(model).__name__, gen)
        return _profile_blocks(list(model), input_dim, repeats, batch, name or "blocks", gen)


def _profile_module(model: nn.Module, input_dim: int, repeats: int, batch: int, name: str,
                    gen: torch.Generator) -> ModelProfile:
    was_training = model.training
    model.eval()
    try:
        x = torch.randn(batch, input_dim, generator=gen)
        traced = _trace(model, x)
        if not traced:
            raise ConfigError(f"profile {name}: the model has no Linear-like layer (nn.Linear or a module with "
                              f"in_features/out_features)")
        layers = []
        for label, lin, inp, followers, _ in traced:
            xin = inp.detach().clone()

            def run(_lin=lin, _x=xin, _f=tuple(followers)):
                y = _lin(_x)
                for f in _f:
                    y = f(y)
                return y

            layers.append(_layer_profile(label, [lin], followers, lin, _time_call(run, repeats)))
        model_latency = _time_call(lambda: model(x), repeats)[0]
    finally:
        model.train(was_training)
    return ModelProfile(name=name, input_dim=input_dim, batch=batch, repeats=repeats, layers=layers,
                        model_latency_s=model_latency)


def _profile_blocks(blocks: list[tuple[str, nn.Module]], input_dim: int, repeats: int, batch: int, name: str,
                    gen: torch.Generator) -> ModelProfile:
    if not blocks:
        raise ConfigError(f"profile {name}: the list of unit blocks is empty")
    layers = []
    for i, item in enumerate(blocks):
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], nn.Module)):
            raise ConfigError(f"profile {name}: block {i} must be a (name, nn.Module) pair, got {item!r}")
        bname, block = item
        linears = [m for m in block.modules() if is_linear_like(m)]
        if not linears:
            raise ConfigError(f"profile {name}: block {bname!r} holds no Linear-like layer")
        if i == 0 and linears[0].in_features != input_dim:
            raise DataError(f"profile {name}: first block {bname!r} takes {linears[0].in_features} inputs, "
                            f"input_dim is {input_dim}")
        followers = [m for m in block.modules() if next(m.children(), None) is None and not is_linear_like(m)
                     and next(m.parameters(), None) is None]
        was_training = block.training
        block.eval()
        try:
            xin = torch.randn(batch, int(linears[0].in_features), generator=gen)
            layers.append(_layer_profile(str(bname), linears, followers, block,
                                         _time_call(lambda _b=block, _x=xin: _b(_x), repeats)))
        finally:
            block.train(was_training)
    return ModelProfile(name=name, input_dim=input_dim, batch=batch, repeats=repeats, layers=layers)


def resolve_model_path(path: str | Path) -> Path:
    """The model.pt meant by `path`: a model.pt file, a protocol-run folder holding model.pt, or a run folder
    runs/<recipe>/<seed>/ (its first protocol run, from recipe.yaml's protocol.runs, else the first
    sub-folder holding a model.pt)."""
    p = Path(path)
    if p.is_file():
        return p
    if not p.is_dir():
        raise ConfigError(f"profile: {p} is neither a model.pt file nor a run folder")
    if (p / "model.pt").is_file():
        return p / "model.pt"
    runs: list[str] = []
    recipe = p / "recipe.yaml"
    if recipe.is_file():
        import yaml

        try:
            doc = yaml.safe_load(recipe.read_text()) or {}
            runs = [str(r) for r in (doc.get("protocol") or {}).get("runs") or []]
        except yaml.YAMLError as e:
            raise ConfigError(f"profile: cannot read {recipe}: {e}") from None
    for run in runs:
        if (p / run / "model.pt").is_file():
            return p / run / "model.pt"
    found = sorted(d / "model.pt" for d in p.iterdir() if (d / "model.pt").is_file())
    if found:
        return found[0]
    raise ConfigError(f"profile: no model.pt in {p} (looked for the protocol runs {runs or 'of recipe.yaml'} "
                      f"and in every sub-folder)")


def profile_path(path: str | Path, repeats: int = DEFAULT_REPEATS, batch: int = 1) -> ModelProfile:
    """Profile the saved model that `path` names (see `resolve_model_path`)."""
    from deepear.experiment import load_model

    model_pt = resolve_model_path(path)
    model, _ = load_model(model_pt)
    return profile_model(model, model.input_dim, repeats=repeats, batch=batch, name=str(model_pt))


def main_profile(path: Path, as_json: bool, repeats: int = DEFAULT_REPEATS, batch: int = 1) -> str:
    """What `deepear profile RUN_OR_BUNDLE [--json]` prints: the terminal table, or the profile as JSON."""
    prof = profile_path(path, repeats=repeats, batch=batch)
    return prof.to_json() if as_json else prof.format_table()
