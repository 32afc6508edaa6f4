"""deepear.data.cache: computed once, exact invalidation, atomic entries, parallel == serial."""
from __future__ import annotations

import os
import shutil

import numpy as np

from deepear.audio.config import FrontEndConfig
from deepear.audio.frontend import analyze
from deepear.audio.io import load_audio
from deepear.data.cache import FeatureCache


def _copy_clips(data_root, tmp_path, n=3):
    src = sorted((data_root / "ravdess" / "Actor_02").glob("*.flac"))[:n]
    out = []
    for p in src:
        q = tmp_path / p.name
        shutil.copy(p, q)
        out.append(q)
    return out


def test_entry_equals_direct_computation_and_is_reused(data_root, tmp_path):
    files = _copy_clips(data_root, tmp_path)
    cache = FeatureCache(FrontEndConfig(), tmp_path / "cache")
    rep = cache.build(files, workers=1)
    assert (rep.n_computed, rep.n_cached, rep.errors) == (3, 0, {})
    ff = cache.get(files[0])
    direct = analyze(load_audio(files[0]), FrontEndConfig())
    assert np.array_equal(ff.values, direct.values) and np.array_equal(ff.active, direct.active)
    rep2 = cache.build(files, workers=1)
    assert (rep2.n_computed, rep2.n_cached) == (0, 3)


def test_changed_file_invalidates_only_that_file(data_root, tmp_path):
    files = _copy_clips(data_root, tmp_path)
    cache = FeatureCache(FrontEndConfig(), tmp_path / "cache")
    cache.build(files, workers=1)
    # replace the first file's content with another clip's (size and mtime change)
    other = sorted((data_root / "ravdess" / "Actor_03").glob("*.flac"))[0]
    shutil.copy(other, files[0])
    st = os.stat(files[0])
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    assert cache.get(files[0]) is None and cache.get(files[1]) is not None
    rep = cache.build(files, workers=1)
    assert (rep.n_computed, rep.n_cached) == (1, 2)
    assert np.array_equal(cache.get(files[0]).values, analyze(load_audio(other), FrontEndConfig()).values)


def test_changed_config_uses_a_separate_cache(data_root, tmp_path):
    files = _copy_clips(data_root, tmp_path, 1)
    a = FeatureCache(FrontEndConfig(), tmp_path / "cache")
    b = FeatureCache(FrontEndConfig(n_mels=24), tmp_path / "cache")
    assert a.dir != b.dir
    a.build(files, workers=1)
    assert b.get(files[0]) is None
    b.build(files, workers=1)
    assert b.get(files[0]).values.shape[1] == 24 and a.get(files[0]).values.shape[1] == 32
    assert (a.dir / "config.json").read_text() == FrontEndConfig().to_json()


def test_interrupted_write_leaves_no_corrupt_entry(data_root, tmp_path, monkeypatch):
    files = _copy_clips(data_root, tmp_path, 1)
    cache = FeatureCache(FrontEndConfig(), tmp_path / "cache")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    try:
        cache.build(files, workers=1)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert not cache.entry_path(files[0]).exists()
    assert not list(cache.dir.glob("*/*.tmp"))
    assert cache.build(files, workers=1).n_computed == 1


def test_truncated_entry_is_recomputed(data_root, tmp_path):
    files = _copy_clips(data_root, tmp_path, 1)
    cache = FeatureCache(FrontEndConfig(), tmp_path / "cache")
    cache.build(files, workers=1)
    e = cache.entry_path(files[0])
    e.write_bytes(e.read_bytes()[:100])
    assert cache.get(files[0]) is None
    assert cache.build(files, workers=1).n_computed == 1


def test_parallel_equals_serial_and_bad_files_are_reported(data_root, tmp_path):
    files = _copy_clips(data_root, tmp_path, 4)
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio")
    par = FeatureCache(FrontEndConfig(), tmp_path / "par")
    ser = FeatureCache(FrontEndConfig(), tmp_path / "ser")
    seen = []
    rep = par.build(files + [bad], workers=2, progress=lambda d, t: seen.append((d, t)))
    ser.build(files, workers=1)
    assert list(rep.errors) == [str(bad)] and "unreadable or corrupt" in rep.errors[str(bad)]
    assert seen[-1] == (5, 5)
    for f in files:
        assert np.array_equal(par.get(f).values, ser.get(f).values)
