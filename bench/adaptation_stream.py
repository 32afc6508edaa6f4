"""Speaker adaptation as a device does it (causal, running statistics) vs the benchmark's batch statistics.

    .venv/bin/python bench/adaptation_stream.py [--run runs/bench-v3/bench-multitask/0] [--write]

For every actor-held-out fold of a finished adapted run (recipe `adaptation.tasks`), each held-out actor's test
recordings are played as one stream, in a seeded random order: the runtime's rule
(`deepear.audio.speaker_norm.RunningSpeakerStats`, prior = the recipe's `min_windows` pseudo-windows) adds each
voiced window, then adapts it. Compared on the same model and windows: no adaptation (what the runtime feeds
before it has heard any speech), causal first session, causal with the speaker enrolled (a second pass with
the profile of the first), and the batch statistics the accuracy benchmark uses. Clean and with held-out noise
at 10 and 0 dB. Writes the "adaptation_stream" section of docs/benchmarks.md with --write.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section  # noqa: E402
from deepear.audio.speaker_norm import RunningSpeakerStats  # noqa: E402
from deepear.cli import default_data_root  # noqa: E402
from deepear.data.protocol import make_split  # noqa: E402
from deepear.data.windows import WindowSet  # noqa: E402
from deepear.experiment import Experiment, load_model  # noqa: E402
from deepear.model.train import predict_log_proba  # noqa: E402
from deepear.recipe import load_recipe  # noqa: E402

SNRS = (None, 10.0, 0.0)
MODES = ("none", "causal", "enrolled", "batch")
TITLES = {"none": "no adaptation (nothing heard yet)", "causal": "causal, first session",
          "enrolled": "causal, speaker enrolled", "batch": "batch (benchmark)"}


def causal(ws: WindowSet, exp: Experiment, adapter, seed: int, passes: int) -> WindowSet:
    """`ws` with each speaker's adapted-group windows adapted by the running rule, clips in a seeded random
    order; with passes=2 the profile of a first pass is kept for the second (reported) pass."""
    spec = adapter.runtime_spec(exp.recipe.adaptation.tasks, 0.0, 0.0)
    x = ws.x.copy()
    spk = adapter.speakers(ws, exp.clips)
    rng = np.random.default_rng(seed)
    for s in sorted(set(spk) - {""}):
        rows = np.flatnonzero(spk == s)
        clips = np.unique(ws.clip[rows])
        order = np.concatenate([rows[ws.clip[rows] == c] for c in clips[rng.permutation(len(clips))]])
        prof = RunningSpeakerStats(spec)
        for _ in range(passes):          # the last pass is reported; earlier ones only enrol the speaker
            x[order] = prof.adapt(ws.x[order], ws.voiced[order])
    return WindowSet(ws.tasks, x, ws.y, ws.clip, ws.wgroup, ws.voiced, ws.condition, ws.windows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/bench-v3/bench-multitask/0"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    recipe = load_recipe(args.run / "recipe.yaml")
    if not recipe.adaptation.tasks:
        raise SystemExit(f"{args.run}: the recipe adapts nothing (adaptation.tasks is empty)")
    exp = Experiment(recipe, default_data_root(), runs_root=args.run.parent.parent)
    folds = [r for r in recipe.protocol.runs if r.startswith("fold") and (args.run / r / "model.pt").exists()]
    acc: dict[tuple[str, str, str], list[float]] = {}
    for run in folds:
        model, _ = load_model(args.run / run / "model.pt")
        adapter = exp.load_adapter(run)
        split = make_split(exp.clips, run, exp.bank, exp.tasks, recipe.seed, recipe.protocol.validation_fraction)
        for snr in SNRS:
            raw = exp.test_data(split, snr, keep_frames=False)
            sets = {"none": raw, "causal": causal(raw, exp, adapter, recipe.seed, 1),
                    "enrolled": causal(raw, exp, adapter, recipe.seed, 2), "batch": adapter.apply(raw, exp.clips)}
            for mode, ws in sets.items():
                lp = predict_log_proba(model, ws.x)
                for t in recipe.adaptation.tasks:
                    a = exp.report(t, ws, lp[t], split.test[t])["accuracy"]
                    acc.setdefault((t, "clean" if snr is None else f"{snr:g} dB", mode), []).append(a)
        print(run, {k: round(100 * v[-1], 1) for k, v in acc.items()}, flush=True)
    lines = ["## Speaker adaptation on a device: causal running statistics vs the benchmark's batch statistics", "",
             f"Run `{args.run}` (its actor-held-out folds {', '.join(folds)}; same model and test windows in every "
             "column). Each held-out actor's test recordings are one stream in a seeded random order (44 "
             "recordings, ~2.6 min of speech); the runtime's rule adds each voiced 5 s window to the speaker "
             f"profile, then adapts it (prior: {recipe.adaptation.min_windows} pseudo-windows at the training "
             "population). 'Enrolled' replays the stream with the profile of a first pass. Stress is a proxy "
             "(acted anger/fear vs neutral/calm).", "",
             "| task | condition | " + " | ".join(TITLES[m] for m in MODES) + " |",
             "|---|---|" + "---:|" * len(MODES)]
    for t in recipe.adaptation.tasks:
        for c in ("clean", "10 dB", "0 dB"):
            lines.append(f"| {'stress proxy' if t == 'stress' else t} | {c} | "
                         + " | ".join(f"{100 * np.mean(acc[(t, c, m)]):.1f}" for m in MODES) + " |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("adaptation_stream", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
