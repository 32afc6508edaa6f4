"""The whole front end of one clip: frames -> silence / voicing flags -> per-window summary vectors.

`analyze` turns a signal into frame-level values (log-mel or MFCC), frame energy, the silence filter's
active-frame mask and the voicing indicator's per-frame speech probability. `summarize` cuts those frames
into task windows (e.g. scene 1.28 s, speech tasks 5 s) and computes DeepEar's input vector per window.

Decisions (documented in docs/frontend.md):
- Windows start at frame 0 and advance by the task hop; only whole windows are taken, except that a clip
  shorter than one window gives exactly one window over the whole clip (statistics over what there is;
  `Windows.partial` says so). A clip shorter than one frame (n_fft samples) is an AudioError.
- Statistics are computed over the window's active (non-silent) frames. When a window has fewer than
  `silence.min_active_frames` active frames but some audible ones (a steady background: rain, an engine),
  the statistics use all its audible frames, because there the background *is* the content.
- With `stat_frames="voiced"` the statistics use, of those frames, the ones the voicing indicator calls
  speech (P(speech) > `voicing.frame_threshold`) when the window has at least `voiced_min_frames` of them
  (else the rule above): in noise the active frames include noise-only ones, which pull every statistic
  towards the noise's. The window's speech score (routing) always averages P(speech) over the rule above.
- A window with no audible frame at all (every frame below `silence.abs_floor_db`) is *silent*: its vector
  is still computed (over all frames) so arrays stay rectangular, but `Windows.silent` is True and the
  training code and the runtime skip it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepear.audio import pitch, silence, voicing
from deepear.audio.config import FrontEndConfig
from deepear.audio.features import (band_values, frame_energy_db, frame_signal, log_mel_from_power, power_spectrum,
                                    window_vectors)
from deepear.errors import ConfigError


@dataclass
class FrameFeatures:
    """Frame-level analysis of one clip; T frames at `hop_s` seconds apart."""

    values: np.ndarray       # (T, n_bands) float32: log-mel dB or MFCC (cfg.feature)
    energy_db: np.ndarray    # (T,) float32 frame level, dBFS
    active: np.ndarray       # (T,) bool: not silent (above the adaptive noise floor and the absolute floor)
    speech_prob: np.ndarray  # (T,) float32 voicing indicator's P(speech) per frame
    hop_s: float
    n_samples: int
    pitch: np.ndarray | None = None  # (T, 2) float32 F0 Hz and aperiodicity (`pitch.pitch_track`) when
                                     # cfg.pitch_stats is set, else None

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[0])


@dataclass
class Windows:
    """Per-window summary vectors of one clip (N windows)."""

    x: np.ndarray             # (N, cfg.dim) float32 input vectors
    t_start: np.ndarray       # (N,) float64 seconds from the start of the clip
    t_end: np.ndarray         # (N,) float64
    silent: np.ndarray        # (N,) bool: no audible frame; skip inference
    voiced: np.ndarray        # (N,) bool: voicing indicator says speech
    speech_score: np.ndarray  # (N,) float32 mean P(speech) over the frames the statistics used
    active_fraction: np.ndarray  # (N,) float32 share of active frames
    partial: np.ndarray       # (N,) bool: clip shorter than the window, the window covers the whole clip

    def __len__(self) -> int:
        return int(self.x.shape[0])


def analyze(y: np.ndarray, cfg: FrontEndConfig, voicing_model: voicing.VoicingModel | None = None) -> FrameFeatures:
    """Frame-level front end of a mono float32 signal at cfg.sample_rate (see `deepear.audio.io`).

    `voicing_model`: the voicing MLP (e.g. the one embedded in a bundle); None = cfg.voicing.model_path's.
    Raises AudioError when y is shorter than one frame.
    """
    power = power_spectrum(y, cfg)
    if cfg.power != 2.0:
        raise ConfigError("front end: power must be 2.0 (the silence filter measures frame power)")
    energy = frame_energy_db(power, cfg)
    lm = log_mel_from_power(power, cfg)
    active = silence.active_frames(energy, cfg.hop_ms / 1000.0, cfg.silence)
    speech = voicing.speech_prob(power, lm, energy, cfg, model=voicing_model)
    track = pitch.pitch_track(frame_signal(y, cfg), cfg) if cfg.pitch_stats else None
    return FrameFeatures(values=band_values(lm, cfg), energy_db=energy, active=active, speech_prob=speech,
                         hop_s=cfg.hop_ms / 1000.0, n_samples=int(np.asarray(y).shape[0]), pitch=track)


def window_bounds(n_frames: int, cfg: FrontEndConfig, window_s: float, hop_s: float) -> np.ndarray:
    """Frame index ranges of the windows: (N, 2) int, [start, end) (see module docstring for the rules)."""
    if window_s <= 0 or hop_s <= 0:
        raise ConfigError(f"task window: window_s and hop_s must be positive, got {window_s}, {hop_s}")
    fps = 1000.0 / cfg.hop_ms
    w = max(1, int(round(window_s * fps)))
    h = max(1, int(round(hop_s * fps)))
    if n_frames <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    if n_frames < w:
        return np.array([[0, n_frames]], dtype=np.int64)
    starts = np.arange(0, n_frames - w + 1, h, dtype=np.int64)
    return np.stack([starts, starts + w], axis=1)


def window_selection(ff: FrameFeatures, cfg: FrontEndConfig,
                     bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which frames each window's statistics use (the rules in the module docstring).

    Args: bounds (N, 2) from `window_bounds` (all windows have the same length).
    Returns: idx (N, W) frame indices, sel (N, W) bool frames used, silent (N,) bool.
    """
    idx, sel, silent = _active_selection(ff, cfg, bounds)
    return idx, _stat_selection(ff, cfg, idx, sel, silent), silent


def _active_selection(ff: FrameFeatures, cfg: FrontEndConfig,
                      bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The active-frame rule (also what the speech score averages over): idx (N, W), sel (N, W), silent (N,)."""
    w = int(bounds[0, 1] - bounds[0, 0]) if len(bounds) else 0
    idx = bounds[:, :1] + np.arange(w)[None, :]
    active = ff.active[idx]
    audible = (ff.energy_db > cfg.silence.abs_floor_db)[idx]
    use_active = active.sum(axis=1) >= cfg.silence.min_active_frames
    silent = ~use_active & ~audible.any(axis=1)
    sel = np.where(use_active[:, None], active, np.where(silent[:, None], True, audible))
    return idx, sel, silent


def _stat_selection(ff: FrameFeatures, cfg: FrontEndConfig, idx: np.ndarray, sel: np.ndarray,
                    silent: np.ndarray) -> np.ndarray:
    """`cfg.stat_frames` applied to the active-rule selection `sel` (N, W): the frames the statistics use."""
    if cfg.stat_frames == "active" or not len(idx):
        return sel
    voiced = sel & (ff.speech_prob[idx] > cfg.voicing.frame_threshold) & ~silent[:, None]
    enough = voiced.sum(axis=1) >= cfg.voiced_min_frames
    return np.where(enough[:, None], voiced, sel)


def summarize(ff: FrameFeatures, cfg: FrontEndConfig, window_s: float, hop_s: float) -> Windows:
    """Cut frames into windows of `window_s` seconds every `hop_s` seconds and summarise each.

    Vectorised over windows (one sort of all windows' frames); see the module docstring for which frames
    a window's statistics use.
    """
    bounds = window_bounds(ff.n_frames, cfg, window_s, hop_s)
    return summarize_bounds(ff, cfg, bounds, int(round(window_s * 1000.0 / cfg.hop_ms)))


def summarize_bounds(ff: FrameFeatures, cfg: FrontEndConfig, bounds: np.ndarray, full_w: int,
                     frame_offset: int = 0) -> Windows:
    """Summarise the windows `bounds` ((N, 2) [start, end) frame indices into `ff`, all of one length).

    `full_w` is the task window length in frames (shorter windows are `partial`); `frame_offset` is the index
    of ff's first frame in the whole stream (times are reported from the start of the stream). Used by
    `summarize` and by the streaming front end (`deepear.audio.streaming`), so both compute windows with
    the same code.
    """
    n = bounds.shape[0]
    idx, sel, silent = _active_selection(ff, cfg, bounds)
    stat_sel = _stat_selection(ff, cfg, idx, sel, silent)
    active = ff.active[idx]
    x = window_vectors(ff.values[idx], stat_sel, cfg) if n else np.zeros((0, cfg.dim), np.float32)
    if cfg.pitch_stats and n:
        if ff.pitch is None:
            raise ConfigError("front end: pitch_stats is set but these frames carry no pitch track (computed "
                              "with another front-end configuration)")
        x = np.concatenate([x, pitch.window_stats(ff.pitch[idx], stat_sel, cfg)], axis=1)
    k = sel.sum(axis=1)
    score = np.where(silent, 0.0, (ff.speech_prob[idx] * sel).sum(axis=1) / np.maximum(k, 1)).astype(np.float32)
    voiced = ~silent & (score > cfg.voicing.window_threshold)
    t0 = (bounds[:, 0] + frame_offset) * ff.hop_s
    t1 = (bounds[:, 1] + frame_offset - 1) * ff.hop_s + cfg.n_fft / cfg.sample_rate  # end of the last frame
    partial = (bounds[:, 1] - bounds[:, 0]) < full_w
    return Windows(x=x, t_start=t0, t_end=t1, silent=silent, voiced=voiced, speech_score=score,
                   active_fraction=active.mean(axis=1).astype(np.float32) if n else np.zeros(0, np.float32),
                   partial=partial)
