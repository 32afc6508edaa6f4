"""deepear.audio.features: agreement with librosa, shapes, determinism, summary statistics."""
from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import (feature_names, frame_energy_db, log_mel, log_mel_from_power, mel_filterbank,
                                    mfcc, n_frames, power_spectrum, summary_stats)
from deepear.audio.io import load_audio
from deepear.errors import AudioError, ConfigError


def _librosa_log_mel(y: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    S = librosa.feature.melspectrogram(
        y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
        window="hann", center=False, power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin_hz, fmax=cfg.fmax_hz,
        htk=cfg.mel_htk, norm=cfg.mel_norm)
    # librosa has no per-frame floor: apply deepear's documented floor (cfg.log_range_db) to librosa's mel
    S = np.maximum(S, S.max(axis=0, keepdims=True) * 10.0 ** (-cfg.log_range_db / 10.0))
    return librosa.power_to_db(S, ref=1.0, amin=cfg.log_amin, top_db=None).T


@pytest.mark.parametrize("n_mels,htk,fmax", [(32, False, 8000.0), (40, True, 7600.0), (24, False, 4000.0)])
def test_mel_filterbank_matches_librosa(n_mels, htk, fmax):
    cfg = FrontEndConfig(n_mels=n_mels, mel_htk=htk, fmax_hz=fmax)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=n_mels, fmin=0.0, fmax=fmax, htk=htk, norm="slaney")
    fb = mel_filterbank(cfg)
    assert fb.shape == (n_mels, 257)
    np.testing.assert_allclose(fb, ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("rel", ["ravdess/Actor_03/03-01-06-02-02-01-03.flac",
                                 "esc10/002 - Rain/1-17367-A.flac",
                                 "fsdd_8k/7_jackson_3.flac",
                                 "moh_music_8k/reno_project-system.flac"])
def test_log_mel_matches_librosa_on_real_audio(data_root, rel):
    cfg = FrontEndConfig()
    y = load_audio(data_root / rel, cfg.sample_rate)[: 20 * cfg.sample_rate]
    ours = log_mel(y, cfg)
    ref = _librosa_log_mel(y, cfg)
    assert ours.shape == ref.shape == (n_frames(len(y), cfg), cfg.n_mels)
    # 1e-5 relative (dB values span about -100..+30; float32 spectra)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_log_mel_without_frame_floor_matches_librosa(speech_file):
    cfg = FrontEndConfig(log_range_db=None)
    y = load_audio(speech_file)
    S = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, hop_length=160, win_length=400, window="hann", center=False, power=2.0,
        n_mels=32, fmin=0.0, fmax=8000.0)
    ref = librosa.power_to_db(S, ref=1.0, amin=cfg.log_amin, top_db=None).T
    np.testing.assert_allclose(log_mel(y, cfg), ref, rtol=1e-5, atol=1e-5)


def test_mfcc_matches_librosa(speech_file):
    cfg = FrontEndConfig(feature="mfcc", n_mfcc=13)
    y = load_audio(speech_file)
    ref = librosa.feature.mfcc(S=_librosa_log_mel(y, cfg).T, n_mfcc=13, dct_type=2, norm="ortho").T
    np.testing.assert_allclose(mfcc(y, cfg), ref, rtol=1e-4, atol=2e-3)


def test_frames_follow_center_false_convention():
    cfg = FrontEndConfig()
    assert n_frames(511, cfg) == 0 and n_frames(512, cfg) == 1 and n_frames(512 + 160, cfg) == 2
    with pytest.raises(AudioError, match="too short"):
        log_mel(np.zeros(300, np.float32), cfg)


def test_deterministic(speech_file):
    y = load_audio(speech_file)
    a, b = log_mel(y), log_mel(y.copy())
    assert np.array_equal(a, b)


def test_log_mel_of_a_frame_does_not_depend_on_how_many_frames_are_computed(speech_file):
    # streaming computes a few frames per call, batch all of them: the values must be identical, bit for bit.
    # A float32 GEMM fails this on some CPUs (AMD EPYC + OpenBLAS: 400 of 808 rows already differ by an ulp).
    cfg = FrontEndConfig()
    power = power_spectrum(load_audio(speech_file), cfg)
    full = log_mel_from_power(power, cfg)
    for start, n in [(0, 1), (5, 1), (5, 2), (17, 3), (100, 64), (3, 400), (0, len(power) - 1)]:
        assert np.array_equal(log_mel_from_power(power[start:start + n], cfg), full[start:start + n]), (start, n)


def test_frame_energy_of_full_scale_sine_is_minus_3_db():
    cfg = FrontEndConfig()
    t = np.arange(16000) / 16000
    y = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    e = frame_energy_db(power_spectrum(y, cfg), cfg)
    np.testing.assert_allclose(e, -3.01, atol=0.05)
    e0 = frame_energy_db(power_spectrum(np.zeros(4000, np.float32), cfg), cfg)
    assert np.all(e0 <= -99.0)


def test_summary_stats_values_and_order(rng):
    v = rng.normal(size=(101, 3)).astype(np.float32)
    stats = ("mean", "std", "min", "max", "median", "p25", "p75")
    out = summary_stats(v, stats).reshape(3, 7)
    np.testing.assert_allclose(out[:, 0], v.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out[:, 1], v.std(0), rtol=1e-5)
    np.testing.assert_allclose(out[:, 2], v.min(0))
    np.testing.assert_allclose(out[:, 3], v.max(0))
    np.testing.assert_allclose(out[:, 4], np.median(v, 0), rtol=1e-5)
    np.testing.assert_allclose(out[:, 5], np.percentile(v, 25, 0), rtol=1e-5)
    np.testing.assert_allclose(out[:, 6], np.percentile(v, 75, 0), rtol=1e-5)
    assert feature_names(FrontEndConfig())[:2] == ["mel00_mean", "mel00_std"]
    assert len(feature_names(FrontEndConfig())) == FrontEndConfig().dim == 224


def test_summary_stats_rejects_no_frames():
    with pytest.raises(ValueError, match="n_frames >= 1"):
        summary_stats(np.zeros((0, 4), np.float32), ("mean",))


def test_config_json_round_trip_and_hash():
    cfg = FrontEndConfig(n_mels=24, feature="mfcc", n_mfcc=12, stats=("mean", "std"))
    back = FrontEndConfig.from_json(cfg.to_json())
    assert back == cfg and back.hash() == cfg.hash()
    assert FrontEndConfig().hash() != cfg.hash()
    d = json.loads(FrontEndConfig().to_json())
    # every parameter is explicit in the serialised form
    for key in ("sample_rate", "win_ms", "hop_ms", "n_fft", "n_mels", "fmin_hz", "fmax_hz", "mel_norm",
                "log_amin", "stats", "silence", "voicing"):
        assert key in d


@pytest.mark.parametrize("bad,match", [
    ({"n_melz": 3}, r"unknown key\(s\) \['n_melz'\]"),
    ({"silence": {"floor": 1}}, r"front_end.silence: unknown key\(s\) \['floor'\]"),
    ({"win_ms": 50.0}, "longer than n_fft"),
    ({"fmax_hz": 9000.0}, "fmax_hz"),
    ({"stats": ["mean", "kurtosis"]}, "unknown statistics"),
    ({"feature": "cqt"}, "feature must be"),
])
def test_config_errors_name_the_key(bad, match):
    with pytest.raises(ConfigError, match=match):
        FrontEndConfig.from_dict(bad)
