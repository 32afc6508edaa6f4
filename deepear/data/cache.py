"""On-disk cache of frame-level front-end features, one entry per audio file.

Layout: `<cache root>/<front-end config hash>/<sha1(abs path)[:2]>/<sha1(abs path)>.npz`, plus a
`config.json` recording the front end. Each entry stores the file's identity (absolute path, size,
mtime_ns) and its `FrameFeatures`. A changed front-end config selects another folder; a changed file
(size or mtime) no longer matches its entry's identity and is recomputed and overwritten — exactly what
changed is invalidated. Entries are written to a temp file and renamed, so an interrupted run leaves no
corrupt entry (at worst a stray `*.tmp`, removed on the next run).
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from deepear.atomic import atomic_write, atomic_write_text
from deepear.audio.config import FrontEndConfig
from deepear.audio.frontend import FrameFeatures, analyze
from deepear.audio.io import load_audio
from deepear.errors import AudioError

log = logging.getLogger(__name__)

# 2: the mel projection runs in float64 (features.log_mel_from_power): values may differ from v1 by a float32 ulp
FORMAT_VERSION = 2


def default_cache_root() -> Path:
    """`$DEEPEAR_CACHE`, else `$XDG_CACHE_HOME/deepear`, else `~/.cache/deepear`."""
    if os.environ.get("DEEPEAR_CACHE"):
        return Path(os.environ["DEEPEAR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "deepear"


def file_identity(path: str | os.PathLike) -> tuple[str, int, int]:
    """(absolute path, size in bytes, mtime in ns) — what a cache entry is keyed and checked by."""
    p = os.path.abspath(path)
    st = os.stat(p)
    return p, int(st.st_size), int(st.st_mtime_ns)


@dataclass
class CacheReport:
    """What `FeatureCache.build` did."""

    n_files: int
    n_computed: int
    n_cached: int
    audio_s: float
    wall_s: float
    errors: dict[str, str]


class FeatureCache:
    """Frame-level features of audio files for one front-end config, computed once and kept on disk."""

    def __init__(self, cfg: FrontEndConfig, root: str | os.PathLike | None = None) -> None:
        self.cfg = cfg
        self.dir = Path(root or default_cache_root()) / f"frames-v{FORMAT_VERSION}-{cfg.frames_hash()}"
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg_file = self.dir / "config.json"
        if not cfg_file.exists():
            _atomic_write_text(cfg_file, cfg.frames_config().to_json())

    def entry_path(self, path: str | os.PathLike) -> Path:
        h = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()
        return self.dir / h[:2] / f"{h}.npz"

    def is_fresh(self, path: str | os.PathLike) -> bool:
        """True when `path` has an entry matching its current identity (reads only the identity fields)."""
        e = self.entry_path(path)
        if not e.exists():
            return False
        try:
            with np.load(e, allow_pickle=False) as z:
                return (str(z["path"]), int(z["size"]), int(z["mtime_ns"])) == file_identity(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return False

    def get(self, path: str | os.PathLike) -> FrameFeatures | None:
        """The cached features of `path`, or None when absent or stale (file changed since)."""
        e = self.entry_path(path)
        if not e.exists():
            return None
        try:
            ident = file_identity(path)
        except OSError:
            return None
        try:
            with np.load(e, allow_pickle=False) as z:
                if (str(z["path"]), int(z["size"]), int(z["mtime_ns"])) != ident:
                    return None
                return _frames_from(z)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # unreadable: recompute
            log.warning("cache entry %s unreadable (%s); recomputing", e, err)
            return None

    def put(self, path: str | os.PathLike, ff: FrameFeatures, ident: tuple[str, int, int] | None = None) -> None:
        """Store `ff` as the features of `path` (atomic)."""
        p, size, mtime = ident or file_identity(path)
        _atomic_savez(self.entry_path(p), path=np.array(p), size=np.int64(size), mtime_ns=np.int64(mtime),
                      **_frames_to(ff))

    def compute(self, path: str | os.PathLike) -> FrameFeatures:
        """Features of `path`, from the cache or computed and stored. Raises AudioError for bad audio."""
        ff = self.get(path)
        if ff is None:
            ident = file_identity(path)
            y = load_audio(path, self.cfg.sample_rate, min_samples=self.cfg.n_fft)
            ff = analyze(y, self.cfg)
            self.put(path, ff, ident)
        return ff

    def build(self, paths: Iterable[str | os.PathLike], workers: int = 2,
              progress: Callable[[int, int], None] | None = None) -> CacheReport:
        """Make sure every file in `paths` has a fresh entry, computing missing ones on `workers` processes.

        Files whose audio is bad are reported in `CacheReport.errors` (path -> message), not raised.
        `progress(done, total)` is called as files finish.
        """
        t0 = time.perf_counter()
        paths = [str(p) for p in paths]
        self._remove_stray_tmp()
        todo = [p for p in paths if not self.is_fresh(p)]
        errors: dict[str, str] = {}
        audio_s = 0.0
        done = len(paths) - len(todo)
        if progress:
            progress(done, len(paths))
        if todo:
            args = [(self.cfg.to_json(), str(self.dir.parent), p) for p in todo]
            if workers > 1 and len(todo) > 1:
                ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
                with ctx.Pool(min(workers, len(todo))) as pool:
                    for p, secs, err in pool.imap_unordered(_compute_one, args, chunksize=4):
                        done += 1
                        audio_s += secs
                        if err:
                            errors[p] = err
                        if progress:
                            progress(done, len(paths))
            else:
                for a in args:
                    p, secs, err = _compute_one(a)
                    done += 1
                    audio_s += secs
                    if err:
                        errors[p] = err
                    if progress:
                        progress(done, len(paths))
        for p, msg in errors.items():
            log.warning("skipped %s: %s", p, msg)
        return CacheReport(n_files=len(paths), n_computed=len(todo) - len(errors), n_cached=len(paths) - len(todo),
                           audio_s=audio_s, wall_s=time.perf_counter() - t0, errors=errors)

    # Derived audio (e.g. a clip mixed with noise), keyed by the caller's string -------------------------
    def derived_path(self, key: str) -> Path:
        return self.dir / "derived" / key[:2] / f"{key}.npz"

    def get_derived(self, key: str) -> tuple[FrameFeatures, dict] | None:
        """Features and metadata stored under `key`, or None."""
        e = self.derived_path(key)
        if not e.exists():
            return None
        try:
            with np.load(e, allow_pickle=False) as z:
                return _frames_from(z), json.loads(str(z["meta"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            log.warning("derived cache entry %s unreadable (%s); recomputing", e, err)
            return None

    def put_derived(self, key: str, ff: FrameFeatures, meta: dict) -> None:
        """Store features of derived audio with JSON-able `meta` under `key` (atomic)."""
        _atomic_savez(self.derived_path(key), meta=np.array(json.dumps(meta)), **_frames_to(ff))

    def _remove_stray_tmp(self, older_than_s: float = 3600.0) -> None:
        """Remove temp files left by an interrupted run (old enough not to belong to a live one)."""
        now = time.time()
        for t in self.dir.rglob("*.tmp"):
            try:
                if now - t.stat().st_mtime > older_than_s:
                    t.unlink()
            except OSError:
                pass


def _compute_one(args: tuple[str, str, str]) -> tuple[str, float, str | None]:
    cfg_json, root, path = args
    cfg = FrontEndConfig.from_json(cfg_json)
    cache = FeatureCache(cfg, root)
    try:
        ff = cache.compute(path)
    except (AudioError, OSError) as e:
        return path, 0.0, str(e)
    return path, ff.n_samples / cfg.sample_rate, None


def _frames_to(ff: FrameFeatures) -> dict[str, np.ndarray]:
    out = dict(values=ff.values, energy_db=ff.energy_db, active=ff.active, speech_prob=ff.speech_prob,
               hop_s=np.float64(ff.hop_s), n_samples=np.int64(ff.n_samples))
    if ff.pitch is not None:
        out["pitch"] = ff.pitch
    return out


def _frames_from(z) -> FrameFeatures:
    return FrameFeatures(values=z["values"], energy_db=z["energy_db"], active=z["active"],
                         speech_prob=z["speech_prob"], hop_s=float(z["hop_s"]), n_samples=int(z["n_samples"]),
                         pitch=z["pitch"] if "pitch" in z.files else None)


def _atomic_savez(dest: Path, /, **arrays: np.ndarray) -> None:
    """np.savez through deepear.atomic: readers never see a partial entry."""
    atomic_write(dest, lambda f: np.savez(f, **arrays))


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)
