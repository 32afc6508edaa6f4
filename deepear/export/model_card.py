"""MODEL_CARD.md of an exported bundle, rendered from its manifest: use, licences, caveats, accuracy per precision.

    text = render_bundle_card(manifest)
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepear.model.metrics import task_title
from deepear.model.model_card import STRESS_CAVEAT, is_non_commercial


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.1f}%"


def _cond(c: str) -> str:
    return "clean" if c == "clean" else f"{c} dB"


def render_bundle_card(m: Mapping[str, Any]) -> str:
    """Markdown model card of a bundle manifest (see deepear.export.bundle)."""
    out: list[str] = []
    w = out.append
    tasks = m["tasks"]
    lic = m.get("licences", {})
    nc = {c: v for c, v in lic.items() if is_non_commercial(v)}
    w(f"# Model card: {m['name']}\n")
    w(f"- deepear {m.get('deepear_version')}, exported {m.get('created_utc')} from `{m['source']['model']}` "
      f"(protocol run `{m['source']['protocol_run']}`), recipe hash `{m.get('recipe_hash')}`")
    w(f"- Parameters: {m['source']['trained_parameters']:,} trained, {m['models']['fp32']['parameters']:,} shipped "
      f"({m['compression'].get('method')}); int8 weights {m['models']['int8']['weight_bytes']:,} bytes")
    w(f"- Deployment precision: {m['deployment']['precision']}; target: {m['deployment'].get('target') or 'none'}\n")
    if nc:
        w("**Non-commercial use only: trained partly on audio licensed for non-commercial use ("
          + "; ".join(f"{c}: {v}" for c, v in nc.items()) + "). Retrain without those corpora for other use.**\n")
    if "stress" in tasks:
        w(STRESS_CAVEAT + "\n")
    w("## Intended use\n")
    w("Research and prototyping of on-device multi-task audio sensing (DeepEar / DeepX style): what scene the "
      "wearer is in, the emotion and the (acted) stress proxy of the speech heard, and which enrolled speaker "
      "talks. Not for decisions about people, clinical or psychological assessment, covert monitoring, or "
      "identifying people who have not consented. The speaker head knows only the training speakers (RAVDESS "
      "actors, FSDD speakers): anyone else is mapped to one of them.\n")
    w("## What runs when\n")
    w("| task | window / hop | runs on | classes |")
    w("|---|---|---|---|")
    for t, d in tasks.items():
        labels = d["labels"]
        shown = ", ".join(labels[:8]) + (f", … ({len(labels)} in all)" if len(labels) > 8 else "")
        w(f"| {task_title(t)} | {d['window_s']:g} s / {d['hop_s']:g} s | "
          f"{'voiced windows only' if d['speech'] else 'every non-silent window'} | {shown} |")
    w("\nSilent windows (no frame above the silence floor) run no inference at all.\n")
    ad = m.get("adaptation")
    if ad:
        w(f"**Speaker adaptation** ({', '.join(task_title(t) for t in ad['tasks'])}): the model expects window vectors "
          "standardised per speaker (docs/adaptation.md). The runtime and the C library keep running statistics of "
          f"the stream's voiced windows, starting from the training population ({ad['prior_windows']} pseudo-windows "
          "of prior), so the first minutes of a new speaker are adapted only partly; `Pipeline.new_profile()` "
          "keeps a speaker's statistics across clips. The accuracy below adapts each held-out speaker with all of "
          "their test recordings of the condition (the benchmark's assumption).\n")
    w("## Accuracy\n")
    acc = m["accuracy"]
    w(f"Measured at export on the held-out test split of protocol run `{acc['split']}` (per clip; scene per "
      "window), clean and mixed with held-out real noise (never used in training) at the given SNR. "
      "fp32 = the trained model; compressed = after the SVD rank search; int8 = model.int8.onnx run by onnxruntime "
      "(the C library's arithmetic).\n")
    precs = [p for p in ("fp32", "compressed", "int8") if p in acc]
    conds = sorted({c for p in precs for t in acc[p] for c in acc[p][t]}, key=lambda c: (c != "clean", -float(c) if c != "clean" else 0))
    w("| task | " + " | ".join(f"{p} {_cond(c)}" for p in precs for c in conds) + " |")
    w("|---|" + "---:|" * (len(precs) * len(conds)))
    for t in tasks:
        if t not in acc.get("fp32", {}):
            continue
        w(f"| {task_title(t)} | " + " | ".join(_pct(acc[p].get(t, {}).get(c)) for p in precs for c in conds) + " |")
    for t, note in acc.get("notes", {}).items():
        w(f"\n- {task_title(t)}: {note}.")
    for t, note in acc.get("not_measured", {}).items():
        w(f"\n- {task_title(t)}: not measured on this model ({note}).")
    cv = acc.get("cross_validated")
    if cv:
        src = acc.get("cross_validated_source")
        w("\nCross-validated accuracy of the recipe (fp32, mean over its protocol runs, held-out actors / folds"
          + (f"; from `{src}`" if src else "") + "):\n")
        w("| task | " + " | ".join(_cond(c) for c in conds) + " | runs |")
        w("|---|" + "---:|" * len(conds) + "---|")
        for t, cs in cv.items():
            runs = next(iter(cs.values()), {}).get("runs")
            w(f"| {task_title(t)} | " + " | ".join(_pct(cs.get(c, {}).get("accuracy")) for c in conds)
              + f" | {', '.join(runs or [])} |")
    w("\n## Size and cost\n")
    cb = m.get("c_build", {})
    if "flash_bytes_int8" in cb:
        w(f"- C library, int8 build: flash {cb['flash_bytes_int8']:,} bytes (weights + code), RAM "
          f"{cb['ram_bytes_int8']:,} bytes (arena {cb.get('arena_bytes', 0):,} + stack); float build: flash "
          f"{cb.get('flash_bytes_float', 0):,} bytes (host x86-64 -O2 build; see manifest c_build)")
    fit = m["deployment"].get("fit")
    if fit:
        w(f"- Fits `{fit['target']}`: flash {fit['flash_used_bytes']:,} / {fit['flash_bytes']:,} bytes"
          + (f", RAM {fit['ram_used_bytes']:,} / {fit['ram_bytes']:,} bytes" if fit.get("ram_bytes") else ""))
    w(f"- ONNX: fp32 parity with torch {m['onnx_parity']['fp32_max_abs_logit_diff']:.2g} max |logit diff| on "
      f"{m['onnx_parity']['windows']} real windows")
    w("\n## Data and licences\n")
    w("| corpus | licence |")
    w("|---|---|")
    for c, v in lic.items():
        w(f"| {c} | {v} |")
    w("\nGolden clips in `golden/` are excerpts of these corpora under the same licences (attribution: RAVDESS — "
      "Livingstone & Russo 2018, CC BY-NC-SA 4.0; ESC-10 — Piczak 2015, CC BY 3.0 / freesound authors; FSDD — "
      "Jackson et al., CC BY-SA 4.0).\n")
    return "\n".join(out) + "\n"
