"""Which frames a window's statistics use: `front_end.stat_frames` ("active", the default, or "voiced")."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deepear.audio.config import PITCH_STAT_NAMES, FrontEndConfig
from deepear.audio.features import summary_stats
from deepear.audio.frontend import analyze, summarize, window_bounds
from deepear.audio.io import load_audio
from deepear.audio.streaming import FrameStream, WindowAssembler
from deepear.data.mixing import mix_at_snr
from deepear.errors import ConfigError

ACTIVE = FrontEndConfig(pitch_stats=PITCH_STAT_NAMES)
VOICED = dataclasses.replace(ACTIVE, stat_frames="voiced")
N_LOGMEL = ACTIVE.n_bands * len(ACTIVE.stats)


@pytest.fixture(scope="module")
def noisy_speech(data_root) -> np.ndarray:
    """A RAVDESS sentence at 5 dB in a real running-tap recording, 1 s of the tap before and after."""
    y = load_audio(data_root / "ravdess" / "Actor_02" / "03-01-05-02-01-01-02.flac")
    y = np.concatenate([np.zeros(16000, np.float32), y, np.zeros(16000, np.float32)])
    noise = load_audio(data_root / "sc_bg_noise" / "running_tap.flac")[:len(y)]
    return mix_at_snr(y, noise, 5.0)


def test_voiced_statistics_are_those_of_the_voiced_active_frames(noisy_speech):
    ff = analyze(noisy_speech, VOICED)
    a, v = summarize(ff, ACTIVE, 5.0, 5.0), summarize(ff, VOICED, 5.0, 5.0)
    lo, hi = window_bounds(ff.n_frames, VOICED, 5.0, 5.0)[0]
    act = ff.active[lo:hi]
    voiced = act & (ff.speech_prob[lo:hi] > VOICED.voicing.frame_threshold)
    assert VOICED.voiced_min_frames <= voiced.sum() < act.sum()       # the rule has frames to drop here
    np.testing.assert_allclose(v.x[0, :N_LOGMEL], summary_stats(ff.values[lo:hi][voiced], VOICED.stats),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(a.x[0, :N_LOGMEL], summary_stats(ff.values[lo:hi][act], ACTIVE.stats),
                               rtol=1e-5, atol=1e-4)
    assert not np.allclose(a.x, v.x)
    # routing is untouched: the speech score still averages P(speech) over the active frames
    assert np.array_equal(a.speech_score, v.speech_score) and np.array_equal(a.voiced, v.voiced)


def test_windows_with_few_voiced_frames_keep_the_active_rule(data_root):
    ff = analyze(load_audio(data_root / "esc10" / "002 - Rain" / "1-17367-A.flac"), VOICED)
    a, v = summarize(ff, ACTIVE, 1.28, 0.64), summarize(ff, VOICED, 1.28, 0.64)
    b = window_bounds(ff.n_frames, VOICED, 1.28, 0.64)
    few = np.array([(ff.active[s:e] & (ff.speech_prob[s:e] > 0.5)).sum() < VOICED.voiced_min_frames for s, e in b])
    assert few.sum() >= 3                                              # rain is mostly not speech
    assert np.array_equal(a.x[few], v.x[few])


def test_streaming_equals_batch_with_voiced_frames(noisy_speech, rng):
    want = summarize(analyze(noisy_speech, VOICED), VOICED, 1.28, 0.64).x
    fs, wa = FrameStream(VOICED), WindowAssembler(VOICED, 1.28, 0.64)
    got, i = [], 0
    while i < len(noisy_speech):
        k = int(rng.integers(1, 4000))
        w = wa.push(fs.push(noisy_speech[i:i + k]))
        i += k
        if w is not None:
            got.append(w.x)
    got = np.concatenate(got)
    assert np.array_equal(got, want[:len(got)]) and len(got) == len(want)


def test_config_hashes_and_errors():
    assert VOICED.frames_hash() == ACTIVE.frames_hash()                # one cache serves both rules
    assert VOICED.hash() != ACTIVE.hash()
    plain = FrontEndConfig()
    assert plain.hash() == FrontEndConfig.from_dict(
        {k: v for k, v in plain.to_dict().items() if k not in ("stat_frames", "voiced_min_frames")}).hash()
    assert FrontEndConfig.from_json(VOICED.to_json()) == VOICED
    with pytest.raises(ConfigError, match="stat_frames must be 'active' or 'voiced'"):
        FrontEndConfig(stat_frames="speech")
    with pytest.raises(ConfigError, match="voiced_min_frames"):
        FrontEndConfig(stat_frames="voiced", voiced_min_frames=0)


def test_c_library_takes_voiced_frames():
    from deepear.export.c_codegen import check_supported

    check_supported(ACTIVE)
    check_supported(VOICED)          # ported (tests/test_c_library.py checks C against Python on real clips)
