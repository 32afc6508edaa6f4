"""From clips to labelled window vectors: the examples the model, the baselines and the evaluation use.

Every task has its own window (recipe `tasks.<t>.window_s / hop_s`); tasks with the same window share
the windows. A clip yields windows for a window group only when it is labelled for one of the group's
tasks (or always, for unlabelled pre-training data). Silent windows are dropped. A clip can be taken clean
(frame features from the feature cache) or mixed with noise first (features computed, then cached under a
key of the clip, the noise bank and the seed), in parallel worker processes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from deepear.audio.config import FrontEndConfig
from deepear.audio.frontend import analyze, summarize, window_bounds, window_selection
from deepear.audio.io import load_audio
from deepear.data.cache import FeatureCache, file_identity
from deepear.data.clips import Clip
from deepear.data.mixing import Mixer, NoiseBank, condition_snr_db
from deepear.errors import AudioError

log = logging.getLogger(__name__)


@dataclass
class WindowSet:
    """N labelled windows. y[:, j] is the class index for tasks[j], -1 where the window has no label."""

    tasks: tuple[str, ...]
    x: np.ndarray                 # (N, D) float32 summary vectors
    y: np.ndarray                 # (N, n_tasks) int64
    clip: np.ndarray              # (N,) int64 index into the clip list the set was built from
    wgroup: np.ndarray            # (N,) int64 window group (index into `windows`)
    voiced: np.ndarray            # (N,) bool
    condition: np.ndarray         # (N,) object: "clean" or "<noise_type>@<snr>dB"
    windows: tuple[tuple[float, float], ...] = ()
    frames: list[np.ndarray] | None = None   # per window: (t_i, n_bands) frames its statistics used

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, mask: np.ndarray) -> "WindowSet":
        idx = np.flatnonzero(mask) if mask.dtype == bool else np.asarray(mask)
        return WindowSet(self.tasks, self.x[idx], self.y[idx], self.clip[idx], self.wgroup[idx], self.voiced[idx],
                         self.condition[idx], self.windows,
                         [self.frames[i] for i in idx] if self.frames is not None else None)

    def for_task(self, task: str) -> "WindowSet":
        """Only the windows labelled for `task`."""
        return self.subset(self.y[:, self.tasks.index(task)] >= 0)

    @staticmethod
    def concat(sets: Sequence["WindowSet"]) -> "WindowSet":
        sets = [s for s in sets if s is not None]
        first = sets[0]
        frames = None
        if all(s.frames is not None for s in sets):
            frames = [f for s in sets for f in s.frames]
        return WindowSet(first.tasks, np.concatenate([s.x for s in sets]), np.concatenate([s.y for s in sets]),
                         np.concatenate([s.clip for s in sets]), np.concatenate([s.wgroup for s in sets]),
                         np.concatenate([s.voiced for s in sets]), np.concatenate([s.condition for s in sets]),
                         first.windows, frames)


def unlabel_below_snr(ws: WindowSet, min_snr_db: dict[str, float]) -> WindowSet:
    """Remove task labels from noisy windows mixed below that task's SNR (clean windows keep every label);
    windows left without any label are dropped. min_snr_db: {task: lowest SNR in dB that keeps the label}."""
    snr = np.array([np.inf if (v := condition_snr_db(c)) is None else v for c in ws.condition])
    y = ws.y.copy()
    for t, lo in min_snr_db.items():
        y[snr < lo, ws.tasks.index(t)] = -1
    return replace(ws, y=y).subset((y >= 0).any(axis=1))


@dataclass(frozen=True)
class Job:
    """One clip to turn into windows: clean, mixed with a random draw (snr='draw'), or at a fixed SNR."""

    clip: int
    snr: float | str | None = None      # None clean; "draw": Mixer.mix with the bank's SNR set; float: that SNR
    seed: tuple[int, ...] = ()          # seed words of this job's generator


@dataclass
class Builder:
    """Builds WindowSets for one front end, task layout and noise bank."""

    clips: Sequence[Clip]
    tasks: tuple[str, ...]
    label_index: dict[str, dict[str, int]]          # task -> label -> class index
    task_windows: dict[str, tuple[float, float]]    # task -> (window_s, hop_s)
    cfg: FrontEndConfig
    cache: FeatureCache
    bank: NoiseBank | None = None
    snrs_db: tuple[float | None, ...] = (20.0, 10.0, 5.0, 0.0)
    workers: int = 2
    keep_frames: bool = False
    windows: tuple[tuple[float, float], ...] = field(init=False)

    def __post_init__(self) -> None:
        self.windows = tuple(sorted({self.task_windows[t] for t in self.tasks}))

    def build(self, jobs: Sequence[Job], unlabelled: bool = False,
              progress: Callable[[int, int], None] | None = None) -> WindowSet:
        """Windows of every job. `unlabelled`: windows of every window group, all labels -1."""
        global _STATE
        _STATE = (self, unlabelled)
        results: list = [None] * len(jobs)
        if self.workers > 1 and len(jobs) > 8:
            ctx = mp.get_context("fork")
            with ctx.Pool(self.workers) as pool:
                for n, (i, r) in enumerate(pool.imap_unordered(_run_job, list(enumerate(jobs)), chunksize=8), 1):
                    results[i] = r
                    if progress:
                        progress(n, len(jobs))
        else:
            for n, (i, job) in enumerate(enumerate(jobs), 1):
                results[i] = _run_job((i, job))[1]
                if progress:
                    progress(n, len(jobs))
        _STATE = None
        parts = [r for r in results if isinstance(r, WindowSet) and len(r)]
        for i, r in enumerate(results):
            if isinstance(r, str):
                log.warning("skipped clip %s: %s", self.clips[jobs[i].clip].path, r)
        if not parts:
            return self._empty()
        return WindowSet.concat(parts)

    def _empty(self) -> WindowSet:
        return WindowSet(self.tasks, np.zeros((0, self.cfg.dim), np.float32), np.zeros((0, len(self.tasks)), np.int64),
                         np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool),
                         np.zeros(0, object), self.windows, [] if self.keep_frames else None)

    # per-job work (runs in worker processes) ----------------------------------------------------------
    def frames_for(self, job: Job):
        clip = self.clips[job.clip]
        if job.snr is None:
            return self.cache.compute(clip.path), "clean"
        key = self._mix_key(job)
        hit = self.cache.get_derived(key)
        if hit is not None:
            ff, meta = hit
            return ff, meta["condition"]
        mixer = _mixer(self)
        y = load_audio(clip.path, self.cfg.sample_rate, min_samples=self.cfg.n_fft)
        rng = np.random.default_rng(list(job.seed))
        if job.snr == "draw":
            mixed, info = mixer.mix(y, rng)
        else:
            mixed, info = mixer.with_snrs([float(job.snr)]).mix(y, rng)
        ff = analyze(mixed, self.cfg)
        self.cache.put_derived(key, ff, {"condition": info.condition, "mix": info.to_dict()})
        return ff, info.condition

    def _mix_key(self, job: Job) -> str:
        ident = file_identity(self.clips[job.clip].path)
        bank = sorted(e.path for e in self.bank.entries) if self.bank else []
        snrs = list(self.snrs_db) if job.snr == "draw" else [job.snr]
        blob = json.dumps([ident, list(job.seed), snrs, hashlib.sha1("|".join(bank).encode()).hexdigest()])
        return hashlib.sha1(blob.encode()).hexdigest()

    def windows_of(self, job: Job, unlabelled: bool) -> WindowSet | str | None:
        """The job's windows; None when it has none (no label for any task, all silent); the error message
        (a str) when its audio cannot be used."""
        clip = self.clips[job.clip]
        try:
            ff, cond = self.frames_for(job)
        except (AudioError, OSError) as e:
            return str(e)
        xs, ys, gs, vs, fr = [], [], [], [], []
        for g, (w, h) in enumerate(self.windows):
            group_tasks = [t for t in self.tasks if self.task_windows[t] == (w, h)]
            labels = np.full(len(self.tasks), -1, np.int64)
            for t in group_tasks:
                lab = clip.tasks.get(t)
                if lab is not None and not unlabelled:
                    labels[self.tasks.index(t)] = self.label_index[t][lab]
            if not unlabelled and (labels < 0).all():
                continue
            win = summarize(ff, self.cfg, w, h)
            keep = ~win.silent
            if not keep.any():
                continue
            xs.append(win.x[keep])
            ys.append(np.repeat(labels[None], int(keep.sum()), axis=0))
            gs.append(np.full(int(keep.sum()), g, np.int64))
            vs.append(win.voiced[keep])
            if self.keep_frames:
                fr += _window_frames(ff, self.cfg, w, h, keep)
        if not xs:
            return None
        n = sum(len(a) for a in xs)
        return WindowSet(self.tasks, np.concatenate(xs), np.concatenate(ys), np.full(n, job.clip, np.int64),
                         np.concatenate(gs), np.concatenate(vs), np.array([cond] * n, dtype=object), self.windows,
                         fr if self.keep_frames else None)


def _window_frames(ff, cfg: FrontEndConfig, w: float, h: float, keep: np.ndarray) -> list[np.ndarray]:
    """The frames each kept window's statistics used (frontend.window_selection, the same rule)."""
    idx, sel, _ = window_selection(ff, cfg, window_bounds(ff.n_frames, cfg, w, h))
    return [np.ascontiguousarray(ff.values[i][m]) for i, m, k in zip(idx, sel, keep) if k]


_STATE: tuple | None = None
_MIXERS: dict[int, Mixer] = {}


def _mixer(b: Builder) -> Mixer:
    m = _MIXERS.get(id(b))
    if m is None:
        if b.bank is None:
            raise AudioError("a noisy job needs a noise bank")
        m = _MIXERS[id(b)] = Mixer(b.bank, b.snrs_db, b.cfg.sample_rate, cfg=b.cfg)
    return m


def _run_job(arg):
    i, job = arg
    builder, unlabelled = _STATE
    return i, builder.windows_of(job, unlabelled)
