"""Scene and ESC-10 clips without noisy training copies (mixing.clean_corpora), chosen on validation.

    .venv/bin/python bench/clean_corpora_sweep.py --base-runs runs/bench-v3/bench-multitask/0 \
        --seed-runs runs/bench-v4-base/bench-multitask/1 [--runs-dir runs/bench-v4] [--write]

Why: two thirds of the training bank's noise types are ESC-10 classes (rain, sea waves, crackling fire,
helicopter, chainsaw, clock tick), so a noisy copy of a 'dog' clip can be a dog in chainsaw noise at 0 dB,
labelled dog. With an SVM on ESC-10 inner folds (the outer test fold never read; 1.28 s windows, 2 copies) clean
accuracy was 82.8% trained clean only, 79.9% with copies in the recipe's noise, 81.2% with copies in non-ESC noise
only, 80.9% in the recipe's noise at 20-10 dB only. The variant trains the scene corpora (esc10, esc50_urban,
music) clean only; the speech corpora keep their 4 noisy copies; validation and test are mixed as before.

Judged on validation only (kept epoch of each run; no test clip, no test noise), against the recipe with seed 0
and, to know how far a second seed moves the same numbers, the recipe with seed 1. Rule, written before the
variant ran: A = mean over fold0-5 of the clean validation windows' accuracy of scene and ESC-10; S = mean over
fold0-5 of the validation accuracy of emotion and stress; K = the speaker run's validation speaker accuracy.
The variant is adopted when A gains at least max(1 point, |A(seed 0) - A(seed 1)|) over seed 0 and S and K each
lose at most 1 point. Writes the "clean_corpora" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.accuracy import train  # noqa: E402
from bench.report import write_section  # noqa: E402
from bench.training_sweep import kept_epochs  # noqa: E402
from bench.weight_average_sweep import test_row  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RUNS = ("fold0", "fold1", "fold2", "fold3", "fold4", "fold5", "speaker")
FOLDS = RUNS[:-1]
VARIANT = ["mixing.clean_corpora=[esc10, esc50_urban, music]"]
MIN_GAIN = 0.01
MAX_LOSS = 0.01
TEST_CELLS = (("emotion", "clean"), ("emotion", "10"), ("emotion", "0"), ("stress", "clean"), ("speaker", "clean"),
              ("speaker", "10"), ("speaker", "0"), ("scene", "clean"), ("scene", "10"), ("scene", "0"),
              ("esc10", "clean"), ("esc10", "10"), ("esc10", "0"))


def summarise(folder: Path, recipe: Path, overrides: list[str]) -> dict:
    """Kept-epoch validation numbers of a finished bench-multitask/<seed> folder (A, S, K of the rule)."""
    rows = kept_epochs(folder, RUNS, recipe, overrides, FOLDS)
    per_fold = {r: {"scene_esc": 0.5 * (rows[r]["val_clean_acc_scene"] + rows[r]["val_clean_acc_esc10"]),
                    "speech": 0.5 * (rows[r]["val_acc_emotion"] + rows[r]["val_acc_stress"]),
                    "scene_all": 0.5 * (rows[r]["val_acc_scene"] + rows[r]["val_acc_esc10"])} for r in FOLDS}
    return {"A": float(np.mean([per_fold[r]["scene_esc"] for r in FOLDS])),
            "A_folds": [per_fold[r]["scene_esc"] for r in FOLDS],
            "A_all": float(np.mean([per_fold[r]["scene_all"] for r in FOLDS])),
            "S": float(np.mean([per_fold[r]["speech"] for r in FOLDS])),
            "K": rows["speaker"]["val_acc_speaker"],
            "epochs": [(rows[r]["n_epochs"], rows[r]["epoch"]) for r in RUNS], "test": test_row(folder, TEST_CELLS)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "deepear.yaml")
    ap.add_argument("--base-runs", type=Path, required=True, help="finished bench-multitask/0 folder of the recipe")
    ap.add_argument("--seed-runs", type=Path, required=True,
                    help="finished bench-multitask/1 folder of the recipe (seed 1)")
    ap.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "bench-v4")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    for f in (args.base_runs, args.seed_runs):
        missing = [r for r in RUNS if not (f / r / "DONE").exists()]
        if missing:
            raise SystemExit(f"{f}: runs {missing} are not finished")
    rows = {"seed 0": summarise(args.base_runs, args.recipe, []),
            "seed 1": summarise(args.seed_runs, args.recipe, ["seed=1"])}
    m = train(args.recipe, "bench-multitask", VARIANT, list(RUNS), Path(f"{args.runs_dir}-cleanscene"), args.quiet)
    rows["variant"] = summarise(Path(m["_folder"]), args.recipe, VARIANT)
    b, s, v = rows["seed 0"], rows["seed 1"], rows["variant"]
    need = max(MIN_GAIN, abs(b["A"] - s["A"]))
    adopt = v["A"] - b["A"] >= need and v["S"] >= b["S"] - MAX_LOSS and v["K"] >= b["K"] - MAX_LOSS
    label = {"seed 0": "recipe, seed 0", "seed 1": "recipe, seed 1",
             "variant": "scene corpora clean only (esc10, esc50_urban, music), seed 0"}
    lines = ["## Scene corpora without noisy training copies (mixing.clean_corpora), chosen on validation", "",
             "Validation split only (15% of each run's training clips, whole groups, each clip clean and once mixed "
             "with training noise); kept epoch of each run. A: mean over fold0-5 of the clean validation windows' "
             "accuracy of scene and ESC-10 (mean of the two); S: mean over fold0-5 of emotion and stress validation "
             "accuracy (clean and noisy windows); K: the speaker run's validation speaker accuracy. Rule, written "
             "before the variant ran: adopt when A gains at least max(1 point, the seed-0 to seed-1 difference of A) "
             f"and S and K lose at most {100 * MAX_LOSS:.0f} point.", "",
             "| model | A per fold (fold0..5) | A | scene + ESC-10, all validation windows | S | K | epochs run "
             "(kept), fold0..5, speaker |", "|---|---|---:|---:|---:|---:|---|"]
    for k, r in rows.items():
        lines.append(f"| {label[k]} | {' / '.join(f'{100 * a:.1f}' for a in r['A_folds'])} | {100 * r['A']:.1f} | "
                     f"{100 * r['A_all']:.1f} | {100 * r['S']:.1f} | {100 * r['K']:.1f} | "
                     + ", ".join(f"{n} ({e})" for n, e in r["epochs"]) + " |")
    verdict = ("adopted: `mixing.clean_corpora: [esc10, esc50_urban, music]` goes into recipes/deepear.yaml" if adopt
               else "not adopted; the recipe keeps noisy copies of every corpus")
    lines += ["", f"A gain {100 * (v['A'] - b['A']):+.1f} points (needed {100 * need:.1f}: the seeds differ by "
              f"{100 * abs(b['A'] - s['A']):.1f}); S {100 * (v['S'] - b['S']):+.1f}, K {100 * (v['K'] - b['K']):+.1f}. "
              f"Decision: {verdict}.", "",
              "Measured on the test folds after the choice (not used to choose; the accuracy benchmark's rule; stress "
              "is a proxy: acted anger/fear vs neutral/calm). The two seeds of the recipe show how far a re-run "
              "moves each number:", "",
              "| model | " + " | ".join(f"{t} {c if c == 'clean' else c + ' dB'}" for t, c in TEST_CELLS) + " |",
              "|---|" + "---:|" * len(TEST_CELLS)]
    for k, r in rows.items():
        lines.append(f"| {label[k]} | " + " | ".join("-" if x is None else f"{100 * x:.1f}" for x in r["test"]) + " |")
    col = {c: i for i, c in enumerate(TEST_CELLS)}

    def t(r: dict, task: str, cond: str) -> str:
        x = r["test"][col[(task, cond)]]
        return "-" if x is None else f"{100 * x:.1f}"

    early = [e for r in (b, s) for _, e in r["epochs"][:-1] if e <= 6]
    lines += ["", f"Reading: the two seeds of the unchanged recipe differ by up to "
              f"{100 * max(abs(x - y) for x, y in zip(b['test'], s['test']) if x is not None and y is not None):.1f} "
              f"points on a test cell (ESC-10 clean {t(b, 'esc10', 'clean')} vs {t(s, 'esc10', 'clean')}, speaker ID at "
              f"10 dB {t(b, 'speaker', '10')} vs {t(s, 'speaker', '10')}), so single-seed differences of 1-3 points "
              f"(this section's, the \"weight_average\" section's) are not evidence either way. Early stopping on a "
              f"3-actor validation split is a likely source of that spread: {len(early)} of the recipe's 12 fold runs kept an "
              f"epoch <= 6. Clean scene corpora: the clean test cells move within that spread (ESC-10 "
              f"{t(v, 'esc10', 'clean')}, scene {t(v, 'scene', 'clean')}), and the scene tasks lose in noise what the noisy "
              f"copies gave them (ESC-10 at 10 dB {t(v, 'esc10', '10')} vs {t(b, 'esc10', '10')}, scene at 10 dB "
              f"{t(v, 'scene', '10')} vs {t(b, 'scene', '10')}). The SVM's inner-fold gain (clean ESC-10) did not carry "
              "over to the DNN beyond seed noise.", "",
              f"Runs: `{args.base_runs}`, `{args.seed_runs}`, `{args.runs_dir}-cleanscene/bench-multitask/0`."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("clean_corpora", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
