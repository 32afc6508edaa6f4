"""A clip's events as a timeline: text lines, JSON lines, or a PNG (matplotlib, Agg backend).

Rows: one per window of each window group (its start/end, sound state, each task's label and probability),
then silent / voiced spans (from the group with the shortest hop) and the clip-level result per task.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from deepear.runtime.events import Event
from deepear.runtime.pipeline import Prediction


def _sound(e: Event) -> str:
    return "silent" if e.status == "silent" else ("voiced" if e.voiced else "unvoiced")


def window_rows(events: list[Event]) -> list[tuple[float, float, str, list[Event]]]:
    """Group events by window: [(t_start, t_end, sound, [events of the window's tasks])], in stream order."""
    rows: list[tuple[float, float, str, list[Event]]] = []
    index: dict[tuple[float, float, bool], int] = {}
    for e in events:
        key = (e.t_start, e.t_end, e.partial)
        if key in index and all(x.task != e.task for x in rows[index[key]][3]):
            rows[index[key]][3].append(e)
        else:
            index[key] = len(rows)
            rows.append((e.t_start, e.t_end, _sound(e), [e]))
    return rows


def spans(events: list[Event], tasks: list[str] | None = None) -> list[tuple[float, float, str]]:
    """Silent / voiced / unvoiced spans [(t_start, t_end, state)] from the windows of the finest task."""
    if not events:
        return []
    by_task: dict[str, list[Event]] = {}
    for e in events:
        by_task.setdefault(e.task, []).append(e)
    names = [t for t in (tasks or list(by_task)) if t in by_task]
    finest = max(names, key=lambda t: len(by_task[t]))
    out: list[tuple[float, float, str]] = []
    for e in by_task[finest]:
        s = _sound(e)
        if out and out[-1][2] == s and e.t_start <= out[-1][1] + 1e-9:
            out[-1] = (out[-1][0], max(out[-1][1], e.t_end), s)
        else:
            out.append((e.t_start, e.t_end, s))
    return out


def _cell(e: Event) -> str:
    if e.status == "ok":
        return f"{e.task}={e.label} {e.probability:.2f}"
    return f"{e.task}=({'silent' if e.status == 'silent' else 'not speech'})"


def format_event_line(events: list[Event]) -> str:
    """One window's events as a text line: '[  1.28 -   2.58] voiced    scene=voicing 0.94  esc10=...'."""
    e0 = events[0]
    part = " partial" if e0.partial else ""
    return f"[{e0.t_start:7.2f} - {e0.t_end:7.2f}] {_sound(e0):8s}{part} " + "  ".join(_cell(e) for e in events)


def format_text(pred: Prediction, title: str = "") -> str:
    """The whole timeline as text: header, one line per window, spans, clip-level summary."""
    lines = [title] if title else []
    lines += [format_event_line(evs) for *_, evs in window_rows(pred.windows)]
    lines.append("spans: " + "; ".join(f"{a:.2f}-{b:.2f} {s}" for a, b, s in spans(pred.windows)))
    lines.append("clip:")
    for t, r in pred.tasks.items():
        res = f"{r.label} {r.probability:.2f}" if r.label is not None else f"({r.status.replace('_', ' ')})"
        lines.append(f"  {t:10s} {res:32s} ran on {r.n_run}/{r.n_windows} windows "
                     f"({r.n_silent} silent, {r.n_voiced} voiced)")
    return "\n".join(lines)


def json_lines(pred: Prediction, extra: dict[str, Any] | None = None) -> list[str]:
    """One JSON object per event ({"type": "event", ...}), then one {"type": "summary", ...}."""
    out = [json.dumps({"type": "event", **e.to_dict()}) for e in pred.windows]
    summary = {"type": "summary", "duration_s": round(pred.duration_s, 4),
               "spans": [{"t_start": round(a, 4), "t_end": round(b, 4), "state": s} for a, b, s in spans(pred.windows)],
               "tasks": {t: {"label": r.label, "probability": r.probability, "status": r.status, "n_run": r.n_run,
                             "n_windows": r.n_windows, "n_silent": r.n_silent, "n_voiced": r.n_voiced}
                         for t, r in pred.tasks.items()}, **(extra or {})}
    out.append(json.dumps(summary))
    return out


def plot_png(pred: Prediction, path: str | os.PathLike, title: str = "") -> Path:
    """Draw the timeline (one row per task plus a silent/voiced row) to a PNG, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(pred.tasks)
    rows = ["sound"] + tasks
    fig, ax = plt.subplots(figsize=(max(8.0, min(24.0, pred.duration_s * 0.6)), 0.6 * len(rows) + 1.2))
    cmap = plt.get_cmap("tab20")
    colours: dict[tuple[str, str], Any] = {}
    state_col = {"silent": "0.92", "voiced": "0.45", "unvoiced": "0.7"}
    y_of = {r: len(rows) - 1 - i for i, r in enumerate(rows)}
    for a, b, s in spans(pred.windows):
        ax.broken_barh([(a, b - a)], (y_of["sound"] - 0.4, 0.8), color=state_col[s])
        ax.text((a + b) / 2, y_of["sound"], s, ha="center", va="center", fontsize=7, clip_on=True)
    for e in pred.windows:
        y = y_of[e.task]
        if e.status == "ok":
            c = colours.setdefault((e.task, e.label), cmap(len(colours) % 20))
            ax.broken_barh([(e.t_start, e.t_end - e.t_start)], (y - 0.4, 0.8), color=c, edgecolor="white")
            ax.text((e.t_start + e.t_end) / 2, y, f"{e.label}\n{e.probability:.2f}", ha="center", va="center",
                    fontsize=6, clip_on=True)
        else:
            ax.broken_barh([(e.t_start, e.t_end - e.t_start)], (y - 0.4, 0.8), facecolor="0.95", edgecolor="0.8",
                           hatch="//" if e.status == "not_speech" else None)
    ax.set_yticks([y_of[r] for r in rows], rows)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, max(pred.duration_s, max((e.t_end for e in pred.windows), default=1.0)))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, dest)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
