"""Speaker ID: 5 s training windows (DeepEar's speech window) vs 1.28 s windows, on the speaker split.

    .venv/bin/python bench/speaker_window.py [--recipe recipes/deepear.yaml] [--runs-dir runs] [--write]

Both variants are the recipe's `speaker` protocol run (RAVDESS repetition 2 and FSDD takes 0-4 held out),
differing only in the speaker task's window/hop; every other task, the seed and the data are the same. Runs
are resumable (an existing run folder of the same recipe is reused). Accuracy is per clip (the log-
probabilities of a clip's windows summed), clean and with held-out noise at 10 and 0 dB. Writes the
"speaker_window" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.experiment import Experiment  # noqa: E402
from deepear.progress import bar  # noqa: E402
from deepear.recipe import load_recipe  # noqa: E402

COMMON = ["protocol.runs=[speaker]", "eval.baselines=[]", "eval.snrs_db=[null, 10, 0]"]
VARIANTS = {  # run name -> speaker window overrides
    "deepear": ["tasks.speaker.window_s=5.0", "tasks.speaker.hop_s=2.5"],
    "exp-spk128": ["name=exp-spk128", "tasks.speaker.window_s=1.28", "tasks.speaker.hop_s=0.64"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=Path("recipes/deepear.yaml"))
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = []
    for name, ov in VARIANTS.items():
        recipe = load_recipe(args.recipe, COMMON + ov)
        exp = Experiment(recipe, default_data_root(), runs_root=args.runs_dir, progress=lambda d: bar(d, args.quiet))
        m = exp.run()
        sp = m["tasks"]["speaker"]["conditions"]
        spec = recipe.tasks["speaker"]
        rows.append((f"{spec.window_s:g} s / {spec.hop_s:g} s", str(exp.folder.path), sp))
    lines = ["## Speaker ID: training window length (speaker split)", "",
             "The `speaker` protocol run of `recipes/deepear.yaml` (every actor and FSDD speaker in training; RAVDESS "
             "repetition 2 and FSDD takes 0-4 held out), the two variants differing only in the speaker task's "
             "window / hop. Per-clip accuracy; noise = held-out real noise at the given SNR.", "",
             "| speaker window / hop | all clean | RAVDESS (24 actors) clean | FSDD (6) clean | all 10 dB | all 0 dB "
             "| run folder |", "|---|---:|---:|---:|---:|---:|---|"]
    for win, folder, sp in rows:
        bc = sp["clean"].get("by_corpus", {})
        lines.append(f"| {win} | {100 * sp['clean']['accuracy']:.1f}% | {100 * bc.get('ravdess', float('nan')):.1f}% | "
                     f"{100 * bc.get('fsdd', float('nan')):.1f}% | {100 * sp['10']['accuracy']:.1f}% | "
                     f"{100 * sp['0']['accuracy']:.1f}% | `{folder}` |")
    lines += ["", "1.28 s windows give each 3-4 s RAVDESS utterance several training examples instead of one partial "
              "5 s window, and the clip decision averages several windows; the recipe now uses them for the speaker "
              "task (one seed, one split: the difference is a single measurement). Target (issue): >= 98% on the "
              "24 RAVDESS actors — still missed; the SVM baseline on 5 s windows reaches 93.3% (accuracy section). "
              "The accuracy section's runs were made before this change (speaker head on 5 s windows); the "
              "reference bundle `exported/deepear-4task` is exported from the 1.28 s run."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("speaker_window", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
