"""Window length of the speech tasks (emotion, stress proxy): a nested check that never sees a test fold.

    .venv/bin/python bench/emotion_window_study.py [--write]

The recipe gives emotion and stress DeepEar's 5 s windows, which on RAVDESS (clips of ~3-5 s) is one window per
clip. Speaker ID gained 4 points from 1.28 s windows scored per clip ("speaker_window"); this asks whether
emotion and stress would too. RAVDESS, 5 emotion classes (calm merged into neutral) and the stress proxy, clean
audio, the recipe's front end (32 log-mel bands, summary + delta statistics), per-speaker standardisation of
every window (docs/adaptation.md; over all of the actor's non-silent windows of that length, no labels).
Silent windows are dropped, as in training. For each of the 6 actor-held-out outer folds its test actors are
left out entirely; an SVM (StandardScaler + RBF, C=1, gamma="scale", the "feature_study" settings) is trained on
the windows of 4 of the 5 remaining actor blocks and scored on the 5th, rotating: 30 fits per cell, training
actors only. Scored per clip (the benchmark's rule for these tasks): the SVM's decision values averaged over a
clip's windows; per-window accuracy is shown beside it. Writes the "emotion_window_study" section of
docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.feature_study import normalise  # noqa: E402
from bench.report import write_section  # noqa: E402
from deepear.audio.config import FrontEndConfig  # noqa: E402
from deepear.audio.frontend import summarize  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.data.cache import FeatureCache  # noqa: E402
from deepear.data.catalog import all_clips, load_corpora  # noqa: E402
from deepear.data.splits import actor_folds  # noqa: E402
from deepear.recipe import load_recipe  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WINDOWS = ((5.0, 2.5), (2.5, 1.25), (1.28, 0.64))   # (window_s, hop_s); the first is the recipe's


def clip_scores(m, x: np.ndarray, clip: np.ndarray, y_clip: dict[int, str]) -> tuple[float, float]:
    """(per-clip accuracy, per-window accuracy) of fitted classifier `m` on windows x (N, D) of clips `clip` (N,).

    Per clip: decision values averaged over the clip's windows, then the arg-max class (binary: the sign)."""
    d = m.decision_function(x)
    classes = m.classes_
    win_pred = m.predict(x)
    win_acc = float(np.mean(win_pred == np.array([y_clip[c] for c in clip])))
    hits = []
    for c in np.unique(clip):
        dm = d[clip == c].mean(axis=0)
        pred = classes[int(dm > 0)] if d.ndim == 1 else classes[int(np.argmax(dm))]
        hits.append(pred == y_clip[c])
    return float(np.mean(hits)), win_acc


def inner_cv(x: np.ndarray, y: np.ndarray, clip: np.ndarray, fold: np.ndarray) -> tuple[float, float]:
    """Mean (per-clip, per-window) accuracy over the inner rotations of every outer fold (test actors unused)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    y_clip = dict(zip(clip.tolist(), y.tolist()))
    per_clip, per_win = [], []
    for outer in np.unique(fold):
        inner = [f for f in np.unique(fold) if f != outer]
        for v in inner:
            tr, va = np.isin(fold, [f for f in inner if f != v]), fold == v
            m = make_pipeline(StandardScaler(), SVC(C=1.0, gamma="scale")).fit(x[tr], y[tr])
            a_clip, a_win = clip_scores(m, x[va], clip[va], y_clip)
            per_clip.append(a_clip)
            per_win.append(a_win)
    return float(np.mean(per_clip)), float(np.mean(per_win))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    t_start = time.perf_counter()
    cfg = load_recipe(REPO / "recipes" / "deepear.yaml").front_end
    clips = [c for c in all_clips(load_corpora(default_data_root(), names=["ravdess"])) if c.label("emotion")]
    cache = FeatureCache(cfg)
    frames = [cache.compute(c.path) for c in clips]
    fold_of_clip = np.zeros(len(clips), int)
    for f, fo in enumerate(actor_folds(clips, 6, task="emotion")):
        fold_of_clip[fo.test] = f
    rows = []
    for window_s, hop_s in WINDOWS:
        xs, clip_idx = [], []
        for i, ff in enumerate(frames):
            w = summarize(ff, cfg, window_s, hop_s)
            keep = ~w.silent
            xs.append(w.x[keep])
            clip_idx.append(np.full(int(keep.sum()), i))
        x, clip = np.concatenate(xs), np.concatenate(clip_idx)
        actor = np.array([clips[i].groups["actor"] for i in clip])
        emotion = np.array([clips[i].label("emotion") for i in clip])
        stress = np.array([clips[i].label("stress") or "" for i in clip])
        fold = fold_of_clip[clip]
        xn = normalise(x, actor, "per speaker")
        s = stress != ""
        n_clips = len(np.unique(clip))
        emo = inner_cv(xn, emotion, clip, fold)
        st = inner_cv(xn[s], stress[s], clip[s], fold[s])
        rows.append((window_s, hop_s, len(x) / n_clips, n_clips, emo, st))
        print(f"{window_s} s / {hop_s} s: {len(x) / n_clips:.2f} windows per clip ({n_clips} clips with one); "
              f"emotion {100 * emo[0]:.1f} (per window {100 * emo[1]:.1f}), "
              f"stress {100 * st[0]:.1f} (per window {100 * st[1]:.1f})", flush=True)
    minutes = (time.perf_counter() - t_start) / 60
    lines = ["## Speech-task window length: nested check on training actors only (SVM)", "",
             "RAVDESS, clean, the recipe's front end, every window standardised per speaker (no labels), silent "
             "windows dropped. For each of the 6 actor-held-out outer folds its test actors are never used: an SVM "
             "is trained on the windows of 4 of the 5 other actor blocks and scored on the 5th, rotating (30 fits per "
             "cell). Scored per clip (decision values averaged over the clip's windows), as the benchmark scores "
             "these tasks; per window beside it. Stress is a proxy (acted anger/fear vs neutral/calm).", "",
             "| window / hop | windows per clip | clips | emotion, per clip | emotion, per window | "
             "stress proxy, per clip | stress proxy, per window |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for window_s, hop_s, wpc, n_clips, emo, st in rows:
        mark = " (recipes/deepear.yaml)" if (window_s, hop_s) == WINDOWS[0] else ""
        lines.append(f"| {window_s:g} s / {hop_s:g} s{mark} | {wpc:.2f} | {n_clips} | {100 * emo[0]:.1f} | "
                     f"{100 * emo[1]:.1f} | {100 * st[0]:.1f} | {100 * st[1]:.1f} |")
    lines += ["", f"Bench time {minutes:.1f} min."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("emotion_window_study", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
