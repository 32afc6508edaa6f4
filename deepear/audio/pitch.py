"""Pitch (F0) per front-end frame and prosody statistics per window (`FrontEndConfig.pitch_stats`).

32 mel bands cannot resolve a voice's harmonics, so the log-mel summary carries pitch only indirectly, while
F0 level, range and movement are the classic cues of emotion and arousal. When `pitch_stats` is set, `analyze`
tracks pitch on each frame and `summarize` appends the chosen statistics to every window vector.

`pitch_track`: YIN (de Cheveigne & Kawahara, JASA 2002) on each n_fft-sample frame of the front end, on its own:
the difference function d(tau) over an integration window of n_fft - tau_max samples, cumulative-mean
normalisation, the first local minimum under `threshold` (else the global minimum) between the lags of
`fmax_hz` and `fmin_hz`, parabolic interpolation. Frame-local (no look-ahead beyond the frame), in float64 per
row, so a streamed frame is bit for bit the batch frame and a C port needs only the frame it already has.
Measured against librosa's pYIN on RAVDESS (docs/frontend.md): median 0.1 semitone apart where both call a
frame voiced.

`window_stats`: PITCH_STAT_NAMES over a window's frames that the log-mel statistics use (`sel`); the F0
statistics over those of them that are voiced (aperiodicity < `voiced_max`), in semitones re 100 Hz; a window
with fewer than MIN_VOICED voiced frames gets 0 for every F0 statistic ("no pitch"), one with fewer than two
pairs of consecutive voiced frames 0 for the movement statistics.
"""
from __future__ import annotations

import math

import numpy as np

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import summary_stats_batch

MIN_VOICED = 5        # voiced frames a window needs for F0 statistics


def pitch_track(frames: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """YIN on every frame.

    Args: frames (T, n_fft) samples (`features.frame_signal`).
    Returns: (T, 2) float32: F0 in Hz, aperiodicity (the normalised difference at the chosen lag: 0 periodic,
    about 1 noise; 1 for a digitally silent frame).
    """
    p = cfg.pitch
    sr = cfg.sample_rate
    x = np.asarray(frames, dtype=np.float64)
    t, n_fft = x.shape
    tau_min = int(math.floor(sr / p.fmax_hz))
    tau_max = int(math.ceil(sr / p.fmin_hz))
    w = n_fft - tau_max                                            # integration window (samples)
    if t == 0:
        return np.zeros((0, 2), np.float32)
    # circular cross-correlation of length n: lags -(w-1)..-1 wrap to n-w+1..n-1, past tau_max when
    # n >= tau_max + w = n_fft, so n_fft (not n_fft + w) is exact for lags 0..tau_max and halves the FFTs
    n = 1 << int(math.ceil(math.log2(n_fft)))
    cross = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(x[:, :w], n)), n)[:, :tau_max + 1]
    cs = np.concatenate([np.zeros((t, 1)), np.cumsum(x * x, axis=1)], axis=1)
    energy = cs[:, w:w + tau_max + 1] - cs[:, :tau_max + 1]        # sum of x^2 over [tau, tau + w)
    d = np.maximum(energy[:, :1] + energy - 2.0 * cross, 0.0)      # difference function, (T, tau_max + 1)
    cum = np.cumsum(d[:, 1:], axis=1)
    dn = d[:, 1:] * np.arange(1, tau_max + 1) / np.maximum(cum, 1e-300)   # normalised, lags 1..tau_max
    seg = dn[:, tau_min - 1:]                                      # lags tau_min..tau_max
    is_min = np.zeros(seg.shape, bool)
    is_min[:, :-1] = seg[:, :-1] <= seg[:, 1:]
    cand = (seg < p.threshold) & is_min
    k = np.where(cand.any(axis=1), cand.argmax(axis=1), seg.argmin(axis=1))
    rows = np.arange(t)
    ap = seg[rows, k]
    a = seg[rows, np.maximum(k - 1, 0)]
    c = seg[rows, np.minimum(k + 1, seg.shape[1] - 1)]
    den = a - 2.0 * ap + c
    ok = (k > 0) & (k < seg.shape[1] - 1) & (np.abs(den) > 1e-12)
    shift = np.clip(np.where(ok, 0.5 * (a - c) / np.where(ok, den, 1.0), 0.0), -1.0, 1.0)
    f0 = sr / (k + tau_min + shift)
    silent = energy[:, 0] <= 1e-20 * w
    return np.stack([f0, np.where(silent, 1.0, ap)], axis=1).astype(np.float32)


def window_stats(track: np.ndarray, sel: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """`cfg.pitch_stats` of N windows.

    Args: track (N, W, 2) `pitch_track` rows of each window's frames; sel (N, W) bool, the frames the window's
    log-mel statistics use (at least one per row).
    Returns: (N, len(cfg.pitch_stats)) float32.
    """
    n = track.shape[0]
    f0 = track[:, :, 0].astype(np.float64)
    ap = track[:, :, 1]
    voiced = sel & (ap < cfg.pitch.voiced_max) & (f0 > 0)
    st = (12.0 * np.log2(np.maximum(f0, 1e-3) / 100.0)).astype(np.float32)
    k = voiced.sum(axis=1)
    out: dict[str, np.ndarray] = {"voiced_frac": k / np.maximum(sel.sum(axis=1), 1)}
    apst = summary_stats_batch(ap[:, :, None], sel, ("mean", "p25"))
    out["aper_mean"], out["aper_p25"] = apst[:, 0], apst[:, 1]
    has = k >= MIN_VOICED
    m = np.where(has[:, None], voiced, True)                       # any mask for rows without pitch; zeroed below
    s = summary_stats_batch(st[:, :, None], m, ("mean", "std", "p10", "median", "p90")) * has[:, None]
    out.update(st_mean=s[:, 0], st_std=s[:, 1], st_p10=s[:, 2], st_median=s[:, 3], st_p90=s[:, 4],
               st_range=s[:, 4] - s[:, 2])
    both = voiced[:, 1:] & voiced[:, :-1]
    has2 = both.sum(axis=1) >= 2
    if st.shape[1] > 1:
        ds = np.diff(st, axis=1)
        m2 = np.where(has2[:, None], both, True)
        out["dst_absmed"] = summary_stats_batch(np.abs(ds)[:, :, None], m2, ("median",))[:, 0] * has2
        out["dst_std"] = summary_stats_batch(ds[:, :, None], m2, ("std",))[:, 0] * has2
    else:
        out["dst_absmed"] = out["dst_std"] = np.zeros(n)
    return np.stack([out[s] for s in cfg.pitch_stats], axis=1).astype(np.float32)
