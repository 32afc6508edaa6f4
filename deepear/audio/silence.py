"""Silence filter: which frames stand out from the background, judged against an adaptive noise floor.

A frame is *active* (not silent) when its energy e[t] (dBFS, `features.frame_energy_db`) is at least
`abs_floor_db` and exceeds the adaptive noise floor by more than `margin_db`. The floor is tracked causally
on the energy clamped at the absolute floor, E[t] = max(e[t], abs_floor_db):

    floor[0] = E[0]
    floor[t] = min(E[t], floor[t-1] + r[t])      r[t] = rise_db_per_s * hop_s  (0 while t * hop_s < init_s)

- it follows the energy *down at once* (a pause, the gap between two words, a quieter background);
- it *rises* at most `rise_db_per_s` dB per second, so a louder background is caught within seconds (a step
  of +12 dB takes 12 / rise_db_per_s seconds) while speech, whose energy dips to the background at every
  pause and stop consonant, does not carry the floor up with it;
- during the first `init_s` seconds it does not rise at all: it is the running minimum of the energy so far,
  i.e. it is initialised from the quietest frame of the start of the stream;
- clamping at `abs_floor_db` means that after digital silence (-100 dB) the floor restarts from the
  absolute floor, not from -100 dB, so the background that follows a dropout is learnt again quickly.

Unrolled, floor[t] = R(t) + min_{s<=t} (E[s] - R(s)) with R(t) the cumulative rise; that is what the code
computes (a running minimum, vectorised), and it needs only the running minimum and the frame count as
state, so `NoiseFloorTracker` processes a stream chunk by chunk with bit-for-bit the mask of one
`active_frames` call. (A C port may run the recursion above directly; it agrees to float rounding.)
"""
from __future__ import annotations

import math

import numpy as np

from deepear.audio.config import SilenceConfig
from deepear.errors import AudioError, ConfigError


def _energy(energy_db: np.ndarray) -> np.ndarray:
    e = np.asarray(energy_db, dtype=np.float64)
    if e.ndim != 1:
        raise AudioError(f"silence filter: energy_db must be 1-D (n_frames,), got shape {e.shape}")
    if not np.all(np.isfinite(e)):
        raise AudioError("silence filter: energy_db contains NaN/Inf values")
    return e


class NoiseFloorTracker:
    """Streaming silence filter: feed frame energies chunk by chunk, get each chunk's active mask.

    One tracker per stream. State: the frame count and the running minimum of E[s] - R(s) (see module
    docstring). Any chunk sizes, including empty chunks, give exactly the mask of one `active_frames` call.
    """

    def __init__(self, cfg: SilenceConfig, hop_s: float) -> None:
        if not (isinstance(hop_s, (int, float)) and math.isfinite(hop_s) and hop_s > 0):
            raise ConfigError(f"silence filter: hop_s must be a positive number of seconds, got {hop_s!r}")
        if cfg.rise_db_per_s < 0 or cfg.init_s < 0 or cfg.margin_db < 0:
            raise ConfigError(f"silence filter: rise_db_per_s, init_s and margin_db must be >= 0, got {cfg}")
        self.cfg = cfg
        self.hop_s = float(hop_s)
        self.rise_per_frame_db = float(cfg.rise_db_per_s) * self.hop_s
        # frames 0 .. n_init-1 cannot raise the floor; frame n_init is the first that may
        self.n_init = max(1, int(math.ceil(cfg.init_s / self.hop_s - 1e-9)))
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next frame starts a new floor."""
        self.n_seen = 0
        self._run_min = math.inf

    def _cum_rise(self, t: np.ndarray) -> np.ndarray:
        """R(t): total rise allowed from frame 0 to frame t (dB), (n,) float64."""
        return self.rise_per_frame_db * np.maximum(t - (self.n_init - 1), 0).astype(np.float64)

    def floor(self, energy_db_chunk: np.ndarray) -> np.ndarray:
        """Advance over (n,) frame energies (dBFS); return the (n,) float64 noise floor (dB) at each frame."""
        e = _energy(energy_db_chunk)
        n = e.shape[0]
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        t = np.arange(self.n_seen, self.n_seen + n, dtype=np.int64)
        r = self._cum_rise(t)
        m = np.minimum.accumulate(np.maximum(e, self.cfg.abs_floor_db) - r)
        np.minimum(m, self._run_min, out=m)
        self._run_min = float(m[-1])
        self.n_seen += n
        return r + m

    def update(self, energy_db_chunk: np.ndarray) -> np.ndarray:
        """(n,) frame energies in dBFS -> (n,) bool active mask (True = not silent) of the same frames."""
        e = _energy(energy_db_chunk)
        fl = self.floor(e)
        return (e >= self.cfg.abs_floor_db) & (e > fl + self.cfg.margin_db)


def active_frames(energy_db: np.ndarray, hop_s: float, cfg: SilenceConfig) -> np.ndarray:
    """Silence filter of one clip: (T,) frame energies in dBFS, `hop_s` seconds apart -> (T,) bool, True = active.

    Raises AudioError for a non-1-D or non-finite energy array, ConfigError for a bad hop or config.
    """
    return NoiseFloorTracker(cfg, hop_s).update(energy_db)


def noise_floor(energy_db: np.ndarray, hop_s: float, cfg: SilenceConfig) -> np.ndarray:
    """The adaptive noise floor of one clip, (T,) float64 dB (for plots and diagnostics)."""
    return NoiseFloorTracker(cfg, hop_s).floor(energy_db)


def fixed_rule_active(energy_db: np.ndarray, below_max_db: float = 40.0) -> np.ndarray:
    """The naive comparison rule: frames within `below_max_db` of the clip's loudest frame, (T,) bool.

    Not causal and not noise-aware (in noisy audio it keeps every frame); used only as the benchmark's
    reference.
    """
    e = _energy(energy_db)
    return e > (e.max() - below_max_db if e.size else 0.0)
