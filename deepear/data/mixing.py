"""Mixed-condition synthesis: labelled clips mixed with real background noise at a chosen SNR.

SNR convention (used everywhere in deepear): signal power is the mean power of the signal's *active*
frames (the silence filter's non-silent frames; for speech, active-speech power), noise power is the mean
power of the noise segment over its whole length. snr_db = 10*log10(P_signal / P_noise).

Pieces (see docs/mixing.md):
- `NoiseRecording` / `NoiseBank`: the noise recordings (Speech Commands background noise, ESC-10 rain / sea
  waves / crackling fire / helicopter / chainsaw / clock tick, music tracks), each with its noise type and
  the *group* of recordings it was cut from.
- `split_bank`: training noise vs held-out (robustness-test) noise; whole groups go to one side, and ESC
  clips of the scene test folds never become training noise.
- `Mixer`: draws noise type, recording, offset and SNR from an explicit `numpy.random.Generator` (never the
  global RNG), mixes at the exact active-speech SNR and returns a JSON-serialisable `MixInfo`.
- `synthesize`: several noisy copies of each clip, one reproducible random stream per clip.

Division of work with audiomentations: audiomentations' `AddBackgroundNoise` reads the noise file from disk
on every call (librosa + soxr resampling, not the pipeline's resampler), measures the signal over the whole
clip, silently returns the input when the noise is silent and draws its parameters from Python's global
`random`. deepear therefore picks the noise and offset itself, decodes each recording once with
`deepear.audio.io.load_audio`, and computes the gain on active-speech power (same arithmetic as
AddBackgroundNoise's "relative" mode, checked against it in tests/test_mixing.py); the level change of the
mixture (level augmentation and the peak limiter) is applied with audiomentations' `Gain`, whose parameters
deepear sets and freezes, so audiomentations never touches a random generator.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import frame_energy_db, power_spectrum
from deepear.audio.io import load_audio, to_mono_float32
from deepear.audio.silence import active_frames
from deepear.errors import AudioError, ConfigError, DataError

log = logging.getLogger(__name__)

# ESC-10 folder class name -> ESC-50 category name (the noise type recorded with each mixture).
ESC10_NOISE_TYPES: dict[str, str] = {
    "Dog bark": "dog", "Rain": "rain", "Sea waves": "sea_waves", "Baby cry": "crying_baby",
    "Clock tick": "clock_tick", "Person sneeze": "sneezing", "Helicopter": "helicopter",
    "Chainsaw": "chainsaw", "Rooster": "rooster", "Fire crackling": "crackling_fire",
}
# The ESC-10 classes that are background noise (the other four are short foreground events).
DEFAULT_ESC_NOISE_TYPES: tuple[str, ...] = (
    "rain", "sea_waves", "crackling_fire", "helicopter", "chainsaw", "clock_tick")
SYNTHETIC_SC_NOISE: frozenset[str] = frozenset({"white_noise", "pink_noise"})
NOISE_SOURCES: tuple[str, ...] = ("sc_bg_noise", "esc10", "moh_music_8k")
# Held-out (robustness-test) groups of the default split; every ESC clip of a scene test fold is held out too.
DEFAULT_TEST_GROUPS: tuple[str, ...] = (
    "sc_bg_noise/running_tap", "sc_bg_noise/exercise_bike", "sc_bg_noise/pink_noise",
    "moh_music_8k/manolo_camp-morning_coffee")

CLEAN = "clean"                       # noise_type recorded for an example left clean
TRIM_LEVEL = 1e-4                     # |x| at or below this at a recording's ends is padding (-80 dBFS)
MIN_NOISE_S = 0.5                     # a noise recording shorter than this (after trimming) is unusable
MIN_POWER = 1e-10                     # mean power below this (-100 dBFS) counts as zero
_ESC_NAME = re.compile(r"^(\d+)-(\d+)-([A-Z])$")


# Bank -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseRecording:
    """One noise recording of the bank.

    path: file path, relative to the bank's root (or absolute when the bank has no root).
    noise_type: what it sounds like ('running_tap', 'rain', 'music', ...); recorded with each mixture.
    group: recordings cut from one source share a group (an ESC freesound recording, a music track); a split
        never puts one group on both sides.
    source: corpus it comes from ('sc_bg_noise', 'esc10', 'moh_music_8k', ...).
    esc_fold: the ESC fold (1-5) of an ESC clip, else None.
    synthetic: generated (white / pink noise) rather than recorded.
    """

    path: str
    noise_type: str
    group: str
    source: str
    esc_fold: int | None = None
    synthetic: bool = False

    def __post_init__(self) -> None:
        for name in ("path", "noise_type", "group", "source"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise DataError(f"noise recording: {name} must be a non-empty string, got {v!r}")
        if self.noise_type == CLEAN:
            raise DataError(f"noise recording {self.path}: noise_type {CLEAN!r} is reserved for clean examples")
        if self.esc_fold is not None and (not isinstance(self.esc_fold, int) or self.esc_fold < 1):
            raise DataError(f"noise recording {self.path}: esc_fold must be a positive int, got {self.esc_fold!r}")


@dataclass(frozen=True)
class NoiseBank:
    """A set of noise recordings (sorted by path, so the order never depends on how they were listed).

    root: folder the recordings' relative paths are resolved against (None: paths are absolute).
    """

    entries: tuple[NoiseRecording, ...]
    root: str | None = None
    _by_path: dict[str, NoiseRecording] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = tuple(sorted(self.entries, key=lambda e: e.path))
        for e in entries:
            if not isinstance(e, NoiseRecording):
                raise DataError(f"noise bank: entries must be NoiseRecording, got {type(e).__name__}")
        by_path: dict[str, NoiseRecording] = {}
        for e in entries:
            if e.path in by_path:
                raise DataError(f"noise bank: recording {e.path} is listed twice")
            by_path[e.path] = e
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "root", None if self.root is None else str(self.root))
        object.__setattr__(self, "_by_path", by_path)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def noise_types(self) -> tuple[str, ...]:
        """Sorted noise types present."""
        return tuple(sorted({e.noise_type for e in self.entries}))

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(e.group for e in self.entries)

    def get(self, path: str) -> NoiseRecording:
        """The entry with this (bank-relative) path; DataError if the bank has none."""
        try:
            return self._by_path[path]
        except KeyError:
            raise DataError(f"noise bank: no recording {path!r}") from None

    def resolve(self, entry: NoiseRecording) -> Path:
        """Absolute file path of an entry."""
        p = Path(entry.path)
        return p if self.root is None or p.is_absolute() else Path(self.root) / p

    def subset(self, entries: Iterable[NoiseRecording]) -> "NoiseBank":
        return NoiseBank(tuple(entries), self.root)

    def summary(self) -> dict[str, int]:
        """Number of recordings per noise type."""
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.noise_type] = out.get(e.noise_type, 0) + 1
        return dict(sorted(out.items()))

    @classmethod
    def from_data_root(cls, data_root: str | os.PathLike, *, sources: Sequence[str] = NOISE_SOURCES,
                       esc_noise_types: Collection[str] = DEFAULT_ESC_NOISE_TYPES,
                       include_synthetic: bool = False) -> "NoiseBank":
        """Build the bank from deepear's data-pack layout under `data_root`.

        sc_bg_noise/<name>.flac (noise_type = name; white/pink noise are generated and skipped unless
        `include_synthetic`), esc10/"NNN - Class"/<fold>-<freesound id>-<take>.flac for the classes in
        `esc_noise_types` (ESC-50 category names), moh_music_8k/<track>.flac (noise_type 'music').
        Raises DataError for a missing folder, an unknown source or ESC class, or a malformed ESC file name.
        """
        root = Path(data_root)
        unknown = sorted(set(sources) - set(NOISE_SOURCES))
        if unknown:
            raise DataError(f"noise bank: unknown source(s) {unknown}; known: {list(NOISE_SOURCES)}")
        bad = sorted(set(esc_noise_types) - set(ESC10_NOISE_TYPES.values()))
        if bad:
            raise DataError(f"noise bank: unknown ESC noise type(s) {bad}; "
                            f"known: {sorted(ESC10_NOISE_TYPES.values())}")
        missing = [src for src in sources if not (root / src).is_dir()]
        if missing:
            raise DataError(f"noise bank: folder(s) {missing} not found under {root}")
        entries: list[NoiseRecording] = []
        for src in sources:
            folder = root / src
            if src == "esc10":
                entries += _esc10_entries(folder, set(esc_noise_types))
            else:
                for f in sorted(folder.glob("*.flac")):
                    synthetic = src == "sc_bg_noise" and f.stem in SYNTHETIC_SC_NOISE
                    if synthetic and not include_synthetic:
                        continue
                    ntype = "music" if src == "moh_music_8k" else f.stem
                    entries.append(NoiseRecording(path=f"{src}/{f.name}", noise_type=ntype,
                                                  group=f"{src}/{f.stem}", source=src, synthetic=synthetic))
            if not any(e.source == src for e in entries):
                raise DataError(f"noise bank: no usable noise recordings in {folder}")
        return cls(tuple(entries), str(root))


def _esc10_entries(folder: Path, wanted: set[str]) -> list[NoiseRecording]:
    out: list[NoiseRecording] = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        cls_name = d.name.split(" - ", 1)[-1]
        if cls_name not in ESC10_NOISE_TYPES:
            raise DataError(f"noise bank: unknown ESC-10 class folder {d}")
        ntype = ESC10_NOISE_TYPES[cls_name]
        if ntype not in wanted:
            continue
        for f in sorted(d.glob("*.flac")):
            m = _ESC_NAME.match(f.stem)
            if not m:
                raise DataError(f"noise bank: ESC file name {f} is not <fold>-<freesound id>-<take>.flac")
            fold, fsid = int(m.group(1)), m.group(2)
            out.append(NoiseRecording(path=f"{folder.name}/{d.name}/{f.name}", noise_type=ntype,
                                      group=f"{folder.name}/{fold}-{fsid}", source="esc10", esc_fold=fold))
    return out


def split_bank(bank: NoiseBank, *, scene_test_folds: Collection[int],
               test_groups: Collection[str] | None = None) -> tuple[NoiseBank, NoiseBank]:
    """Split a bank into (train noise, held-out test noise). Deterministic: an explicit rule, no randomness.

    A recording is held out when it is an ESC clip of a scene test fold (so a clip the scene task is tested
    on is never training noise) or its group is in `test_groups`; then every recording of its group is held
    out too, so no group is on both sides. `test_groups=None` means DEFAULT_TEST_GROUPS present in the bank;
    explicit names must all be in the bank. Raises ConfigError for unknown groups, DataError if a side is empty.
    """
    folds = {int(f) for f in scene_test_folds}
    if test_groups is None:
        named = set(DEFAULT_TEST_GROUPS) & bank.groups
    else:
        named = set(test_groups)
        missing = sorted(named - bank.groups)
        if missing:
            raise ConfigError(f"split_bank: test_groups {missing} are not groups of the bank")
    held = {e.group for e in bank.entries
            if e.group in named or (e.esc_fold is not None and e.esc_fold in folds)}
    train = bank.subset(e for e in bank.entries if e.group not in held)
    test = bank.subset(e for e in bank.entries if e.group in held)
    if not len(train) or not len(test):
        raise DataError(f"split_bank: the split leaves {len(train)} training and {len(test)} test recordings; "
                        f"both sides need at least one (scene_test_folds={sorted(folds)})")
    return train, test


# Active-speech mask ---------------------------------------------------------------------------------------
def active_sample_mask(y: np.ndarray, cfg: FrontEndConfig, fallback_audible: bool = True) -> np.ndarray:
    """Samples of the silence filter's active frames, (n,) bool (where a signal's SNR power is measured).

    Each sample belongs to the frame whose centre is nearest (frame t centred at t*hop + n_fft/2; samples
    before the first / after the last centre go to the first / last frame). With `fallback_audible`, a clip
    with fewer than `cfg.silence.min_active_frames` active frames uses its frames above `abs_floor_db`
    instead (the rule the summary statistics follow); a clip with none of either gives an all-False mask.
    Raises AudioError for a non-1-D, non-finite or shorter-than-one-frame signal.
    """
    x = _clip(y, "active_sample_mask: signal")
    energy = frame_energy_db(power_spectrum(x, cfg), cfg)
    act = active_frames(energy, cfg.hop_ms / 1000.0, cfg.silence)
    if fallback_audible and act.sum() < cfg.silence.min_active_frames:
        act = energy > cfg.silence.abs_floor_db
    hop = cfg.hop_length
    idx = np.floor((np.arange(x.shape[0]) - cfg.n_fft / 2.0 + hop / 2.0) / hop).astype(np.int64)
    return act[np.clip(idx, 0, act.shape[0] - 1)]


# Mixing ---------------------------------------------------------------------------------------------------
def _clip(y: np.ndarray, where: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise AudioError(f"{where}: expected a 1-D (n,) signal, got shape {a.shape}")
    return to_mono_float32(a, where)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def noise_gain(signal_power: float, noise_power: float, snr_db: float) -> float:
    """Linear gain that puts noise of power `noise_power` at `snr_db` dB below `signal_power`."""
    if not math.isfinite(snr_db):
        raise ConfigError(f"snr_db must be a finite number of dB, got {snr_db!r}")
    if signal_power <= MIN_POWER:
        raise AudioError(f"signal has zero power ({signal_power:.3g}); cannot mix at an SNR")
    if noise_power <= MIN_POWER:
        raise AudioError(f"noise has zero power ({noise_power:.3g}); cannot mix at an SNR")
    return math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float,
               signal_active: np.ndarray | None = None) -> np.ndarray:
    """Mix `noise` into `signal` so that active-signal power / noise power = `snr_db` dB.

    Args:
        signal: (n,) float32 clean signal.
        noise: (n,) float32 noise segment, same length as `signal`.
        snr_db: target SNR in dB.
        signal_active: optional (n,) bool sample mask of the signal's active part (power measured there);
            default (or an all-False mask): the whole signal.
    Returns: (n,) float32 mixture (not normalised: the signal keeps its level).
    Raises AudioError (a ValueError) for mismatched shapes, NaN/Inf samples or zero power.
    """
    s = _clip(signal, "mix_at_snr: signal").astype(np.float64)
    v = _clip(noise, "mix_at_snr: noise").astype(np.float64)
    if s.shape != v.shape:
        raise AudioError(f"mix_at_snr: signal and noise must have the same shape, got {s.shape} and {v.shape}")
    mask = _mask(signal_active, s.shape[0], "mix_at_snr: signal_active")
    ps = _power(s[mask]) if mask is not None and mask.any() else _power(s)
    gain = noise_gain(ps, _power(v), snr_db)
    return (s + gain * v).astype(np.float32)


def _mask(active: np.ndarray | None, n: int, where: str) -> np.ndarray | None:
    if active is None:
        return None
    m = np.asarray(active)
    if m.dtype != np.bool_ or m.shape != (n,):
        raise AudioError(f"{where}: expected a ({n},) bool sample mask, got {m.dtype} {m.shape}")
    return m


@dataclass(frozen=True)
class MixInfo:
    """What was done to one synthesised example (JSON-serialisable via `to_dict`).

    snr_db: the SNR ("intensity") in dB, None for a clean example.
    noise_type: noise type, or 'clean'.
    noise_path / noise_group: the recording used (bank-relative path), None when clean.
    offset_s: where the noise segment starts in the noise file (s); when the recording is shorter than the
        clip it is looped (its trimmed part) from there.
    noise_gain: linear factor the noise segment was multiplied by before adding (0.0 when clean).
    level_db: the drawn level augmentation (dB; 0.0 without it).
    out_gain_db: the gain applied to the mixture: level_db plus the peak limiter's reduction (dB).
    """

    snr_db: float | None
    noise_type: str
    noise_path: str | None = None
    noise_group: str | None = None
    offset_s: float = 0.0
    noise_gain: float = 0.0
    level_db: float = 0.0
    out_gain_db: float = 0.0

    @property
    def condition(self) -> str:
        """Short label: 'clean' or '<noise_type>@<snr>dB'."""
        return CLEAN if self.snr_db is None else f"{self.noise_type}@{self.snr_db:g}dB"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MixInfo":
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - names)
        if unknown:
            raise DataError(f"MixInfo: unknown key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


def condition_snr_db(condition: str) -> float | None:
    """SNR in dB of a condition label (`MixInfo.condition`: 'clean' -> None, '<noise_type>@<snr>dB' -> snr)."""
    if condition == CLEAN:
        return None
    try:
        return float(condition.rsplit("@", 1)[1].removesuffix("dB"))
    except (IndexError, ValueError):
        raise ValueError(f"window condition {condition!r}: expected 'clean' or '<noise_type>@<snr>dB'") from None


@dataclass
class _Noise:
    samples: np.ndarray     # (L,) float32, trimmed
    trim_start: int         # samples cut from the start of the file


class Mixer:
    """Mixes clips with noise from a bank at SNRs drawn from a fixed set (None = leave clean).

    Every random choice comes from the Generator passed to `mix`, and each call draws exactly five uniforms
    (SNR, noise type, recording, offset, level), so a seed reproduces the data, and one seed used with
    `with_snrs` at several SNRs picks the same noise segment each time (paired robustness conditions).
    Noise type is drawn uniformly over the bank's types, then a recording uniformly within the type, then a
    start offset uniformly (over [0, L - n] samples when the recording is long enough, else over [0, L) and
    looped). Decoded noise (resampled by `load_audio`, padding trimmed) is cached in memory per Mixer.

    Args:
        bank: the noise recordings.
        snrs_db: SNRs to draw from, dB; None means a clean example.
        sample_rate: Hz of the clips (the noise is resampled to it).
        cfg: front-end config whose silence filter defines active samples (default FrontEndConfig at
            `sample_rate`).
        level_db: optional (low, high) dB range of a random level change of the whole mixture.
        peak_limit: if the mixture's peak exceeds this, the mixture is scaled down to it (SNR unchanged);
            None disables.
    """

    def __init__(self, bank: NoiseBank, snrs_db: Sequence[float | None], sample_rate: int = 16000,
                 cfg: FrontEndConfig | None = None, level_db: tuple[float, float] | None = None,
                 peak_limit: float | None = None) -> None:
        self.cfg = cfg if cfg is not None else FrontEndConfig(sample_rate=sample_rate)
        if self.cfg.sample_rate != sample_rate:
            raise ConfigError(f"Mixer: sample_rate {sample_rate} differs from cfg.sample_rate "
                              f"{self.cfg.sample_rate}")
        snrs = list(snrs_db)
        if not snrs:
            raise ConfigError("Mixer: snrs_db is empty; give at least one SNR (or None for clean)")
        for s in snrs:
            if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float))
                                  or not math.isfinite(s)):
                raise ConfigError(f"Mixer: snrs_db entries must be finite dB values or None, got {s!r}")
        if any(s is not None for s in snrs) and not len(bank):
            raise ConfigError("Mixer: the noise bank is empty but snrs_db asks for noisy examples")
        if level_db is not None:
            lo, hi = (float(v) for v in level_db)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(f"Mixer: level_db must be a finite (low, high) range, got {level_db!r}")
            level_db = (lo, hi)
        if peak_limit is not None and not (math.isfinite(peak_limit) and peak_limit > 0):
            raise ConfigError(f"Mixer: peak_limit must be a positive number or None, got {peak_limit!r}")
        self.bank = bank
        self.snrs_db: tuple[float | None, ...] = tuple(None if s is None else float(s) for s in snrs)
        self.sample_rate = int(sample_rate)
        self.level_db = level_db
        self.peak_limit = peak_limit
        self._types = bank.noise_types
        self._by_type = {t: [e for e in bank.entries if e.noise_type == t] for t in self._types}
        self._cache: dict[str, _Noise] = {}

    def with_snrs(self, snrs_db: Sequence[float | None]) -> "Mixer":
        """The same mixer (bank, settings and noise cache shared) drawing from other SNRs."""
        m = Mixer(self.bank, snrs_db, self.sample_rate, self.cfg, self.level_db, self.peak_limit)
        m._cache = self._cache
        return m

    # noise ------------------------------------------------------------------------------------------------
    def noise(self, path: str) -> np.ndarray:
        """Decoded, resampled, end-trimmed samples of one bank recording, (L,) float32 (cached)."""
        return self._noise(self.bank.get(path)).samples

    def _noise(self, entry: NoiseRecording) -> _Noise:
        hit = self._cache.get(entry.path)
        if hit is not None:
            return hit
        y = load_audio(self.bank.resolve(entry), self.sample_rate)
        loud = np.flatnonzero(np.abs(y) > TRIM_LEVEL)
        if loud.size == 0 or (loud[-1] + 1 - loud[0]) < MIN_NOISE_S * self.sample_rate:
            raise DataError(f"noise recording {entry.path}: less than {MIN_NOISE_S} s of sound above "
                            f"{20 * math.log10(TRIM_LEVEL):.0f} dBFS; cannot be used as noise")
        x = np.ascontiguousarray(y[loud[0]: loud[-1] + 1])
        x.setflags(write=False)
        log.debug("noise %s: %.1f s loaded (%.2f s trimmed at the start)", entry.path,
                  x.shape[0] / self.sample_rate, loud[0] / self.sample_rate)
        hit = _Noise(x, int(loud[0]))
        self._cache[entry.path] = hit
        return hit

    # mixing -----------------------------------------------------------------------------------------------
    def mix(self, clip: np.ndarray, rng: np.random.Generator,
            active: np.ndarray | None = None) -> tuple[np.ndarray, MixInfo]:
        """Mix one clip with noise drawn from `rng` (five uniforms per call, whatever the outcome).

        Args:
            clip: (n,) float signal at `sample_rate`.
            rng: the only source of randomness.
            active: optional (n,) bool sample mask where the clip's power is measured; default
                `active_sample_mask(clip, cfg)`.
        Returns: (mixed (n,) float32, MixInfo). A clean draw returns the clip unchanged (up to the level
            augmentation and peak limiter, when set).
        """
        if not isinstance(rng, np.random.Generator):
            raise ConfigError(f"Mixer.mix: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        x = _clip(clip, "Mixer.mix: clip")
        u = rng.random(5)
        snr = self.snrs_db[min(int(u[0] * len(self.snrs_db)), len(self.snrs_db) - 1)]
        level = 0.0 if self.level_db is None else self.level_db[0] + u[4] * (self.level_db[1] - self.level_db[0])
        if snr is None:
            return self.apply(x, None, level_db=level, active=active)
        ntype = self._types[min(int(u[1] * len(self._types)), len(self._types) - 1)]
        cands = self._by_type[ntype]
        entry = cands[min(int(u[2] * len(cands)), len(cands) - 1)]
        noise = self._noise(entry)
        n, length = x.shape[0], noise.samples.shape[0]
        span = length - n + 1 if length >= n else length
        offset = min(int(u[3] * span), span - 1)
        return self.apply(x, snr, entry.path, (noise.trim_start + offset) / self.sample_rate, level, active)

    def apply(self, clip: np.ndarray, snr_db: float | None, noise_path: str | None = None,
              offset_s: float = 0.0, level_db: float = 0.0,
              active: np.ndarray | None = None) -> tuple[np.ndarray, MixInfo]:
        """Mix with given parameters (no randomness): `apply(clip, **info)` redoes a recorded mixture.

        Args:
            clip: (n,) float signal at `sample_rate`.
            snr_db: dB, or None for clean (noise_path then ignored).
            noise_path: bank-relative path of the recording; offset_s: start in that file (s).
            level_db: level change of the mixture (dB); active: as in `mix`.
        Returns: (mixed (n,) float32, MixInfo).
        """
        x = _clip(clip, "Mixer.apply: clip")
        n = x.shape[0]
        mask = _mask(active, n, "Mixer.apply: active")
        if snr_db is None:
            out, out_db = self._level(x.copy(), level_db)   # never hand back the caller's own array
            return out, MixInfo(None, CLEAN, level_db=float(level_db), out_gain_db=out_db)
        if noise_path is None:
            raise ConfigError("Mixer.apply: a noisy example (snr_db set) needs noise_path")
        entry = self.bank.get(noise_path)
        noise = self._noise(entry)
        length = noise.samples.shape[0]
        start = int(round(offset_s * self.sample_rate)) - noise.trim_start
        if not 0 <= start < length or (length >= n and start > length - n):
            raise ConfigError(f"Mixer.apply: offset_s={offset_s} does not fit a {n}-sample clip into "
                              f"{noise_path} ({length} samples after trimming)")
        seg = noise.samples[(start + np.arange(n)) % length] if length < n else noise.samples[start:start + n]
        if mask is None:
            mask = active_sample_mask(x, self.cfg)
        if not mask.any():
            raise AudioError(f"Mixer: clip has no active or audible frame (all below "
                             f"{self.cfg.silence.abs_floor_db} dBFS); cannot mix at an SNR")
        ps, pn = _power(x[mask]), _power(seg)
        if pn <= MIN_POWER:
            raise AudioError(f"Mixer: noise segment of {noise_path} at {offset_s:.3f} s has zero power; "
                             f"cannot mix at an SNR")
        g = noise_gain(ps, pn, snr_db)
        mixed = (x.astype(np.float64) + g * seg.astype(np.float64)).astype(np.float32)
        out, out_db = self._level(mixed, level_db)
        return out, MixInfo(float(snr_db), entry.noise_type, entry.path, entry.group, float(offset_s),
                            float(g), float(level_db), out_db)

    def _level(self, y: np.ndarray, level_db: float) -> tuple[np.ndarray, float]:
        """Level augmentation and peak limiter in one audiomentations Gain with frozen parameters."""
        ratio = 10.0 ** (float(level_db) / 20.0)
        if self.peak_limit is not None:
            peak = float(np.max(np.abs(y))) * ratio
            if peak > self.peak_limit:
                ratio *= self.peak_limit / peak
        if ratio == 1.0:
            return y, 0.0
        return _frozen_gain(y, ratio, self.sample_rate), 20.0 * math.log10(ratio)


def _frozen_gain(y: np.ndarray, ratio: float, sample_rate: int) -> np.ndarray:
    from audiomentations import Gain  # imported lazily: it pulls in librosa

    g = Gain(min_gain_db=0.0, max_gain_db=0.0, p=1.0)
    g.parameters = {"should_apply": True, "amplitude_ratio": float(ratio)}
    g.freeze_parameters()  # frozen + should_apply set: __call__ skips randomize_parameters (no global RNG)
    return np.asarray(g(y, sample_rate), dtype=np.float32)


def synthesize(clips: Iterable[np.ndarray], mixer: Mixer, copies: int, seed: int,
               ) -> Iterator[tuple[int, np.ndarray, MixInfo]]:
    """Yield `copies` mixed versions of every clip: (clip index, (n,) float32 audio, MixInfo).

    Clip i draws from its own stream, `default_rng(SeedSequence(seed, spawn_key=(i,)))`, so its copies
    depend only on (seed, i), not on the other clips; its active mask is computed once for all copies.
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ConfigError(f"synthesize: copies must be a positive int, got {copies!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthesize: seed must be a non-negative int, got {seed!r}")
    for i, clip in enumerate(clips):
        x = _clip(clip, f"synthesize: clip {i}")
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(i,)))
        active = active_sample_mask(x, mixer.cfg) if any(s is not None for s in mixer.snrs_db) else None
        for _ in range(copies):
            y, info = mixer.mix(x, rng, active)
            yield i, y, info
