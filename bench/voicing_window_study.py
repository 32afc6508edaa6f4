"""Window vote of the voicing indicator, chosen on the TRAIN split only (two-fold cross-fit inside it).

    .venv/bin/python bench/voicing_window_study.py [--write]

Why: a window is voiced when the mean P(speech) of its selected frames exceeds 0.5. In loud noise the frames
between and around the words are non-silent noise with low P(speech), so a 5 s window holding a 3 s utterance
at 0 dB fails the vote (the runtime then answers about half the emotion clips: "speech_gate" section). Which
vote holds up in noise without calling music and noise speech?

How (nothing of the TEST split of `bench/voicing.py` is read): TRAIN is cut in two halves by each corpus's own
unit (RAVDESS actors 1-6 / 7-12, FSDD george / jackson + lucas, ESC-10 folds 1-2 / 3, alternate ESC-50 urban
training ids, the music tracks and noise recordings split by recording). A frame MLP like the shipped one is
trained on one half (`bench/voicing.py`'s training recipe) and the window votes are scored on the other half's
clips, clean and mixed at 10 and 0 dB into that half's noise recordings and urban clips; then the other way
round. Candidate votes over the window's selected frames (the frames its statistics use):

- mean P(speech) > t (the shipped vote is t = 0.5);
- share of frames with P(speech) > 0.5 at least f;
- at least s seconds of frames with P(speech) > 0.5.

Rule, written before the runs: the vote with the best mean accuracy over {1.28 s, 5 s} x {clean, 10 dB, 0 dB}
whose clean accuracy (both windows) stays within 1 point of the shipped vote's. Writes the
"voicing_window_study" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402
from bench.voicing import (CFG, HOP_S, SEED, WINDOWS, Clip, Split, esc10, frames, fsdd, long_files, mix,  # noqa: E402
                           ravdess, segments, speech_ref, train, urban_clips)
from deepear.audio import voicing  # noqa: E402
from deepear.audio.frontend import FrameFeatures, window_bounds, window_selection  # noqa: E402

HALVES = (Split(range(1, 7), ("george",), (1, 2), 0, ("macroform-cold_day", "macroform-robot_dity"),
                ("doing_the_dishes", "white_noise"), urban_half=0),
          Split(range(7, 13), ("jackson", "lucas"), (3,), 0, ("macroform-the_simplicity",), ("exercise_bike",),
                urban_half=1))
SHIPPED = ("mean", 0.5)
CANDIDATES = ([("mean", t) for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)]
              + [("share", f) for f in (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)]
              + [("seconds", s) for s in (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)])
MAX_CLEAN_LOSS = 0.01


def vote(kind: str, value: float, p: np.ndarray) -> bool:
    """Window vote from the P(speech) of its selected frames (1-D)."""
    if p.size == 0:
        return False
    if kind == "mean":
        return float(p.mean()) > value
    if kind == "share":
        return float(np.mean(p > 0.5)) >= value
    return float(np.sum(p > 0.5)) * HOP_S >= value - 1e-9


def window_probs(c: Clip, model: voicing.VoicingModel) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Per window length: (truth, P(speech) of the selected frames) per non-silent scored window.

    Truth as in bench/voicing.py: a speech-clip window is speech when >= 20% of its frames are speech in the
    clean clip, left out when 0-20%; every window of a non-speech clip is non-speech."""
    f = frames(c.y)
    prob = model.predict(voicing.frame_features(f.power, f.lm, CFG)[0])
    ff = FrameFeatures(values=f.lm, energy_db=f.energy, active=f.active, speech_prob=prob, hop_s=HOP_S,
                       n_samples=c.y.shape[0])
    ref = c.ref_active if c.ref_active is not None else (speech_ref(c.y) if c.speech else None)
    out = {}
    for name, w in WINDOWS.items():
        bounds = window_bounds(ff.n_frames, CFG, w, w)
        rows = []
        if len(bounds):
            idx, sel, silent = window_selection(ff, CFG, bounds)
            for i in range(len(bounds)):
                if silent[i]:
                    continue
                if c.speech:
                    frac = float(ref[bounds[i, 0]:bounds[i, 1]].mean())
                    truth = 1 if frac >= 0.2 else (-1 if frac > 0 else 0)
                else:
                    truth = 0
                if truth >= 0:
                    rows.append((truth, prob[idx[i][sel[i]]]))
        out[name] = rows
    return out


def half_rows(train_half: Split, test_half: Split, rng: np.random.Generator,
              hidden: int) -> dict[tuple[str, str], list]:
    """Train the frame MLP on one half, return {(window, condition): [(truth, probs)]} on the other."""
    model = train(np.random.default_rng(rng.integers(2**31)), hidden, train_half)
    speech = ravdess(test_half.actors, 20, rng) + fsdd(test_half.fsdd, 80, rng)
    noise = long_files("sc_bg_noise", test_half.noise)
    music = long_files("moh_music_8k", test_half.music)
    u = urban_clips(test_half)
    nonspeech = esc10(test_half.esc_folds) + [Clip(y, "urban", False) for y in u]
    for y in music.values():
        nonspeech += [Clip(s, "music", False, True) for s in segments(y, 5.12, 0, rng)]
    for y in noise.values():
        nonspeech += [Clip(s, "noise", False) for s in segments(y, 5.12, 0, rng)]
    pool = list(noise.values()) + u
    neg = [window_probs(c, model) for c in nonspeech]
    out = {}
    for cond, snr in (("clean", None), ("10 dB", 10.0), ("0 dB", 0.0)):
        clips = speech if snr is None else [mix(c, pool, snr, rng) for c in speech]
        pos = [window_probs(c, model) for c in clips]
        for w in WINDOWS:
            out[(w, cond)] = [r for d in pos for r in d[w]] + [r for d in neg for r in d[w]]
    return out


def accuracy(rows: list[tuple[int, np.ndarray]], kind: str, value: float) -> tuple[float, float, float]:
    """(accuracy, precision, recall) of a vote over scored windows."""
    t = np.array([r[0] for r in rows], dtype=bool)
    p = np.array([vote(kind, value, r[1]) for r in rows], dtype=bool)
    tp = np.sum(t & p)
    return float(np.mean(t == p)), float(tp / max(np.sum(p), 1)), float(tp / max(np.sum(t), 1))


def name(c: tuple[str, float]) -> str:
    k, v = c
    return {"mean": f"mean P > {v:.2f}", "share": f"share of P > 0.5 >= {v:.2f}",
            "seconds": f">= {v:.2f} s with P > 0.5"}[k]


def study(hidden: int, seed: int) -> tuple[list, dict, dict, dict]:
    """Cells, {candidate: {cell: (acc, prec, rec)}}, {candidate: mean acc} and {cell: (windows, speech windows)}
    for a frame MLP of `hidden` units."""
    rng = np.random.default_rng(seed)
    a = half_rows(HALVES[0], HALVES[1], rng, hidden)
    b = half_rows(HALVES[1], HALVES[0], rng, hidden)
    cells = list(a)
    rows = {k: a[k] + b[k] for k in cells}
    res = {c: {k: accuracy(rows[k], *c) for k in cells} for c in CANDIDATES}
    n = {k: (len(rows[k]), sum(r[0] for r in rows[k])) for k in cells}
    return cells, res, {c: float(np.mean([res[c][k][0] for k in cells])) for c in CANDIDATES}, n


def row(label: str, c: tuple[str, float], cells: list, res: dict, mean: dict) -> str:
    return (f"| {label} | " + " | ".join(f"{100 * res[c][k][0]:.1f}" for k in cells)
            + f" | {100 * mean[c]:.1f} | {100 * res[c][('1.28 s', '0 dB')][2]:.1f} / "
              f"{100 * res[c][('5 s', '0 dB')][2]:.1f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=24, help="hidden units of the frame MLP (shipped: 24)")
    ap.add_argument("--wide", type=int, default=64, help="hidden units of the wider MLP compared after")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    cells, res, mean, n = study(args.hidden, SEED + 7)
    clean = [k for k in cells if k[1] == "clean"]
    ok = [c for c in CANDIDATES if all(res[c][k][0] >= res[SHIPPED][k][0] - MAX_CLEAN_LOSS for k in clean)]
    chosen = max(ok, key=lambda c: mean[c])
    head = ["| vote | " + " | ".join(f"{w} {c}" for w, c in cells) + " | mean | 0 dB recall (1.28 s / 5 s) |",
            "|---|" + "---:|" * (len(cells) + 2)]
    lines = ["## Voicing window vote, chosen on the TRAIN split (two-fold cross-fit)", "",
             "Nothing of `bench/voicing.py`'s TEST split is read. TRAIN halves: RAVDESS actors 1-6 / 7-12, FSDD "
             "george / jackson + lucas, ESC-10 folds 1-2 / 3, alternate ESC-50 urban training ids, music and noise "
             f"split by recording; a frame MLP ({args.hidden} hidden units, the shipped model's recipe) trained on "
             "one half, votes scored on the other half, both ways, pooled. Speech clips clean and mixed at 10 / 0 dB "
             "into the scored half's noise recordings and urban clips; non-speech windows in every cell. Non-silent "
             "windows; a speech-clip window is speech when >= 20% of its frames are speech in the clean clip (left "
             "out at 0-20%). Accuracy of speech vs non-speech windows. Rule, written before the runs: best mean "
             "accuracy over the six cells among the votes whose clean accuracy stays within "
             f"{100 * MAX_CLEAN_LOSS:.0f} point of the shipped vote (mean P > 0.5) on both windows.", ""] + head
    for c in CANDIDATES:
        mark = " **(rule's pick)**" if c == chosen else (" (shipped)" if c == SHIPPED else "")
        lines.append(row(f"{name(c)}{mark}{'' if c in ok else ' (clean loss)'}", c, cells, res, mean))
    lines += ["", "Windows scored (speech): " + ", ".join(f"{w} {c} {n[(w, c)][0]} ({n[(w, c)][1]})" for w, c in cells)
              + "."]
    wcells, wres, wmean, _ = study(args.wide, SEED + 7)
    lines += ["", f"A wider frame MLP ({args.wide} hidden units), same halves and clips:", ""] + head
    for c in dict.fromkeys((SHIPPED, chosen)):
        lines.append(row(name(c), c, wcells, wres, wmean))
    r0, r1 = res[SHIPPED], res[chosen]
    lines += ["", f"Decision: the shipped vote stays (mean P > 0.5). The rule picks {name(chosen)}, but what that "
              "gains is rejection of music and noise windows; it calls fewer speech windows speech at 0 dB "
              f"(recall {100 * r0[('1.28 s', '0 dB')][2]:.1f} -> {100 * r1[('1.28 s', '0 dB')][2]:.1f}% on 1.28 s, "
              f"{100 * r0[('5 s', '0 dB')][2]:.1f} -> {100 * r1[('5 s', '0 dB')][2]:.1f}% on 5 s windows), the "
              "opposite of what the study was for (the runtime answers too few speech clips in loud noise: "
              "\"speech_gate\" section). Accuracy alone was the wrong criterion for the gate, and I wrote it; "
              "the threshold is also specific to the model it was found on (a half-trained MLP here, not the shipped "
              "one). What the table does show: no form of vote lifts 0 dB: the share-of-speech-frames vote traces "
              "the same curve as the mean, a minimum amount of speech is worse everywhere, and every vote that "
              "recalls more speech at 0 dB pays for it in clean accuracy. A wider frame MLP rejects non-speech "
              "better but recalls no more speech at 0 dB. The limit is what the frame features see at 0 dB, not "
              f"the vote; for now `speech_gate=False` is the remedy ({time.time() - t0:.0f} s)."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("voicing_window_study", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
