"""The streaming front end gives exactly the batch front end's frames and windows, for any chunking."""
from __future__ import annotations

import numpy as np
import pytest

from deepear.audio.config import FrontEndConfig
from deepear.audio.frontend import analyze, summarize
from deepear.audio.io import load_audio, resample
from deepear.audio.streaming import FrameStream, Resampler, WindowAssembler
from deepear.errors import AudioError

CFG = FrontEndConfig()
FIELDS = ("x", "t_start", "t_end", "silent", "voiced", "speech_score", "active_fraction", "partial")


@pytest.fixture(scope="module")
def signal(data_root) -> np.ndarray:
    """Speech, 2 s of digital silence, then a real noise recording: about 8 s."""
    speech = load_audio(data_root / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac")
    noise = load_audio(data_root / "sc_bg_noise" / "running_tap.flac")[: 16000 * 2]
    return np.concatenate([speech, np.zeros(16000 * 2, np.float32), noise])


def _run(y: np.ndarray, chunk: int, groups: list[tuple[float, float]], cfg: FrontEndConfig = CFG):
    fs = FrameStream(cfg)
    was = [WindowAssembler(cfg, w, h) for w, h in groups]
    frames, wins = [], [[] for _ in groups]
    for i in range(0, len(y), chunk):
        f = fs.push(y[i:i + chunk])
        frames.append(f)
        for j, wa in enumerate(was):
            w = wa.push(f)
            if w is not None:
                wins[j].append(w)
    for j, wa in enumerate(was):
        w = wa.flush()
        if w is not None:
            wins[j].append(w)
    cat = {k: np.concatenate([getattr(f, k) for f in frames]) for k in ("values", "energy_db", "active", "speech_prob")}
    return cat, [{k: np.concatenate([getattr(w, k) for w in ws]) for k in FIELDS} for ws in wins]


@pytest.mark.parametrize("chunk", [16, 592, 16000])  # 1 ms, 37 ms, 1 s
def test_frames_and_windows_equal_batch_for_any_chunking(signal, chunk):
    ff = analyze(signal, CFG)
    groups = [(1.28, 1.28), (5.0, 5.0), (1.28, 0.64), (0.5, 1.0)]
    frames, wins = _run(signal, chunk, groups)
    assert np.array_equal(frames["values"], ff.values)           # bit for bit
    assert np.array_equal(frames["energy_db"], ff.energy_db)
    assert np.array_equal(frames["active"], ff.active)
    np.testing.assert_allclose(frames["speech_prob"], ff.speech_prob, rtol=0, atol=1e-5)  # BLAS gemv rounding
    for (w, h), got in zip(groups, wins):
        ref = summarize(ff, CFG, w, h)
        assert len(got["x"]) == len(ref) > 0
        for k in FIELDS:
            if k == "speech_score":
                np.testing.assert_allclose(got[k], getattr(ref, k), atol=1e-5)
            else:
                assert np.array_equal(got[k], getattr(ref, k)), (w, h, k)
    assert wins[1]["silent"].sum() == 0 and wins[0]["silent"].any()   # the silence gap is found


def test_short_stream_flushes_one_partial_window(signal):
    y = signal[: 16000 * 2]                   # shorter than a 5 s window
    ref = summarize(analyze(y, CFG), CFG, 5.0, 5.0)
    _, (got,) = _run(y, 1000, [(5.0, 5.0)])
    assert len(got["x"]) == 1 and got["partial"][0] and ref.partial[0]
    assert np.array_equal(got["x"], ref.x)


def test_flush_gives_nothing_after_whole_windows(signal):
    fs, wa = FrameStream(CFG), WindowAssembler(CFG, 1.28, 1.28)
    assert wa.push(fs.push(signal[:16000 * 2])) is not None
    assert wa.flush() is None


def test_reset_starts_a_new_stream(signal):
    fs = FrameStream(CFG)
    a = fs.push(signal[:16000])
    fs.push(signal[16000:20000])
    fs.reset()
    b = fs.push(signal[:16000])
    assert b.start == 0 and np.array_equal(a.values, b.values) and np.array_equal(a.speech_prob, b.speech_prob)


def test_frames_are_contiguous_and_shorter_than_a_frame_gives_none(signal):
    fs = FrameStream(CFG)
    assert len(fs.push(signal[:CFG.n_fft - 1])) == 0
    f = fs.push(signal[CFG.n_fft - 1:CFG.n_fft])
    assert len(f) == 1 and f.start == 0
    wa = WindowAssembler(CFG, 1.28, 1.28)
    wa.push(f)
    with pytest.raises(AudioError, match="contiguous"):
        wa.push(fs.push(signal[:CFG.n_fft]).__class__(5, f.values, f.energy_db, f.active, f.speech_prob))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampler_stream_matches_batch_resample(signal, rate):
    y = resample(signal, 16000, rate)
    rs = Resampler(rate, 16000)
    chunk = int(0.037 * rate)
    out = np.concatenate([rs.push(y[i:i + chunk]) for i in range(0, len(y), chunk)]
                         + [rs.push(np.zeros(0, np.float32), last=True)])
    ref = resample(y, rate, 16000)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_delta_windows_equal_batch_when_streamed(signal):
    cfg = FrontEndConfig(delta_stats=("std", "p25", "p75"))
    ff = analyze(signal, cfg)
    groups = [(1.28, 0.64), (5.0, 5.0)]
    _, wins = _run(signal, 592, groups, cfg)
    for (w, h), got in zip(groups, wins):
        ref = summarize(ff, cfg, w, h)
        assert got["x"].shape == (len(ref), cfg.dim)
        assert np.array_equal(got["x"], ref.x), (w, h)
