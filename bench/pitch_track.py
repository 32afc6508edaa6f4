"""A YIN pitch tracker aligned with the front end's frames, and per-window prosody statistics (a study prototype).

Used by `bench/pitch_study.py` to ask, before anything was built into `deepear/`, whether pitch (F0) statistics
add to the log-mel summary the model sees; kept so the study reproduces. The library's tracker
(`deepear.audio.pitch`) is this one restricted to the front end's own frames (frame_len = n_fft).

YIN (de Cheveigne & Kawahara 2002): difference function over lags, cumulative-mean normalisation, the first dip
under `threshold` (else the global minimum), parabolic interpolation. Frame t of the front end covers samples
[t*hop, t*hop + n_fft); the pitch frame is the `frame_len` samples centred on that frame's centre (zero-padded at
the clip's ends), so the pitch track has the front end's T frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PitchConfig:
    """YIN settings; every one explicit (Hz, samples, unitless thresholds)."""

    fmin_hz: float = 60.0          # lowest F0 searched
    fmax_hz: float = 500.0         # highest F0 searched
    frame_len: int = 800           # samples analysed per frame (50 ms at 16 kHz)
    threshold: float = 0.15        # YIN absolute threshold on the normalised difference
    voiced_max: float = 0.3        # a frame is voiced when its normalised difference at the chosen lag is below this


@dataclass
class PitchTrack:
    f0_hz: np.ndarray        # (T,) float64, F0 of every frame (meaningful where voiced)
    aperiodicity: np.ndarray  # (T,) float64, normalised difference at the chosen lag (0 = periodic, ~1 = noise)
    voiced: np.ndarray       # (T,) bool


def yin(y: np.ndarray, n_frames: int, sr: int = 16000, hop: int = 160, n_fft: int = 512,
        cfg: PitchConfig = PitchConfig()) -> PitchTrack:
    """F0 per front-end frame of the mono signal y (samples) at sr Hz; n_frames = the front end's T."""
    tau_min = int(np.floor(sr / cfg.fmax_hz))
    tau_max = int(np.ceil(sr / cfg.fmin_hz))
    L = cfg.frame_len
    W = L - tau_max
    if W <= tau_min:
        raise ValueError(f"frame_len {L} too short for fmin_hz {cfg.fmin_hz}")
    centres = np.arange(n_frames) * hop + n_fft // 2
    pad = L // 2 + 1
    yp = np.pad(np.asarray(y, np.float64), (pad, pad + n_fft))
    idx = (centres - L // 2 + pad)[:, None] + np.arange(L)[None, :]
    x = yp[idx]                                                   # (T, L)
    n = 1 << int(np.ceil(np.log2(L + W)))
    cross = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(x[:, :W], n)), n)[:, :tau_max + 1]
    cs = np.concatenate([np.zeros((n_frames, 1)), np.cumsum(x * x, axis=1)], axis=1)
    e_shift = cs[:, W:W + tau_max + 1] - cs[:, :tau_max + 1]       # sum of x^2 over [tau, tau + W)
    d = np.maximum(e_shift[:, :1] + e_shift - 2.0 * cross, 0.0)   # difference function (T, tau_max + 1)
    cum = np.cumsum(d[:, 1:], axis=1)
    taus = np.arange(1, tau_max + 1)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] * taus / np.maximum(cum, 1e-12)
    seg = dn[:, tau_min:tau_max + 1]                              # lags searched
    below = seg < cfg.threshold
    # first dip under the threshold: the first lag under it, then walk down to its local minimum
    is_min = np.zeros_like(below)
    is_min[:, :-1] = seg[:, :-1] <= seg[:, 1:]
    cand = below & is_min
    has = cand.any(axis=1)
    k = np.where(has, cand.argmax(axis=1), seg.argmin(axis=1))
    rows = np.arange(n_frames)
    tau = (k + tau_min).astype(np.float64)
    ap = seg[rows, k]
    # parabolic interpolation on the normalised difference
    inner = (k > 0) & (k < seg.shape[1] - 1)
    km, kp = np.clip(k - 1, 0, seg.shape[1] - 1), np.clip(k + 1, 0, seg.shape[1] - 1)
    a, b, c = seg[rows, km], seg[rows, k], seg[rows, kp]
    den = a - 2.0 * b + c
    shift = np.where(inner & (np.abs(den) > 1e-12), 0.5 * (a - c) / np.where(np.abs(den) > 1e-12, den, 1.0), 0.0)
    tau = tau + np.clip(shift, -1.0, 1.0)
    silent = e_shift[:, 0] <= 1e-10 * W
    voiced = (ap < cfg.voiced_max) & ~silent
    return PitchTrack(f0_hz=sr / tau, aperiodicity=np.where(silent, 1.0, ap), voiced=voiced)


PROSODY_NAMES = ("voiced_frac", "st_mean", "st_std", "st_p10", "st_p50", "st_p90", "st_range",
                 "dst_absmed", "dst_std", "aper_mean", "aper_p25")


def prosody_stats(track: PitchTrack, active: np.ndarray, start: int, end: int) -> np.ndarray:
    """11 statistics (PROSODY_NAMES) of frames [start, end) that the silence filter kept (`active`, (T,) bool).

    F0 in semitones re 100 Hz over the voiced active frames; deltas between consecutive voiced frames (semitones
    per 10 ms hop); aperiodicity over all active frames. Windows with fewer than 5 voiced frames get the F0 entries
    of an unvoiced window (0), so the model sees "no pitch" rather than noise.
    """
    act = active[start:end]
    v = track.voiced[start:end] & act
    out = np.zeros(len(PROSODY_NAMES))
    n_act = max(int(act.sum()), 1)
    out[0] = v.sum() / n_act
    ap = track.aperiodicity[start:end][act] if act.any() else np.ones(1)
    out[9], out[10] = ap.mean(), np.percentile(ap, 25)
    if v.sum() >= 5:
        st = 12.0 * np.log2(track.f0_hz[start:end][v] / 100.0)
        p10, p50, p90 = np.percentile(st, [10, 50, 90])
        out[1:7] = st.mean(), st.std(), p10, p50, p90, p90 - p10
        both = v[1:] & v[:-1]
        if both.sum() >= 2:
            full = 12.0 * np.log2(track.f0_hz[start:end] / 100.0)
            ds = np.diff(full)[both]
            out[7], out[8] = np.median(np.abs(ds)), ds.std()
    return out
