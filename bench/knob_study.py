"""One recipe knob judged on validation: paired with the recipe's own trajectories, cross-fitted.

    .venv/bin/python bench/knob_study.py --name NAME --set KEY=VALUE [--set ...] [--seeds 0 1]
        [--runs fold0 ...] [--store bench/knob_trajectories] [--quiet] [--write]
    .venv/bin/python bench/knob_study.py --name NAME --variant task-towers-256 [...]

A knob is either recipe overrides (`--set`) or a model variant (`--variant`, bench/model_variants.py: an
architecture the recipe cannot express yet, judged before it is built into deepear/), or both.

How: every protocol run of recipes/deepear.yaml, with and without the `--set` overrides, is fine-tuned once
(`bench/epoch_selection_study.py`'s trajectory: validation hits and test accuracy after every epoch, ended as soon
as the recipe's stopping rule has stopped on all the validation clips and on both halves, since later epochs
cannot change what is judged). Both are replayed with the recipe's stopping rule (weight average, patience 8) and
judged cross-fitted on the same random halves of the validation clips: the epoch is chosen on one half, scored on
the other. The knob must leave the validation windows unchanged: the clips (checked by hash after training), and the
SNRs, noise and window lengths they are cut and mixed with (checked on the resolved recipes before training:
without `protocol.val_snrs_db`, `mixing.snrs_db` also sets the validation copies' SNRs, so a knob on the training
SNRs must pin them with `--set 'protocol.val_snrs_db=[20, 10, 5, 0]'`), so each (fold, seed) pair compares the
two recipes on identical windows.

Storage: what the judgement needs of each trajectory (the averaged weights' validation curves on all clips and
on each half, the noise probes' curves per task, SNR and half, test accuracy per epoch, a hash of the validation
clips and of the resolved recipe; a few KB of JSON) is kept under --store/<name>/<seed>/<run>.json, the recipe's
own under --store/recipe/. The default store is in the repository and is committed, so a study of ~28 fine-tunings can span sessions and machines; a summary
whose recipe hash no longer matches recipes/deepear.yaml (with its overrides and seed) is an error, never reused,
and so is a comparison of summaries trained with different deepear/ training code (each records git's tree hash of
the committed package, compared without the export, runtime and DeepX packages, which fine-tuning never imports;
training with uncommitted changes to the rest is refused) or on CPUs whose kernels round differently (each records
torch's CPU capability, e.g. AVX2 or AVX512).

Rule (the "epoch_selection" study's, written before it ran): the knob replaces the recipe when its cross-fitted
fold score (mean validation accuracy of emotion, stress, scene and ESC-10 over fold0-5 and the seeds) gains >= 0.5
point, gains in at least two thirds of the (fold, seed) pairs, and the speaker run's cross-fitted speaker accuracy
drops by at most 1 point (mean over seeds). No verdict without every protocol run of at least two seeds.

Noise rule (`--rule noise`, for knobs aimed at the issue's noise targets; written December 7, 2026, before any
summary with noise probes existed, and declared per study before it trains): the standard validation score
weighs the 10 and 0 dB windows little (half its windows are clean, the rest spread over 20-0 dB), so every run
also scores "noise probes" after each epoch: its validation clips mixed with its training noise at exactly 10 and
0 dB (never the test noise or test clips; never seen by training or its stopping rule). At the kept epoch
(chosen as above, cross-fitted) the probe accuracy of emotion (fold runs) and of speaker ID (speaker run), mean
of the two SNRs, is compared: the knob passes when the emotion probes gain >= 1 point in two thirds of the
(fold, seed) pairs, the speaker probes do not lose (mean over seeds), and the standard scores cost at most 0.5
point (fold score) and 1 point (speaker run). Both rules are always reported; only the declared one decides. Test accuracy of
the kept epochs is printed after the verdict and is never part of it. Summaries are kept under --store/NAME/
with the overrides they were trained with (a different --set under the same name is an error); a re-run skips
finished ones, so a study can be continued later. `--runs` / one seed train a subset first (a screen, reported
without a verdict). Writes the "knob_NAME" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.epoch_selection_study import (FOLDS, MAX_SPEAKER_LOSS, MIN_GAIN, MIN_SHARE, RUNS,  # noqa: E402
                                         TEST_CELLS, WEIGHTS, Rule, curves, halves, judge_curves, trajectory,
                                         val_clips)
from bench import model_variants  # noqa: E402
from bench.report import write_section  # noqa: E402
from deepear.atomic import atomic_write_text  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.experiment import Experiment  # noqa: E402
from deepear.progress import bar  # noqa: E402
from deepear.recipe import Recipe, load_recipe  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RULE = Rule("ema")                 # the recipe's stopping rule: weight average, patience 8
CELLS = TEST_CELLS + (("stress", "0"), ("scene", "10"), ("scene", "0"), ("esc10", "10"), ("esc10", "0"))
BASE = "recipe"                    # the store's folder of the recipe's own summaries
PROBES_DB = (10.0, 0.0)            # the noise probes: validation clips at these SNRs with training noise
#: The noise rule (written December 7, 2026, before any summary with noise probes existed): the task each run
#: judges on the probes (the issue's noise targets are emotion and speaker ID), the gain it asks (points of the
#: mean probe accuracy over PROBES_DB, cross-fitted), and how much of the standard scores it may cost.
NOISE_TASK = {"fold": "emotion", "speaker": "speaker"}
NOISE_MIN_GAIN, NOISE_MIN_SPEAKER = 1.0, 0.0
NOISE_MAX_FOLD_LOSS, NOISE_MAX_SPEAKER_LOSS = 0.5, 1.0
RULES = ("standard", "noise")
log = logging.getLogger("bench.knob_study")


#: Packages of deepear/ that fine-tuning never imports (checked after every fine-tuning, `check_not_imported`):
#: export, the runtime and DeepX. A change there leaves the stored summaries comparable; any other change to
#: deepear/ means recomputing them.
NOT_TRAINING = ("deepx", "export", "runtime")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def library_tree() -> str:
    """git's tree hash of the committed deepear/ package; refuses to train with uncommitted changes to its training
    code (all of it but NOT_TRAINING), since a summary records the library code it was trained with (two summaries
    are only compared when its training code is the same, `training_code`)."""
    if _git("status", "--porcelain", "--", "deepear", *(f":(exclude)deepear/{p}" for p in NOT_TRAINING)):
        raise SystemExit("deepear/ has uncommitted changes: commit them first, a summary records the library's "
                         "git tree it was trained with")
    return _git("rev-parse", "HEAD:deepear")


def training_code(tree: str) -> str:
    """What a summary's fine-tuning ran, from the deepear/ git tree it records: sha256 of the tree's listing without
    the NOT_TRAINING packages (their hashes). `tree` itself when git does not have it (e.g. "unknown", a shallow
    clone), so such summaries are compared only with the very same tree."""
    try:
        listing = _git("ls-tree", tree)
    except subprocess.CalledProcessError:
        return tree
    keep = [line for line in listing.splitlines() if line.split("\t", 1)[-1] not in NOT_TRAINING]
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()


def check_not_imported() -> None:
    """Refuse a summary whose fine-tuning imported a NOT_TRAINING package: its code would then be part of what the
    summary depends on, and `training_code` would not see a change to it."""
    seen = sorted(m for m in sys.modules for p in NOT_TRAINING if m == f"deepear.{p}" or m.startswith(f"deepear.{p}."))
    if seen:
        raise SystemExit(f"fine-tuning imported {seen}: NOT_TRAINING in bench/knob_study.py must not list them")


def cpu_kernels() -> str:
    """The CPU instruction set torch's kernels dispatch to here ("AVX2", "AVX512", ...): float32 sums are rounded
    differently on each, so one recipe trained on two of them follows two trajectories (measured: its cross-fitted
    score moved by -0.13 to +0.86 points per run between the machine of the earlier sessions and an AVX2 one,
    with identical training code; docs/training.md)."""
    import torch
    return str(torch.backends.cpu.get_cpu_capability())


def check_same_library(*stores: dict) -> None:
    """Every compared summary must come from the same deepear/ training code (a change there moves both sides;
    export, runtime and DeepX do not count, `training_code`) and the same CPU kernels (summaries from before this was recorded count as "unknown", comparable only with each
    other)."""
    for field, what in (("deepear_tree", "deepear/ training code (git trees "), ("cpu", "CPU kernels (")):
        value = training_code if field == "deepear_tree" else str
        seen = {value(sm.get(field, "unknown")): key for got in stores for key, sm in got.items()}
        if len(seen) > 1:
            raise SystemExit(f"the summaries were trained with different {what}{sorted(seen)}; e.g. seed/run "
                             f"{list(seen.values())}): recompute the older side (delete its files in the store)")


def clips_hash(traj: dict[str, np.ndarray]) -> str:
    """sha256 of the run's sorted validation clip ids (the paired comparison needs the same clips)."""
    return hashlib.sha256(json.dumps([str(c) for c in val_clips(traj)]).encode()).hexdigest()


def summarise(traj: dict[str, np.ndarray], seed: int, run: str, recipe_hash: str, overrides: list[str],
              seconds: float, tree: str, variant: str | None = None) -> dict:
    """What judging `RULE` needs of a trajectory: its weights' curves on all validation clips and on the halves
    (points per epoch), test accuracy (E, n_tasks, 3 conditions, fractions), the clips', recipe's and library's
    hashes; and, to read which task a knob moves (never judged), each task's validation window accuracy per epoch
    (`task_curves`, points), also per mixing condition (`task_curves_by_snr`: "clean" and each SNR in dB; from
    December 7, 2026: older summaries lack them)."""
    w = WEIGHTS.index(RULE.weights)
    c = curves(traj, w, halves(traj, seed, run))
    return {"seed": seed, "run": run, "recipe_hash": recipe_hash, "overrides": overrides,
            **({"variant": variant} if variant else {}), "deepear_tree": tree, "cpu": cpu_kernels(),
            "weights": RULE.weights, "epochs": int(traj["test"].shape[1]), "seconds": round(seconds, 1),
            "val_clips_sha256": clips_hash(traj), "test_tasks": [str(t) for t in traj["test_tasks"]],
            "curves": {k: [round(float(v), 6) for v in c[k]] for k in ("all", "a", "b")},
            "task_curves": {str(t): [round(float(v), 4) for v in 100 * traj[f"hits_{t}"][w].mean(1)]
                            for t in traj["test_tasks"]},
            **({"task_curves_by_snr": snr_curves(traj, w)} if all(f"snr_{t}" in traj for t in traj["test_tasks"])
               else {}),
            **({"probe_curves": probe_curves(traj, w, halves(traj, seed, run))}
               if any(k.startswith("probe_hits_") for k in traj) else {}),
            "test": np.round(traj["test"][w], 6).tolist()}


def probe_curves(traj: dict[str, np.ndarray], w: int, half_a: np.ndarray) -> dict[str, dict[str, dict]]:
    """{task: {"<snr>": {"all" | "a" | "b": window accuracy per epoch (points)}}} of weight set `w` on the noise
    probes (validation clips at a fixed SNR with training noise), on all probe windows and on those of each
    half's clips: what the noise rule judges, cross-fitted like the fold score."""
    out: dict[str, dict[str, dict]] = {}
    for key in sorted(k for k in traj if k.startswith("probe_hits_")):
        task, snr = key[len("probe_hits_"):].rsplit("_", 1)
        hits, clip = traj[key][w], traj[f"probe_clip_{task}_{snr}"]
        in_a = np.isin(clip, half_a)
        out.setdefault(task, {})[snr] = {k: [round(float(v), 4) for v in 100 * hits[:, m].mean(1)]
                                         for k, m in (("all", np.ones_like(in_a)), ("a", in_a), ("b", ~in_a))}
    return out


def snr_curves(traj: dict[str, np.ndarray], w: int) -> dict[str, dict[str, list[float]]]:
    """{task: {"clean" | "<snr>": validation window accuracy per epoch (points)}} of weight set `w`: what a knob
    does to each task in noise, beside `task_curves` (all windows)."""
    out = {}
    for t in traj["test_tasks"]:
        hits, snr = traj[f"hits_{t}"][w], np.asarray(traj[f"snr_{t}"], dtype=float)
        groups = {"clean": np.isnan(snr), **{f"{v:g}": snr == v for v in np.unique(snr[~np.isnan(snr)])}}
        out[str(t)] = {k: [round(float(v), 4) for v in 100 * hits[:, m].mean(1)] for k, m in groups.items() if m.any()}
    return out


def rule_done(seed: int, run: str):
    """Stop hook for `trajectory`: True once RULE has stopped on all validation clips and on both halves."""
    def enough(traj: dict[str, np.ndarray]) -> bool:
        c = curves(traj, WEIGHTS.index(RULE.weights), halves(traj, seed, run))
        return all(RULE.stopped(c[k]) for k in ("all", "a", "b"))
    return enough


def collect(seeds: list[int], folder: Path, overrides: list[str], runs: tuple[str, ...], quiet: bool,
            train: bool = True, variant: str | None = None) -> dict[tuple[int, str], dict]:
    """Summaries of every (seed, run) of recipes/deepear.yaml with `overrides` (and model `variant`, None = the
    recipe's model), fine-tuning the missing ones (atomic writes; resumable). With train=False only the existing
    ones are read."""
    got = {}
    for seed in seeds:
        recipe = load_recipe(REPO / "recipes" / "deepear.yaml", [f"seed={seed}", *overrides])
        exp = None
        for run in runs:
            path = folder / str(seed) / f"{run}.json"
            if not path.exists():
                if not train:
                    continue
                tree = library_tree()
                if exp is None:
                    # only its data and model builders are used: nothing is written under runs_root
                    exp = Experiment(recipe, default_data_root(), runs_root=REPO / "runs" / "knob-study",
                                     progress=lambda d: bar(d, quiet))
                    if variant:
                        model_variants.apply(exp, variant)
                t0 = time.perf_counter()
                traj = trajectory(exp, run, enough=rule_done(seed, run), probes_db=PROBES_DB)
                check_not_imported()
                summary = summarise(traj, seed, run, recipe.hash(), overrides, time.perf_counter() - t0, tree,
                                    variant)
                atomic_write_text(path, json.dumps(summary, indent=1) + "\n")
                log.info("%s seed %d %s: %d epochs in %.0f s", folder.name, seed, run, summary["epochs"],
                         summary["seconds"])
            summary = json.loads(path.read_text())
            if summary["recipe_hash"] != recipe.hash():
                raise SystemExit(f"{path}: trained with recipe {summary['recipe_hash']}, but recipes/deepear.yaml "
                                 f"with seed {seed} and {overrides} is now {recipe.hash()}; the recipe changed, so "
                                 f"this summary cannot be compared: delete {folder} and run the study again")
            if summary.get("variant") != variant:
                raise SystemExit(f"{path}: trained with model variant {summary.get('variant')}, asked for {variant}")
            got[(seed, run)] = summary
    return got


def validation_inputs(recipe: Recipe) -> dict:
    """What decides a run's validation windows besides the model: its clips (data, protocol, seed), the noise
    and SNRs its noisy copy is drawn from (the training bank; `protocol.val_snrs_db`, else `mixing.snrs_db`), and
    each task's window. So `--set mixing.snrs_db=... --set protocol.val_snrs_db=[20, 10, 5, 0]` is comparable."""
    d = recipe.to_dict()
    protocol = {k: v for k, v in d["protocol"].items() if k != "val_snrs_db"}
    val_snrs = [s for s in (d["protocol"]["val_snrs_db"] or d["mixing"]["snrs_db"]) if s is not None] or [20.0]
    return {"seed": d["seed"], "data": d["data"], "protocol": protocol,
            "validation noise": {"snrs_db": [float(s) for s in val_snrs],
                                 "include_synthetic": d["mixing"]["include_synthetic"]},
            "windows": {t: (v["window_s"], v["hop_s"]) for t, v in d["tasks"].items()}}


def check_overrides(folder: Path, overrides: list[str], variant: str | None = None) -> None:
    """Record the overrides of a study folder on first use; refuse different ones later, and refuse a knob that
    changes the validation windows (the judgement compares both recipes on the same windows)."""
    base = load_recipe(REPO / "recipes" / "deepear.yaml")
    knob = load_recipe(REPO / "recipes" / "deepear.yaml", overrides)   # an unknown key fails here, before training
    vb, vk = validation_inputs(base), validation_inputs(knob)
    changed = [k for k in vb if vb[k] != vk[k]]
    if changed:
        raise SystemExit(f"--set {overrides} changes what the validation windows are ({', '.join(changed)}: "
                         f"{[vk[k] for k in changed]} instead of {[vb[k] for k in changed]}), so the two recipes "
                         "would be scored on different windows (a knob on mixing.snrs_db: pin the validation SNRs "
                         "with --set 'protocol.val_snrs_db=[20, 10, 5, 0]')")
    if variant:
        model_variants.builder(variant)                                  # an unknown name fails before training
    record = {"set": overrides, "variant": variant} if variant else overrides   # a plain list: --set only
    path = folder / "overrides.json"
    if path.exists():
        before = json.loads(path.read_text())
        if before != record:
            raise SystemExit(f"{folder}: trained with {before}, asked for {record}; use another --name")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record))


def judge_all(got: dict) -> dict:
    """The recipe's stopping rule on every (seed, run) summary: kept epoch, cross-fitted score, test cells."""
    return {key: judge_curves({k: np.asarray(v) for k, v in sm["curves"].items()}, np.asarray(sm["test"]),
                              np.asarray(sm["test_tasks"]), RULE) for key, sm in got.items()}


def check_same_clips(base: dict, knob: dict) -> None:
    """The paired comparison needs identical validation clips in every (seed, run)."""
    for key, sm in knob.items():
        if base[key]["val_clips_sha256"] != sm["val_clips_sha256"]:
            raise SystemExit(f"seed {key[0]} {key[1]}: the knob changed the validation clips; the paired comparison "
                             "needs the same clips (a knob of the data split cannot be judged this way)")


def compare(jb: dict, jk: dict, seeds: list[int], runs: tuple[str, ...] = RUNS) -> tuple[list[str], bool]:
    """Table rows (per fold/seed pair and the speaker run) from the judgements of the recipe (`jb`) and the knob
    (`jk`), and the verdict of the rule (none for a screen: not every protocol run, or fewer than two seeds)."""
    rows, diffs, spk = [], [], []
    for s in seeds:
        for r in runs:
            b, k = jb[(s, r)], jk[(s, r)]
            d = k["cross"] - b["cross"]
            (spk if r == "speaker" else diffs).append(d)
            rows.append(f"| {s} | {r} | {b['cross']:.1f} | {k['cross']:.1f} | {d:+.2f} | {b['epoch']} / {k['epoch']} |")
    gain, share = float(np.mean(diffs)), float(np.mean(np.array(diffs) > 0))
    sp = float(np.mean(spk)) if spk else float("nan")
    full = set(runs) == set(RUNS) and len(seeds) >= 2
    ok = full and gain >= MIN_GAIN and share >= MIN_SHARE and sp >= -MAX_SPEAKER_LOSS
    verdict = ("passes: replaces the recipe" if ok else "does not pass") if full else \
        f"no verdict: a screen (runs {', '.join(runs)}; seeds {', '.join(map(str, seeds))})"
    summary = (f"Fold score gain {gain:+.2f} points, gaining in {int((np.array(diffs) > 0).sum())}/{len(diffs)} pairs; "
               f"speaker run {sp:+.2f} points. Rule (>= {MIN_GAIN}, two thirds of the pairs, speaker >= "
               f"-{MAX_SPEAKER_LOSS:g}, every protocol run): **{verdict}**.")
    return rows + ["", summary], ok


def noise_score(summary: dict) -> float | None:
    """Cross-fitted noise-probe accuracy (points) of one summary: the kept epoch chosen by RULE on one half of
    the validation clips (the standard curve, as training stops), the noise task's accuracy on the probes of the
    other half's clips at that epoch, averaged over the probe SNRs and both ways. None without probes."""
    task = NOISE_TASK["speaker" if summary["run"] == "speaker" else "fold"]
    probes = summary.get("probe_curves", {}).get(task)
    if not probes:
        return None
    ea, eb = RULE.kept(np.asarray(summary["curves"]["a"])), RULE.kept(np.asarray(summary["curves"]["b"]))
    return float(np.mean([(p["b"][ea] + p["a"][eb]) / 2 for p in probes.values()]))


def compare_noise(base: dict, knob: dict, jb: dict, jk: dict, seeds: list[int],
                  runs: tuple[str, ...] = RUNS) -> tuple[list[str], bool | None]:
    """Table rows and verdict of the noise rule: the knob passes when the emotion probe score of the fold runs
    gains >= NOISE_MIN_GAIN points in two thirds of the (fold, seed) pairs, the speaker run's speaker probe
    score does not drop (mean over seeds), and the standard scores cost at most NOISE_MAX_FOLD_LOSS (fold score)
    and NOISE_MAX_SPEAKER_LOSS (speaker run). Verdict None when a summary has no probes; no verdict for a screen."""
    pairs = [(s, r) for s in seeds for r in runs]
    scores = {key: (noise_score(base[key]), noise_score(knob[key])) for key in pairs}
    if any(v is None for pair in scores.values() for v in pair):
        return ["No noise-probe verdict: summaries trained before the probes existed (December 7, 2026) lack them."], None
    rows, fold, spk, fold_std, spk_std = [], [], [], [], []
    for key in pairs:
        b, k = scores[key]
        (spk if key[1] == "speaker" else fold).append(k - b)
        (spk_std if key[1] == "speaker" else fold_std).append(jk[key]["cross"] - jb[key]["cross"])
        rows.append(f"| {key[0]} | {key[1]} | {NOISE_TASK['speaker' if key[1] == 'speaker' else 'fold']} | "
                    f"{b:.1f} | {k:.1f} | {k - b:+.2f} |")
    gain = float(np.mean(fold)) if fold else float("nan")
    share = float(np.mean(np.array(fold) > 0)) if fold else float("nan")
    sp = float(np.mean(spk)) if spk else float("nan")
    std_fold = float(np.mean(fold_std)) if fold_std else float("nan")
    std_spk = float(np.mean(spk_std)) if spk_std else float("nan")
    full = set(runs) == set(RUNS) and len(seeds) >= 2
    ok = (full and gain >= NOISE_MIN_GAIN and share >= MIN_SHARE and sp >= NOISE_MIN_SPEAKER
          and std_fold >= -NOISE_MAX_FOLD_LOSS and std_spk >= -NOISE_MAX_SPEAKER_LOSS)
    verdict = ("passes: replaces the recipe" if ok else "does not pass") if full else \
        f"no verdict: a screen (runs {', '.join(runs)}; seeds {', '.join(map(str, seeds))})"
    summary = (f"Emotion probe gain {gain:+.2f} points, gaining in {int((np.array(fold) > 0).sum())}/{len(fold)} "
               f"fold pairs; speaker probe {sp:+.2f}; standard fold score {std_fold:+.2f}, speaker run {std_spk:+.2f}. "
               f"Noise rule (emotion probes >= +{NOISE_MIN_GAIN:g} in two thirds of the pairs, speaker probes >= "
               f"{NOISE_MIN_SPEAKER:+g}, fold score >= -{NOISE_MAX_FOLD_LOSS:g}, speaker run >= "
               f"-{NOISE_MAX_SPEAKER_LOSS:g}, every protocol run): **{verdict}**.")
    return rows + ["", summary], (ok if full else None)


def check_rule(folder: Path, rule: str) -> None:
    """Record the rule a study is judged by on first use (before anything is trained); refuse another later."""
    path = folder / "rule.json"
    trained = any(folder.glob("*/*.json"))
    if path.exists() or trained:
        before = json.loads(path.read_text()) if path.exists() else "standard"   # older studies: all standard
        if before != rule:
            raise SystemExit(f"{folder}: declared to be judged by the {before} rule, asked for {rule}; a study's rule "
                             "is chosen before it trains and never changed afterwards")
    elif rule != "standard":      # studies before the noise rule were all standard; only a new choice is recorded
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(rule))


def test_rows(jb: dict, jk: dict, seeds: list[int], runs: tuple[str, ...] = RUNS) -> list[str]:
    """Test accuracy of the kept epochs, recipe vs knob, mean over seeds and the `runs` testing each cell."""
    def cell(judged: dict, task: str, cond: str) -> str:
        tested = [r for r in (("speaker",) if task == "speaker" else FOLDS) if r in runs]
        v = [judged[(s, r)]["test"].get((task, cond)) for s in seeds for r in tested]
        v = [x for x in v if x is not None]
        return f"{np.mean(v):.1f}" if v else "-"
    return [f"| {name} | " + " | ".join(cell(judged, t, c) for t, c in CELLS) + " |"
            for name, judged in (("recipe", jb), ("knob", jk))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="study name: folder under --store and section knob_NAME")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--variant", help="model variant (bench/model_variants.py), e.g. task-towers-256")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS,
                    help="protocol runs (default all; a subset is a screen: no verdict)")
    ap.add_argument("--store", type=Path, default=REPO / "bench" / "knob_trajectories",
                    help="folder of the trajectory summaries (default: the repository's, committed)")
    ap.add_argument("--rule", choices=RULES, default="standard",
                    help="the rule that decides (declared before training, recorded in the study folder): standard "
                         "(fold score and speaker run) or noise (the noise probes, for knobs aimed at the noise "
                         "targets); both are reported where the summaries allow")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.name == BASE:
        raise SystemExit(f"--name {BASE} is the store's folder of the recipe's own trajectories; choose another")
    if not args.overrides and not args.variant:
        raise SystemExit("give the knob: --set KEY=VALUE (repeatable) and/or --variant NAME")
    folder = args.store / args.name
    check_overrides(folder, args.overrides, args.variant)
    check_rule(folder, args.rule)
    runs = tuple(r for r in RUNS if r in args.runs)
    # stored summaries of other library code or CPU kernels would only be refused after hours of training: now
    here = {("this", "machine"): {"deepear_tree": library_tree(), "cpu": cpu_kernels()}}
    for stored in (BASE, args.name):
        done = collect(args.seeds, args.store / stored, [] if stored == BASE else list(args.overrides), runs,
                       args.quiet, train=False, variant=None if stored == BASE else args.variant)
        check_same_library(done, here)
    # one (seed, run) at a time, the recipe's then the knob's, so an interrupted study leaves comparable pairs
    for s in args.seeds:
        for r in runs:
            collect([s], args.store / BASE, [], (r,), args.quiet)
            collect([s], folder, list(args.overrides), (r,), args.quiet, variant=args.variant)
    base = collect(args.seeds, args.store / BASE, [], runs, args.quiet, train=False)
    knob = collect(args.seeds, folder, list(args.overrides), runs, args.quiet, train=False, variant=args.variant)
    check_same_clips(base, knob)
    check_same_library(base, knob)
    jb, jk = judge_all(base), judge_all(knob)
    table, _ = compare(jb, jk, args.seeds, runs)
    noise_table, _ = compare_noise(base, knob, jb, jk, args.seeds, runs)
    knob_args = ([f"--variant {args.variant}"] if args.variant else []) + [f"--set {o}" for o in args.overrides]
    lines = [f"## Knob study `{args.name}`: {' '.join(knob_args)}", "",
             "recipes/deepear.yaml with and without the knob, every protocol run fine-tuned once (until the rule "
             "below has stopped on every curve it is judged on), "
             f"seeds {', '.join(map(str, args.seeds))}, runs {', '.join(runs)}; kept epoch by the recipe's rule (weight average, patience 8), "
             "chosen on one random half of each run's validation clips and scored on the other, both ways "
             "(cross-fitted; the halves are the same for both recipes). Fold score: mean validation accuracy of "
             "emotion, stress, scene and ESC-10; speaker run: speaker ID. Rule written before the study ran "
             "(bench/knob_study.py).", "",
             "| seed | run | recipe, cross-fitted | knob, cross-fitted | difference | kept epoch (recipe / knob) |",
             "|---:|---|---:|---:|---:|---|", *table, "",
             f"**Deciding rule: {args.rule}** (declared before the study trained).", "",
             "Noise probes: every validation clip mixed with the run's training noise at "
             f"{' and '.join(f'{v:g}' for v in PROBES_DB)} dB, scored at the kept epoch chosen on the other half of the "
             "validation clips (cross-fitted like the fold score); the noise task's probe accuracy, mean over the SNRs.",
             "",
             *(["| seed | run | task | recipe | knob | difference |", "|---:|---|---|---:|---:|---:|"]
               if noise_table[0].startswith("|") else []), *noise_table, "",
             "Test accuracy of the kept epochs (chosen on all validation windows, as training does), mean over seeds "
             "and the runs testing each cell; printed after the verdict, not used for it. Stress is a proxy (acted "
             "anger/fear vs neutral/calm).", "",
             "| recipe | " + " | ".join(f"{t} {c if c == 'clean' else c + ' dB'}" for t, c in CELLS) + " |",
             "|---|" + "---:|" * len(CELLS), *test_rows(jb, jk, args.seeds, runs)]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section(f"knob_{args.name}", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
