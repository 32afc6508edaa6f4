"""Would the speech tasks gain from summarising only a window's speech frames? A nested check that never sees a
test fold or test noise.

    .venv/bin/python bench/voiced_stats_study.py [--write] [--quiet] [--every K]

A window's statistics use its active frames (above the silence filter's adaptive floor). Clean, that drops the
pauses; in noise the floor follows the noise, but frames where the noise rises above it (and the noisy frames of
the utterance's own edges) are active too, so a 5 s emotion window holding a 3-4 s RAVDESS utterance is partly
summarised over noise alone, which pulls every statistic towards the noise's. This asks whether
choosing the frames by the voicing indicator (P(speech) per frame, already computed for routing, in Python and
C) or by level (the loudest active frames: speech adds power to the noise) gives the speech tasks a cleaner
vector. A window with fewer than MIN_FRAMES chosen frames keeps its active frames.

Clips, noise and scoring exactly as bench/pitch_study.py (bench/nested_svm.py): RAVDESS, one 5 s window per
clip, the recipe's 331-value vector (32 log-mel bands x 7 statistics, 3 delta statistics, 11 pitch
statistics); trained on clean + 2 copies with noise types A, validated clean and with unseen noise types B at
10 / 0 dB; emotion and stress proxy on inner actor folds of all 6 outer folds, per-speaker standardised;
speaker ID repetition 1, statement "kids" -> "dogs". Writes the "voiced_stats_study" section of
docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.nested_svm import TASKS, meta_of, nested_scores  # noqa: E402
from bench.noise_floor_study import conditions, ravdess_and_noise  # noqa: E402
from bench.report import write_section  # noqa: E402
from deepear.audio.config import PITCH_STAT_NAMES, FrontEndConfig  # noqa: E402
from deepear.audio.frontend import FrameFeatures, analyze, summarize_bounds, window_bounds  # noqa: E402
from deepear.audio.io import load_audio  # noqa: E402
from deepear.progress import bar  # noqa: E402

CONDS = ("clean", "10 dB", "0 dB")
MIN_FRAMES = 25          # 0.25 s (front_end.voiced_min_frames): fewer chosen frames -> the active frames
VARIANTS = {             # name -> frame rule (see `chosen`)
    "active frames (the recipe)": None,
    "voiced frames, P(speech) > 0.5": ("speech", 0.5),
    "voiced frames, P(speech) > 0.3": ("speech", 0.3),
    "loudest 60% of active frames": ("level", 0.6),
}


def chosen(ff: FrameFeatures, rule: tuple[str, float] | None, lo: int, hi: int) -> np.ndarray:
    """(T,) bool: the frames of window [lo, hi) a rule keeps (the active frames when it keeps too few)."""
    act = ff.active.copy()
    if rule is None:
        return act
    kind, v = rule
    w = np.zeros_like(act)
    if kind == "speech":
        w[lo:hi] = act[lo:hi] & (ff.speech_prob[lo:hi] > v)
    else:                                                   # the loudest share v of the active frames
        e = np.where(act[lo:hi], ff.energy_db[lo:hi], -np.inf)
        k = int(np.ceil(v * act[lo:hi].sum()))
        if k > 0:
            w[lo + np.argsort(-e, kind="stable")[:k]] = True
    return w if w.sum() >= MIN_FRAMES else act


def vectors(y: np.ndarray, cfg: FrontEndConfig) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every variant's vector of the clip's first 5 s window and the share of the window's frames it uses."""
    ff = analyze(y, cfg)
    bounds = window_bounds(ff.n_frames, cfg, 5.0, 5.0)[:1]
    lo, hi = int(bounds[0, 0]), int(bounds[0, 1])
    out, share = {}, {}
    for name, rule in VARIANTS.items():
        f = dataclasses.replace(ff, active=chosen(ff, rule, lo, hi))
        out[name] = summarize_bounds(f, cfg, bounds, 500).x[0]
        share[name] = float(f.active[lo:hi].mean())
    return out, share


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--every", type=int, default=1, help="keep every k-th clip (a quick smoke run)")
    args = ap.parse_args()
    t_start = time.time()
    clips, mix_a, mix_b = ravdess_and_noise(args.every)
    cfg = FrontEndConfig(n_mels=32, delta_stats=("std", "p25", "p75"), pitch_stats=PITCH_STAT_NAMES)
    X: dict[tuple[str, str], list[np.ndarray]] = {}
    A: dict[tuple[str, int], list[np.ndarray]] = {}
    shares: dict[tuple[str, str], list[float]] = {}
    rng = np.random.default_rng(0)
    with bar("clips", args.quiet) as step:
        for i, c in enumerate(clips):
            conds, copies = conditions(load_audio(c.path, cfg.sample_rate), mix_a, mix_b, rng)
            for cond, z in conds.items():
                vec, share = vectors(z, cfg)
                for v in VARIANTS:
                    X.setdefault((v, cond), []).append(vec[v])
                    shares.setdefault((v, cond), []).append(share[v])
            for k, z in enumerate(copies):
                vec, _ = vectors(z, cfg)
                for v in VARIANTS:
                    A.setdefault((v, k), []).append(vec[v])
            step(i + 1, len(clips))
    meta = meta_of(clips)
    res: dict[tuple[str, str, str], float] = {}
    for v in VARIANTS:
        r = nested_scores({c: np.stack(X[(v, c)]) for c in CONDS}, [np.stack(A[(v, k)]) for k in (0, 1)], meta)
        res.update({(t, v, c): a for (t, c), a in r.items()})
        print(v, {f"{k[0]} {k[2]}": round(100 * a, 1) for k, a in res.items() if k[1] == v}, flush=True)
    base = next(iter(VARIANTS))
    lines = ["## Speech frames only: nested check on training actors and training noise only (SVM)", "",
             "RAVDESS, one 5 s window per clip, the recipe's 331-value vector (32 log-mel bands x 7 statistics, 3 "
             "delta statistics, 11 pitch statistics) summarised over different frames of the window: its active "
             "frames (the silence filter; what the recipe does), the active frames the voicing indicator calls "
             f"speech, or the loudest active frames; a window with fewer than {MIN_FRAMES} chosen frames keeps its "
             "active frames. Trained on clean + 2 copies mixed with noise types A (chainsaw, crackling fire, rain, "
             "music, dishes) at 20/10/5/0 dB; validated clean and with unseen types B (clock tick, helicopter, sea "
             "waves, miaowing) at 10 / 0 dB. Emotion and stress: inner actor folds of all 6 outer folds (30 fits "
             "per cell, outer test actors never read), per-speaker standardised. Speaker ID: repetition 1, "
             "statement 'kids' -> 'dogs'. StandardScaler + RBF SVM (C=1, gamma='scale'). **Stress is a proxy** "
             "(acted anger/fear vs neutral/calm).", "",
             "| frames summarised | " + " | ".join(f"{t} {c}" for t in TASKS for c in CONDS) + " |",
             "|---|" + "---:|" * (len(TASKS) * len(CONDS))]
    for v in VARIANTS:
        lines.append(f"| {v} | " + " | ".join(f"{100 * res[(t, v, c)]:.1f}" for t in TASKS for c in CONDS) + " |")
    lines += ["", "Share of the window's frames summarised (mean over clips): " + "; ".join(
        f"{v}: " + ", ".join(f"{c} {100 * np.mean(shares[(v, c)]):.0f}%" for c in CONDS) for v in VARIANTS) + "."]
    gains = {(t, v, c): res[(t, v, c)] - res[(t, base, c)] for t in TASKS for v in VARIANTS if v != base
             for c in CONDS}
    best = max((v for v in VARIANTS if v != base),
               key=lambda v: min(np.mean([gains[(t, v, c)] for c in CONDS[1:]]) for t in ("emotion", "speaker")))
    lines += ["", f"Best rule in noise (the larger of the two speech tasks' smaller mean gain at 10 / 0 dB): {best}: "
              + ", ".join(f"{t} {c} {100 * gains[(t, best, c)]:+.1f}" for t in TASKS for c in CONDS)
              + f". Bench time {(time.time() - t_start) / 60:.0f} min."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("voiced_stats_study", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
