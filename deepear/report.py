"""Plain-text tables of a run's metrics (what `deepear train` / `deepear eval` print)."""
from __future__ import annotations

from typing import Any

TITLES = {"emotion": "emotion", "stress": "stress (proxy)", "speaker": "speaker ID", "scene": "scene",
          "esc10": "ESC-10"}


def format_metrics(m: dict[str, Any]) -> str:
    """Accuracy (mean over protocol runs) per task and condition, with the baselines in the same run."""
    tasks = m.get("tasks", {})
    conds: list[str] = []
    for t in tasks.values():
        for c in t["conditions"]:
            if c not in conds:
                conds.append(c)
    head = f"{'task':<16}{'system':<8}" + "".join(f"{c:>9}" for c in conds) + f"{'  macro-F1 clean':>16}{'runs':>6}"
    lines = [head, "-" * len(head)]
    for name, t in tasks.items():
        rows = [("DNN", t["conditions"])] + [(b.upper(), v) for b, v in t.get("baselines", {}).items()]
        for system, cs in rows:
            accs = "".join(f"{100 * cs[c]['accuracy']:>8.1f}%" if c in cs else f"{'-':>9}" for c in conds)
            f1 = cs.get("clean", {}).get("macro_f1")
            lines.append(f"{TITLES.get(name, name):<16}{system:<8}{accs}"
                         f"{(f'{100 * f1:.1f}%' if f1 is not None else '-'):>16}{len(t.get('runs', [])):>6}")
    for name, t in tasks.items():
        by = t["conditions"].get("clean", {}).get("by_corpus", {})
        if len(by) > 1:
            lines.append(f"{TITLES.get(name, name)} by corpus (clean, DNN): "
                         + ", ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(by.items())))
    if "stress" in tasks:
        lines.append("stress is a proxy: acted angry/fearful vs neutral/calm speech (RAVDESS), not measured stress")
    if m.get("adaptation_note"):
        lines.append(m["adaptation_note"])
    return "\n".join(lines)


def format_confusions(m: dict[str, Any], condition: str = "clean") -> str:
    """Pooled confusion matrices (rows true, columns predicted) of every task at `condition`."""
    out = []
    for name, t in m.get("tasks", {}).items():
        conf = t.get("confusion", {}).get(condition)
        labels = m.get("labels", {}).get(name)
        if conf is None or labels is None:
            continue
        w = max(6, max(len(x) for x in labels[:40]) + 1)
        out.append(f"\n{TITLES.get(name, name)} ({condition}, rows true / columns predicted)")
        out.append(" " * w + "".join(f"{x[:6]:>7}" for x in labels))
        for lab, row in zip(labels, conf):
            out.append(f"{lab:<{w}}" + "".join(f"{v:>7}" for v in row))
    return "\n".join(out)
