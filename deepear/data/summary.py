"""What the feature cache holds for a corpus, as a table row: clips, audio, frames, windows per task window."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepear.audio.config import DEEPEAR_TASK_WINDOWS
from deepear.audio.frontend import summarize
from deepear.data.cache import CacheReport, FeatureCache


def corpus_feature_summary(name: str, clips: Sequence[Any], cache: FeatureCache, rep: CacheReport) -> dict:
    """Summarise cached features of `clips` (objects with a `.path`) after `cache.build`."""
    cfg = cache.cfg
    n_frames = n_active = 0
    audio_s = 0.0
    win = {"scene": DEEPEAR_TASK_WINDOWS["scene"], "speech": DEEPEAR_TASK_WINDOWS["emotion"]}
    counts = {k: np.zeros(4, dtype=np.int64) for k in win}  # windows, silent, voiced, partial
    for path in sorted({str(c.path) for c in clips}):
        if path in rep.errors:
            continue
        ff = cache.get(path)
        if ff is None:
            continue
        n_frames += ff.n_frames
        n_active += int(ff.active.sum())
        audio_s += ff.n_samples / cfg.sample_rate
        for k, (w, h) in win.items():
            ws = summarize(ff, cfg, w, h)
            counts[k] += [len(ws), int(ws.silent.sum()), int(ws.voiced.sum()), int(ws.partial.sum())]
    return {"corpus": name, "clips": len(clips), "audio_s": audio_s, "computed": rep.n_computed,
            "cached": rep.n_cached, "wall_s": rep.wall_s, "frames": n_frames,
            "active_frac": n_active / max(1, n_frames), "windows": {k: v.tolist() for k, v in counts.items()},
            "errors": rep.errors, "rtf": (rep.audio_s / rep.wall_s) if rep.n_computed and rep.wall_s > 0 else None}


def format_feature_summary(rows: Sequence[dict]) -> str:
    """A fixed-width table of `corpus_feature_summary` rows, then any per-file errors."""
    head = (f"{'corpus':<13}{'clips':>7}{'audio':>9}{'new':>6}{'cached':>7}{'active':>8}"
            f"{'scene win':>11}{'silent':>8}{'voiced':>8}{'5s win':>8}{'voiced':>8}{'x RT':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        sw, ss, sv, _ = r["windows"]["scene"]
        pw, _, pv, _ = r["windows"]["speech"]
        rtf = f"{r['rtf']:.0f}" if r["rtf"] else "-"
        lines.append(
            f"{r['corpus']:<13}{r['clips']:>7}{r['audio_s'] / 60:>8.1f}m{r['computed']:>6}{r['cached']:>7}"
            f"{100 * r['active_frac']:>7.1f}%{sw:>11}{100 * ss / max(1, sw):>7.1f}%{100 * sv / max(1, sw):>7.1f}%"
            f"{pw:>8}{100 * pv / max(1, pw):>7.1f}%{rtf:>8}")
    for r in rows:
        for p, msg in r["errors"].items():
            lines.append(f"  skipped {p}: {msg}")
    return "\n".join(lines)
