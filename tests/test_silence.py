"""deepear.audio.silence: adaptive noise floor on generated signals and real speech/noise, streaming equality."""
from __future__ import annotations

import numpy as np
import pytest

from deepear.audio import silence
from deepear.audio.config import FrontEndConfig, SilenceConfig
from deepear.audio.features import frame_energy_db, power_spectrum
from deepear.audio.frontend import analyze
from deepear.audio.io import load_audio
from deepear.data.mixing import mix_at_snr
from deepear.errors import AudioError, ConfigError

CFG = FrontEndConfig()
HOP = CFG.hop_ms / 1000.0
SR = CFG.sample_rate


def energy(y: np.ndarray) -> np.ndarray:
    return frame_energy_db(power_spectrum(np.asarray(y, dtype=np.float32), CFG), CFG)


def noisy_speech(speech_file, noise_file, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(clean, mixture) of a RAVDESS clip and a real noise recording at snr_db (whole-clip speech power)."""
    s = load_audio(speech_file, SR)
    n = load_audio(noise_file, SR)[SR: SR + s.shape[0]]
    e = energy(s)
    act = np.repeat(e > e.max() - 30.0, CFG.hop_length)
    mask = np.zeros(s.shape[0], dtype=bool)
    mask[: act.shape[0]] = act[: s.shape[0]]
    return s, mix_at_snr(s, n, snr_db, signal_active=mask)


def test_digital_silence_is_silent():
    e = energy(np.zeros(SR * 2, dtype=np.float32))
    assert not silence.active_frames(e, HOP, CFG.silence).any()


def test_tone_bursts_in_noise(rng):
    # 6 s of white noise at about -40 dBFS with 1 kHz bursts 20 dB louder: 0.3 s every 1 s from t = 0.5 s
    t = np.arange(SR * 6) / SR
    y = 0.01 * rng.standard_normal(t.shape[0])
    on = ((t % 1.0) >= 0.5) & ((t % 1.0) < 0.8)
    y = (y + on * 0.14 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    e = energy(y)
    a = silence.active_frames(e, HOP, CFG.silence)
    centre = np.arange(e.shape[0]) * HOP + CFG.n_fft / SR / 2
    inside = ((centre % 1.0) > 0.53) & ((centre % 1.0) < 0.77)
    outside = ((centre % 1.0) < 0.45) | ((centre % 1.0) > 0.85)
    assert a[inside].mean() > 0.98
    assert a[outside].mean() < 0.02


def test_noise_floor_rises_at_the_configured_rate(rng):
    # noise at -40 dBFS for 3 s, then 12 dB louder: the floor catches up in about 12 / rise_db_per_s seconds
    cfg = SilenceConfig(rise_db_per_s=3.0)
    y = 0.01 * rng.standard_normal(SR * 10)
    y[SR * 3:] *= 10 ** (12 / 20)
    e = energy(y.astype(np.float32))
    fl = silence.noise_floor(e, HOP, cfg)
    step = int(3.0 / HOP)
    before = np.median(e[step - 100:step])
    after = np.median(e[-100:])
    # 2 s after the step the floor has risen about 6 dB, not 12
    assert 4.0 < fl[step + 200] - fl[step - 10] < 8.0
    # after 12/3 = 4 s plus margin it sits at the new background (within the noise's frame-to-frame spread)
    assert fl[step + 500] > after - 3.0 and after - before > 11.0
    # and the loud noise is active only while the floor is catching up (< about 2.5 s of the 7 s)
    a = silence.active_frames(e, HOP, cfg)[step:]
    assert 0.05 < a.mean() < 0.4
    assert not a[-300:].any()


def test_floor_restarts_from_absolute_floor_after_dropout(noise_file):
    tap = load_audio(noise_file, SR)[: SR * 4]
    y = np.concatenate([np.zeros(SR * 2, dtype=np.float32), tap])
    e = energy(y)
    fl = silence.noise_floor(e, HOP, CFG.silence)
    assert fl[int(1.5 / HOP)] == pytest.approx(CFG.silence.abs_floor_db)
    a = silence.active_frames(e, HOP, CFG.silence)[int(2.0 / HOP):]
    assert a[int(1.5 / HOP):].mean() < 0.02   # the tap is background after 1.5 s at most
    assert a.mean() < 0.2


@pytest.mark.parametrize("name", ["white_noise.flac", "running_tap.flac", "pink_noise.flac"])
def test_steady_noise_recordings_are_mostly_silent(data_root, name):
    e = energy(load_audio(data_root / "sc_bg_noise" / name, SR)[: SR * 20])
    assert silence.active_frames(e, HOP, CFG.silence).mean() < 0.25
    # the fixed 40-dB-below-max rule keeps everything
    assert silence.fixed_rule_active(e).mean() > 0.95


def test_clean_speech_pauses_silent_and_speech_active(speech_file):
    e = energy(load_audio(speech_file, SR))
    a = silence.active_frames(e, HOP, CFG.silence)
    loud = e > e.max() - 15.0
    quiet = e < e.max() - 45.0
    assert a[loud].mean() > 0.95
    assert not a[quiet].any()


@pytest.mark.parametrize("snr_db", [10.0, 0.0])
def test_noisy_speech_pauses_are_marked_silent(speech_file, noise_file, snr_db):
    s, m = noisy_speech(speech_file, noise_file, snr_db)
    ec, em = energy(s), energy(m)
    a = silence.active_frames(em, HOP, CFG.silence)
    pause = ec < ec.max() - 40.0
    loud = ec > ec.max() - 10.0
    assert pause.sum() > 50 and loud.sum() > 20
    assert (~a[pause]).mean() > 0.9
    assert a[loud].mean() > (0.8 if snr_db >= 10 else 0.25)
    # the fixed rule marks the noisy pauses active
    assert (~silence.fixed_rule_active(em)[pause]).mean() < 0.1


def test_streaming_tracker_equals_one_call(speech_file, noise_file, rng):
    _, m = noisy_speech(speech_file, noise_file, 5.0)
    e = np.concatenate([energy(np.zeros(SR // 2, dtype=np.float32)), energy(m), energy(m * 0.1)])
    whole = silence.active_frames(e, HOP, CFG.silence)
    for _ in range(5):
        cuts = np.sort(rng.choice(np.arange(1, e.shape[0]), size=int(rng.integers(1, 40)), replace=False))
        tr = silence.NoiseFloorTracker(CFG.silence, HOP)
        parts = [tr.update(c) for c in np.split(e, cuts)] + [tr.update(e[:0])]
        assert np.array_equal(np.concatenate(parts), whole)
    # one frame at a time as well, and reset starts over
    tr = silence.NoiseFloorTracker(CFG.silence, HOP)
    assert np.array_equal(np.concatenate([tr.update(e[i:i + 1]) for i in range(e.shape[0])]), whole)
    tr.reset()
    assert np.array_equal(tr.update(e), whole)


def test_frontend_uses_the_silence_filter(speech_file, noise_file):
    _, m = noisy_speech(speech_file, noise_file, 10.0)
    ff = analyze(m, CFG)
    assert ff.active.dtype == bool and ff.active.shape == (ff.n_frames,)
    assert 0.15 < ff.active.mean() < 0.8


def test_bad_input_raises():
    with pytest.raises(AudioError, match="1-D"):
        silence.active_frames(np.zeros((3, 2)), HOP, CFG.silence)
    with pytest.raises(AudioError, match="NaN"):
        silence.active_frames(np.array([0.0, np.nan]), HOP, CFG.silence)
    with pytest.raises(ConfigError, match="hop_s"):
        silence.active_frames(np.zeros(4), 0.0, CFG.silence)
    with pytest.raises(ConfigError, match="rise_db_per_s"):
        silence.NoiseFloorTracker(SilenceConfig(rise_db_per_s=-1.0), HOP)
    assert silence.active_frames(np.zeros(0), HOP, CFG.silence).shape == (0,)
