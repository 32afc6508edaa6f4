"""Voicing indicator: P(speech) per frame from features the front end has already computed, and a window vote.

Per frame t the indicator reads only the power spectrum, the log-mel and the energy that `frontend.analyze`
passes in (no extra FFT, no autocorrelation) and only content below `VoicingConfig.max_hz` (3.4 kHz by
default), so audio that was recorded at 8 kHz (telephone, FSDD, the music-on-hold tracks) looks the same as
16 kHz audio: the indicator cannot learn "band-limited => speech" or "=> music". Features (`frame_features`):

- spectral shape: the log-mel bands below max_hz minus their mean (level-free), and their spread;
- harmonicity: spectral peakiness (dB, N*sum(p^2)/sum(p)^2) of the FFT bins in 60 Hz-1 kHz and 1 kHz-max_hz;
  voiced speech and music are peaky (resolved harmonics), noise is flat;
- change: spectral flux (mean |difference| of the low log-mel bands) to the frame 1 and 2 hops before, the
  shape change over 4 hops and the level change over 2 hops; speech changes every few tens of ms, music and
  steady noise less;
- short causal context (the last N_CONTEXT = 20 frames, 200 ms): how far the level is below the recent peak
  and above the recent valley (syllabic modulation), the mean flux and mean low-band peakiness of the last
  N_SHORT = 10 frames.

A one-hidden-layer MLP (weights in `voicing_model.json`, trained by `bench/voicing.py --train`) maps the
standardised features to P(speech). The context is the 20 previous frames, so a stream is reproduced chunk
by chunk with `SpeechProbStream` (it carries those frames; equal to float rounding). A window is voiced when the mean P(speech) of the
frames its statistics use exceeds `VoicingConfig.window_threshold`. Plain arithmetic; portable to C.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from deepear.audio.config import FrontEndConfig, VoicingConfig
from deepear.audio.features import log_mel_from_power, mel_filterbank
from deepear.errors import AudioError, ConfigError

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).with_name("voicing_model.json")
N_CONTEXT = 20       # previous frames the features look at (200 ms at a 10 ms hop)
N_SHORT = 10         # frames averaged by the short-context features (flux_ctx, peak_ctx)
FEATURE_VERSION = 2  # bump when frame_features changes; the model file records the version it was trained on


@dataclass(frozen=True)
class _Layout:
    n_low_mels: int          # mel bands entirely below max_hz
    harm_lo: tuple[int, int]  # FFT bin range [a, b) of the low harmonicity band
    harm_hi: tuple[int, int]  # FFT bin range [a, b) of the upper harmonicity band


@lru_cache(maxsize=16)
def reference_mel_config(cfg: FrontEndConfig) -> FrontEndConfig:
    """The mel layout the indicator reads, whatever the task features use: 32 Slaney bands from 0 Hz.

    When `cfg` already has this layout the front end's log-mel is reused; otherwise (e.g. n_mels=40 or MFCC
    on HTK bands) `frame_features` computes these bands from the power spectrum (one extra small GEMM), so the
    shipped model works with any task-feature setting of the same sample rate and FFT size.
    """
    return dataclasses.replace(cfg, n_mels=32, fmin_hz=0.0, fmax_hz=min(8000.0, cfg.sample_rate / 2.0),
                               mel_htk=False, mel_norm="slaney", feature="logmel")


def _same_mels(a: FrontEndConfig, b: FrontEndConfig) -> bool:
    return (a.n_mels, a.fmin_hz, a.fmax_hz, a.mel_htk, a.mel_norm) == (b.n_mels, b.fmin_hz, b.fmax_hz, b.mel_htk,
                                                                       b.mel_norm)


@lru_cache(maxsize=16)
def _layout(cfg: FrontEndConfig) -> _Layout:
    fb = mel_filterbank(reference_mel_config(cfg))
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
    top = np.array([freqs[np.nonzero(row)[0][-1]] if row.any() else 0.0 for row in fb])
    max_hz = float(cfg.voicing.max_hz)
    n_low = int(np.sum(top <= max_hz))
    if n_low < 4:
        raise ConfigError(f"voicing: only {n_low} mel bands lie below max_hz={max_hz}; need at least 4")

    def b(hz: float) -> int:  # first FFT bin at or above hz
        return int(np.searchsorted(freqs, hz))

    return _Layout(n_low, (b(60.0), b(1000.0)), (b(1000.0), b(max_hz) + 1))


def feature_names(cfg: FrontEndConfig) -> list[str]:
    """Names of the columns of `frame_features`."""
    n = _layout(cfg).n_low_mels
    return ([f"shape{i:02d}" for i in range(n)]
            + ["spread", "peak_lo", "peak_hi", "flux1", "flux2", "dshape4", "dlevel2", "range_hi_ctx", "range_lo_ctx",
               "flux_ctx", "peak_ctx"])


@dataclass(frozen=True)
class Context:
    """The previous N_CONTEXT frames a stream carries: low log-mel (N_CONTEXT, n_low_mels) dB, peak_lo (N_CONTEXT,)."""

    low: np.ndarray
    flat: np.ndarray


def _peakiness_db(power: np.ndarray, a: int, b: int) -> np.ndarray:
    """Spectral peakiness of FFT bins [a, b) per frame, dB: 10*log10(N * sum(p^2) / sum(p)^2).

    0 dB for a flat spectrum, about 3 dB for a noise periodogram, 10-20 dB for resolved harmonics. Needs one
    log per frame (a geometric-mean flatness needs one per bin, ten times the cost).
    """
    p = power[:, a:b]
    s1 = p.sum(axis=1)
    s2 = np.einsum("ij,ij->i", p, p)
    return np.float32(10.0) * np.log10(np.float32(b - a) * s2 / (s1 * s1 + np.float32(1e-30)) + np.float32(1e-12))


def _windows(a: np.ndarray, k: int) -> np.ndarray:
    """Read-only (len(a) - k + 1, k) view of the length-k windows of a 1-D array: the values of numpy's
    sliding_window_view without its argument checking (a tenth of the cost; this runs on every stream chunk)."""
    a = np.ascontiguousarray(a)
    return np.lib.stride_tricks.as_strided(a, (a.shape[0] - k + 1, k), (a.strides[0], a.strides[0]), writeable=False)


def frame_features(power: np.ndarray, log_mel: np.ndarray, cfg: FrontEndConfig,
                   context: Context | None = None) -> tuple[np.ndarray, Context]:
    """Per-frame voicing features (see module docstring and `feature_names`) and the context for what follows.

    Args:
        power: (T, n_fft//2+1) power spectra; log_mel: (T, n_mels) dB of `cfg`'s mel layout; T >= 1 (when
            that layout is not `reference_mel_config`'s, the reference bands are computed from `power`).
        context: the previous frames (streaming), or None at the start of a clip/stream: the first frame is
            then repeated into the past (flux 0, no level change).
    Returns: ((T, n_features) float32, Context of the last N_CONTEXT frames).
    """
    lay = _layout(cfg)
    if power.ndim != 2 or log_mel.ndim != 2 or power.shape[0] != log_mel.shape[0] or log_mel.shape[0] == 0:
        raise AudioError(f"voicing: power (T, bins) and log_mel (T, n_mels) must share T >= 1, got "
                         f"{power.shape} and {log_mel.shape}")
    t, n, c = log_mel.shape[0], lay.n_low_mels, N_CONTEXT
    ref = reference_mel_config(cfg)
    if not _same_mels(cfg, ref):
        log_mel = log_mel_from_power(power, ref)
    low = np.asarray(log_mel[:, :n], dtype=np.float32)
    flat_lo = _peakiness_db(power, *lay.harm_lo)
    if context is None:
        context = Context(np.repeat(low[:1], c, axis=0), np.repeat(flat_lo[:1], c))
    ext = np.concatenate([context.low, low], axis=0)                  # (c + t, n)
    ext_flat = np.concatenate([context.flat, flat_lo])
    ones = np.full(n, 1.0 / n, dtype=np.float32)
    ext_lev = ext @ ones                                               # (c + t,) mean low-band level, dB
    ext_shape = ext - ext_lev[:, None]
    ext_flux = np.abs(np.diff(ext, axis=0)) @ ones                     # (c + t - 1,) flux to the previous frame
    lev = ext_lev[c:]
    out = np.empty((t, n + 11), dtype=np.float32)
    out[:, :n] = ext_shape[c:]
    out[:, n] = np.sqrt(np.square(ext_shape[c:]) @ ones)
    out[:, n + 1] = flat_lo
    out[:, n + 2] = _peakiness_db(power, *lay.harm_hi)
    out[:, n + 3] = ext_flux[c - 1:]
    out[:, n + 4] = np.abs(low - ext[c - 2:-2]) @ ones
    out[:, n + 5] = np.abs(ext_shape[c:] - ext_shape[c - 4:-4]) @ ones
    out[:, n + 6] = lev - ext_lev[c - 2:-2]
    win = _windows(ext_lev[1:], c)                                     # (t, c): frames t-c+1 .. t
    out[:, n + 7] = win.max(axis=1) - lev
    out[:, n + 8] = lev - win.min(axis=1)
    k = N_SHORT
    out[:, n + 9] = _windows(ext_flux[c - k:], k).mean(axis=1)
    out[:, n + 10] = _windows(ext_flat[c - k + 1:], k).mean(axis=1)
    return out, Context(ext[-c:].copy(), ext_flat[-c:].copy())


# Model ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VoicingModel:
    """Standardise -> dense(hidden, relu) -> dense(1) -> sigmoid. Arrays float32."""

    mean: np.ndarray   # (F,)
    scale: np.ndarray  # (F,) 1/std
    w1: np.ndarray     # (F, H)
    b1: np.ndarray     # (H,)
    w2: np.ndarray     # (H,)
    b2: float
    feature_names: tuple[str, ...]

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """(T, F) features -> (T,) float32 P(speech) = sigmoid(w2 . relu(((x - mean) * scale) @ w1 + b1) + b2)."""
        w1, b1 = self._folded()
        h = feats @ w1
        h += b1
        np.maximum(h, 0.0, out=h)
        logit = np.clip(h @ self.w2 + np.float32(self.b2), -30.0, 30.0)
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)

    def _folded(self) -> tuple[np.ndarray, np.ndarray]:
        """The standardisation folded into the first layer: w1 * scale, b1 - (mean * scale) @ w1."""
        f = self.__dict__.get("_fold")
        if f is None:
            w1 = (self.w1 * self.scale[:, None]).astype(np.float32)
            b1 = (self.b1 - (self.mean * self.scale) @ self.w1).astype(np.float32)
            f = (w1, b1)
            object.__setattr__(self, "_fold", f)
        return f

    def to_dict(self) -> dict:
        return {"format": "deepear-voicing-mlp", "feature_version": FEATURE_VERSION,
                "feature_names": list(self.feature_names), "activation": "relu",
                "mean": self.mean.tolist(), "scale": self.scale.tolist(), "w1": self.w1.tolist(),
                "b1": self.b1.tolist(), "w2": self.w2.tolist(), "b2": float(self.b2)}

    @classmethod
    def from_dict(cls, d: dict, where: str = "voicing model") -> "VoicingModel":
        try:
            if d.get("format") != "deepear-voicing-mlp" or d.get("feature_version") != FEATURE_VERSION:
                raise ConfigError(f"{where}: not a deepear voicing model of feature version {FEATURE_VERSION} "
                                  f"(format={d.get('format')!r}, feature_version={d.get('feature_version')!r})")
            f = lambda k: np.asarray(d[k], dtype=np.float32)  # noqa: E731
            m = cls(mean=f("mean"), scale=f("scale"), w1=f("w1"), b1=f("b1"), w2=f("w2"), b2=float(d["b2"]),
                    feature_names=tuple(d["feature_names"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: malformed voicing model ({e!r})") from e
        nf, nh = m.w1.shape if m.w1.ndim == 2 else (-1, -1)
        if not (m.mean.shape == m.scale.shape == (nf,) and m.b1.shape == m.w2.shape == (nh,)
                and len(m.feature_names) == nf):
            raise ConfigError(f"{where}: inconsistent shapes mean {m.mean.shape}, w1 {m.w1.shape}, "
                              f"b1 {m.b1.shape}, w2 {m.w2.shape}")
        return m

    def save(self, path: str | Path) -> None:
        """Write as plain JSON (temp file + rename)."""
        import os
        import tempfile
        p = Path(path)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_dict(), fh, separators=(",", ":"))
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)


@lru_cache(maxsize=4)
def _load_cached(path: str) -> VoicingModel:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except OSError as e:
        raise ConfigError(f"voicing model {p}: cannot read ({e})") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"voicing model {p}: not valid JSON ({e})") from e
    m = VoicingModel.from_dict(d, where=f"voicing model {p}")
    log.debug("voicing model %s: %d features, %d hidden units", p, m.w1.shape[0], m.w1.shape[1])
    return m


def load_model(path: str | Path | None = None) -> VoicingModel:
    """The voicing MLP from `path` (default: the shipped deepear/audio/voicing_model.json); cached."""
    return _load_cached(str(Path(path) if path else MODEL_PATH))


def _check_model(model: VoicingModel, cfg: FrontEndConfig) -> None:
    names = feature_names(cfg)
    if list(model.feature_names) != names:
        raise ConfigError(f"voicing model expects features {list(model.feature_names)[:3]}... "
                          f"({len(model.feature_names)}), this front end gives {len(names)}: "
                          "retrain it with `bench/voicing.py --train` for this configuration")


def speech_prob(power: np.ndarray, log_mel: np.ndarray, energy_db: np.ndarray, cfg: FrontEndConfig,
                model: VoicingModel | None = None) -> np.ndarray:
    """P(speech) per frame, (T,) float32 in [0, 1], for one clip (context: the clip's own previous frames).

    Args: power (T, n_fft//2+1) power spectra; log_mel (T, n_mels) dB; energy_db (T,) dBFS (used only to
        check T: the silence filter decides which frames count); model: default the shipped one.
    """
    if np.asarray(energy_db).shape != (np.asarray(log_mel).shape[0],):
        raise AudioError(f"voicing: energy_db must be (T,) with T = {np.asarray(log_mel).shape[0]}, "
                         f"got {np.asarray(energy_db).shape}")
    m = model or load_model(cfg.voicing.model_path or None)
    _check_model(m, cfg)
    return m.predict(frame_features(power, log_mel, cfg)[0])


class SpeechProbStream:
    """`speech_prob` for one stream processed chunk by chunk: carries the last N_CONTEXT frames (`Context`)."""

    def __init__(self, cfg: FrontEndConfig, model: VoicingModel | None = None) -> None:
        self.cfg = cfg
        self.model = model or load_model(cfg.voicing.model_path or None)
        _check_model(self.model, cfg)
        self.context: Context | None = None

    def reset(self) -> None:
        """Forget the stream (the next frame starts a new one)."""
        self.context = None

    def update(self, power: np.ndarray, log_mel: np.ndarray) -> np.ndarray:
        """(T, bins) power and (T, n_mels) log-mel of the next T frames -> (T,) float32 P(speech)."""
        if np.asarray(log_mel).shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        f, self.context = frame_features(power, log_mel, self.cfg, self.context)
        return self.model.predict(f)


def window_voiced(speech_prob_selected_frames: np.ndarray, cfg: VoicingConfig) -> bool:
    """A window is speech when the mean P(speech) of the frames its statistics use exceeds window_threshold.

    Args: (k,) P(speech) of the window's selected frames (k >= 1; an empty selection is not voiced).
    """
    p = np.asarray(speech_prob_selected_frames, dtype=np.float64)
    if p.ndim != 1:
        raise AudioError(f"voicing: expected (k,) frame probabilities, got shape {p.shape}")
    return bool(p.size > 0 and p.mean() > cfg.window_threshold)
