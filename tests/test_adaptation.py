"""Per-speaker input adaptation (deepear.data.adaptation): statistics per speaker and session, never across
speakers; clear errors for windows that cannot be adapted; windows of other groups untouched."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepear.audio.speaker_norm import prior_moments
from deepear.data.adaptation import SpeakerAdapter
from deepear.data.clips import Clip
from deepear.data.windows import WindowSet
from deepear.errors import DataError


def _set(n_per: int = 10, seed: int = 0):
    """Two speakers (clips 0-1), a clip with no speaker (2); groups 0 (adapted) and 1 (not)."""
    rng = np.random.default_rng(seed)
    clips = [Clip(Path("a.flac"), "ravdess", groups={"speaker": "A"}),
             Clip(Path("b.flac"), "ravdess", groups={"speaker": "B"}),
             Clip(Path("n.flac"), "noise")]
    rows = []
    for clip, offset, scale in ((0, 5.0, 2.0), (1, -3.0, 0.5)):
        for cond in ("clean", "rain@10dB"):
            shift = 1.0 if cond != "clean" else 0.0
            for g in (0, 1):
                x = offset + shift + scale * rng.normal(size=(n_per, 4))
                rows.append((x, clip, g, cond))
    rows.append((rng.normal(size=(n_per, 4)), 2, 1, "clean"))
    x = np.concatenate([r[0] for r in rows]).astype(np.float32)
    n = len(x)
    clip = np.concatenate([[r[1]] * len(r[0]) for r in rows]).astype(np.int64)
    g = np.concatenate([[r[2]] * len(r[0]) for r in rows]).astype(np.int64)
    cond = np.array([c for r in rows for c in [r[3]] * len(r[0])], dtype=object)
    ws = WindowSet(("emotion",), x, np.zeros((n, 1), np.int64), clip, g, np.ones(n, bool), cond,
                   ((1.28, 0.64), (5.0, 2.5)))
    return ws, clips


def test_each_speaker_and_session_is_standardised_with_its_own_windows():
    ws, clips = _set()
    ad = SpeakerAdapter.fit(ws, [0], std_floor=0.01)           # floor far below both speakers' spread
    out = ad.apply(ws, clips)
    for c in (0, 1):
        for cond in ("clean", "rain@10dB"):
            m = (ws.clip == c) & (ws.wgroup == 0) & (ws.condition == cond)
            # every speaker and session lands on the training population's mean and spread
            np.testing.assert_allclose(out.x[m].mean(axis=0), ad.ref_mean, atol=1e-4)
            np.testing.assert_allclose(out.x[m].std(axis=0), ad.ref_std, rtol=1e-4)
    other = ws.wgroup == 1
    assert np.array_equal(out.x[other], ws.x[other])          # other window groups untouched
    assert np.array_equal(out.y, ws.y) and len(out) == len(ws)


def test_a_speaker_is_never_adapted_with_another_speakers_windows():
    ws, clips = _set()
    ad = SpeakerAdapter.fit(ws, [0])
    a = (ws.clip == 0) & (ws.wgroup == 0)
    before = ad.apply(ws, clips).x[a]
    ws2 = WindowSet(ws.tasks, ws.x.copy(), ws.y, ws.clip, ws.wgroup, ws.voiced, ws.condition, ws.windows)
    ws2.x[(ws.clip == 1)] += 100.0                              # change speaker B only
    assert np.array_equal(ad.apply(ws2, clips).x[a], before)


def test_std_floor_keeps_a_constant_dimension_finite():
    ws, clips = _set()
    ws.x[(ws.clip == 0) & (ws.wgroup == 0), 2] = 7.0             # constant for speaker A
    out = SpeakerAdapter.fit(ws, [0]).apply(ws, clips)
    assert np.isfinite(out.x).all()
    ad = SpeakerAdapter.fit(ws, [0])
    assert np.allclose(out.x[(ws.clip == 0) & (ws.wgroup == 0), 2], ad.ref_mean[2])


def test_unadaptable_windows_are_an_error_or_dropped_on_request():
    ws, clips = _set()
    ad = SpeakerAdapter.fit(ws, [0, 1])                        # group 1 includes the speakerless clip
    with pytest.raises(DataError, match=r"n\.flac .*names no 'speaker' group"):
        ad.apply(ws, clips)
    out = ad.apply(ws, clips, drop_unknown=True)
    assert len(out) == len(ws) - 10 and not np.any(out.clip == 2)
    # a speaker with fewer windows than min_windows is shrunk toward the population, not refused
    few = SpeakerAdapter.fit(ws, [0], min_windows=60)     # 10 per session, 20 per speaker
    a = (ws.clip == 0) & (ws.wgroup == 0)
    v = ws.x[a].astype(np.float64)
    mu, sd = prior_moments(20, v.mean(axis=0), v.var(axis=0) * 20, few.ref_mean, few.ref_std, 60)
    np.testing.assert_allclose(few.apply(ws, clips).x[a], few.ref_mean + few.ref_std * (ws.x[a] - mu) / sd,
                               rtol=1e-4, atol=1e-4)


def test_fit_needs_windows_of_the_adapted_groups_and_round_trips():
    ws, clips = _set()
    with pytest.raises(DataError, match="no window of window groups"):
        SpeakerAdapter.fit(ws, [5])
    ad = SpeakerAdapter.fit(ws, [0])
    back = SpeakerAdapter.from_dict(ad.to_dict())
    assert np.array_equal(back.apply(ws, clips).x, ad.apply(ws, clips).x)


def test_a_thin_session_falls_back_to_the_speakers_whole_set():
    ws, clips = _set(n_per=10)
    keep = ~((ws.clip == 0) & (ws.wgroup == 0) & (ws.condition != "clean")) | (np.arange(len(ws)) % 10 == 0)
    thin = ws.subset(keep)                      # speaker A keeps 1 noisy window in group 0
    ad = SpeakerAdapter.fit(thin, [0], min_windows=5)
    out = ad.apply(thin, clips)
    a = (thin.clip == 0) & (thin.wgroup == 0)
    v = thin.x[a].astype(np.float64)
    lone = np.flatnonzero(a & (thin.condition != "clean"))
    expect = ad.ref_mean + ad.ref_std * (thin.x[lone] - v.mean(axis=0)) / np.maximum(v.std(axis=0), 0.1 * ad.ref_std)
    np.testing.assert_allclose(out.x[lone], expect, rtol=1e-4, atol=1e-4)
