"""Accuracy of the multi-task DNN against its ablations and the classical baselines, on held-out speakers
and folds, clean and in held-out noise: task x {multi-task, single-task, the other initialisation (no RBM
pre-training, or with it when the recipe has none), GMM, SVM} x
{clean, 10 dB, 0 dB}, plus the pre-training ablation at 10% of the labels and band-limited scene.

    .venv/bin/python bench/accuracy.py [--recipe recipes/deepear.yaml] [--runs fold0 ... speaker]
                                       [--ablation-runs fold0 fold1 speaker] [--runs-dir bench/accuracy_runs/<recipe>-<hash>]
                                       [--previous runs/bench-v1 [--previous-label TEXT]] [--skip ...]

--previous reads (never trains) the finished runs of an earlier recipe in another runs folder and shows them
beside the current recipe: its multi-task model as a column of the main table (same splits, same noise), and
its ablations for the variants this invocation skips, labelled as coming from that recipe.

Every variant is an ordinary recipe run (resumable: re-running skips finished protocol runs); GMM and SVM
are trained and tested inside the multi-task runs on exactly the same windows. Under bench/accuracy_runs/ (the
default, one folder per recipe version) the small files of every run folder (recipe, metrics, DONE; not the
checkpoints) are committed, so a retrain that outlives one machine resumes on the next; pass a folder under
runs/ for a scratch table. Writes the "accuracy"
section of docs/benchmarks.md and docs/img/accuracy_noise.png.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.experiment import SVM_MAX_TRAIN, Experiment  # noqa: E402
from deepear.progress import bar  # noqa: E402
from deepear.recipe import load_recipe  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TASKS = ("emotion", "stress", "speaker", "scene")
TITLES = {"emotion": "emotion (5 classes, actor-held-out)",
          "stress": "stress proxy: acted angry/fearful vs neutral/calm (actor-held-out)",
          "speaker": "speaker ID, 24 RAVDESS actors (rep 1 -> rep 2)", "scene": "scene (4 classes, grouped folds)",
          "esc10": "ESC-10 (official folds)"}
TARGETS = {"emotion": {"clean": 65, "10": 58, "0": 52}, "stress": {"clean": 93}, "speaker": {"clean": 98, "10": 85, "0": 60},
           "scene": {"clean": 95}, "esc10": {"clean": 85}}
CONDS = ("clean", "10", "0")


def default_runs_dir(recipe_path: Path = REPO / "recipes" / "deepear.yaml") -> Path:
    """bench/accuracy_runs/<recipe name>-<first 8 of its hash>: one folder per recipe version, so a changed recipe
    never meets its old runs (their small files are committed; models and checkpoints stay on the machine)."""
    r = load_recipe(recipe_path)
    return REPO / "bench" / "accuracy_runs" / f"{r.name}-{r.hash()[:8]}"


def runs_for(task: str, runs: list[str]) -> list[str]:
    if task == "speaker":
        return [r for r in runs if r == "speaker"]
    if task in ("scene", "esc10"):
        return [r for r in runs if r.startswith("fold") and int(r[4:]) < 5]
    return [r for r in runs if r.startswith("fold")]


def train(recipe_path: Path, name: str, overrides: list[str], runs: list[str], runs_dir: Path,
          quiet: bool) -> dict | None:
    if not runs:
        return None
    ov = [f"name={name}", f"protocol.runs=[{', '.join(runs)}]"] + overrides
    recipe = load_recipe(recipe_path, ov)
    exp = Experiment(recipe, default_data_root(), runs_root=runs_dir, progress=lambda d: bar(d, quiet))
    t0 = time.perf_counter()
    m = exp.run()
    logging.getLogger("bench").info("%s done in %.0f s", name, time.perf_counter() - t0)
    m["train_seconds"] = sum(_run_seconds(exp.folder.path / r) for r in runs)
    m["_folder"] = str(exp.folder.path)
    return m


def _run_seconds(folder: Path) -> float:
    import json

    p = folder / "metrics.json"
    if not p.exists():
        return 0.0
    m = json.loads(p.read_text())
    return float(m.get("fit_seconds", 0.0)) + float((m.get("pretrain") or {}).get("seconds", 0.0))


def benchmark_accuracy(task: str, rep: dict) -> float | None:
    """The accuracy the benchmark reports from one condition's metrics report (fraction): speaker ID on the RAVDESS
    actors only (the target's protocol; FSDD speakers trained alongside are scored separately), other tasks as is."""
    return rep.get("by_corpus", {}).get("ravdess") if task == "speaker" else rep.get("accuracy")


def acc(m: dict | None, task: str, cond: str, system: str = "dnn") -> float | None:
    """Mean accuracy over the runs testing `task`; speaker ID is scored on the 24 RAVDESS actors only (the
    target's protocol; the FSDD speakers trained alongside are in metrics.json)."""
    if m is None or task not in m["tasks"]:
        return None
    if task == "speaker" and "_folder" in m:
        import json

        p = Path(m["_folder"]) / "speaker" / "metrics.json"
        if p.exists():
            t = json.loads(p.read_text())["tasks"]["speaker"]
            src = t["conditions"] if system == "dnn" else t.get("baselines", {}).get(system, {})
            return benchmark_accuracy(task, src.get(cond, {}))
    t = m["tasks"][task]
    src = t["conditions"] if system == "dnn" else t.get("baselines", {}).get(system, {})
    return src.get(cond, {}).get("accuracy")


def acc_runs(m: dict | None, task: str, cond: str, runs: list[str], system: str = "dnn") -> float | None:
    """Mean accuracy of `task` (DNN or a baseline) over the given protocol runs only (RAVDESS-only for speaker
    ID)."""
    import json

    if m is None or "_folder" not in m:
        return None
    vals = []
    for r in runs:
        p = Path(m["_folder"]) / r / "metrics.json"
        if not p.exists():
            continue
        t = json.loads(p.read_text())["tasks"].get(task)
        src = None if t is None else t["conditions"] if system == "dnn" else t.get("baselines", {}).get(system, {})
        if not src or cond not in src:
            continue
        vals.append(benchmark_accuracy(task, src[cond]))
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def _rel(p: Path) -> str:
    """`p` relative to the repository when inside it (the command shown in the docs), else as given."""
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def load_finished(runs_dir: Path, name: str) -> dict | None:
    """The aggregated metrics of a finished variant in `runs_dir` (read-only), or None when absent."""
    import json

    folder = runs_dir / name / "0"
    p = folder / "metrics.json"
    if not p.exists() or not (folder / "DONE").exists():
        return None
    m = json.loads(p.read_text())
    m["_folder"] = str(folder)
    m["train_seconds"] = sum(_run_seconds(d) for d in folder.iterdir() if d.is_dir())
    return m


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "deepear.yaml")
    ap.add_argument("--runs", nargs="+", default=["fold0", "fold1", "fold2", "fold3", "fold4", "fold5", "speaker"])
    ap.add_argument("--ablation-runs", nargs="+", default=["fold0", "fold1", "speaker"],
                    help="protocol runs for the single-task / no-pre-training / 10%% variants")
    ap.add_argument("--runs-dir", type=Path, default=None,
                    help="run folders (default bench/accuracy_runs/<recipe name>-<recipe hash>, whose small files "
                         "are committed)")
    ap.add_argument("--skip", nargs="*", default=[], help="variants to skip: noadapt single nopre fraction bandlimit")
    ap.add_argument("--previous", type=Path, default=None,
                    help="runs folder of an earlier recipe's finished variants, shown beside this one (read-only)")
    ap.add_argument("--previous-label", default="previous recipe")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    t_all = time.perf_counter()
    if args.runs_dir is None:
        args.runs_dir = default_runs_dir(args.recipe)
    rp, rd, q = args.recipe, args.runs_dir, args.quiet
    multi = train(rp, "bench-multitask", [], args.runs, rd, q)
    base_recipe = load_recipe(rp)
    adapted = base_recipe.adaptation.tasks
    adapt_runs = [r for r in args.ablation_runs if r.startswith("fold")]
    noadapt = None if "noadapt" in args.skip or not adapted else train(
        rp, "bench-noadapt", ["adaptation.tasks=[]", "eval.baselines=[svm]"], adapt_runs, rd, q)
    # the initialisation ablation: the other one than the recipe's (RBM pre-training on or off)
    pre_on = base_recipe.pretrain.enabled
    init_name, init_label = ("bench-nopretrain", "no pre-training") if pre_on else ("bench-pretrain", "RBM pre-training")
    other_init = None if "nopre" in args.skip else train(rp, init_name, [f"pretrain.enabled={str(not pre_on).lower()}",
                                                                    "eval.baselines=[]"], args.ablation_runs, rd, q)
    single = {}
    if "single" not in args.skip:
        for t in TASKS:
            spec = base_recipe.tasks[t]        # the task alone, on the recipe's own window (and adaptation)
            single[t] = train(rp, f"bench-single-{t}", [f"tasks={{{t}: {{window_s: {spec.window_s}, "
                                                          f"hop_s: {spec.hop_s}}}}}",
                                                          f"adaptation.tasks=[{t if t in adapted else ''}]",
                                                          "eval.baselines=[]"],
                              runs_for(t, args.ablation_runs), rd, q)
    frac = {}
    if "fraction" not in args.skip:
        for pre in (True, False):
            frac[pre] = train(rp, f"bench-10pct-{'pre' if pre else 'nopre'}",
                              ["data.fraction=0.1", f"pretrain.enabled={str(pre).lower()}", "eval.baselines=[]",
                               "eval.snrs_db=[null, 10, 0]"], args.ablation_runs, rd, q)
    band = None
    if "bandlimit" not in args.skip:
        band = train(rp, "bench-scene-4khz", ["front_end.fmax_hz=4000", "eval.snrs_db=[null]", "eval.baselines=[svm]",
                                              f"tasks={{scene: {{window_s: {base_recipe.tasks['scene'].window_s}, "
                                              f"hop_s: {base_recipe.tasks['scene'].hop_s}}}}}", "adaptation.tasks=[]"],
                     runs_for("scene", args.ablation_runs), rd, q)

    prev = load_finished(args.previous, "bench-multitask") if args.previous else None
    from_prev: list[str] = []
    if args.previous:
        if other_init is None and "nopre" in args.skip:
            other_init = load_finished(args.previous, init_name)
            from_prev += [init_label] if other_init else []
        if not single and "single" in args.skip:
            single = {t: load_finished(args.previous, f"bench-single-{t}") for t in TASKS}
            from_prev += ["single-task"] if any(single.values()) else []
        if not frac and "fraction" in args.skip:
            frac = {pre: load_finished(args.previous, f"bench-10pct-{'pre' if pre else 'nopre'}") for pre in (True, False)}
            from_prev += ["10% labels"] if any(frac.values()) else []
        if band is None and "bandlimit" in args.skip:
            band = load_finished(args.previous, "bench-scene-4khz")
            from_prev += ["band-limited scene"] if band else []
        if noadapt is None and "noadapt" in args.skip and adapted:
            noadapt = load_finished(args.previous, "bench-noadapt")
            from_prev += ["adaptation"] if noadapt else []
    # columns 2-4 of the main table compare like with like: the multi-task model of the same recipe as the
    # ablations shown (both from --previous, or both from this recipe); so does the 10%-labels table
    table_prev = bool(prev) and (init_label in from_prev or "single-task" in from_prev)
    ablation_multi = prev if table_prev else multi
    frac_prev = bool(prev) and "10% labels" in from_prev
    frac_multi = prev if frac_prev else multi
    frac_other = load_finished(args.previous, init_name) if frac_prev else other_init
    adapt_multi = prev if bool(prev) and "adaptation" in from_prev else multi   # adapted and not, same recipe

    lines = ["## Accuracy: multi-task DNN vs ablations and classical baselines", "",
             f"Recipe `{_rel(args.recipe)}`; protocol runs {', '.join(args.runs)} for the multi-task model and "
             f"the baselines, {', '.join(args.ablation_runs)} for the ablations (mean over the runs that test each "
             "task). Emotion and stress: 6 actor-held-out folds (4 actors each); speaker ID: RAVDESS repetition 1 "
             "-> 2 (24 actors; FSDD speakers are trained too, scored separately in metrics.json); scene: grouped "
             "folds, scored per 1.28 s window. Noise: held-out real recordings (running tap, exercise bike, the "
             "ESC noise clips of the test fold, a held-out music track), never used in training, mixed at the "
             "given SNR of active speech (or active signal) power over noise power. GMM and SVM are trained on "
             f"exactly the same multi-condition windows (clean + {base_recipe.mixing.copies} noisy copies per clip; the "
             f"SVM a stratified draw of at most {SVM_MAX_TRAIN:,} of them per task) and tested on the same windows. "
             "**Stress is a proxy** (acted anger/fear vs neutral/calm), not measured stress."
             + (f" **Adapted per speaker**: {', '.join(adapted)} windows are standardised with each held-out "
                "speaker's own unlabelled test recordings of the same condition (docs/adaptation.md); the GMM "
                "works on frames and is not adapted, the SVM gets the same adapted vectors as the DNN."
                if adapted else ""), "",
             "Columns 1, 5 and 6 average every multi-task protocol run; columns 2-4 only the ablation runs, so "
             "compare column 2 with 3 and 4, and column 1 with 5 and 6."
             + (f" Columns 2-4 come from the {args.previous_label} ({args.previous}/, not retrained here)."
                if table_prev else "")
             + (f" Read from the {args.previous_label} ({args.previous}/, not retrained here): "
                f"{', '.join(from_prev)} (marked below)." if from_prev else "")
             + (f" The column '{args.previous_label}' is that recipe's multi-task model on the same splits and "
                f"noise." if prev else ""), "",
             "| task | condition | multi-task (all runs) | multi-task (ablation runs) | single-task | " + init_label + " "
             "| GMM | SVM |" + (f" {args.previous_label} |" if prev else "") + " target |",
             "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if prev else "") + "---:|"]
    for t in TASKS + ("esc10",):
        for c in CONDS:
            tgt = TARGETS.get(t, {}).get(c)
            row = [fmt(acc(multi, t, c)), fmt(acc_runs(ablation_multi, t, c, args.ablation_runs)),
                   fmt(acc(single.get(t), t, c)), fmt(acc(other_init, t, c)),
                   fmt(acc(multi, t, c, "gmm")), fmt(acc(multi, t, c, "svm"))]
            if prev:
                row.append(fmt(acc(prev, t, c)))
            lines.append(f"| {TITLES[t]} | {c if c == 'clean' else c + ' dB'} | " + " | ".join(row)
                         + f" | {'>= ' + str(tgt) if tgt else ''} |")
    if multi:
        lines += ["", f"Multi-task model: {multi['params']:,} parameters; training (pre-training + fine-tuning) "
                  f"{multi['train_seconds'] / 60:.1f} min for {len(args.runs)} protocol runs on this machine."]
        sp = sum(s["params"] for s in single.values() if s)
        if sp:
            lines.append(f"Single-task models: {sp:,} parameters for the four together (one 3-layer net per task).")
    if noadapt:
        lines += ["", "### What per-speaker adaptation buys (docs/adaptation.md)"
                  + (f" ({args.previous_label})" if "adaptation" in from_prev else ""), "",
                  f"Same recipe with `adaptation.tasks=[]`, protocol runs {', '.join(adapt_runs)} (actor-held-out); "
                  "adapted: every held-out actor's 5 s windows standardised with that actor's own unlabelled test "
                  "windows of the same condition (the device has heard the speaker before).", "",
                  "| task | condition | DNN adapted | DNN not adapted | SVM adapted | SVM not adapted |",
                  "|---|---|---:|---:|---:|---:|"]
        for t in adapted:
            for c in CONDS:
                lines.append(f"| {'stress proxy' if t == 'stress' else t} | {c if c == 'clean' else c + ' dB'} | "
                             f"{fmt(acc_runs(adapt_multi, t, c, adapt_runs))} | "
                             f"{fmt(acc_runs(noadapt, t, c, adapt_runs))} | "
                             f"{fmt(acc_runs(adapt_multi, t, c, adapt_runs, 'svm'))} | "
                             f"{fmt(acc_runs(noadapt, t, c, adapt_runs, 'svm'))} |")
    if frac and any(frac.values()):
        lines += ["", "### What pre-training buys with 10% of the labels"
                  + (f" ({args.previous_label})" if "10% labels" in from_prev else ""), "",
                  "Labels kept for 10% of the training clips (per corpus, seeded); RBM pre-training still sees all "
                  "training audio and the training noise, unlabelled.", "",
                  "| task | condition | all labels, pre-trained | all labels, random init | 10%, pre-trained | 10%, random init |",
                  "|---|---|---:|---:|---:|---:|"]
        for t in TASKS:
            for c in CONDS:
                mine, other = acc_runs(frac_multi, t, c, args.ablation_runs), acc(frac_other, t, c)
                pre_v, rand_v = (mine, other) if pre_on else (other, mine)   # the recipe's column and the other
                lines.append(f"| {t} | {c} | {fmt(pre_v)} | {fmt(rand_v)} | "
                             f"{fmt(acc(frac.get(True), t, c))} | {fmt(acc(frac.get(False), t, c))} |")
    if band:
        lines += ["", f"Band-limited scene (every clip's features limited to 0-4 kHz, `front_end.fmax_hz=4000`, "
                  f"single-task{', ' + args.previous_label if 'band-limited scene' in from_prev else ''}): DNN {fmt(acc(band, 'scene', 'clean'))}%, SVM {fmt(acc(band, 'scene', 'clean', 'svm'))}% "
                  f"(target >= 92%)."]
    lines += ["", f"This invocation took {(time.perf_counter() - t_all) / 60:.0f} min (finished protocol runs are reused from "
              f"{_rel(args.runs_dir)}/; the training times above are the real cost)."]
    text = "\n".join(lines)
    print(text)
    if multi:
        from deepear.model.plots import plot_noise_curves

        curves = {}
        for t in TASKS:
            for sysname in ("dnn", "svm"):  # GMM is in the table; 8 lines keep distinct colours
                vals = {c: acc(multi, t, c, sysname) for c in ("clean", "20", "10", "5", "0")}
                vals = {c: v for c, v in vals.items() if v is not None}
                if vals:
                    curves[f"{t} ({sysname.upper()})"] = vals
        if curves and not args.no_write:
            (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
            plot_noise_curves(curves, REPO / "docs" / "img" / "accuracy_noise.png",
                              title="Accuracy vs SNR of held-out noise")
            text += "\n\n![accuracy vs SNR](img/accuracy_noise.png)"
    if not args.no_write:
        write_section("accuracy", text)


if __name__ == "__main__":
    main()
