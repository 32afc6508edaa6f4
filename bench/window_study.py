"""Window length of the per-clip tasks (emotion, stress proxy, ESC-10): a nested check that never sees a test fold.

    .venv/bin/python bench/window_study.py [--write]

Speaker ID gained 3 points from 1.28 s windows scored per clip instead of one 5 s window ("speaker_window"); this
asks whether the other tasks scored per clip would gain from another window length. The recipe's front end
(32 log-mel bands, summary + delta statistics); silent windows dropped, as in training; clean audio.

- Emotion (5 classes, calm merged into neutral) and the stress proxy on RAVDESS (clips of ~3-5 s), every window
  standardised per speaker over all of the actor's non-silent windows of that length (no labels;
  docs/adaptation.md). Recipe: 5 s / 2.5 s, one window per clip. Outer folds: the 6 actor-held-out folds.
- ESC-10 (5 s clips): recipe 1.28 s / 0.64 s. Outer folds: the 5 official folds.

For each outer fold its test clips are left out entirely; an SVM (StandardScaler + RBF, C=1, gamma="scale", the
"feature_study" settings) is trained on the windows of all but one of the remaining folds and scored on that one,
rotating (30 fits per cell for RAVDESS, 20 for ESC-10), so only training folds are used. Scored per clip (the
benchmark's rule for these tasks): the SVM's decision values averaged over a clip's windows; per-window accuracy
beside it. Writes the "window_study" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.feature_study import inner_rotations, normalise, svm  # noqa: E402
from bench.report import write_section  # noqa: E402
from deepear.audio.config import FrontEndConfig  # noqa: E402
from deepear.audio.frontend import summarize  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.data.cache import FeatureCache  # noqa: E402
from deepear.data.catalog import all_clips, load_corpora  # noqa: E402
from deepear.data.clips import Clip  # noqa: E402
from deepear.data.splits import actor_folds, esc_folds  # noqa: E402
from deepear.recipe import load_recipe  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPEECH_WINDOWS = ((5.0, 2.5), (2.5, 1.25), (1.28, 0.64))   # (window_s, hop_s); the first must be the recipe's
ESC10_WINDOWS = ((1.28, 0.64), (2.56, 1.28), (5.0, 2.5))


def clip_scores(m, x: np.ndarray, clip: np.ndarray, y_clip: dict[int, str]) -> tuple[float, float]:
    """(per-clip accuracy, per-window accuracy) of fitted classifier `m` on windows x (N, D) of clips `clip` (N,).

    Per clip: decision values averaged over the clip's windows, then the arg-max class (binary: the sign)."""
    d = m.decision_function(x)
    classes = m.classes_
    win_acc = float(np.mean(m.predict(x) == np.array([y_clip[c] for c in clip])))
    hits = []
    for c in np.unique(clip):
        dm = d[clip == c].mean(axis=0)
        pred = classes[int(dm > 0)] if d.ndim == 1 else classes[int(np.argmax(dm))]
        hits.append(pred == y_clip[c])
    return float(np.mean(hits)), win_acc


def inner_cv(x: np.ndarray, y: np.ndarray, clip: np.ndarray, fold: np.ndarray) -> tuple[float, float]:
    """Mean (per-clip, per-window) accuracy over the inner rotations of every outer fold (its clips unused)."""
    y_clip = dict(zip(clip.tolist(), y.tolist()))
    scores = [clip_scores(svm().fit(x[tr], y[tr]), x[va], clip[va], y_clip) for tr, va in inner_rotations(fold)]
    per_clip, per_win = zip(*scores)
    return float(np.mean(per_clip)), float(np.mean(per_win))


def windows_of(frames: list, cfg: FrontEndConfig, window_s: float, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Non-silent window vectors (N, D) of every clip and the index of each window's clip (N,)."""
    xs, clip_idx = [], []
    for i, ff in enumerate(frames):
        w = summarize(ff, cfg, window_s, hop_s)
        keep = ~w.silent
        xs.append(w.x[keep])
        clip_idx.append(np.full(int(keep.sum()), i))
    return np.concatenate(xs), np.concatenate(clip_idx)


def study(clips: list[Clip], tasks: tuple[str, ...], fold_of_clip: np.ndarray, windows: tuple, cfg: FrontEndConfig,
          per_speaker: bool) -> list[tuple]:
    """Rows (window_s, hop_s, windows per clip, clips, {task: (per clip, per window)}) for each window length."""
    cache = FeatureCache(cfg)
    frames = [cache.compute(c.path) for c in clips]
    rows = []
    for window_s, hop_s in windows:
        x, clip = windows_of(frames, cfg, window_s, hop_s)
        if per_speaker:
            x = normalise(x, np.array([clips[i].groups["actor"] for i in clip]), "per speaker")
        res = {}
        for t in tasks:
            y = np.array([clips[i].label(t) or "" for i in clip])
            m = y != ""
            res[t] = inner_cv(x[m], y[m], clip[m], fold_of_clip[clip][m])
        n_clips = len(np.unique(clip))
        rows.append((window_s, hop_s, len(x) / n_clips, n_clips, res))
        print(f"{window_s} s / {hop_s} s: {len(x) / n_clips:.2f} windows per clip, {n_clips} clips; "
              + ", ".join(f"{t} {100 * a:.1f} (per window {100 * b:.1f})" for t, (a, b) in res.items()), flush=True)
    return rows


def table(rows: list[tuple], tasks: dict[str, str], recipe: tuple[float, float]) -> list[str]:
    """Markdown rows: one per window length, per-clip and per-window accuracy of every task."""
    out = ["| window / hop | windows per clip | clips | " + " | ".join(f"{n}, per clip | {n}, per window"
                                                             for n in tasks.values()) + " |",
           "|---|---:|---:|" + "---:|---:|" * len(tasks)]
    for window_s, hop_s, wpc, n_clips, res in rows:
        mark = " (recipes/deepear.yaml)" if (window_s, hop_s) == recipe else ""
        out.append(f"| {window_s:g} s / {hop_s:g} s{mark} | {wpc:.2f} | {n_clips} | "
                   + " | ".join(f"{100 * res[t][0]:.1f} | {100 * res[t][1]:.1f}" for t in tasks) + " |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    t_start = time.perf_counter()
    recipe = load_recipe(REPO / "recipes" / "deepear.yaml")
    cfg = recipe.front_end
    for task, windows in (("emotion", SPEECH_WINDOWS), ("stress", SPEECH_WINDOWS), ("esc10", ESC10_WINDOWS)):
        spec = recipe.tasks[task]
        if (spec.window_s, spec.hop_s) != windows[0]:
            raise SystemExit(f"recipes/deepear.yaml gives {task} {spec.window_s} s / {spec.hop_s} s windows; "
                             f"this study's first row, marked as the recipe's, is {windows[0]}: update it")
    root = default_data_root()
    speech = [c for c in all_clips(load_corpora(root, names=["ravdess"])) if c.label("emotion")]
    fold_speech = np.zeros(len(speech), int)
    for f, fo in enumerate(actor_folds(speech, 6, task="emotion")):
        fold_speech[fo.test] = f
    esc = [c for c in all_clips(load_corpora(root, names=["esc10"])) if c.label("esc10")]
    fold_esc = np.zeros(len(esc), int)
    for f, fo in enumerate(esc_folds(esc, task="esc10")):
        fold_esc[fo.test] = f
    speech_rows = study(speech, ("emotion", "stress"), fold_speech, SPEECH_WINDOWS, cfg, per_speaker=True)
    esc_rows = study(esc, ("esc10",), fold_esc, ESC10_WINDOWS, cfg, per_speaker=False)
    minutes = (time.perf_counter() - t_start) / 60
    lines = ["## Window length of the per-clip tasks: nested check on training folds only (SVM)", "",
             "The recipe's front end, clean audio, silent windows dropped. For each outer fold (RAVDESS: the 6 "
             "actor-held-out folds; ESC-10: the 5 official folds) its test clips are never used: an SVM is trained on "
             "the windows of all but one of the other folds and scored on that one, rotating (30 / 20 fits per cell). "
             "Scored per clip (decision values averaged over the clip's windows), as the benchmark scores these "
             "tasks; per window beside it. Speech windows are standardised per speaker (no labels). Stress is a "
             "proxy (acted anger/fear vs neutral/calm).", "",
             "RAVDESS, emotion (5 classes) and stress proxy:", ""]
    lines += table(speech_rows, {"emotion": "emotion", "stress": "stress proxy"}, SPEECH_WINDOWS[0])
    lines += ["", "ESC-10:", ""]
    lines += table(esc_rows, {"esc10": "ESC-10"}, ESC10_WINDOWS[0])
    lines += ["", f"Bench time {minutes:.1f} min."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("window_study", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
