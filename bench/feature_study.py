"""How delta statistics and per-speaker normalisation were chosen: a nested check that never sees a test fold.

    .venv/bin/python bench/feature_study.py [--write]

RAVDESS, 5 emotion classes (calm merged into neutral) and the stress proxy, one 5 s window per clip, clean
audio. For each of the 6 actor-held-out outer folds, its test actors are left out entirely; an SVM
(StandardScaler + RBF, C=1, gamma="scale") is trained on 4 of the 5 remaining actor blocks and scored on the 5th,
rotating: 30 fits per configuration, all on training actors only. Input vectors: the front end's 224 log-mel
statistics, + delta std, + delta std/p25/p75 (front_end.delta_stats). Normalisation: none; per speaker (mean and
std over all of the actor's clips, no labels); per speaker mean only; per speaker from 10 random clips.
Writes the "feature_study" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section  # noqa: E402
from deepear.audio.config import FrontEndConfig  # noqa: E402
from deepear.audio.frontend import summarize  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.data.cache import FeatureCache  # noqa: E402
from deepear.data.catalog import all_clips, load_corpora  # noqa: E402
from deepear.data.splits import actor_folds  # noqa: E402

VARIANTS = {"224 log-mel statistics": (), "+ delta std": ("std",),
            "+ delta std, p25, p75 (recipes/deepear.yaml)": ("std", "p25", "p75")}
NORMS = ("none", "per speaker", "per speaker, mean only", "per speaker, from 10 clips")


def normalise(x: np.ndarray, actor: np.ndarray, how: str, seed: int = 0) -> np.ndarray:
    """Per-actor standardisation of x (N, D) as named in NORMS (labels never used)."""
    if how == "none":
        return x
    out, rng = x.copy(), np.random.default_rng(seed)
    for a in np.unique(actor):
        m = np.flatnonzero(actor == a)
        ref = rng.choice(m, 10, replace=False) if how.endswith("10 clips") else m
        sd = 1.0 if how.endswith("mean only") else x[ref].std(axis=0) + 1e-6
        out[m] = (x[m] - x[ref].mean(axis=0)) / sd
    return out


def inner_rotations(fold: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train mask, validation mask) over rows labelled with outer fold ids `fold` (N,): for every outer fold, its
    rows are left out and each remaining fold in turn is validated on, trained on the others."""
    folds = np.unique(fold)
    for outer in folds:
        inner = [f for f in folds if f != outer]
        for v in inner:
            yield np.isin(fold, [f for f in inner if f != v]), fold == v


def svm() -> Any:
    """The nested checks' classifier: StandardScaler + RBF SVM, C=1, gamma="scale" (unfitted)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(C=1.0, gamma="scale"))


def inner_cv(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    """Mean accuracy over the inner rotations of every outer fold (test actors never used)."""
    accs = []
    for tr, va in inner_rotations(fold):
        m = svm().fit(x[tr], y[tr])
        accs.append(float((m.predict(x[va]) == y[va]).mean()))
    return float(np.mean(accs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    clips = [c for c in all_clips(load_corpora(default_data_root(), names=["ravdess"])) if c.label("emotion")]
    cache = FeatureCache(FrontEndConfig())
    frames = [cache.compute(c.path) for c in clips]
    emotion = np.array([c.label("emotion") for c in clips])
    stress = np.array([c.label("stress") or "" for c in clips])
    actor = np.array([c.groups["actor"] for c in clips])
    fold = np.zeros(len(clips), int)
    for f, fo in enumerate(actor_folds(clips, 6, task="emotion")):
        fold[fo.test] = f
    s = stress != ""
    res: dict[tuple[str, str, str], float] = {}
    for name, dstats in VARIANTS.items():
        cfg = FrontEndConfig(delta_stats=dstats)
        x = np.concatenate([summarize(ff, cfg, 5.0, 5.0).x[:1] for ff in frames])
        for how in NORMS:
            xn = normalise(x, actor, how)
            res[(name, how, "emotion")] = inner_cv(xn, emotion, fold)
            if how in ("none", "per speaker"):
                res[(name, how, "stress")] = inner_cv(xn[s], stress[s], fold[s])
        print(name, {k[1:]: round(100 * v, 1) for k, v in res.items() if k[0] == name}, flush=True)
    lines = ["## Feature and normalisation choice: nested check on training actors only (SVM)", "",
             "RAVDESS, one 5 s window per clip, clean. For each of the 6 actor-held-out outer folds its test actors "
             "are never used: an SVM is trained on 4 of the 5 other actor blocks and scored on the 5th, rotating "
             "(30 fits per cell). Per-speaker normalisation uses the actor's unlabelled clips. Stress is a proxy "
             "(acted anger/fear vs neutral/calm). This is how delta statistics and per-speaker adaptation "
             "(docs/adaptation.md) were chosen for recipes/deepear.yaml.", "",
             "| input vector | " + " | ".join(f"emotion, {h}" for h in NORMS) + " | stress, none | stress, per speaker |",
             "|---|" + "---:|" * (len(NORMS) + 2)]
    for name in VARIANTS:
        lines.append(f"| {name} | " + " | ".join(f"{100 * res[(name, h, 'emotion')]:.1f}" for h in NORMS)
                     + f" | {100 * res[(name, 'none', 'stress')]:.1f} | {100 * res[(name, 'per speaker', 'stress')]:.1f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("feature_study", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
