"""MODEL_CARD.md for a trained multi-task model: what it is for, what it was trained and tested on, how well it
did, under which licence terms it may be used, and what it must not be trusted with.

    write_model_card(run.path_of("MODEL_CARD.md"), name="deepear-512x3", recipe_hash=recipe.hash(),
                     tasks={"emotion": [...], "stress": ["stressed", "not_stressed"], ...}, metrics=metrics,
                     data=[{"corpus": "ravdess", "clips": 1440, "licence": "CC BY-NC-SA 4.0"}, ...],
                     params=model_params, notes=["pre-trained with 3 stacked RBMs"])

metrics format: metrics["tasks"][task]["conditions"][cond] = {"accuracy": float 0..1, "macro_f1": float, "n": int}
with cond in "clean", "20", "10", "5", "0" (dB SNR of held-out noise); optional metrics["tasks"][task]["folds"]
= [{"name": "fold0", "accuracy": ..., "macro_f1": ..., "n": ...}, ...] (clean, one entry per held-out fold);
optional metrics["protocol"] = a sentence describing the held-out split.
"""
from __future__ import annotations

from deepear.atomic import atomic_write_text

import datetime as _dt
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepear.errors import DataError
from deepear.model.metrics import CONDITIONS, STRESS_PROXY_LABEL, mean_and_ci, task_title

__all__ = ["STRESS_CAVEAT", "is_non_commercial", "render_model_card", "write_model_card"]

STRESS_CAVEAT = (f"**The stress task is a proxy, not a measurement of stress: {STRESS_PROXY_LABEL}. Its labels "
                 "come from actors portraying emotions (RAVDESS angry/fearful -> stressed, neutral/calm -> "
                 "not_stressed), not from people under real stress or from any physiological measure. Do not "
                 "use its output to judge anyone's stress, health or wellbeing.**")

_NC = re.compile(r"(?i)(\bNC\b|non-?commercial)")


def is_non_commercial(licence: str | None) -> bool:
    """True for licences that forbid commercial use ("CC BY-NC-SA 4.0", "CC BY-NC 3.0", "non-commercial ...")."""
    return bool(licence) and bool(_NC.search(str(licence)))


def _pct(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * v:.1f}%" if v == v else "–"


def _cond_name(cond: str) -> str:
    return "clean" if cond == "clean" else f"{cond} dB SNR"


def _cond_order(conds: Sequence[str]) -> list[str]:
    known = [c for c in CONDITIONS if c in conds]
    return known + sorted(c for c in conds if c not in CONDITIONS)


def render_model_card(*, name: str, recipe_hash: str, tasks: Mapping[str, Sequence[str]], metrics: Mapping,
                      data: Sequence[Mapping[str, Any]], params: int, notes: Sequence[str]) -> str:
    """The Markdown text of the model card (see write_model_card)."""
    if not tasks:
        raise DataError("model card: tasks is empty")
    tmetrics = (metrics or {}).get("tasks", {}) or {}
    if not isinstance(tmetrics, Mapping):
        raise DataError(f"model card: metrics['tasks'] must be a mapping task -> results, got "
                        f"{type(tmetrics).__name__}")
    has_stress = any(task_title(t) != t for t in tasks) or any(task_title(t) != t for t in tmetrics)
    nc = [d for d in data if is_non_commercial(d.get("licence"))]
    out: list[str] = []
    w = out.append
    w(f"# Model card: {name}\n")
    w(f"- Recipe hash: `{recipe_hash}`")
    w(f"- Parameters: {int(params):,}")
    w(f"- Tasks: {', '.join(task_title(t) for t in tasks)}")
    w(f"- Written: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by deepear\n")
    if nc:
        corp = "; ".join(f"{d.get('corpus', '?')}: {d.get('licence')}" for d in nc)
        w(f"**Non-commercial use only: this model was trained on data licensed for non-commercial use ({corp}).**\n")
    if has_stress:
        w(STRESS_CAVEAT + "\n")

    w("## Intended use\n")
    short = ", ".join("stress (proxy)" if task_title(t) != t else str(t) for t in tasks)
    w("Research and prototyping of on-device multi-task audio sensing (after DeepEar, UbiComp 2015, and DeepX, "
      f"IPSN 2016): one shared network with one head per task ({short}) reading summary statistics of a "
      "filter-bank front end, small enough for phones, Raspberry Pi-class boards and microcontrollers. Outputs "
      "are probabilities over a fixed set of classes, aggregated over seconds of audio.\n")
    w("Not intended for: decisions about people (hiring, health, insurance, policing, education), clinical or "
      "psychological assessment, covert monitoring, or identifying people who have not consented.\n")

    w("## Tasks and labels\n")
    w("| task | classes | labels |")
    w("|---|---:|---|")
    for t, labels in tasks.items():
        labels = list(labels)
        shown = ", ".join(map(str, labels[:40])) + (f", … ({len(labels) - 40} more)" if len(labels) > 40 else "")
        w(f"| {task_title(t)} | {len(labels)} | {shown} |")
    w("")

    w("## Training data and licences\n")
    if data:
        w("| corpus | clips | licence |")
        w("|---|---:|---|")
        for d in data:
            clips = d.get("clips")
            w(f"| {d.get('corpus', '?')} | {clips if clips is not None else '–'} | {d.get('licence') or 'unknown'} |")
        w("")
    else:
        w("No training data recorded.\n")
    if nc:
        w("The licence of " + ", ".join(str(d.get("corpus", "?")) for d in nc) + " forbids commercial use, so this "
          "model and the bundles exported from it are for **non-commercial use only**. Retrain without "
          + ("that corpus" if len(nc) == 1 else "those corpora") + " for any other use.\n")
    if any(re.search(r"(?i)\bSA\b|share-?alike", str(d.get("licence") or "")) for d in data):
        w("ShareAlike licences are among the above: if the model counts as an adaptation of that data, share it "
          "under the same terms and credit the authors.\n")

    w("## Evaluation protocol\n")
    proto = (metrics or {}).get("protocol")
    if proto:
        w(f"{proto}\n")
    names = {str(t).lower() for t in tasks}
    speaker_indep = [task_title(t) for t in tasks if "emotion" in str(t).lower() or "stress" in str(t).lower()]
    extra = ""
    if speaker_indep:
        extra += f" Speaker-independent (the test actors are held out): {', '.join(speaker_indep)}."
    if any("speaker" in n for n in names):
        extra += (" Speaker identification is closed-set, so it is tested on other recordings of the enrolled "
                  "speakers.")
    w("All numbers are on held-out data: a test fold shares no group (actor, speaker recording, corpus fold, "
      "freesound source, music track) with the training data." + extra
      + " Window predictions are averaged per clip (mean log-probability, renormalised). "
      "Noise robustness: the test clips mixed with noise recordings not used in training at clean / 20 / 10 / 5 "
      "/ 0 dB SNR. Accuracy is the share of clips classified correctly; macro-F1 averages per-class F1 over the "
      "classes present in the test labels or the predictions. Fold tables give mean ± 95% CI (Student t).\n")

    w("## Results\n")
    if not tmetrics:
        w("No evaluation results recorded.\n")
    for t, res in tmetrics.items():
        w(f"### {task_title(t)}\n")
        conds = (res or {}).get("conditions", {}) or {}
        if conds:
            w("| condition | accuracy | macro-F1 | n |")
            w("|---|---:|---:|---:|")
            for c in _cond_order(list(conds)):
                r = conds[c] or {}
                w(f"| {_cond_name(c)} | {_pct(r.get('accuracy'))} | {_pct(r.get('macro_f1'))} | "
                  f"{r.get('n', '–')} |")
            w("")
        folds = (res or {}).get("folds") or []
        if folds:
            w("| fold | accuracy | macro-F1 | n |")
            w("|---|---:|---:|---:|")
            for i, f in enumerate(folds):
                f = f if isinstance(f, Mapping) else {"accuracy": f}
                fname = f.get("name", f.get("fold", i))
                w(f"| {fname} | {_pct(f.get('accuracy'))} | {_pct(f.get('macro_f1'))} | {f.get('n', '–')} |")
            accs = [float(f["accuracy"]) for f in folds if isinstance(f, Mapping) and f.get("accuracy") is not None]
            f1s = [float(f["macro_f1"]) for f in folds if isinstance(f, Mapping) and f.get("macro_f1") is not None]
            if accs:
                ma, ha = mean_and_ci(accs)
                line = f"| mean ± 95% CI ({len(accs)} folds) | {100 * ma:.1f} ± {100 * ha:.1f}% |"
                if f1s:
                    mf, hf = mean_and_ci(f1s)
                    line += f" {100 * mf:.1f} ± {100 * hf:.1f}% | |"
                else:
                    line += " – | |"
                w(line)
            w("")
        if not conds and not folds:
            w("No results recorded for this task.\n")

    w("## Limitations\n")
    tl = [str(t).lower() for t in tasks]
    lim: list[str] = []
    if any("emotion" in t or "stress" in t for t in tl):
        lim.append("Emotion and stress labels come from acted speech (RAVDESS: 24 North-American actors, two fixed "
                   "sentences); accuracy on spontaneous speech, other languages or accents is unknown and likely "
                   "lower.")
    if any("stress" in t for t in tl):
        lim.append(f"The stress head is a proxy, {STRESS_PROXY_LABEL}; it is not a stress detector.")
    if any("speaker" in t for t in tl):
        lim.append("Speaker identification is closed-set: it always answers with one of the training speakers, "
                   "even for a stranger.")
    if any("scene" in t for t in tl):
        lim.append("Scene classes are coarse and built from short clips of public sound collections; real "
                   "environments mix them.")
    lim += [
        "Noise robustness was measured with a handful of held-out noise recordings; other noise types, "
        "reverberation and microphones may lower accuracy further.",
        "Compressed (SVD) and int8 variants have their own measured accuracy in the bundle manifest; do not assume "
        "the fp32 numbers above.",
    ]
    for item in lim:
        w(f"- {item}")
    w("")
    if notes:
        w("## Notes\n")
        for n in notes:
            w(f"- {n}")
        w("")
    return "\n".join(out).rstrip() + "\n"


def write_model_card(path: str | os.PathLike, *, name: str, recipe_hash: str, tasks: Mapping[str, Sequence[str]],
                     metrics: Mapping, data: Sequence[Mapping[str, Any]], params: int,
                     notes: Sequence[str]) -> Path:
    """Write MODEL_CARD.md atomically (temp file + os.replace; parent created) and return its path.

    Args: name of the model; recipe_hash; tasks {task: [labels]}; metrics (format in the module docstring);
          data [{"corpus", "clips", "licence"}]; params, total parameter count; notes, extra bullet points.
    The card always states the stress-proxy caveat (in bold) when a stress task is present, and a bold
    non-commercial notice when any corpus licence is non-commercial (e.g. RAVDESS, CC BY-NC-SA 4.0).
    """
    text = render_model_card(name=name, recipe_hash=recipe_hash, tasks=tasks, metrics=metrics, data=data,
                             params=params, notes=notes)
    out = Path(path)
    atomic_write_text(out, text)
    return out
