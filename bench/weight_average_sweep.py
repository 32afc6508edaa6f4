"""Weight averaging (train.ema_epochs) and dropout, chosen on the validation splits of all 7 protocol runs.

    .venv/bin/python bench/weight_average_sweep.py --base-runs runs/bench-v3/bench-multitask/0
                                                   [--runs-dir runs/bench-v4] [--write]
                                                   [--seed1-base-runs runs/bench-v4-base/bench-multitask/1]

Why: the fine-tuning loop's validation accuracy jumps by a few points from epoch to epoch (fold1 of the v3
benchmark stopped after 13 epochs on a lucky epoch 5), so early stopping picks lucky epochs and stops early.
An exponential moving average of the weights (time constant 1 epoch) smooths that. The averaged curve of
fold0 peaks at epoch 8 and then falls slowly (over-fitting the 20 training actors), so the second variant adds
regularisation (dropout 0.3 instead of 0.1) rather than patience (planned first, dropped for that reason).
Each variant is the full recipe (`bench-multitask`, every protocol run, the baselines too), trained into
`<runs-dir>-<variant>/` so `bench/accuracy.py --runs-dir` reuses the chosen one. With --seed1-base-runs the
weight-average variant is also trained with seed 1 and judged paired with the recipe's seed-1 run (`paired_check`).

Judged on validation only (15% of each run's training clips, whole groups, mixed with training noise): the
mean over fold0-5 of the kept epoch's validation score (mean accuracy of emotion, stress, scene, ESC-10) —
6 validation splits instead of fold0's one — and the speaker run's validation speaker accuracy. Rule, written
before the runs: the variant with the best fold-mean score if it beats the recipe by >= 0.5 point and its
speaker accuracy is at most 1 point lower; otherwise the recipe stays. Writes the "weight_average" section of
docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.accuracy import acc, train  # noqa: E402
from bench.report import write_section  # noqa: E402
from bench.training_sweep import kept_epochs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RUNS = ("fold0", "fold1", "fold2", "fold3", "fold4", "fold5", "speaker")
FOLDS = RUNS[:-1]
VARIANTS: dict[str, tuple[str, list[str]]] = {   # folder suffix -> (description, overrides on the recipe)
    "ema1": ("weight average, time constant 1 epoch", ["train.ema_epochs=1"]),
    "ema1d3": ("weight average 1 epoch + dropout 0.3", ["train.ema_epochs=1", "model.dropout=0.3"]),
}
TEST_CELLS = (("emotion", "clean"), ("emotion", "10"), ("emotion", "0"), ("stress", "clean"), ("speaker", "clean"),
              ("speaker", "10"), ("speaker", "0"), ("scene", "clean"), ("esc10", "clean"))
MIN_GAIN = 0.005        # fold-mean validation score a variant must add
MAX_SPEAKER_LOSS = 0.01


def test_row(folder: Path, cells: tuple[tuple[str, str], ...] = TEST_CELLS) -> list[float | None]:
    """Test accuracy (the accuracy benchmark's rule) of a finished run folder, per (task, condition) of `cells`."""
    m = {**json.loads((folder / "metrics.json").read_text()), "_folder": str(folder)}
    return [acc(m, t, c) for t, c in cells]


def summarise(folder: Path, recipe: Path, overrides: list[str]) -> dict:
    """Kept-epoch validation numbers of every run in `folder` (a finished bench-multitask/0 folder)."""
    rows = kept_epochs(folder, RUNS, recipe, overrides, FOLDS)
    jumps = []
    for r in FOLDS:   # epoch-to-epoch change of the validation score, after the first 5 epochs
        recs = [json.loads(x) for x in (folder / r / "log.jsonl").read_text().splitlines() if x.strip()]
        jumps += list(np.abs(np.diff([x["val_score"] for x in recs[4:]])))
    return {"runs": rows,
            "score": float(np.mean([rows[r]["val_score"] for r in FOLDS])),
            "clean_emotion": float(np.mean([rows[r]["val_clean_acc_emotion"] for r in FOLDS])),
            "speaker": rows["speaker"]["val_acc_speaker"],
            "jump": float(np.median(jumps)) if jumps else float("nan"),
            "epochs": [(rows[r]["n_epochs"], rows[r]["epoch"]) for r in RUNS], "test": test_row(folder)}


PAIRED = "ema1"          # the variant re-judged over two seeds


def paired_check(args: argparse.Namespace, rows: dict) -> list[str]:
    """The variant against the recipe on seeds 0 and 1, each pair on its own seed's validation split (the
    validation clips depend on the seed). Rule, written before the seed-1 variant had finished: adopt when the
    mean of the two paired fold-score differences is >= MIN_GAIN and the two-seed mean validation speaker
    accuracy drops by at most MAX_SPEAKER_LOSS."""
    ov = ["seed=1"] + VARIANTS[PAIRED][1]
    m = train(args.recipe, "bench-multitask", ov, list(RUNS), Path(f"{args.runs_dir}-{PAIRED}"), args.quiet)
    pairs = {0: (rows["base"], rows[PAIRED]),
             1: (summarise(args.seed1_base_runs, args.recipe, ["seed=1"]), summarise(Path(m["_folder"]), args.recipe, ov))}
    d = {sd: v["score"] - b["score"] for sd, (b, v) in pairs.items()}
    dk = float(np.mean([v["speaker"] - b["speaker"] for b, v in pairs.values()]))
    adopt = float(np.mean(list(d.values()))) >= MIN_GAIN and dk >= -MAX_SPEAKER_LOSS
    out = ["", "### Paired over two seeds", "",
           f"The recipe and the {VARIANTS[PAIRED][0]} variant with seeds 0 and 1, each pair compared on its own seed's "
           "validation split. Rule, written before the seed-1 variant had finished (seed 0's +0.2 known): adopt when "
           f"the mean paired difference of the fold score is >= {100 * MIN_GAIN:.1f} point and the two-seed mean "
           f"validation speaker accuracy drops by at most {100 * MAX_SPEAKER_LOSS:.0f} point.", "",
           "| seed | recipe: mean fold score | variant | difference | recipe: val speaker | variant | epochs run (kept), "
           "variant, fold0..5, speaker |", "|---|---:|---:|---:|---:|---:|---|"]
    for sd, (b, v) in pairs.items():
        ep = ", ".join(f"{n} ({k})" for n, k in v["epochs"])
        out.append(f"| {sd} | {100 * b['score']:.1f} | {100 * v['score']:.1f} | {100 * d[sd]:+.1f} | "
                   f"{100 * b['speaker']:.1f} | {100 * v['speaker']:.1f} | {ep} |")
    out += ["", f"Mean difference {100 * float(np.mean(list(d.values()))):+.2f} points, val speaker {100 * dk:+.1f}: "
            + ("adopted." if adopt else "not adopted; the recipe keeps the raw weights."), "",
            "Seed 1 on the test folds after the choice (not used to choose; seed 0 is in the table above):", "",
            "| model | " + " | ".join(f"{t} {c if c == 'clean' else c + ' dB'}" for t, c in TEST_CELLS) + " |",
            "|---|" + "---:|" * len(TEST_CELLS)]
    for label, r in (("recipe, seed 1", pairs[1][0]), ("variant, seed 1", pairs[1][1])):
        out.append(f"| {label} | " + " | ".join("-" if x is None else f"{100 * x:.1f}" for x in r["test"]) + " |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "deepear.yaml")
    ap.add_argument("--base-runs", type=Path, required=True,
                    help="finished bench-multitask/0 folder of the recipe without these knobs")
    ap.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "bench-v4")
    ap.add_argument("--seed1-base-runs", type=Path, default=None,
                    help="finished bench-multitask/1 folder of the recipe (seed 1): adds the paired two-seed check")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    missing = [r for r in RUNS if not (args.base_runs / r / "DONE").exists()]
    if missing:
        raise SystemExit(f"--base-runs {args.base_runs}: runs {missing} are not finished")
    rows = {"base": summarise(args.base_runs, args.recipe, [])}
    for name, (_, ov) in VARIANTS.items():
        m = train(args.recipe, "bench-multitask", ov, list(RUNS), Path(f"{args.runs_dir}-{name}"), args.quiet)
        rows[name] = summarise(Path(m["_folder"]), args.recipe, ov)

    base = rows["base"]
    ok = [n for n in VARIANTS if rows[n]["score"] >= base["score"] + MIN_GAIN
          and rows[n]["speaker"] >= base["speaker"] - MAX_SPEAKER_LOSS]
    chosen = max(ok, key=lambda n: rows[n]["score"]) if ok else "base"
    desc = {"base": ("recipe (raw weights, patience 8)", [])} | VARIANTS
    lines = ["## Weight averaging and dropout, chosen on the validation splits of all runs", "",
             "Validation split only (15% of each run's training clips, whole groups, half clean and half mixed with "
             "training noise); no test clip or test noise is read. Kept (best validation) epoch of each run. Rule, "
             f"written before the runs: the best mean fold0-5 validation score if it beats the recipe by >= "
             f"{100 * MIN_GAIN:.1f} point and the speaker run's validation speaker accuracy drops by at most "
             f"{100 * MAX_SPEAKER_LOSS:.0f} point. Score = mean validation accuracy of emotion, stress, scene and ESC-10.",
             "", "| variant | fold0 | fold1 | fold2 | fold3 | fold4 | fold5 | mean score | val emotion, clean windows "
             "(mean) | speaker run: val speaker | median epoch-to-epoch change of the fold score | epochs run (kept), "
             "fold0..5, speaker |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in rows.items():
        mark = " **(chosen)**" if name == chosen else ""
        folds = " | ".join(f"{100 * r['runs'][f]['val_score']:.1f}" for f in FOLDS)
        ep = ", ".join(f"{n} ({k})" for n, k in r["epochs"])
        lines.append(f"| {desc[name][0]}{mark} | {folds} | {100 * r['score']:.1f} | {100 * r['clean_emotion']:.1f} | "
                     f"{100 * r['speaker']:.1f} | {100 * r['jump']:.2f} | {ep} |")
    ov = " ".join(desc[chosen][1]) or "no change"
    lines += ["", "The kept epoch is the best of many noisy validation evaluations: for the raw weights, whose score "
              "jumps by a few points between epochs, that maximum is inflated more than for the smooth averaged "
              "weights, so this comparison leans towards the recipe. The second variant was planned as "
              "patience 16; it became dropout 0.3 when fold0's averaged curve (first run of the sweep) peaked at "
              "epoch 8 and then fell: over-fitting, which patience cannot help."]
    lines += ["", f"Chosen: {desc[chosen][0]} (`{ov}`). Command: `.venv/bin/python bench/weight_average_sweep.py "
              f"--base-runs {args.base_runs} --runs-dir {args.runs_dir}`; the variants' run folders are "
              f"`{args.runs_dir}-<variant>`."]
    lines += ["", "Measured on the test folds after the choice (not used to choose; one seed, the accuracy benchmark's "
              "rule; stress is a proxy: acted anger/fear vs neutral/calm):", "",
              "| variant | " + " | ".join(f"{t} {c if c == 'clean' else c + ' dB'}" for t, c in TEST_CELLS) + " |",
              "|---|" + "---:|" * len(TEST_CELLS)]
    for name, r in rows.items():
        lines.append(f"| {desc[name][0]} | " + " | ".join("-" if v is None else f"{100 * v:.1f}" for v in r["test"]) + " |")
    lines += ["", "The test folds lean towards the averaged weights on most cells, by 1-2 points; each variant is one "
              "seed (measured since: a second seed of the unchanged recipe moves the same cells by up to 4 points, "
              "ESC-10 77.0 vs 81.0 and speaker ID at 10 dB 80.0 vs 76.7; \"clean_corpora\" section), and switching "
              "on these numbers would be tuning on "
              "the test folds, so the recipe stays. What the sweep shows is that validation as set up cannot separate "
              "changes of this size; the next step is a validation measure that is not the maximum it selected "
              "on (a held-back half of the validation groups, scored once at the kept epoch), or several seeds."]
    if args.seed1_base_runs is not None:
        lines += paired_check(args, rows)
    lines += ["", "Since superseded: the \"epoch_selection\" section judges the same question with the kept epoch "
              "cross-fitted on validation halves over two seeds (the measure this section asked for), and the "
              "recipe now averages its weights (`train.ema_epochs: 1`)."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("weight_average", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
