"""Would pitch (F0) statistics help the speech tasks? A nested check that never sees a test fold or test noise.

    .venv/bin/python bench/pitch_study.py [--write] [--quiet] [--every K]

The front end gives the model 32 log-mel bands summarised per window: 32 mel bands cannot resolve the harmonics
of a voice, so the model sees pitch only indirectly, while prosody (F0 level, range and movement) is the classic
cue for emotion and arousal. This asks whether the 11 prosody statistics of a YIN pitch track
(`deepear.audio.pitch`: voiced share, F0 mean/std/p10/median/p90/range in semitones, F0 movement, aperiodicity)
add to the recipe's 320-value vector, with YIN on two framings: the front end's own 32 ms frames and 75-500 Hz
(what `front_end.pitch_stats` computes, no look-ahead), or 50 ms frames centred on them and 60-500 Hz.

RAVDESS, one 5 s window per clip. Noise exactly as `bench/noise_floor_study.py`: only recordings on the training
side of the benchmark's bank; types A (chainsaw, crackling fire, rain, music, dishes) are mixed into training
clips (clean + 2 copies at 20/10/5/0 dB), types B (clock tick, helicopter, sea waves, miaowing) into validation
clips at 10 and 0 dB, so the validation noise is unseen, as in the benchmark.

- emotion (5 classes) and the stress proxy (acted angry/fearful vs neutral/calm): inner actor folds of all 6
  outer folds (30 fits per cell; outer test actors never used), every actor's windows standardised with their
  own unlabelled windows of the condition (the recipe's adaptation);
- speaker ID: repetition 1, statement "kids" -> "dogs" (repetition 2, the benchmark's test set, is never read).

Input vectors: the recipe's 320 values; + the 11 prosody statistics; the same with the prosody block weighted x3
after standardisation (the RBF kernel otherwise gives 11 of 331 dimensions ~3% of the distance, while a DNN learns
its own weights); prosody alone. An SVM (StandardScaler + RBF, C=1, gamma="scale") scores each. Writes the
"pitch_study" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.nested_svm import TASKS, meta_of, nested_scores  # noqa: E402
from bench.noise_floor_study import conditions, ravdess_and_noise  # noqa: E402
from bench.report import write_section  # noqa: E402
from deepear.audio.config import PITCH_STAT_NAMES, FrontEndConfig, PitchConfig  # noqa: E402
from deepear.audio.frontend import analyze, summarize, window_bounds, window_selection  # noqa: E402
from deepear.audio.io import load_audio  # noqa: E402
from deepear.audio.pitch import pitch_track, window_stats  # noqa: E402
from deepear.progress import bar  # noqa: E402

CONDS = ("clean", "10 dB", "0 dB")
N_P = len(PITCH_STAT_NAMES)
# the pitch tracker's framing: n_fft is the YIN frame (centred on the front end's frames); 512 = the front end's own
PITCH = {"50 ms": FrontEndConfig(n_fft=800, pitch_stats=PITCH_STAT_NAMES, pitch=PitchConfig(fmin_hz=60.0)),
         "32 ms": FrontEndConfig(pitch_stats=PITCH_STAT_NAMES)}
VARIANTS = ("recipe vector (320)", "+ prosody, 50 ms pitch frames (331)", "+ prosody, 50 ms, block weight x3",
            "+ prosody, the front end's 32 ms frames (331)", "+ prosody, 32 ms, block weight x3",
            "prosody alone, 50 ms (11)")


def centred_frames(y: np.ndarray, n_frames: int, cfg: FrontEndConfig, length: int) -> np.ndarray:
    """(n_frames, length) samples centred on the centres of the front end's frames (zero-padded at the ends);
    length = cfg.n_fft gives the front end's frames themselves."""
    centres = np.arange(n_frames) * cfg.hop_length + cfg.n_fft // 2
    pad = length // 2 + 1
    yp = np.pad(np.asarray(y, np.float32), (pad, pad + cfg.n_fft))
    return yp[(centres - length // 2 + pad)[:, None] + np.arange(length)[None, :]]


def vectors(y: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """The recipe's 5 s window vector of the clip's first window, then its 11 prosody statistics (over the frames
    the window's log-mel statistics use) for each framing in PITCH: (320 + 11 * len(PITCH),)."""
    ff = analyze(y, cfg)
    x = [summarize(ff, cfg, 5.0, 5.0).x[0]]
    idx, sel, _ = window_selection(ff, cfg, window_bounds(ff.n_frames, cfg, 5.0, 5.0)[:1])
    for pcfg in PITCH.values():
        track = pitch_track(centred_frames(y, ff.n_frames, cfg, pcfg.n_fft), pcfg)
        x.append(window_stats(track[idx], sel, pcfg)[0])
    return np.concatenate(x)


def select(x: np.ndarray, variant: str) -> tuple[np.ndarray, float]:
    """Columns of the (N, 320 + 11 * len(PITCH)) matrix a variant uses, and the weight of its prosody block."""
    d = x.shape[1] - N_P * len(PITCH)
    if variant.startswith("recipe"):
        return x[:, :d], 1.0
    k = 0 if "50 ms" in variant else 1
    p = x[:, d + k * N_P:d + (k + 1) * N_P]
    if variant.startswith("prosody alone"):
        return p, 1.0
    return np.concatenate([x[:, :d], p], axis=1), (3.0 if "x3" in variant else 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--every", type=int, default=1, help="keep every k-th clip (a quick smoke run)")
    args = ap.parse_args()
    t_start = time.time()
    clips, mix_a, mix_b = ravdess_and_noise(args.every)
    cfg = FrontEndConfig(n_mels=32, delta_stats=("std", "p25", "p75"))
    X: dict[str, list[np.ndarray]] = {c: [] for c in CONDS}
    A: list[list[np.ndarray]] = [[], []]       # the two noisy training copies
    rng = np.random.default_rng(0)
    with bar("clips", args.quiet) as step:
        for i, c in enumerate(clips):
            conds, copies = conditions(load_audio(c.path, cfg.sample_rate), mix_a, mix_b, rng)
            for cond, z in conds.items():
                X[cond].append(vectors(z, cfg))
            for k, z in enumerate(copies):
                A[k].append(vectors(z, cfg))
            step(i + 1, len(clips))
    Xc = {c: np.stack(v) for c, v in X.items()}
    Ac = [np.stack(a) for a in A]
    meta = meta_of(clips)
    d0 = Xc["clean"].shape[1] - N_P * len(PITCH)
    # a window has F0 statistics when it had >= 5 voiced frames (deepear.audio.pitch.MIN_VOICED), else they are 0
    voiced_share = {(c, k): float(np.any(Xc[c][:, d0 + i * N_P + 1:d0 + i * N_P + 7] != 0, axis=1).mean())
                    for c in CONDS for i, k in enumerate(PITCH)}
    res: dict[tuple[str, str, str], float] = {}
    for v in VARIANTS:
        r = nested_scores({c: select(Xc[c], v)[0] for c in CONDS}, [select(a, v)[0] for a in Ac], meta,
                          select(Xc["clean"], v)[1], N_P)
        res.update({(t, v, c): a for (t, c), a in r.items()})
        print(v, {f"{k[0]} {k[2]}": round(100 * a, 1) for k, a in res.items() if k[1] == v}, flush=True)
    lines = ["## Pitch (F0) statistics: nested check on training actors and training noise only (SVM)", "",
             "RAVDESS, one 5 s window per clip. The recipe's 320-value vector (32 log-mel bands, 7 statistics + 3 "
             "delta statistics) against the same + the 11 prosody statistics of `front_end.pitch_stats` (YIN, "
             "`deepear.audio.pitch`; on the front end's 10 ms grid, either 60-500 Hz on 50 ms frames centred on the front end's frames or 75-500 Hz on "
             "the front end's own 32 ms frames (what a streaming or C front end computes without look-ahead); voiced share, F0 mean/std/p10/median/p90/range "
             "in semitones, F0 movement, aperiodicity; over the frames the log-mel statistics use). Trained on clean + 2 copies mixed with noise types A (chainsaw, "
             "crackling fire, rain, music, dishes) at 20/10/5/0 dB; validated clean and with unseen types B (clock "
             "tick, helicopter, sea waves, miaowing) at 10 / 0 dB. Emotion and stress: inner actor folds of all 6 "
             "outer folds (30 fits per cell, outer test actors never read), per-speaker standardised. Speaker ID: "
             "repetition 1, statement 'kids' -> 'dogs'. StandardScaler + RBF SVM (C=1, gamma='scale'); 'block "
             "weight x3' multiplies the standardised prosody columns by 3. **Stress is a proxy** (acted anger/fear "
             "vs neutral/calm).", "",
             "| input vector | " + " | ".join(f"{t} {c}" for t in TASKS for c in CONDS) + " |",
             "|---|" + "---:|" * (len(TASKS) * len(CONDS))]
    for v in VARIANTS:
        lines.append(f"| {v} | " + " | ".join(f"{100 * res[(t, v, c)]:.1f}" for t in TASKS for c in CONDS) + " |")
    lines += ["", "Windows with a pitch track (>= 5 voiced frames): " + ", ".join(
        f"{k} {c} {100 * voiced_share[(c, k)]:.0f}%" for k in PITCH for c in CONDS) + f". Bench time {(time.time() - t_start) / 60:.0f} min."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("pitch_study", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
