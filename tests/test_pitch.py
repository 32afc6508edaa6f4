"""Pitch track and prosody statistics (deepear.audio.pitch, FrontEndConfig.pitch_stats)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deepear.audio.config import PITCH_STAT_NAMES, FrontEndConfig, PitchConfig
from deepear.audio.features import feature_names, frame_signal
from deepear.audio.frontend import analyze, summarize
from deepear.audio.io import load_audio
from deepear.audio.pitch import pitch_track, window_stats
from deepear.audio.streaming import FrameStream, WindowAssembler
from deepear.data.cache import FeatureCache
from deepear.errors import ConfigError

CFG = FrontEndConfig(delta_stats=("std", "p25", "p75"), pitch_stats=PITCH_STAT_NAMES)
SR = 16000


def _stat(x: np.ndarray, name: str) -> float:
    return float(x[..., CFG.dim - len(PITCH_STAT_NAMES) + PITCH_STAT_NAMES.index(name)])


@pytest.mark.parametrize("f0", [80.0, 123.0, 220.0, 440.0])
def test_harmonic_tone_f0_within_half_a_percent(f0):
    t = np.arange(SR) / SR
    y = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in (1, 2, 3, 4)).astype(np.float32) * 0.2
    tr = pitch_track(frame_signal(y, CFG), CFG)
    assert np.all(np.abs(tr[:, 0] / f0 - 1) < 0.005)
    assert np.all(tr[:, 1] < CFG.pitch.voiced_max)


def _yin_by_definition(frame: np.ndarray, cfg: FrontEndConfig) -> tuple[float, float]:
    """YIN on one frame straight from the definitions (no FFT, no cumulative sums): (F0 Hz, aperiodicity)."""
    p, x = cfg.pitch, frame.astype(np.float64)
    tau_min, tau_max = int(np.floor(cfg.sample_rate / p.fmax_hz)), int(np.ceil(cfg.sample_rate / p.fmin_hz))
    w = len(x) - tau_max
    d = np.array([np.sum((x[:w] - x[tau:tau + w]) ** 2) for tau in range(tau_max + 1)])
    dn = d[1:] * np.arange(1, tau_max + 1) / np.maximum(np.cumsum(d[1:]), 1e-300)
    seg = dn[tau_min - 1:]
    cand = [i for i in range(len(seg) - 1) if seg[i] < p.threshold and seg[i] <= seg[i + 1]]
    k = cand[0] if cand else int(np.argmin(seg))
    shift = 0.0
    if 0 < k < len(seg) - 1 and abs(seg[k - 1] - 2 * seg[k] + seg[k + 1]) > 1e-12:
        shift = float(np.clip(0.5 * (seg[k - 1] - seg[k + 1]) / (seg[k - 1] - 2 * seg[k] + seg[k + 1]), -1, 1))
    return cfg.sample_rate / (k + tau_min + shift), float(seg[k])


def test_track_equals_the_definition_on_real_speech(speech_file):
    """The vectorised track (FFT cross-correlation of length n_fft, prefix sums) is YIN as defined: the FFT
    length is exact for every searched lag (a shorter circular correlation would alias here)."""
    frames = frame_signal(load_audio(speech_file), CFG)[::3]
    got = pitch_track(frames, CFG)
    want = np.array([_yin_by_definition(f, CFG) for f in frames])
    voiced = want[:, 1] < CFG.pitch.voiced_max
    assert voiced.sum() > 20 and (~voiced).sum() > 20               # both kinds of frame are checked
    assert np.array_equal(got[:, 1] < CFG.pitch.voiced_max, voiced)
    np.testing.assert_allclose(got[:, 0], want[:, 0], rtol=1e-5)
    np.testing.assert_allclose(got[:, 1], want[:, 1], rtol=1e-5, atol=1e-6)


def test_noise_and_silence_have_no_pitch(rng):
    noise = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    x = summarize(analyze(noise, CFG), CFG, 1.0, 1.0).x
    assert np.all(x[:, -len(PITCH_STAT_NAMES):-2] == 0)          # no voiced frames: every F0 statistic 0
    assert np.all(x[:, -2:] > 0.6)                                 # aperiodicity of white noise is high
    silent = summarize(analyze(np.zeros(SR, np.float32), CFG), CFG, 1.0, 1.0).x
    assert np.all(silent[:, -2:] == 1.0) and np.all(silent[:, -len(PITCH_STAT_NAMES):-2] == 0)


def test_real_speech_female_voice_is_higher_than_male(data_root):
    # RAVDESS: odd actors are male, even actors female; the same sentence, neutral
    male = load_audio(data_root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.flac")
    female = load_audio(data_root / "ravdess" / "Actor_02" / "03-01-01-01-01-01-02.flac")
    xm = summarize(analyze(male, CFG), CFG, 5.0, 5.0).x[0]
    xf = summarize(analyze(female, CFG), CFG, 5.0, 5.0).x[0]
    assert _stat(xm, "voiced_frac") > 0.3 and _stat(xf, "voiced_frac") > 0.3
    assert 50.0 < 100 * 2 ** (_stat(xm, "st_median") / 12) < 200.0      # Hz
    assert _stat(xf, "st_median") - _stat(xm, "st_median") > 4.0        # semitones
    assert _stat(xm, "st_p10") <= _stat(xm, "st_median") <= _stat(xm, "st_p90")
    assert _stat(xm, "st_range") == pytest.approx(_stat(xm, "st_p90") - _stat(xm, "st_p10"), abs=1e-5)


def test_vector_layout_and_names():
    base = dataclasses.replace(CFG, pitch_stats=())
    assert CFG.dim == base.dim + 11 == len(feature_names(CFG))
    assert feature_names(CFG)[-11:] == [f"pitch_{s}" for s in PITCH_STAT_NAMES]
    some = dataclasses.replace(CFG, pitch_stats=("st_std", "voiced_frac"))
    y = (0.2 * np.sin(2 * np.pi * 150 * np.arange(SR) / SR)).astype(np.float32)
    full = summarize(analyze(y, CFG), CFG, 1.0, 1.0).x
    part = summarize(analyze(y, some), some, 1.0, 1.0).x
    assert np.array_equal(part[:, :base.dim], full[:, :base.dim])
    assert np.array_equal(part[:, base.dim:], full[:, [base.dim + 2, base.dim]])


def test_streaming_equals_batch_bit_for_bit(speech_file, rng):
    y = load_audio(speech_file)
    want = summarize(analyze(y, CFG), CFG, 1.28, 0.64).x
    fs, wa = FrameStream(CFG), WindowAssembler(CFG, 1.28, 0.64)
    got, i = [], 0
    while i < len(y):
        k = int(rng.integers(1, 4000))
        w = wa.push(fs.push(y[i:i + k]))
        i += k
        if w is not None:
            got.append(w.x)
    got = np.concatenate(got)
    assert np.array_equal(got, want[:len(got)]) and len(got) == len(want)


def test_cache_keeps_the_track_and_separates_configs(speech_file, tmp_path):
    c = FeatureCache(CFG, tmp_path)
    a = c.compute(speech_file)
    b = FeatureCache(CFG, tmp_path).get(speech_file)
    assert b is not None and np.array_equal(a.pitch, b.pitch)
    fewer = dataclasses.replace(CFG, pitch_stats=("st_mean",))
    assert fewer.frames_hash() == CFG.frames_hash()        # the same frames serve any subset of statistics
    plain = dataclasses.replace(CFG, pitch_stats=())
    assert plain.frames_hash() != CFG.frames_hash()
    assert plain.hash() == FrontEndConfig(delta_stats=("std", "p25", "p75")).hash()
    frames = FeatureCache(plain, tmp_path).compute(speech_file)
    assert frames.pitch is None
    with pytest.raises(ConfigError, match="no pitch track"):
        summarize(frames, CFG, 5.0, 5.0)


def test_default_config_hash_is_unchanged():
    # pitch_stats / pitch were added later: a config without them keeps its hash (caches, runs, bundles)
    assert "pitch_stats" not in FrontEndConfig().to_dict() or FrontEndConfig().hash() == FrontEndConfig.from_dict(
        {k: v for k, v in FrontEndConfig().to_dict().items() if k not in ("pitch_stats", "pitch")}).hash()
    assert FrontEndConfig.from_json(CFG.to_json()) == CFG


@pytest.mark.parametrize("bad, match", [
    (dict(pitch_stats=("st_mean", "pitch_height")), "unknown or repeated"),
    (dict(pitch_stats=("st_mean", "st_mean")), "unknown or repeated"),
    (dict(pitch_stats=("st_mean",), pitch=PitchConfig(fmin_hz=40.0)), "too long for frames"),
    (dict(pitch=PitchConfig(fmin_hz=300.0, fmax_hz=200.0)), "fmin_hz < fmax_hz"),
    (dict(pitch=PitchConfig(threshold=0.5, voiced_max=0.3)), "threshold <= voiced_max"),
])
def test_bad_pitch_config_is_an_error(bad, match):
    with pytest.raises(ConfigError, match=match):
        FrontEndConfig(**bad)
    with pytest.raises(ConfigError, match="unknown key"):
        FrontEndConfig.from_dict({"pitch": {"fmin": 80}})


def test_c_library_takes_pitch_statistics(monkeypatch):
    """The C library implements every pitch statistic and PitchConfig setting (tests/test_c_library.py checks it
    against this module on real clips); what it still cannot do is refused with the reason."""
    from deepear.export import c_codegen

    assert set(c_codegen.C_PITCH_CODES) == set(PITCH_STAT_NAMES)
    assert sorted(c_codegen.C_PITCH_CODES.values()) == list(range(len(PITCH_STAT_NAMES)))
    c_codegen.check_supported(CFG)
    c_codegen.check_supported(dataclasses.replace(CFG, pitch=PitchConfig(fmin_hz=100.0, fmax_hz=400.0,
                                                                         threshold=0.1, voiced_max=0.25)))
    with pytest.raises(ConfigError, match="feature='mfcc'") as e:       # pitch does not lift the other limits
        c_codegen.check_supported(dataclasses.replace(CFG, feature="mfcc"))
    assert "pitch" not in str(e.value)
    monkeypatch.delitem(c_codegen.C_PITCH_CODES, "dst_std")           # a statistic the C code would not know
    with pytest.raises(ConfigError, match=r"C library: .*pitch_stats \['dst_std'\]"):
        c_codegen.check_supported(CFG)


def test_window_stats_shapes_on_short_windows():
    cfg = dataclasses.replace(CFG, pitch_stats=PITCH_STAT_NAMES)
    track = np.zeros((3, 1, 2), np.float32)
    track[:, :, 1] = 1.0
    out = window_stats(track, np.ones((3, 1), bool), cfg)
    assert out.shape == (3, 11) and np.all(out[:, :9] == 0)

