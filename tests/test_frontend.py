"""deepear.audio.frontend: windows, the frames their statistics use, silent and partial windows."""
from __future__ import annotations

import numpy as np
import pytest

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import summary_stats
from deepear.audio.frontend import analyze, summarize, window_bounds
from deepear.audio.io import load_audio
from deepear.errors import AudioError, ConfigError

CFG = FrontEndConfig()


def test_window_bounds_rules():
    # 1.28 s windows = 128 frames; hop 0.64 s = 64 frames
    b = window_bounds(500, CFG, 1.28, 0.64)
    assert b[0].tolist() == [0, 128] and b[1].tolist() == [64, 192] and b[-1, 1] <= 500
    assert window_bounds(100, CFG, 1.28, 0.64).tolist() == [[0, 100]]  # shorter clip: one partial window
    assert window_bounds(0, CFG, 1.28, 0.64).shape == (0, 2)
    with pytest.raises(ConfigError, match="positive"):
        window_bounds(10, CFG, 0.0, 1.0)


def test_real_clip_shapes_and_determinism(speech_file):
    y = load_audio(speech_file)
    ff = analyze(y, CFG)
    assert ff.values.shape == (1 + (len(y) - 512) // 160, 32)
    w = summarize(ff, CFG, 1.28, 0.64)
    assert w.x.shape == (len(w), 224) and w.x.dtype == np.float32
    assert np.all(w.t_end > w.t_start) and not w.partial.any()
    w5 = summarize(ff, CFG, 5.0, 5.0)  # RAVDESS clips are shorter than 5 s: one partial window
    assert len(w5) == 1 and w5.partial[0] and w5.voiced[0] and not w5.silent[0]
    again = summarize(analyze(y.copy(), CFG), CFG, 1.28, 0.64)
    assert np.array_equal(w.x, again.x)


def test_statistics_use_active_frames_only(speech_file):
    ff = analyze(load_audio(speech_file), CFG)
    w = summarize(ff, CFG, 5.0, 5.0)
    ref = summary_stats(ff.values[ff.active], CFG.stats)
    np.testing.assert_allclose(w.x[0], ref, rtol=1e-5, atol=1e-4)
    assert 0.2 < w.active_fraction[0] < 0.95  # RAVDESS has silence before and after the sentence


def test_vectorised_windows_match_a_plain_loop(noise_file):
    ff = analyze(load_audio(noise_file)[: 16000 * 8], CFG)
    w = summarize(ff, CFG, 1.28, 0.32)
    b = window_bounds(ff.n_frames, CFG, 1.28, 0.32)
    for i, (a, e) in enumerate(b):
        act = ff.active[a:e]
        aud = ff.energy_db[a:e] > CFG.silence.abs_floor_db
        sel = act if act.sum() >= CFG.silence.min_active_frames else (aud if aud.any() else np.ones_like(act))
        np.testing.assert_allclose(w.x[i], summary_stats(ff.values[a:e][sel], CFG.stats), rtol=1e-5, atol=1e-4)


def test_digital_silence_is_a_silent_window():
    y = np.zeros(16000 * 2, dtype=np.float32)
    w = summarize(analyze(y, CFG), CFG, 1.28, 1.28)
    assert len(w) == 1 and w.silent.all() and not w.voiced.any()
    assert np.all(np.isfinite(w.x))


def test_steady_background_is_not_silent(data_root):
    # continuous rain: few frames rise above its own noise floor, but it is audible -> not silent
    y = load_audio(data_root / "esc10" / "002 - Rain" / "1-17367-A.flac")
    w = summarize(analyze(y, CFG), CFG, 1.28, 1.28)
    assert not w.silent.any()


def test_shorter_than_one_frame_is_an_error():
    with pytest.raises(AudioError, match="too short"):
        analyze(np.zeros(100, np.float32), CFG)
