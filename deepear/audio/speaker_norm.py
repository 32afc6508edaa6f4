"""Per-speaker standardisation of window vectors (docs/adaptation.md): one formula, two ways to get the statistics.

    x' = ref_mean + ref_std * (x - mean_s) / max(std_s, std_floor * ref_std)          per dimension

`ref_mean`, `ref_std`: the training population's mean / std of the raw vectors of the adapted window group;
`mean_s`, `std_s`: the speaker's. Training and the benchmark take a speaker's statistics over all of that
speaker's windows of a set (`deepear.data.adaptation`). A device cannot see the future: `RunningSpeakerStats`
accumulates them window by window (Welford, float32 — the C library does the same operations in the same
order) and combines them with a prior of `prior_windows` pseudo-windows at (ref_mean, ref_std), so a new
speaker starts at the identity (x' = x) and moves to their own statistics as windows arrive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from deepear.errors import ConfigError


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray, ref_mean: np.ndarray, ref_std: np.ndarray,
                std_floor: float) -> np.ndarray:
    """The formula above. x (N, D) or (D,); mean, std, ref_mean, ref_std (D,). Returns float32, x's shape."""
    sd = np.maximum(std, np.float32(std_floor) * ref_std)
    return (ref_mean + ref_std * ((x - mean) / sd)).astype(np.float32)


def prior_moments(n: int, mean: np.ndarray, m2: np.ndarray, ref_mean: np.ndarray, ref_std: np.ndarray,
                  prior_windows: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of n windows (their mean and sum of squared deviations m2) pooled with `prior_windows`
    pseudo-windows at (ref_mean, ref_std) — the rule of `RunningSpeakerStats.moments`, in float64."""
    n0 = float(prior_windows)
    tot = n + n0
    d = np.asarray(mean, np.float64) - ref_mean
    mu = ref_mean + d * (n / tot)
    var = (np.asarray(m2, np.float64) + n0 * ref_std.astype(np.float64) ** 2 + d * d * (n * n0 / tot)) / tot
    return mu, np.sqrt(var)


@dataclass(frozen=True)
class AdaptationSpec:
    """What a bundle needs to adapt one window group (manifest["adaptation"])."""

    tasks: tuple[str, ...]
    window_s: float
    hop_s: float
    ref_mean: np.ndarray          # (D,) float32
    ref_std: np.ndarray           # (D,) float32, > 0
    std_floor: float
    prior_windows: int            # pseudo-windows of the prior at (ref_mean, ref_std)

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "window_s": self.window_s, "hop_s": self.hop_s,
                "ref_mean": [float(v) for v in self.ref_mean], "ref_std": [float(v) for v in self.ref_std],
                "std_floor": self.std_floor, "prior_windows": self.prior_windows,
                "rule": "running per-stream statistics of the voiced windows of this group (Welford, float32) "
                        "combined with prior_windows pseudo-windows at (ref_mean, ref_std); "
                        "x' = ref_mean + ref_std * (x - mean) / max(std, std_floor * ref_std)"}

    def group_index(self, group_tasks: Sequence[Sequence[str]]) -> int:
        """Index of the window group whose tasks are exactly `tasks` (groups given as their task lists), -1 if none."""
        return next((i for i, g in enumerate(group_tasks) if set(g) == set(self.tasks)), -1)

    @classmethod
    def from_dict(cls, d: dict[str, Any], dim: int, where: str = "adaptation") -> "AdaptationSpec":
        """Parse and check; ConfigError naming `where` and the key."""
        try:
            spec = cls(tuple(d["tasks"]), float(d["window_s"]), float(d["hop_s"]),
                       np.asarray(d["ref_mean"], np.float32), np.asarray(d["ref_std"], np.float32),
                       float(d["std_floor"]), int(d["prior_windows"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: malformed ({type(e).__name__}: {e})") from None
        if spec.ref_mean.shape != (dim,) or spec.ref_std.shape != (dim,):
            raise ConfigError(f"{where}: ref_mean / ref_std must have {dim} values, got {spec.ref_mean.shape}, "
                              f"{spec.ref_std.shape}")
        if not (np.isfinite(spec.ref_mean).all() and np.isfinite(spec.ref_std).all() and (spec.ref_std > 0).all()):
            raise ConfigError(f"{where}: ref_mean must be finite and ref_std finite and > 0")
        if not 0 < spec.std_floor <= 1 or spec.prior_windows < 1:
            raise ConfigError(f"{where}: std_floor must be in (0, 1] and prior_windows >= 1")
        return spec


@dataclass
class RunningSpeakerStats:
    """A speaker profile built window by window (see module docstring). Save it with `to_dict` to keep an
    enrolment across sessions; `update` with each voiced window of the adapted group, `apply` to adapt."""

    spec: AdaptationSpec
    n: int = 0
    mean: np.ndarray = field(default=None)    # type: ignore[assignment]
    m2: np.ndarray = field(default=None)      # type: ignore[assignment]

    def __post_init__(self) -> None:
        d = self.spec.ref_mean.shape[0]
        self.mean = np.zeros(d, np.float32) if self.mean is None else np.asarray(self.mean, np.float32).copy()
        self.m2 = np.zeros(d, np.float32) if self.m2 is None else np.asarray(self.m2, np.float32).copy()

    def update(self, x: np.ndarray) -> None:
        """Add one raw window vector (D,) (Welford, float32)."""
        x = np.asarray(x, np.float32)
        self.n += 1
        d = x - self.mean
        self.mean = self.mean + d / np.float32(self.n)
        self.m2 = self.m2 + d * (x - self.mean)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the speaker combined with the prior (float32, (D,) each)."""
        s = self.spec
        n0, n = np.float32(s.prior_windows), np.float32(self.n)
        tot = n + n0
        d = self.mean - s.ref_mean
        mu = s.ref_mean + d * (n / tot)
        m2 = self.m2 + n0 * (s.ref_std * s.ref_std) + (d * d) * (n * n0 / tot)
        return mu, np.sqrt(m2 / tot)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Adapt raw window vectors x (N, D) or (D,) with the current statistics."""
        mu, sd = self.moments()
        return standardize(np.asarray(x, np.float32), mu, sd, self.spec.ref_mean, self.spec.ref_std,
                           self.spec.std_floor)

    def adapt(self, x: np.ndarray, update: np.ndarray) -> np.ndarray:
        """Windows in time order: x (N, D) raw vectors, update (N,) bool (the voiced, non-silent ones). Each
        window is added to the profile when `update` says so, then adapted. Returns (N, D) float32."""
        x = np.asarray(x, np.float32)
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            if update[i]:
                self.update(x[i])
            out[i] = self.apply(x[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": [float(v) for v in self.mean], "m2": [float(v) for v in self.m2]}

    @classmethod
    def from_dict(cls, spec: AdaptationSpec, d: dict[str, Any]) -> "RunningSpeakerStats":
        p = cls(spec, int(d["n"]), np.asarray(d["mean"], np.float32), np.asarray(d["m2"], np.float32))
        if p.mean.shape != spec.ref_mean.shape or p.m2.shape != spec.ref_mean.shape or p.n < 0:
            raise ConfigError("speaker profile: n >= 0 and mean / m2 of the bundle's input size needed")
        return p
