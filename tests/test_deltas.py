"""Delta statistics (front_end.delta_stats): the HTK regression inside each window, layout, config, streaming."""
from __future__ import annotations

import numpy as np
import pytest

from deepear.audio.config import FrontEndConfig
from deepear.audio.features import feature_names, summary_stats, window_deltas, window_vectors
from deepear.audio.frontend import analyze, summarize
from deepear.audio.io import load_audio
from deepear.errors import ConfigError
from deepear.export.c_codegen import check_supported

DCFG = FrontEndConfig(delta_stats=("std", "p25", "p75"))


def _delta_loop(x: np.ndarray, width: int) -> np.ndarray:
    """Textbook HTK delta of one window (T, B), frames beyond the edges repeated."""
    t_n = x.shape[0]
    out = np.zeros_like(x, dtype=np.float64)
    den = 2 * sum(k * k for k in range(1, width + 1))
    for t in range(t_n):
        for k in range(1, width + 1):
            out[t] += k * (x[min(t + k, t_n - 1)] - x[max(t - k, 0)])
    return out / den


@pytest.mark.parametrize("width", [1, 2, 3])
def test_window_deltas_match_the_htk_formula(width):
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 11, 4)).astype(np.float32)
    d = window_deltas(v, width)
    for i in range(3):
        np.testing.assert_allclose(d[i], _delta_loop(v[i].astype(np.float64), width), rtol=1e-5, atol=1e-6)


def test_delta_of_a_ramp_is_its_slope_away_from_the_edges():
    v = (np.arange(20, dtype=np.float32)[None, :, None] * 3.0).repeat(2, axis=2)
    d = window_deltas(v, 2)
    np.testing.assert_allclose(d[0, 2:-2], 3.0, rtol=1e-6)
    assert d[0, 0, 0] < 3.0 and d[0, -1, 0] < 3.0   # edges see repeated frames


def test_window_vector_layout_and_names_on_real_speech(data_root):
    y = load_audio(data_root / "ravdess" / "Actor_02" / "03-01-05-01-01-01-02.flac")
    ff = analyze(y, DCFG)
    win = summarize(ff, DCFG, 5.0, 5.0)
    assert win.x.shape == (1, DCFG.dim) and DCFG.dim == 32 * 10
    names = feature_names(DCFG)
    assert len(names) == DCFG.dim and names[224] == "dmel00_std" and names[-1] == "dmel31_p75"
    # the static part is exactly the delta-free vector; the delta part is the statistics of the deltas
    base = summarize(ff, FrontEndConfig(), 5.0, 5.0).x
    assert np.array_equal(win.x[:, :224], base)
    from deepear.audio.frontend import window_bounds, window_selection
    idx, sel, _ = window_selection(ff, DCFG, window_bounds(ff.n_frames, DCFG, 5.0, 5.0))
    d = _delta_loop(ff.values[idx[0]].astype(np.float64), 2).astype(np.float32)
    np.testing.assert_allclose(win.x[0, 224:], summary_stats(d[sel[0]], DCFG.delta_stats), rtol=1e-4, atol=1e-4)
    assert np.all(win.x[0, 224::3] > 0)              # std of a moving spectrum is positive in every band


def test_vectors_without_deltas_are_unchanged():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(2, 9, 3)).astype(np.float32)
    m = np.ones((2, 9), bool)
    assert window_vectors(v, m, FrontEndConfig(n_mels=3)).shape == (2, 21)


def test_delta_config_is_validated_and_hashed():
    with pytest.raises(ConfigError, match="delta_stats"):
        FrontEndConfig(delta_stats=("slope",))
    with pytest.raises(ConfigError, match="delta_stats"):
        FrontEndConfig(delta_stats=("std", "std"))
    with pytest.raises(ConfigError, match="delta_width"):
        FrontEndConfig(delta_width=0)
    with pytest.raises(ConfigError, match="delta_stats"):
        FrontEndConfig.from_dict({"delta_stats": "std"})
    assert FrontEndConfig.from_dict(DCFG.to_dict()) == DCFG
    # a config without deltas keeps the hash it had before deltas existed (caches and run folders stay valid)
    assert FrontEndConfig().hash() == "64099fbd1477b4b3"
    assert DCFG.hash() != FrontEndConfig().hash()
    # the frame cache does not depend on the summary statistics
    assert DCFG.frames_hash() == FrontEndConfig().frames_hash() == FrontEndConfig(stats=("mean",)).frames_hash()


def test_c_library_supports_delta_front_ends():
    check_supported(DCFG)          # the port itself is checked against Python in tests/test_c_library.py
