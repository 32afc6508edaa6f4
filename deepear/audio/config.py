"""Front-end configuration: every parameter explicit, serialisable to and from JSON.

Library defaults drift between versions (librosa changed `pad_mode` and mel defaults over the years), so
deepear never relies on a library default: each value the front end uses lives here and is recorded with
every cache entry, run folder and exported bundle.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from deepear.errors import ConfigError

STAT_NAMES = ("mean", "std", "min", "max", "median", "p25", "p75")
# Prosody statistics of a window's pitch track (deepear.audio.pitch): share of voiced frames, F0 in semitones
# re 100 Hz (mean, std, p10, median, p90, p90 - p10), F0 movement between consecutive voiced frames (median of
# its magnitude, std; semitones per hop) and the YIN aperiodicity of the window's frames (mean, p25).
PITCH_STAT_NAMES = ("voiced_frac", "st_mean", "st_std", "st_p10", "st_median", "st_p90", "st_range",
                    "dst_absmed", "dst_std", "aper_mean", "aper_p25")


@dataclass(frozen=True)
class SilenceConfig:
    """Silence filter (see `deepear.audio.silence`).

    A frame is *silent* when its energy is below the absolute floor, or below the adaptive noise floor plus
    `margin_db`. The noise floor follows the frame energy down at once and rises at most `rise_db_per_s`
    (so it tracks a louder background within seconds, but does not climb onto speech).
    """

    abs_floor_db: float = -60.0      # dBFS of mean frame power; below it a frame is silent whatever the floor
    margin_db: float = 6.0           # a frame must exceed the adaptive noise floor by this much to be active
    rise_db_per_s: float = 3.0       # how fast the noise floor may rise (dB per second)
    init_s: float = 0.25             # the floor starts at the minimum energy of the first `init_s` seconds
    min_active_frames: int = 5       # fewer active frames than this in a window: stats use all audible frames


@dataclass(frozen=True)
class VoicingConfig:
    """Voicing indicator (see `deepear.audio.voicing`)."""

    frame_threshold: float = 0.5     # a frame is voiced when its speech probability exceeds this
    window_threshold: float = 0.5    # a window is voiced when the mean speech probability of the frames its
                                     # statistics use exceeds this
    max_hz: float = 3400.0           # the indicator only looks below this (8 kHz-origin audio looks the same)
    model_path: str = ""             # voicing MLP weights (JSON); "" = the shipped deepear/audio/voicing_model.json


@dataclass(frozen=True)
class PitchConfig:
    """YIN pitch tracker on each front-end frame (deepear.audio.pitch); used only when `pitch_stats` is set."""

    fmin_hz: float = 75.0            # lowest F0 searched; the frame (n_fft samples) must hold the longest lag
                                     # plus an integration window as long: fmin_hz >= 2 sample_rate / n_fft
    fmax_hz: float = 500.0           # highest F0 searched
    threshold: float = 0.15          # YIN's absolute threshold on the cumulative-mean-normalised difference
    voiced_max: float = 0.3          # a frame is voiced when the normalised difference at its lag is below this


@dataclass(frozen=True)
class FrontEndConfig:
    """Every parameter of the audio front end (frames -> log-mel / MFCC -> per-window summary statistics).

    Framing follows librosa's `center=False` convention: frame t covers samples
    [t * hop, t * hop + n_fft) and the `win_ms` Hann window sits centred inside those n_fft samples.
    """

    sample_rate: int = 16000         # Hz; every input is resampled to this
    win_ms: float = 25.0             # analysis window length (ms)
    hop_ms: float = 10.0             # frame hop (ms)
    n_fft: int = 512                 # FFT size (samples); also the frame length
    window: str = "hann"             # periodic Hann (scipy.signal.get_window(..., fftbins=True))
    n_mels: int = 32                 # mel bands
    fmin_hz: float = 0.0
    fmax_hz: float = 8000.0
    mel_htk: bool = False            # False: Slaney mel scale (librosa default), True: HTK formula
    mel_norm: str | None = "slaney"  # "slaney" area normalisation, or None
    power: float = 2.0               # 2.0: power spectrum, 1.0: magnitude
    log_amin: float = 1e-10          # absolute floor of the mel power before the log (librosa's amin)
    log_range_db: float | None = 70.0  # per-frame floor: no band below (frame's loudest band - 70 dB).
                                     # float32 FFT round-off lives ~90 dB down, so with this floor the
                                     # log-mel is the same (to 1e-5) in numpy, librosa and the C port;
                                     # None disables it. See docs/frontend.md.
    feature: str = "logmel"          # what the summary statistics are taken over: "logmel" or "mfcc"
    n_mfcc: int = 13                 # MFCC: DCT-II (orthonormal) of the log-mel, first n_mfcc coefficients
    stats: tuple[str, ...] = STAT_NAMES
    delta_stats: tuple[str, ...] = ()  # statistics of the per-frame deltas, appended after `stats` (e.g.
                                     # [std, p25, p75]); () = no delta part. Deltas are taken inside each window
                                     # (see features.window_deltas), so a window never needs frames outside it.
    delta_width: int = 2             # delta regression half-width K in frames: d_t = sum_k k (x_t+k - x_t-k)
                                     # / (2 sum_k k^2), k = 1..K, frames beyond the window edge repeated
    silence: SilenceConfig = field(default_factory=SilenceConfig)
    voicing: VoicingConfig = field(default_factory=VoicingConfig)
    pitch_stats: tuple[str, ...] = ()  # prosody statistics appended to every window vector (PITCH_STAT_NAMES);
                                       # set: analyze() also tracks pitch per frame (cached with the frames)
    pitch: PitchConfig = field(default_factory=PitchConfig)
    stat_frames: str = "active"      # which of a window's frames the statistics use: "active" (the silence
                                     # filter's rule, see frontend.py) or "voiced": of those, the frames the
                                     # voicing indicator calls speech (P(speech) > voicing.frame_threshold) when
                                     # the window has at least voiced_min_frames of them, else the active rule.
                                     # The window's speech score (routing) always uses the active rule.
    voiced_min_frames: int = 25      # "voiced": fewer voiced frames than this and the window keeps the active rule

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise ConfigError(f"front end: sample_rate, n_fft, n_mels must be positive, got {self}")
        if self.win_length > self.n_fft:
            raise ConfigError(
                f"front end: win_ms={self.win_ms} is {self.win_length} samples, longer than n_fft={self.n_fft}")
        if self.hop_length <= 0:
            raise ConfigError(f"front end: hop_ms={self.hop_ms} gives a hop of 0 samples")
        if not 0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate / 2:
            raise ConfigError(
                f"front end: need 0 <= fmin_hz < fmax_hz <= sample_rate/2, got {self.fmin_hz}, {self.fmax_hz}")
        if self.feature not in ("logmel", "mfcc"):
            raise ConfigError(f"front end: feature must be 'logmel' or 'mfcc', got {self.feature!r}")
        if self.feature == "mfcc" and not 0 < self.n_mfcc <= self.n_mels:
            raise ConfigError(f"front end: n_mfcc must be in 1..n_mels, got {self.n_mfcc}")
        unknown = [s for s in self.stats if s not in STAT_NAMES]
        if unknown or not self.stats:
            raise ConfigError(f"front end: unknown statistics {unknown}; choose from {list(STAT_NAMES)}")
        unknown = [s for s in self.delta_stats if s not in STAT_NAMES]
        if unknown or len(set(self.delta_stats)) != len(self.delta_stats):
            raise ConfigError(f"front end: delta_stats {list(self.delta_stats)}: unknown or repeated statistics; "
                              f"choose from {list(STAT_NAMES)}")
        if not isinstance(self.delta_width, int) or isinstance(self.delta_width, bool) or self.delta_width < 1:
            raise ConfigError(f"front end: delta_width must be an integer >= 1, got {self.delta_width!r}")
        if self.mel_norm not in (None, "slaney"):
            raise ConfigError(f"front end: mel_norm must be 'slaney' or null, got {self.mel_norm!r}")
        if self.log_range_db is not None and not self.log_range_db > 0:
            raise ConfigError(f"front end: log_range_db must be positive or null, got {self.log_range_db}")
        if self.window != "hann":
            raise ConfigError(f"front end: only window='hann' is supported, got {self.window!r}")
        unknown = [s for s in self.pitch_stats if s not in PITCH_STAT_NAMES]
        if unknown or len(set(self.pitch_stats)) != len(self.pitch_stats):
            raise ConfigError(f"front end: pitch_stats {list(self.pitch_stats)}: unknown or repeated statistics; "
                              f"choose from {list(PITCH_STAT_NAMES)}")
        p = self.pitch
        if not 0 < p.fmin_hz < p.fmax_hz <= self.sample_rate / 4:
            raise ConfigError(f"front end: pitch needs 0 < fmin_hz < fmax_hz <= sample_rate/4, got "
                              f"{p.fmin_hz}, {p.fmax_hz}")
        tau_max = math.ceil(self.sample_rate / p.fmin_hz)
        if self.pitch_stats and self.n_fft - tau_max < tau_max:
            raise ConfigError(f"front end: pitch.fmin_hz={p.fmin_hz} needs lags up to {tau_max} samples, too long "
                              f"for frames of n_fft={self.n_fft}: YIN's integration window (n_fft - lag) must hold "
                              f"the longest period, so fmin_hz >= {2 * self.sample_rate / self.n_fft:g} (raise "
                              "fmin_hz or n_fft)")
        if self.stat_frames not in ("active", "voiced"):
            raise ConfigError(f"front end: stat_frames must be 'active' or 'voiced', got {self.stat_frames!r}")
        if (not isinstance(self.voiced_min_frames, int) or isinstance(self.voiced_min_frames, bool)
                or self.voiced_min_frames < 1):
            raise ConfigError(f"front end: voiced_min_frames must be an integer >= 1, got {self.voiced_min_frames!r}")
        if not 0 < p.threshold <= p.voiced_max <= 1:
            raise ConfigError(f"front end: pitch needs 0 < threshold <= voiced_max <= 1, got {p.threshold}, "
                              f"{p.voiced_max}")

    # Derived sizes -------------------------------------------------------------------------------------
    @property
    def win_length(self) -> int:
        """Analysis window length in samples."""
        return int(round(self.win_ms * self.sample_rate / 1000.0))

    @property
    def hop_length(self) -> int:
        """Frame hop in samples."""
        return int(round(self.hop_ms * self.sample_rate / 1000.0))

    @property
    def n_bands(self) -> int:
        """Number of per-frame values the statistics are taken over."""
        return self.n_mfcc if self.feature == "mfcc" else self.n_mels

    @property
    def dim(self) -> int:
        """Length of the per-window input vector: n_bands * (len(stats) + len(delta_stats)) + len(pitch_stats).

        Layout: the statistics of the values, band-major (band0 stats, band1 stats, ...), then the statistics
        of their deltas, band-major, then the pitch statistics."""
        return self.n_bands * (len(self.stats) + len(self.delta_stats)) + len(self.pitch_stats)

    # Serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stats"] = list(self.stats)
        d["delta_stats"] = list(self.delta_stats)
        d["pitch_stats"] = list(self.pitch_stats)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FrontEndConfig":
        """Build from a dict; unknown keys are an error that names them."""
        d = dict(d)
        sub = {"silence": SilenceConfig, "voicing": VoicingConfig, "pitch": PitchConfig}
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d.pop(f.name)
            if f.name in sub:
                v = _sub_from_dict(sub[f.name], v, f"front_end.{f.name}")
            elif f.name in ("stats", "delta_stats", "pitch_stats"):
                if not isinstance(v, (list, tuple)):
                    raise ConfigError(f"front_end.{f.name}: expected a list of statistic names, got {v!r}")
                v = tuple(v)
            kwargs[f.name] = v
        if d:
            raise ConfigError(f"front_end: unknown key(s) {sorted(d)}; known: {[f.name for f in dataclasses.fields(cls)]}")
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> "FrontEndConfig":
        return cls.from_dict(json.loads(text))

    def hash(self) -> str:
        """Short stable hash of every parameter.

        Parameters added after the first release are left out of the hash while they hold their default, so a
        configuration that does not use them keeps the hash (and the caches, run folders) it always had."""
        d = without_later_defaults(self.to_dict())
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def frames_hash(self) -> str:
        """Hash of the parameters that shape the frame-level features (the feature cache's key): the summary
        parameters (SUMMARY_PARAMS: statistics, deltas, which frames) only act on cached frames, so they are left
        out; of
        pitch_stats only whether it is set counts (the frames then carry a pitch track)."""
        return self.frames_config().hash()

    def frames_config(self) -> "FrontEndConfig":
        """This configuration with the summary-statistics parameters at their defaults (see frames_hash)."""
        defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(FrontEndConfig)
                                    if f.name in SUMMARY_PARAMS}
        defaults["pitch_stats"] = PITCH_STAT_NAMES if self.pitch_stats else ()
        return dataclasses.replace(self, **defaults)


# Parameters that only shape the window statistics, not the cached frames (see FrontEndConfig.frames_hash).
SUMMARY_PARAMS = ("stats", "delta_stats", "delta_width", "stat_frames", "voiced_min_frames")
# Parameters added after the first release, with their defaults as `to_dict` writes them (see FrontEndConfig.hash).
LATER_FRONT_END_DEFAULTS: dict[str, Any] = {"delta_stats": [], "delta_width": 2, "pitch_stats": [],
                                            "pitch": dataclasses.asdict(PitchConfig()), "stat_frames": "active",
                                            "voiced_min_frames": 25}


def without_later_defaults(section: dict[str, Any],
                           later: dict[str, Any] = LATER_FRONT_END_DEFAULTS) -> dict[str, Any]:
    """A copy of a config section's dict without the `later` parameters (added after the first release) that
    hold their defaults: the content every hash is taken over, so older configs keep their hash. Default
    `later`: the front end's (`FrontEndConfig.to_dict`); a recipe passes its own for other sections."""
    return {k: v for k, v in section.items() if k not in later or v != later[k]}


def _sub_from_dict(cls: type, v: Any, where: str) -> Any:
    if isinstance(v, cls):
        return v
    if not isinstance(v, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(v).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(v) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    return cls(**v)


# DeepEar's task windows (seed 000): the scene DNN runs every 1.28 s, the speech DNNs on 5 s windows.
# (window_s, hop_s); recipes may override them per task.
DEEPEAR_TASK_WINDOWS: dict[str, tuple[float, float]] = {
    "scene": (1.28, 1.28),
    "emotion": (5.0, 5.0),
    "stress": (5.0, 5.0),
    "speaker": (5.0, 5.0),
}
