"""Log-mel filterbank and MFCC frames, and DeepEar's per-window summary statistics. numpy/scipy only.

Shapes: a signal is (n_samples,) float32; frames are (n_frames, n_fft); spectra (n_frames, n_fft//2+1);
log-mel (n_frames, n_mels) in dB; a window's input vector is (n_bands * n_stats,), band-major.
The mel filterbank is a port of librosa.filters.mel (Slaney scale and normalisation by default) and is
tested to agree with it, as is the log-mel with librosa.feature.melspectrogram + power_to_db.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
from scipy.signal import get_window

from deepear.audio.config import FrontEndConfig
from deepear.errors import AudioError

# Mel scale ------------------------------------------------------------------------------------------------
_F_SP = 200.0 / 3          # Slaney: linear part, Hz per mel
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Frequency (Hz) -> mel (Slaney's auditory toolbox scale, or HTK's 2595*log10(1+f/700))."""
    f = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mel = f / _F_SP
    return np.where(f >= _MIN_LOG_HZ, _MIN_LOG_MEL + np.log(np.maximum(f, 1e-12) / _MIN_LOG_HZ) / _LOGSTEP, mel)


def mel_to_hz(mel: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


@lru_cache(maxsize=16)
def _mel_filterbank_cached(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool,
                           norm: str | None) -> np.ndarray:
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    w = weights.astype(np.float32)
    w.setflags(write=False)
    return w


def mel_filterbank(cfg: FrontEndConfig) -> np.ndarray:
    """Mel filterbank matrix, (n_mels, n_fft//2 + 1) float32 (read-only; cached per parameter set)."""
    return _mel_filterbank_cached(cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin_hz),
                                  float(cfg.fmax_hz), cfg.mel_htk, cfg.mel_norm)


def _mel_filterbank_t(cfg: FrontEndConfig) -> np.ndarray:
    return _mel_t_cached(cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin_hz), float(cfg.fmax_hz),
                         cfg.mel_htk, cfg.mel_norm)


@lru_cache(maxsize=16)
def _mel_t_cached(*key: object) -> np.ndarray:
    # (n_bins, n_mels) float64, contiguous for the GEMM: the float32 filterbank's exact values, widened
    t = np.ascontiguousarray(_mel_filterbank_cached(*key).T, dtype=np.float64)
    t.setflags(write=False)
    return t


@lru_cache(maxsize=16)
def _analysis_window(win_length: int, n_fft: int) -> np.ndarray:
    w = get_window("hann", win_length, fftbins=True).astype(np.float32)
    pad = (n_fft - win_length) // 2
    out = np.zeros(n_fft, dtype=np.float32)
    out[pad:pad + win_length] = w
    out.setflags(write=False)
    return out


def analysis_window(cfg: FrontEndConfig) -> np.ndarray:
    """The win_length periodic Hann window zero-padded (centred) to n_fft samples, (n_fft,) float32."""
    return _analysis_window(cfg.win_length, cfg.n_fft)


# Frames and spectra ---------------------------------------------------------------------------------------
def n_frames(n_samples: int, cfg: FrontEndConfig) -> int:
    """Number of whole frames in `n_samples` samples (0 if shorter than one frame of n_fft samples)."""
    return 0 if n_samples < cfg.n_fft else 1 + (n_samples - cfg.n_fft) // cfg.hop_length


def frame_signal(y: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Split a signal into frames, (n_frames, n_fft), a read-only strided view (no copy).

    Frame t covers samples [t * hop, t * hop + n_fft). Raises AudioError when y is shorter than one frame.
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AudioError(f"expected a 1-D signal, got shape {y.shape}")
    n = n_frames(y.shape[0], cfg)
    if n == 0:
        raise AudioError(
            f"clip too short: {y.shape[0]} samples, need at least one frame of {cfg.n_fft} samples "
            f"({1000.0 * cfg.n_fft / cfg.sample_rate:.1f} ms)")
    # the strided view of sliding_window_view(y, n_fft)[::hop][:n], built directly (cheaper on short chunks)
    return np.lib.stride_tricks.as_strided(y, (n, cfg.n_fft), (y.strides[0] * cfg.hop_length, y.strides[0]),
                                           writeable=False)


def power_spectrum(y: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """|rFFT(frame * window)|**power of every frame of a signal, (n_frames, n_fft//2 + 1) float32.

    Only the win_length samples under the (zero-padded) window are multiplied and transformed into a
    reused zeroed buffer: the same numbers as framing n_fft samples, about half the work.
    Raises AudioError when y is shorter than one frame.
    """
    frames = frame_signal(y, cfg)
    pad = (cfg.n_fft - cfg.win_length) // 2
    win = analysis_window(cfg)[pad:pad + cfg.win_length]
    buf = np.zeros(frames.shape, dtype=np.float32)
    np.multiply(frames[:, pad:pad + cfg.win_length], win, out=buf[:, pad:pad + cfg.win_length])
    spec = scipy.fft.rfft(buf, n=cfg.n_fft, axis=-1, overwrite_x=True)
    mag2 = np.abs(spec)
    np.square(mag2, out=mag2)
    if cfg.power == 2.0:
        return mag2
    return mag2 ** (cfg.power / 2.0)


def frame_energy_db(power: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Window-weighted mean-square level of each frame in dBFS (Parseval on a power=2 spectrum).

    Args: power (n_frames, n_fft//2 + 1) from `power_spectrum` with cfg.power == 2.
    Returns: (n_frames,) float32 dB re full scale: a full-scale sine reads about -3 dB, digital silence -100.
    """
    if cfg.power != 2.0:
        raise ValueError("frame_energy_db needs a power (power=2.0) spectrum")
    w = analysis_window(cfg)
    total = 2.0 * power.sum(axis=1, dtype=np.float64) - power[:, 0] - power[:, -1]
    ms = total / (cfg.n_fft * float(np.dot(w, w)))
    return (10.0 * np.log10(ms + 1e-10)).astype(np.float32)


def log_mel_from_power(power: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Power spectra (n_frames, n_bins) -> log-mel (n_frames, n_mels) in dB re 1.0.

    log-mel = 10*log10(max(mel, log_amin, max_band(mel) * 10**(-log_range_db/10))): the floor is absolute
    (log_amin) and, unless log_range_db is None, relative to each frame's loudest band.
    """
    # The projection runs in float64 and is rounded to float32 once: a float32 GEMM's rounding depends on how
    # many rows it is given (on some CPUs even for hundreds of rows: OpenBLAS picks kernels and splits by
    # shape), which would make a frame's values depend on how a stream was chunked. In float64 those
    # differences are ~1e-16 and vanish in the rounding, so a frame is the same for any chunking.
    mel = (power.astype(np.float64) @ _mel_filterbank_t(cfg)).astype(np.float32)
    floor = np.float32(cfg.log_amin)
    if cfg.log_range_db is not None:
        floor = np.maximum(mel.max(axis=1, keepdims=True) * np.float32(10.0 ** (-cfg.log_range_db / 10.0)), floor)
    np.maximum(mel, floor, out=mel)
    np.log10(mel, out=mel)
    mel *= np.float32(10.0)
    return mel


def mfcc_from_log_mel(log_mel: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """Log-mel (n_frames, n_mels) dB -> MFCC (n_frames, n_mfcc): orthonormal DCT-II over bands."""
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[:, : cfg.n_mfcc].astype(np.float32)


def log_mel(y: np.ndarray, cfg: FrontEndConfig | None = None) -> np.ndarray:
    """Log-mel filterbank frames of a signal at cfg.sample_rate: (n_frames, n_mels) float32 dB."""
    cfg = cfg or FrontEndConfig()
    return log_mel_from_power(power_spectrum(y, cfg), cfg)


def mfcc(y: np.ndarray, cfg: FrontEndConfig | None = None) -> np.ndarray:
    """MFCC frames of a signal at cfg.sample_rate: (n_frames, n_mfcc) float32."""
    cfg = cfg or FrontEndConfig()
    return mfcc_from_log_mel(log_mel(y, cfg), cfg)


def band_values(log_mel_frames: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """The per-frame values the statistics summarise: log-mel itself, or its MFCC (cfg.feature)."""
    return mfcc_from_log_mel(log_mel_frames, cfg) if cfg.feature == "mfcc" else log_mel_frames


# Summary statistics ---------------------------------------------------------------------------------------
_QUANTILES = {"p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9}   # p10, p90: pitch statistics


def summary_stats_batch(values: np.ndarray, mask: np.ndarray, stats: tuple[str, ...]) -> np.ndarray:
    """Statistics of each band over the selected frames of each of N windows, vectorised over windows.

    Quantiles use linear interpolation between order statistics (numpy's default "linear" method); std is
    the population standard deviation (ddof=0).

    Args:
        values: (N, W, n_bands) float32 frames of N windows of W frames.
        mask: (N, W) bool, the frames each window's statistics use; every row needs at least one True.
        stats: names from config.STAT_NAMES, in output order.
    Returns: (N, n_bands * len(stats)) float32, band-major within a row.
    """
    v = np.asarray(values, dtype=np.float32)
    m = np.asarray(mask, dtype=bool)
    if v.ndim != 3 or m.shape != v.shape[:2]:
        raise ValueError(f"summary_stats_batch needs values (N, W, B) and mask (N, W), got {v.shape}, {m.shape}")
    k = m.sum(axis=1)
    if v.shape[1] == 0 or np.any(k == 0):
        raise ValueError("summary_stats needs n_frames >= 1 selected frame in every window")
    n, w, nb = v.shape
    out = np.empty((n, nb, len(stats)), dtype=np.float32)
    kf = k.astype(np.float32)[:, None]
    m3 = m[:, :, None]
    mean = np.where(m3, v, 0.0).sum(axis=1, dtype=np.float64) / k[:, None]
    # min, max and the quantiles are order statistics: gathered from the sorted frames in one indexing step
    # (min = position 0, max = position k-1, interpolation weight 0: exactly those frames' values)
    order = [s for s in stats if s in _QUANTILES or s in ("min", "max")]
    if order:
        # sorted along the last (contiguous) axis: (n, nb, w), selected frames first, in order — ~1.5x faster
        # than sorting the frame axis in place
        srt = np.sort(np.ascontiguousarray(np.where(m3, v, np.inf).transpose(0, 2, 1)), axis=2)
        q = np.array([0.0 if s == "min" else 1.0 if s == "max" else _QUANTILES[s] for s in order])
        pos = q[None, :] * (k - 1)[:, None]                                 # (n, n_order)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, (k - 1)[:, None])
        frac = (pos - lo).astype(np.float32)[:, :, None]
        a = np.take_along_axis(srt, lo[:, None, :], axis=2).transpose(0, 2, 1)   # (n, n_order, nb)
        b = np.take_along_axis(srt, hi[:, None, :], axis=2).transpose(0, 2, 1)
        ordered = a + frac * (b - a)
    for j, s in enumerate(stats):
        if s == "mean":
            out[:, :, j] = mean
        elif s == "std":
            d = np.where(m3, v - mean[:, None, :].astype(np.float32), 0.0)
            out[:, :, j] = np.sqrt(np.einsum("nwb,nwb->nb", d, d) / kf)
        elif s in order:
            out[:, :, j] = ordered[:, order.index(s)]
        else:
            raise ValueError(f"unknown statistic {s!r}")
    return out.reshape(n, nb * len(stats))


def window_deltas(values: np.ndarray, width: int) -> np.ndarray:
    """Regression deltas of each window's frames, taken inside the window (HTK formula).

    d[t] = sum_{k=1..K} k * (x[t+k] - x[t-k]) / (2 * sum_{k=1..K} k^2), K = `width`, where frames before the
    window's first frame / after its last are replaced by the first / last frame (edge repetition), so a
    window's deltas depend on its own frames only (the streaming front end and the C library need no
    look-ahead). Units: value units per frame (dB per hop for log-mel).

    Args: values (N, W, n_bands) float32 frames of N windows. Returns: (N, W, n_bands) float32.
    """
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 3:
        raise ValueError(f"window_deltas needs (N, W, n_bands) values, got shape {v.shape}")
    w, K = v.shape[1], width
    # edge-repeated copy once, then every shifted frame is a slice (a view), not a gather
    p = np.concatenate([np.repeat(v[:, :1], K, axis=1), v, np.repeat(v[:, -1:], K, axis=1)], axis=1)
    out = np.zeros_like(v)
    for k in range(1, K + 1):
        out += np.float32(k) * (p[:, K + k:K + k + w] - p[:, K - k:K - k + w])
    return out / np.float32(2 * sum(k * k for k in range(1, K + 1)))


def window_vectors(values: np.ndarray, mask: np.ndarray, cfg: "FrontEndConfig") -> np.ndarray:
    """DeepEar's input vectors of N windows: `cfg.stats` of the values over the selected frames, then
    `cfg.delta_stats` of their deltas (`window_deltas`) over the same frames.

    Args: values (N, W, n_bands) float32; mask (N, W) bool (at least one True per row).
    Returns: (N, cfg.dim) float32.
    """
    if not cfg.delta_stats:
        return summary_stats_batch(values, mask, cfg.stats)
    # one call over values and deltas side by side (one sort, one pass of bookkeeping), then each part keeps
    # its own statistics; every band's statistics are computed independently, so this equals two calls
    v = np.asarray(values, dtype=np.float32)
    n, _, nb = v.shape
    both = tuple(dict.fromkeys(cfg.stats + cfg.delta_stats))
    allv = np.concatenate([v, window_deltas(v, cfg.delta_width)], axis=2)
    st = summary_stats_batch(allv, mask, both).reshape(n, 2 * nb, len(both))
    static = st[:, :nb, [both.index(s) for s in cfg.stats]].reshape(n, -1)
    delta = st[:, nb:, [both.index(s) for s in cfg.delta_stats]].reshape(n, -1)
    return np.concatenate([static, delta], axis=1)


def summary_stats(values: np.ndarray, stats: tuple[str, ...]) -> np.ndarray:
    """Statistics of each band over all frames: (n_frames, n_bands) -> (n_bands * len(stats),) float32.

    Band-major: all statistics of band 0, then band 1, ... (see `summary_stats_batch`).
    """
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"summary_stats needs (n_frames >= 1, n_bands) values, got shape {v.shape}")
    return summary_stats_batch(v[None], np.ones((1, v.shape[0]), dtype=bool), stats)[0]


def feature_names(cfg: FrontEndConfig) -> list[str]:
    """Names of the input vector's entries, e.g. 'mel03_p75', 'mfcc00_mean', 'dmel03_std' (a delta statistic),
    'pitch_st_mean' (a pitch statistic), in the order of the window vector."""
    prefix = "mfcc" if cfg.feature == "mfcc" else "mel"
    return ([f"{prefix}{b:02d}_{s}" for b in range(cfg.n_bands) for s in cfg.stats]
            + [f"d{prefix}{b:02d}_{s}" for b in range(cfg.n_bands) for s in cfg.delta_stats]
            + [f"pitch_{s}" for s in cfg.pitch_stats])
